"""How much of a shift or a rotation of the picture survives a convolution, and then pooling.

The course says pooling gives "positional / rotational invariance": if the subject moves, the
pooled maps should change less than the conv maps. These demos measure it honestly: two views of
one picture (the second shifted, or rotated), both made only of real picture content, each
convolved with the same kernel and pooled the same way, and the relative change between the two
views at every stage (``relative_change``: mean |after − before| / mean |before|).

A shift smaller than the pooling window mostly stays inside the windows, so the pooled maps
change much less than the conv maps. A rotation moves a pixel at distance r from the centre by
about r·θ (in radians): near the centre that is less than a window, far out it is many windows,
and the kernel's own direction turns too (an edge detector for vertical edges sees other edges).
So pooling absorbs a small rotation partly and a large one hardly at all; the numbers show it.

Shapes: images are (C, H, W) float32; kernels (C, k, k) (one output channel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ml_core.convolution import Geometry, conv2d, pool2d


def relative_change(before: np.ndarray, after: np.ndarray) -> float:
    """mean |after - before| / mean |before| (0 when both are all zeros)."""
    scale = float(np.abs(before).mean())
    change = float(np.abs(after - before).mean())
    if scale < 1e-12:
        return 0.0 if change < 1e-12 else float("inf")
    return change / scale


@dataclass(frozen=True)
class Invariance:
    """Conv and pooled outputs of two views of a picture, and how much each stage changed."""

    conv: tuple[np.ndarray, np.ndarray]  # (H', W') each: before, after
    pooled: tuple[np.ndarray, np.ndarray]  # (H'', W'') each
    input_change: float
    conv_change: float
    pooled_change: float


def compare(
    before: np.ndarray,
    after: np.ndarray,
    kernel: np.ndarray,
    geometry: Geometry,
    pool_mode: str,
    pool_size: int,
    pool_stride: int,
) -> Invariance:
    """Convolve two (C, H, W) views with one (C, k, k) kernel, pool both; compare each stage."""
    weights = np.asarray(kernel, dtype=np.float32)[None]  # (1, C, k, k)
    conv_a = conv2d(before, weights, geometry)  # (1, H', W')
    conv_b = conv2d(after, weights, geometry)
    pool_a, _ = pool2d(conv_a, pool_mode, pool_size, pool_stride)
    pool_b, _ = pool2d(conv_b, pool_mode, pool_size, pool_stride)
    return Invariance(
        conv=(conv_a[0], conv_b[0]),
        pooled=(pool_a[0], pool_b[0]),
        input_change=relative_change(before, after),
        conv_change=relative_change(conv_a, conv_b),
        pooled_change=relative_change(pool_a, pool_b),
    )


# --- shift --------------------------------------------------------------------------------------
def shifted_pair(image: np.ndarray, dx: int, dy: int) -> tuple[np.ndarray, np.ndarray]:
    """Two equal crops of a (C, H, W) image, the second moved by (dx, dy) pixels.

    Cropping (rather than rolling or zero-filling) keeps both views real image content, so any
    difference downstream comes from the shift alone, not from a made-up border.
    """
    _, height, width = image.shape
    mx, my = abs(dx), abs(dy)
    if 2 * mx >= width or 2 * my >= height:
        raise ValueError(f"a shift of ({dx}, {dy}) is too large for a {width}x{height} image")
    original = image[:, my : height - my, mx : width - mx]
    moved = image[:, my - dy : height - my - dy, mx - dx : width - mx - dx]
    return original, moved


def translation_demo(
    image: np.ndarray,
    kernel: np.ndarray,
    geometry: Geometry,
    pool_mode: str,
    pool_size: int,
    pool_stride: int,
    dx: int,
    dy: int,
) -> Invariance:
    """Shift a (C, H, W) image by (dx, dy); conv each view with a (C, k, k) kernel, then pool.

    What pooling keeps: the pooled maps change less than the conv maps when the shift is
    smaller than the pooling window. What it throws away: where exactly inside the window.
    """
    original, moved = shifted_pair(image, dx, dy)
    return compare(original, moved, kernel, geometry, pool_mode, pool_size, pool_stride)


# --- rotation -----------------------------------------------------------------------------------
def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """A (C, H, W) image turned ``degrees`` counter-clockwise (as seen on screen) about its centre.

    Each output pixel (row i, column j) takes the bilinear mix of the input at the point that
    the rotation brings to it: with the centre c = ((W − 1)/2, (H − 1)/2), x = j − c_x to the
    right and y = i − c_y downwards, the source is (x cos θ − y sin θ, x sin θ + y cos θ). Points
    from outside the image read 0. By ``torch.nn.functional.grid_sample`` (align_corners: −1 and
    1 are the centres of the corner pixels).
    """
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)).unsqueeze(0)  # (1, C, H, W)
    _, _, height, width = x.shape
    theta = math.radians(degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    # The same map in grid_sample's normalised coordinates u = x / c_x, v = y / c_y.
    sx, sy = (width - 1) / 2, (height - 1) / 2
    affine = torch.tensor(
        [[cos, -sin * sy / sx, 0.0], [sin * sx / sy, cos, 0.0]], dtype=torch.float32
    )[None]  # (1, 2, 3)
    grid = F.affine_grid(affine, list(x.shape), align_corners=True)  # (1, H, W, 2)
    turned = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return turned[0].numpy()


def rotated_pair(image: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Two equal central crops of a (C, H, W) image, the second of the image turned ``degrees``.

    The crop is the largest centred square inside the circle that fits the image, so for any
    angle both views are real picture content (no corners turned in from outside).
    """
    _, height, width = image.shape
    side = int(min(height, width) / math.sqrt(2)) - 2  # 2: the bilinear mix's reach
    if side < 4:
        raise ValueError(f"a {width}x{height} image is too small to turn")
    top, left = (height - side) // 2, (width - side) // 2
    crop = np.s_[:, top : top + side, left : left + side]
    return image[crop], rotate(image, degrees)[crop]


def rotation_demo(
    image: np.ndarray,
    kernel: np.ndarray,
    geometry: Geometry,
    pool_mode: str,
    pool_size: int,
    pool_stride: int,
    degrees: float,
) -> Invariance:
    """Turn a (C, H, W) image by ``degrees``; conv each view with a (C, k, k) kernel, then pool,
    and compare at the same positions (what an invariance would leave unchanged)."""
    original, turned = rotated_pair(image, degrees)
    return compare(original, turned, kernel, geometry, pool_mode, pool_size, pool_stride)
