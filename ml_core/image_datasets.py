"""Image classification datasets: built-in ones and readers for the standard file formats.

Every dataset is an ``ImageDataset`` of uint8 images (N, H, W, C) and int64 labels, made by a loader
with one signature, ``loader(options) -> ImageDataset``, found by name in ``DATASETS``:

- ``digits``: scikit-learn's 8x8 handwritten digits, optionally upscaled (bilinear) 2-4x.
- ``faces``: scikit-image's ``lfw_subset``: 100 faces and 100 non-faces, 25x25 grey.
- ``shapes``: generated 32x32 RGB circles / squares / triangles / stripes of random colour, size,
  angle and position on a noisy background: only convolutional features separate them. Shapes
  fill a good part of the image and there are 6,000 of them (generated data is free): the default
  net then passes 90% validation in a few epochs. With small shapes (a 5-pixel radius) and 2,000
  images it learnt its 1,600 training images by heart and stayed near 60% on the others.
- ``mnist``, ``fashion_mnist``: IDX files; ``cifar10``: the python pickled batches, read with an
  unpickler that admits nothing but the documented structure (a dict of numpy uint8 data, a list
  of labels), so a doctored file cannot run code.

The standard ones are read from a data directory; ``python -m ml_core.dataset_files download
mnist`` fetches them with checksums (never at run time: the server works offline). Messages
about them name the folder inside the data directory, never the server's own path: they reach
the page.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ml_core.dataset_files import DatasetError, read_cifar_batch, read_idx

DIGIT_CLASSES = [str(d) for d in range(10)]
# How a server's owner gets a standard dataset (settings.cnn.data_dir, TORCHPLAY_CNN__DATA_DIR).
DATA_HINT = "python -m ml_core.dataset_files download {}"
FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


@dataclass
class ImageDataset:
    name: str
    title: str
    images: np.ndarray  # (N, H, W, C) uint8, C = 1 or 3
    labels: np.ndarray  # (N,) int64
    classes: list[str]
    # How a user's photo is made to look like these images (see prepare_image below):
    light_on_dark: bool = False  # digits drawn light on dark: invert photos of ink on paper
    ink_fill: float = 0.0  # > 0: crop to the ink and scale it to fill this fraction of the side

    @property
    def input_shape(self) -> tuple[int, int, int]:
        n, h, w, c = self.images.shape
        return c, h, w


@dataclass
class LoadOptions:
    data_dir: Path = Path("data")
    samples: int | None = None  # None: all (shapes: SHAPES_COUNT)
    max_samples: int = 20_000
    upscale: int = 1
    seed: int = 0


def _subsample(images: np.ndarray, labels: np.ndarray, options: LoadOptions):
    """At most ``samples`` (and ``max_samples``) images, drawn at random with the seed."""
    limit = min(options.samples or len(labels), options.max_samples, len(labels))
    if limit >= len(labels):
        return images, labels
    keep = np.sort(np.random.default_rng(options.seed).choice(len(labels), limit, replace=False))
    return images[keep], labels[keep]


@functools.lru_cache(maxsize=1)
def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``sklearn.datasets.load_digits`` returns them: pixels (1797, 64)
    float64 in 0..16, row by row, and labels (1797,). Read from the file scikit-learn ships
    (datasets/data/digits.csv.gz), without importing scikit-learn: its import (scipy.stats and
    all) took two of the seconds a worker's first CNN session waited."""
    spec = importlib.util.find_spec("sklearn")  # locates the package; runs none of it
    if spec is None or spec.origin is None:
        raise DatasetError("the digits ship with scikit-learn, which is not installed")
    with gzip.open(Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz") as file:
        rows = np.loadtxt(file, delimiter=",")
    return rows[:, :-1], rows[:, -1].astype(np.int64)


def load_digits(options: LoadOptions) -> ImageDataset:
    pixels, targets = sklearn_digits()
    images = torch.from_numpy(pixels.reshape(-1, 1, 8, 8).astype(np.float32) / 16.0)  # (N, 1, 8, 8)
    if options.upscale > 1:
        images = F.interpolate(
            images, scale_factor=options.upscale, mode="bilinear", align_corners=False
        )
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    images, labels = _subsample(images, targets, options)
    side = 8 * options.upscale
    return ImageDataset(
        "digits",
        f"Handwritten digits (scikit-learn, {side}×{side})",
        images,
        labels,
        DIGIT_CLASSES,
        light_on_dark=True,
        ink_fill=1.0,
    )


def load_faces(options: LoadOptions) -> ImageDataset:
    from skimage.data import lfw_subset

    faces = lfw_subset()  # (200, 25, 25) float in [0, 1]: the first 100 are faces
    images = np.round(faces * 255).astype(np.uint8)[..., None]
    labels = np.repeat(np.array([0, 1], dtype=np.int64), 100)
    images, labels = _subsample(images, labels, options)
    return ImageDataset(
        "faces",
        "Faces vs. not faces (scikit-image lfw_subset, 25×25)",
        images,
        labels,
        ["face", "not face"],
    )


SHAPE_CLASSES = ("circle", "square", "triangle", "stripes")
SHAPES_COUNT = 6000  # images generated unless ``samples`` says otherwise
SHAPE_RADIUS = (0.28, 0.42)  # of the side: the radius of a shape's bounding circle


def make_shapes(count: int, seed: int = 0, side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images (N, side, side, 3) uint8, classes in turn, and their labels (N,)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count, dtype=np.int64) % len(SHAPE_CLASSES)
    rng.shuffle(labels)
    images = np.empty((count, side, side, 3), dtype=np.uint8)
    coords = np.arange(side, dtype=np.float32) + 0.5  # pixel centres
    for start in range(0, count, 1000):  # chunks bound the (n, side, side) temporaries
        y = labels[start : start + 1000]
        n = len(y)
        r = rng.uniform(*SHAPE_RADIUS, n) * side  # radius of the shape's bounding circle
        cx, cy = (rng.uniform(r + 1, side - r - 1) for _ in range(2))
        theta = rng.uniform(0, 2 * np.pi, n)
        dx = coords[None, None, :] - cx[:, None, None]  # (n, 1, side)
        dy = coords[None, :, None] - cy[:, None, None]  # (n, side, 1)
        cos, sin = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
        u, v = dx * cos + dy * sin, -dx * sin + dy * cos  # coordinates in the shape's own frame
        half = (r * 0.8)[:, None, None]  # a square's half side
        circle = dx**2 + dy**2 <= (r**2)[:, None, None]
        square = (np.abs(u) <= half) & (np.abs(v) <= half)
        # Equilateral triangle: inside three half-planes whose normals are 120 degrees apart.
        triangle = np.ones((n, side, side), dtype=bool)
        for k in range(3):
            angle = theta[:, None, None] + 2 * np.pi * k / 3
            triangle &= dx * np.cos(angle) + dy * np.sin(angle) <= (r * 0.5)[:, None, None]
        width = rng.uniform(1.5, 3.0, n)[:, None, None]  # stripe width in pixels
        stripes = square & (np.floor((u + half) / width) % 2 == 0)
        masks = np.stack([circle, square, triangle, stripes])[y, np.arange(n)]  # (n, side, side)
        background = rng.uniform(0, 1, (n, 3))
        foreground = rng.uniform(0, 1, (n, 3))
        # Keep the shape visible: push the colour away from the background if they are close.
        close = np.abs(foreground - background).mean(1) < 0.3
        foreground[close] = 1 - background[close]
        mask = masks[..., None].astype(np.float32)
        pixels = background[:, None, None] * (1 - mask) + foreground[:, None, None] * mask
        pixels += rng.normal(0, 1, pixels.shape) * rng.uniform(0.02, 0.1, (n, 1, 1, 1))
        images[start : start + n] = np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)
    return images, labels


