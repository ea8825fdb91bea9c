"""Two-dimensional toy datasets for the MLP playground.

Every generator shares one signature, ``(samples, noise, classes, rng) -> (xy, targets)``:

- ``xy``: float32 ``(N, 2)``, points in the plane ``[-1, 1]²`` (clipped there after the noise);
- ``targets``: for a classification dataset int64 ``(N,)`` labels, class indices
  ``0 .. classes-1``, classes balanced (±1 point); for a regression dataset (``spec.task``) float32
  ``(N,)`` values in about ``[-1, 1]`` (``classes`` is ignored).

``noise`` runs from 0 (clean) to 1 (hopeless). It is the standard deviation of Gaussian jitter
added to both coordinates, in units of ``NOISE_SCALE`` (half the plane's half-width): noise 0.1,
the default, moves a point by about 0.05, a fortieth of the plane. The blobs' spread grows with it too.
A regression dataset's noise is on the value instead (same units).

Points come out in random order, so splitting off the first or last rows is a random split.
``split`` does the train / validation / test split from a seed; ``from_points`` checks drawn
points (the ``custom`` dataset). What to generate is a ``DataConfig`` (ml_core/mlp_config.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NOISE_SCALE = 0.5  # jitter std = noise * NOISE_SCALE (plane units)
CUSTOM = "custom"  # the dataset name of drawn points (``from_points``), beside ``DATASETS``
MAX_VALUE = 10.0  # a drawn regression point's value lies in [-MAX_VALUE, MAX_VALUE]

Generator2D = Callable[[int, float, int, np.random.Generator], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class DatasetSpec:
    """A generator, the class counts it can make and its task (``classification`` or
    ``regression``: real values, and no classes)."""

    fn: Generator2D
    min_classes: int = 2
    max_classes: int = 2
    description: str = ""
    task: str = "classification"


def _per_class(samples: int, classes: int) -> np.ndarray:
    """Labels (samples,) as balanced as possible: class c gets samples//classes (+1 for the first few)."""
    return np.arange(samples, dtype=np.int64) % classes


def _finish(xy: np.ndarray, labels: np.ndarray, noise: float, rng: np.random.Generator):
    """Add the jitter, clip to the plane, shuffle the rows; return float32 xy, int64 labels."""
    xy = xy + rng.normal(0.0, noise * NOISE_SCALE, size=xy.shape) if noise > 0 else xy
    order = rng.permutation(len(labels))
    xy = np.clip(xy[order], -1.0, 1.0).astype(np.float32)
    return xy, labels[order].astype(np.int64)


