"""Preset kernels, and how a kernel's outputs become display pixels.

``PRESETS`` names the kernels a student can load (identity, blurs, sharpen, edge detectors,
emboss); ``preset_kernel`` makes one at any size it exists at. ``to_display`` turns convolution
outputs into uint8 pixels with a diverging or a grey scale, chosen by ``is_signed``.
"""

from __future__ import annotations

import numpy as np

# --- preset kernels -------------------------------------------------------------------------
_FIXED = {  # 3x3 classics; at larger sizes they sit in the middle of a zero kernel
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "prewitt_x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt_y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
}
PRESETS = (
    "identity",
    "box_blur",
    "gaussian_blur",
    "sharpen",
    "sobel_x",
    "sobel_y",
    "prewitt_x",
    "prewitt_y",
    "laplacian",
    "emboss",
)


def preset_kernel(name: str, size: int = 3) -> np.ndarray:
    """A named (size, size) float32 kernel.

    identity, box_blur and gaussian_blur exist at every size (identity and Gaussian centred, so
    odd sizes are the natural ones); the others are 3x3 and need size >= 3.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown kernel {name!r}; choose one of {', '.join(PRESETS)}")
    if size < 1:
        raise ValueError("kernel size must be >= 1")
    kernel = np.zeros((size, size), dtype=np.float32)
    centre = (size - 1) // 2
    if name == "identity":
        kernel[centre, centre] = 1.0
    elif name == "box_blur":
        kernel[:] = 1.0 / (size * size)
    elif name == "gaussian_blur":
        sigma = max(size / 4.0, 0.5)  # the kernel covers about +-2 sigma
        offsets = np.arange(size, dtype=np.float32) - (size - 1) / 2
        g = np.exp(-(offsets**2) / (2 * sigma**2))
        kernel = np.outer(g, g).astype(np.float32)
        kernel /= kernel.sum()
    else:
        if size < 3:
            raise ValueError(f"the {name} kernel is 3x3: choose a kernel size of 3 or more")
        start = (size - 3) // 2
        kernel[start : start + 3, start : start + 3] = _FIXED[name]
    return kernel


def presets_at(size: int) -> dict[str, np.ndarray]:
    """Every preset that exists at this kernel size (the 3x3 classics need size >= 3)."""
    kernels = {}
    for name in PRESETS:
        try:
            kernels[name] = preset_kernel(name, size)
        except ValueError:
            continue  # e.g. Sobel at 1x1
    return kernels


# --- display --------------------------------------------------------------------------------


def is_signed(kernel: np.ndarray) -> bool:
    """True for kernels whose responses centre on 0 (edge detectors: weights sum to ~0, or less).

    Their outputs are drawn with a diverging colormap; the others (blur, sharpen, emboss,
    identity) look like images and are drawn in grey.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    return float(kernel.sum()) <= 0.05 * float(np.abs(kernel).sum())


def to_display(
    values: np.ndarray, signed: bool, high: float | None = None
) -> tuple[np.ndarray, dict]:
    """Float outputs -> uint8 pixels and the scale used (for the page's legend).

    signed: 128 is 0 and 0/255 are -/+ scale, scale = the 99th percentile of |value| (so one
    extreme pixel does not wash out the rest); drawn with the diverging colormap.
    unsigned: 0 is black and 255 is ``high``, clipped; drawn in grey. Give high = the kernel's
    sum for an image in [0, 1] (a flat patch's output), so a sharpened image keeps its
    brightness and its overshoot clips as in a photo editor; default max(1, largest value).
    """
    values = np.nan_to_num(np.asarray(values, dtype=np.float32))
    if signed:
        scale = float(np.percentile(np.abs(values), 99)) if values.size else 0.0
        scale = scale if scale > 1e-6 else max(float(np.abs(values).max(initial=0.0)), 1e-6)
        pixels = 127.5 + 127.5 * np.clip(values / scale, -1.0, 1.0)
        return np.round(pixels).astype(np.uint8), {"map": "diverging", "scale": scale}
    if high is None or high <= 1e-6:
        high = max(1.0, float(values.max(initial=0.0)))
    pixels = 255.0 * np.clip(values / high, 0.0, 1.0)
    return np.round(pixels).astype(np.uint8), {"map": "gray", "scale": float(high)}