def load_shapes(options: LoadOptions) -> ImageDataset:
    count = min(options.samples or SHAPES_COUNT, options.max_samples)
    images, labels = make_shapes(count, seed=options.seed)
    return ImageDataset(
        "shapes", "Generated shapes (32×32 colour)", images, labels, list(SHAPE_CLASSES)
    )


# ---- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------
def _read_maybe_gz(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_FOLDERS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion_mnist": ("fashion_mnist", "fashion-mnist", "FashionMNIST/raw"),
}


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def idx_folder(name: str, data_dir: Path) -> Path | None:
    """The folder holding the four IDX files of ``name``, or None."""
    for sub in IDX_FOLDERS[name]:
        folder = Path(data_dir) / sub
        if all(_find(folder, stem) for pair in IDX_FILES.values() for stem in pair):
            return folder
    return None


@functools.lru_cache(maxsize=2)
def _read_idx_set(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for image_stem, label_stem in IDX_FILES.values():
        x = read_idx(_read_maybe_gz(_find(folder, image_stem)))
        y = read_idx(_read_maybe_gz(_find(folder, label_stem)))
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y) or x.dtype != np.uint8:
            raise DatasetError("the IDX files are not images (N, H, W) of uint8 with N labels")
        images.append(x)
        labels.append(y.astype(np.int64))
    labels_all = np.concatenate(labels)
    if labels_all.min() < 0 or labels_all.max() > 9:
        raise DatasetError("the IDX label files must hold the classes 0..9")
    return np.concatenate(images)[..., None], labels_all


def _load_idx(name: str, options: LoadOptions) -> tuple[np.ndarray, np.ndarray]:
    folder = idx_folder(name, options.data_dir)
    if folder is None:
        raise DatasetError(
            f"{name} files not found: put the four IDX files (.gz or not) in the folder "
            f"{IDX_FOLDERS[name][0]}/ of the server's data directory ({DATA_HINT.format(name)})"
        )
    return _subsample(*_read_idx_set(folder), options)


def load_mnist(options: LoadOptions) -> ImageDataset:
    images, labels = _load_idx("mnist", options)
    return ImageDataset(
        "mnist",
        "MNIST handwritten digits (28×28)",
        images,
        labels,
        DIGIT_CLASSES,
        light_on_dark=True,
        ink_fill=20 / 28,
    )