def _polar(r: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def circle(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """Concentric rings: class 0 is a disc of radius 0.5 (for 2 classes), class c a ring around it.

    With k classes ring c spans radii [(c + 0.4) / k, (c + 1) / k] (class 0: [0, 1/k]), leaving an
    empty band between rings as TensorFlow Playground's circle does (0-0.5 and 0.7-1).
    """
    labels = _per_class(samples, classes)
    lo = np.where(labels == 0, 0.0, (labels + 0.4) / classes)
    hi = (labels + 1.0) / classes
    r = lo + (hi - lo) * rng.random(samples)
    t = rng.uniform(0.0, 2 * math.pi, samples)
    return _finish(_polar(r, t), labels, noise, rng)


def xor(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """Four quadrants: class 1 where x·y > 0, class 0 where x·y < 0 (a band 0.05 wide is left empty)."""
    labels = _per_class(samples, 2)
    magnitude = 0.05 + 0.95 * rng.random((samples, 2))
    sign_x = rng.choice([-1.0, 1.0], samples)
    sign_y = np.where(labels == 1, sign_x, -sign_x)  # same signs: x·y > 0, class 1
    xy = magnitude * np.stack([sign_x, sign_y], axis=1)
    return _finish(xy, labels, noise, rng)


def _blob_std(noise: float) -> float:
    return 0.08 + 0.3 * noise


def gauss(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """Two gaussian clouds: class 0 around (-0.4, -0.4), class 1 around (0.4, 0.4)."""
    labels = _per_class(samples, 2)
    centres = np.where(labels[:, None] == 1, 0.4, -0.4)
    xy = centres + rng.normal(0.0, _blob_std(noise), size=(samples, 2))
    return _finish(xy, labels, 0.0, rng)


def blobs(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """k gaussian blobs with centres evenly spaced on a circle of radius 0.6."""
    labels = _per_class(samples, classes)
    angles = 2 * math.pi * labels / classes + math.pi / 4
    xy = _polar(np.full(samples, 0.6), angles) + rng.normal(0.0, _blob_std(noise), (samples, 2))
    return _finish(xy, labels, 0.0, rng)


def spiral(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """k interleaved spiral arms, one per class, each turning 1.75 times from the centre outwards."""
    labels = _per_class(samples, classes)
    r = 0.05 + 0.9 * rng.random(samples)
    t = 1.75 * 2 * math.pi * r + 2 * math.pi * labels / classes
    return _finish(_polar(r, t), labels, noise, rng)


def moons(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """Two interleaving half circles (scikit-learn's make_moons), scaled to fill the plane."""
    labels = _per_class(samples, 2)
    t = rng.uniform(0.0, math.pi, samples)
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)  # class 0
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)  # class 1
    xy = np.where(labels[:, None] == 0, upper, lower)
    xy = (xy - [0.5, 0.25]) * 0.6  # x in [-1, 2] -> [-0.9, 0.9]; y in [-0.5, 1] -> [-0.45, 0.45]
    return _finish(xy, labels, noise, rng)


# --- regression: a real value at every point ------------------------------------------------------
def _finish_values(xy: np.ndarray, values: np.ndarray, noise: float, rng: np.random.Generator):
    """Add the jitter to the values, shuffle the rows; return float32 xy, float32 values."""
    values = values + rng.normal(0.0, noise * NOISE_SCALE, size=values.shape) if noise > 0 else values
    order = rng.permutation(len(values))
    return xy[order].astype(np.float32), values[order].astype(np.float32)


def plane(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """A tilted plane: value (x + y) / 2 at a uniform point, from -1 (bottom left) to +1."""
    xy = rng.uniform(-1.0, 1.0, (samples, 2))
    return _finish_values(xy, xy.sum(axis=1) / 2, noise, rng)


# (x, y, sign) of each bump: TensorFlow Playground's six, scaled from [-6, 6] to [-1, 1].
BUMPS = ((-2 / 3, 5 / 12, 1), (0, 5 / 12, -1), (2 / 3, 5 / 12, 1),
         (-2 / 3, -5 / 12, -1), (0, -5 / 12, 1), (2 / 3, -5 / 12, -1))
BUMP_WIDTH = 0.2  # each bump's standard deviation


def gaussians(samples: int, noise: float, classes: int, rng: np.random.Generator):
    """A sum of Gaussian bumps, three up (+1) and three down (-1), alternating in two rows."""
    xy = rng.uniform(-1.0, 1.0, (samples, 2))
    values = np.zeros(samples)
    for bx, by, sign in BUMPS:
        d2 = (xy[:, 0] - bx) ** 2 + (xy[:, 1] - by) ** 2
        values += sign * np.exp(-d2 / (2 * BUMP_WIDTH**2))
    return _finish_values(xy, np.clip(values, -1.0, 1.0), noise, rng)


DATASETS: dict[str, DatasetSpec] = {
    "circle": DatasetSpec(circle, 2, 8, "a disc inside a ring (k classes: k rings)"),
    "xor": DatasetSpec(xor, 2, 2, "opposite quadrants share a class"),
    "gauss": DatasetSpec(gauss, 2, 2, "two gaussian clouds, linearly separable"),
    "spiral": DatasetSpec(spiral, 2, 8, "interleaved spiral arms, one per class"),
    "moons": DatasetSpec(moons, 2, 2, "two interleaving half circles"),
    "blobs": DatasetSpec(blobs, 2, 8, "k gaussian blobs on a circle"),
    "plane": DatasetSpec(plane, description="a tilted plane: value (x + y) / 2", task="regression"),
    "gaussians": DatasetSpec(
        gaussians, description="a sum of six Gaussian bumps, up and down", task="regression"
    ),
}


def task_of(name: str) -> str | None:
    """The task of the dataset ``name`` (None for ``custom``, which takes either)."""
    spec = DATASETS.get(name)
    return None if spec is None else spec.task


def generate(name: str, samples: int, noise: float, classes: int, seed: int):
    """Run the generator ``name`` with a fresh generator seeded by ``seed``.

    Raises ValueError for an unknown name or a class count the dataset cannot make.
    """
    spec = DATASETS.get(name)
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    regression = spec.task == "regression"
    if not regression and not spec.min_classes <= classes <= spec.max_classes:
        if spec.min_classes == spec.max_classes:
            raise ValueError(f"dataset {name!r} has exactly {spec.min_classes} classes")
        raise ValueError(
            f"dataset {name!r} takes {spec.min_classes} to {spec.max_classes} classes, not {classes}"
        )
    if samples < (1 if regression else classes):
        raise ValueError(f"need at least one point per class ({classes}), got {samples} samples")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    return spec.fn(samples, noise, classes, np.random.default_rng(seed))


def from_points(points, task: str = "classification") -> tuple[np.ndarray, np.ndarray]:
    """Drawn points ``[[x, y, label], ...]`` -> (xy float32 (N, 2), labels int64 (N,)); for a
    regression ``[[x, y, value], ...]`` -> (xy, values float32 (N,)).

    x and y must lie in [-1, 1], labels be whole numbers >= 0 and values lie in
    [-MAX_VALUE, MAX_VALUE]; ValueError says which point is wrong.
    """
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("points must be a list of [x, y, label] triples of numbers") from None
    regression = task == "regression"
    if arr.size == 0:
        return np.zeros((0, 2), np.float32), np.zeros(0, np.float32 if regression else np.int64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError("points must be a list of [x, y, label] triples")
    if not np.isfinite(arr).all():
        raise ValueError("points must be finite numbers")
    bad = np.flatnonzero((np.abs(arr[:, :2]) > 1.0).any(axis=1))
    if bad.size:
        raise ValueError(f"point {int(bad[0])} lies outside the plane: x and y must be in [-1, 1]")
    labels = arr[:, 2]
    if regression:
        bad = np.flatnonzero(np.abs(labels) > MAX_VALUE)
        if bad.size:
            raise ValueError(
                f"point {int(bad[0])} has value {labels[bad[0]]}: values lie in "
                f"[-{MAX_VALUE:g}, {MAX_VALUE:g}]"
            )
        return arr[:, :2].astype(np.float32), labels.astype(np.float32)
    bad = np.flatnonzero((labels < 0) | (labels != np.round(labels)))
    if bad.size:
        raise ValueError(f"point {int(bad[0])} has label {labels[bad[0]]}: labels are 0, 1, 2, ...")
    return arr[:, :2].astype(np.float32), labels.astype(np.int64)


def split(
    count: int, val_fraction: float, seed: int, test_fraction: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random train / validation / test index arrays for ``count`` points; at least one
    training point (the held-out parts shrink, test first, when there are too few points).

    The validation part holds round(count * val_fraction) points, the test part
    round(count * test_fraction). Which points are for training depends only on the seed and
    how many are held out, so a test part taken out of the validation share leaves the
    training points as they were.
    """
    if not (0.0 <= val_fraction and 0.0 <= test_fraction and val_fraction + test_fraction < 1.0):
        raise ValueError(
            f"val_fraction and test_fraction must be >= 0 with a sum below 1, got "
            f"{val_fraction} and {test_fraction}"
        )
    order = np.random.default_rng(seed + 1).permutation(count)  # +1: not the generator's stream
    n_val = min(int(round(count * val_fraction)), max(count - 1, 0))
    n_test = min(int(round(count * test_fraction)), max(count - 1 - n_val, 0))
    held = n_val + n_test
    return np.sort(order[held:]), np.sort(order[:n_val]), np.sort(order[n_val:held])
