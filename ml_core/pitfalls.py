"""Dataset pitfalls as controls: class imbalance, label noise, augmentation, class weights.

Each is applied to the training split only, so validation and test still tell the truth: shrink a
class and the overall accuracy stays high while that class's accuracy collapses; flip labels and
training accuracy plateaus below 100% while the flipped images rise to the top of the loss list.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field


def imbalance(
    labels: np.ndarray, classes: list[int], fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Indices to keep: every image, except that each class in ``classes`` keeps only
    round(fraction * count) of its images (at least one), chosen at random."""
    keep = np.ones(len(labels), dtype=bool)
    for c in set(classes):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            continue
        kept = max(1, round(fraction * len(members)))
        dropped = rng.choice(members, len(members) - kept, replace=False)
        keep[dropped] = False
    return np.flatnonzero(keep)


def flip_labels(
    labels: np.ndarray, fraction: float, num_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, flipped mask): exactly round(fraction * n) labels changed, each to a
    different class drawn uniformly from the other num_classes - 1."""
    noisy = labels.copy()
    flipped = np.zeros(len(labels), dtype=bool)
    count = round(fraction * len(labels))
    if count == 0 or num_classes < 2:
        return noisy, flipped
    chosen = rng.choice(len(labels), count, replace=False)
    # Adding 1..k-1 modulo k always lands on another class, each equally likely.
    noisy[chosen] = (labels[chosen] + rng.integers(1, num_classes, count)) % num_classes
    flipped[chosen] = True
    return noisy, flipped


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Weights n / (k * n_c) ("balanced"): rare classes count more; 0 for absent classes.

    With them, every class contributes the same total weight to the loss: n_c * w_c = n / k.
    """
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes)
    present = counts > 0
    weights[present] = len(labels) / (num_classes * counts[present])
    return weights.astype(np.float32)


class AugmentConfig(BaseModel):
    """What ``augment`` does to each training batch; the ``augment`` field of the CNN's config."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    flip: bool = Field(False, description="Random horizontal flip, p = 0.5.")
    shift: int = Field(0, ge=0, le=8, description="Random shift by up to this many pixels.")
    rotate: float = Field(0.0, ge=0, le=180, description="Random rotation by up to ± degrees.")
    color_jitter: float = Field(
        0.0, ge=0, le=1, description="Strength of random brightness, contrast (and saturation)."
    )

    @property
    def active(self) -> bool:
        return self.flip or self.shift > 0 or self.rotate > 0 or self.color_jitter > 0


def affine(
    x: torch.Tensor, degrees: torch.Tensor, shift_x: torch.Tensor, shift_y: torch.Tensor
) -> torch.Tensor:
    """Rotate each image of x (B, C, H, W) by degrees (B,) counter-clockwise about its centre,
    then shift it by whole pixels (B,) right and down; uncovered pixels become 0."""
    b, _, h, w = x.shape
    angle = torch.deg2rad(degrees.to(x.dtype))
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps each output pixel to where it samples the input, in [-1, 1] coordinates:
    # the inverse of the motion. Rotating the content counter-clockwise on screen (y points down)
    # samples from the point rotated clockwise. A shift of d pixels is 2d/W in those units.
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    theta[:, 0, 2] = -2 * shift_x.to(x.dtype) / w * cos + 2 * shift_y.to(x.dtype) / h * sin * h / w
    theta[:, 1, 2] = -2 * shift_x.to(x.dtype) / w * sin * w / h - 2 * shift_y.to(x.dtype) / h * cos
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(
    x: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor, saturation: torch.Tensor
) -> torch.Tensor:
    """Per-image factors (B,) applied to x (B, C, H, W) in [0, 1]; 1 leaves an image unchanged."""
    x = x * brightness[:, None, None, None]
    grey = x.mean(1, keepdim=True)  # (B, 1, H, W)
    mean = grey.mean((2, 3), keepdim=True)
    x = (x - mean) * contrast[:, None, None, None] + mean
    if x.shape[1] == 3:
        grey = x.mean(1, keepdim=True)
        x = (x - grey) * saturation[:, None, None, None] + grey
    return x.clamp(0, 1)


def augment(
    x: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator | None = None,
    flip_p: float = 0.5,
) -> torch.Tensor:
    """A randomly augmented copy of the batch x (B, C, H, W), values in [0, 1]."""
    if not config.active:
        return x
    b, device = x.shape[0], x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(b, generator=generator, device=device) * (hi - lo) + lo

    if config.flip:
        flip = torch.rand(b, generator=generator, device=device) < flip_p
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    if config.shift > 0 or config.rotate > 0:
        s = config.shift

        def pixels() -> torch.Tensor:
            return torch.randint(-s, s + 1, (b,), generator=generator, device=device)

        x = affine(x, uniform(-config.rotate, config.rotate), pixels(), pixels())
    if config.color_jitter > 0:
        j = min(config.color_jitter, 1.0)
        low = max(0.0, 1 - j)
        x = color_jitter(x, uniform(low, 1 + j), uniform(low, 1 + j), uniform(low, 1 + j))
    return x
