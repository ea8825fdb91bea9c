"""The tensors explainer's examples: tensors of 1 to 6 dimensions made of this app's own data, a
real feature map flattened as the course says ("rows, then channels"), and what dtypes and
devices cost. Pure data for the /tensors page (app/tensors_rest.py serves it as JSON).

Every example names its dimensions, as the page shows them: a weight matrix is
(neurons, inputs), a batch of images (batch, channels, height, width), PyTorch's order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ml_core.features import LABELS
from ml_core.image_datasets import LoadOptions, load, sklearn_digits
from ml_core.images import load_sample
from ml_core.kernels import preset_kernel
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # scikit-image's bundled colour samples
FLATTEN_KERNELS = ("sobel_x", "sobel_y")  # two edge detectors: a feature map of two channels
DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.uint8,
          torch.bool)


@dataclass
class Example:
    key: str
    title: str
    what: str  # one sentence: where the numbers come from
    dims: tuple[str, ...]  # a name per dimension
    tensor: torch.Tensor  # on the CPU
    labels: dict[str, list[str]] | None = None  # names of the entries along some dimensions


# ---- the data ----------------------------------------------------------------------------------
def trained_layer() -> tuple[torch.Tensor, list[str]]:
    """The first layer's weights (8, 7) of a playground network with every input feature,
    after 300 steps on the circle; and the features' names."""
    config = PlaygroundConfig.model_validate(
        {"model": {"hidden": [8], "features": list(LABELS)}, "dataset": {"samples": 300}}
    )
    run = MLPRun(config, grid=2, thumb=2)
    run.step(300)
    return torch.from_numpy(run.engine.parameters().weights[0]), [LABELS[f] for f in LABELS]


def square(image: np.ndarray, side: int, box: tuple[float, float, float] = (0.5, 0.5, 1.0)):
    """A square crop of ``image`` (H, W, 3) uint8, centred at (x, y) (fractions of the width
    and height) with a side of ``box[2]`` times the shorter side, resized to side x side."""
    h, w = image.shape[:2]
    size = int(min(h, w) * box[2])
    left = int(np.clip(box[0] * w - size / 2, 0, w - size))
    top = int(np.clip(box[1] * h - size / 2, 0, h - size))
    crop = Image.fromarray(image[top : top + size, left : left + size])
    return np.asarray(crop.resize((side, side), Image.Resampling.LANCZOS))


def chw(images: list[np.ndarray]) -> torch.Tensor:
    """(H, W, 3) uint8 images -> (N, 3, H, W)."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def clip(photo: str, frames: int, side: int, shift: float = 0.0) -> torch.Tensor:
    """A short clip (T, 3, side, side): a camera panning left to right across a photo; ``shift``
    moves the camera sideways (a second camera of a stereo pair)."""
    image = load_sample(photo)
    path = np.linspace(0.3, 0.7, frames) + shift
    return chw([square(image, side, (x, 0.5, 0.6)) for x in path])


def examples() -> list[Example]:
    weights, inputs = trained_layer()
    digits = load("digits", LoadOptions(upscale=2))
    digit = torch.from_numpy(digits.images[0]).permute(2, 0, 1).contiguous()  # (1, 16, 16)
    photos = chw([square(load_sample(p), 64) for p in PHOTOS])
    clips = torch.stack([clip("astronaut", 8, 32), clip("coffee", 8, 32)])
    stereo = torch.stack([
        torch.stack([clip(photo, 4, 24), clip(photo, 4, 24, shift=0.08)])
        for photo in ("chelsea", "rocket")
    ])
    return [
        Example("weights", "A weight vector",
                "The weights into the first neuron of a playground network, one per input "
                "feature, after training on the circle.",
                ("inputs",), weights[0].clone(), {"inputs": inputs}),
        Example("matrix", "A weight matrix",
                "The whole first layer of that network: a row of weights per neuron.",
                ("neurons", "inputs"), weights, {"inputs": inputs}),
        Example("digit", "A grey digit",
                f"A handwritten {int(digits.labels[0])} from scikit-learn's digits, as the CNN "
                "lab feeds it: one channel of 16×16 pixels.",
                ("channels", "height", "width"), digit),
        Example("photos", "A batch of colour images",
                "Four of scikit-image's sample photos, as a CNN takes them in: a batch of "
                "images, each three channels (red, green, blue) of 64×64 pixels.",
                ("batch", "channels", "height", "width"), photos,
                {"batch": list(PHOTOS), "channels": ["red", "green", "blue"]}),
        Example("clips", "A batch of video clips",
                "Two clips of 8 frames, a camera panning across a photo: time is one more "
                "dimension.",
                ("batch", "time", "channels", "height", "width"), clips,
                {"channels": ["red", "green", "blue"]}),
        Example("stereo", "A batch of stereo clips",
                "Two clips filmed by two cameras side by side: one more dimension, the camera.",
                ("batch", "camera", "time", "channels", "height", "width"), stereo,
                {"channels": ["red", "green", "blue"]}),
    ]


# ---- flattening --------------------------------------------------------------------------------
def feature_map() -> dict:
    """A digit through two edge detectors, ReLU and 4x4 max pooling: a (2, 4, 4) feature map,
    and what ``flatten`` makes of it (32,)."""
    digits = load("digits", LoadOptions(upscale=2))
    x = torch.from_numpy(digits.images[0]).permute(2, 0, 1)[None].float() / 255  # (1, 1, 16, 16)
    kernels = torch.from_numpy(np.stack([preset_kernel(k) for k in FLATTEN_KERNELS]))[:, None]
    maps = F.max_pool2d(F.relu(F.conv2d(x, kernels, padding=1)), 4)[0]  # (2, 4, 4)
    return {
        "kernels": list(FLATTEN_KERNELS),
        "map": maps,
        "flat": torch.flatten(maps),  # (32,): row after row of channel 0, then of channel 1
    }


def digit_row() -> torch.Tensor:
    """A digit as scikit-learn stores it in ``digits.data``: one row of 64 numbers (0-16)."""
    return torch.from_numpy(sklearn_digits()[0][0].astype(np.float32))


# ---- dtypes and devices -------------------------------------------------------------------------
def dtypes() -> list[dict]:
    return [
        {"dtype": str(d).removeprefix("torch."), "bytes": torch.empty(0, dtype=d).element_size()}
        for d in DTYPES
    ]


def _seconds(work, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def copy_costs(device: torch.device, megabytes: int = 16) -> list[dict]:
    """Measured times to copy ``megabytes`` of float32: within the CPU's memory, and to and from
    ``device`` when it is a GPU (the fastest of three tries)."""
    x = torch.ones(megabytes * 2**20 // 4)
    rows = [{"from": "cpu", "to": "cpu", "bytes": x.nbytes, "seconds": _seconds(x.clone)}]
    if device.type == "cuda":
        def there():
            x.to(device)
            torch.cuda.synchronize(device)

        on_gpu = x.to(device)

        def back():
            on_gpu.cpu()

        def within():
            on_gpu.clone()
            torch.cuda.synchronize(device)

        rows += [
            {"from": "cpu", "to": str(device), "bytes": x.nbytes, "seconds": _seconds(there)},
            {"from": str(device), "to": "cpu", "bytes": x.nbytes, "seconds": _seconds(back)},
            {"from": str(device), "to": str(device), "bytes": x.nbytes, "seconds": _seconds(within)},
        ]
    return rows