def load_fashion_mnist(options: LoadOptions) -> ImageDataset:
    images, labels = _load_idx("fashion_mnist", options)
    return ImageDataset(
        "fashion_mnist",
        "Fashion-MNIST clothing (28×28)",
        images,
        labels,
        FASHION_CLASSES,
        light_on_dark=True,
        ink_fill=1.0,
    )


# ---- CIFAR-10 python batches ------------------------------------------------------------------
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def cifar_folder(data_dir: Path) -> Path | None:
    folder = Path(data_dir) / "cifar-10-batches-py"
    return folder if all((folder / f).is_file() for f in CIFAR_FILES) else None


@functools.lru_cache(maxsize=1)
def _read_cifar_set(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    parts = [read_cifar_batch((folder / f).read_bytes()) for f in CIFAR_FILES]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar10(options: LoadOptions) -> ImageDataset:
    folder = cifar_folder(options.data_dir)
    if folder is None:
        raise DatasetError(
            "CIFAR-10 files not found: unpack cifar-10-python.tar.gz into the server's data "
            f"directory, as a cifar-10-batches-py folder ({DATA_HINT.format('cifar10')})"
        )
    images, labels = _subsample(*_read_cifar_set(folder), options)
    return ImageDataset("cifar10", "CIFAR-10 photos (32×32 colour)", images, labels, CIFAR_CLASSES)


def prepare_image(image: np.ndarray, dataset: ImageDataset) -> np.ndarray:
    """A user's picture (H, W) or (H, W, 3) uint8 -> (h, w, C) uint8 like the dataset's images.

    Digit-like sets (light ink on dark, ``ink_fill`` > 0): photos of dark ink on light paper are
    inverted, the paper level becomes 0, the ink is cropped, centred and scaled to fill the same
    share of the frame as in the training images. Others: centre-cropped to the aspect, resized.
    """
    from PIL import Image

    channels, height, width = dataset.input_shape
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 3 and channels == 1:
        array = np.asarray(Image.fromarray(array).convert("L"))
    elif array.ndim == 2 and channels == 3:
        array = np.repeat(array[..., None], 3, axis=2)
    if dataset.light_on_dark and dataset.ink_fill > 0 and array.ndim == 2:
        grey = array.astype(np.float32)
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        if np.median(border) > 127:  # ink on paper: make the ink the bright part
            grey, border = 255 - grey, 255 - border
        background = float(np.median(border))
        grey = np.clip((grey - background) / max(grey.max() - background, 1.0), 0, 1)
        rows, cols = np.nonzero(grey > 0.2)
        if len(rows):  # crop to the ink, pad to a square so the aspect survives
            grey = grey[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
            side = max(grey.shape)
            square = np.zeros((side, side), np.float32)
            top, left = (side - grey.shape[0]) // 2, (side - grey.shape[1]) // 2
            square[top : top + grey.shape[0], left : left + grey.shape[1]] = grey
            grey = square
        box = max(1, round(dataset.ink_fill * height))
        ink = Image.fromarray(np.round(grey * 255).astype(np.uint8)).resize(
            (box, box),
            Image.Resampling.LANCZOS if box < grey.shape[0] else Image.Resampling.BILINEAR,
        )
        canvas = np.zeros((height, width), np.uint8)
        top, left = (height - box) // 2, (width - box) // 2
        canvas[top : top + box, left : left + box] = np.asarray(ink)
        return canvas[..., None]
    h, w = array.shape[:2]
    target = width / height
    if w / h > target:  # too wide: crop the sides
        crop = round(h * target)
        array = array[:, (w - crop) // 2 : (w - crop) // 2 + crop]
    else:
        crop = round(w / target)
        array = array[(h - crop) // 2 : (h - crop) // 2 + crop]
    resized = np.asarray(Image.fromarray(array).resize((width, height), Image.Resampling.LANCZOS))
    return resized.reshape(height, width, channels)


Loader = Callable[[LoadOptions], ImageDataset]
DATASETS: dict[str, Loader] = {
    "digits": load_digits,
    "faces": load_faces,
    "shapes": load_shapes,
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}


TITLES = {
    "digits": "Handwritten digits (scikit-learn)",
    "faces": "Faces vs. not faces (scikit-image)",
    "shapes": "Generated shapes (colour)",
    "mnist": "MNIST digits",
    "fashion_mnist": "Fashion-MNIST clothing",
    "cifar10": "CIFAR-10 photos",
}


def availability(data_dir: Path) -> list[dict]:
    """Which datasets can be loaded now, with a hint for the missing ones."""
    found = {
        "mnist": idx_folder("mnist", data_dir),
        "fashion_mnist": idx_folder("fashion_mnist", data_dir),
        "cifar10": cifar_folder(data_dir),
    }
    rows = []
    for name in DATASETS:
        row = {
            "name": name,
            "title": TITLES[name],
            "available": name not in found or found[name] is not None,
        }
        if not row["available"]:
            row["hint"] = f"not in the server's data directory: {DATA_HINT.format(name)}"
        rows.append(row)
    return rows


def load(name: str, options: LoadOptions) -> ImageDataset:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name](options)


