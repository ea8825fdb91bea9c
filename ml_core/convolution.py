"""Convolution and pooling, one window at a time and on whole images.

Thin wrappers around ``torch.nn.functional.conv2d`` and the pooling functions, plus what a
student needs to *see* them: the output-size formula, the element-wise products of one window,
and the value a pooling window picks. Preset kernels and display pixels are ``ml_core.kernels``;
the shift and rotation demos (how much survives pooling) are ``ml_core.convolution_invariance``.

``ConvolutionConfig`` is the lab's whole configuration, its one definition: every name in it comes
from the core (``PRESETS``, ``POOL_MODES``, the sample images) and the geometry and kernels are
built from it.

Shapes: an image is (C, H, W) float32 (C = 1 grey or 3 RGB); kernels are (K, C, k, k)
(K output channels, as in ``nn.Conv2d``). Everything is computed on the CPU in float32; the
inputs here are small (<= a few hundred pixels a side).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ml_core.config import limits_of
from ml_core.images import SAMPLE_IMAGES
from ml_core.kernels import PRESETS, preset_kernel

# The 5x5 binary image and 3x3 kernel of the course slides; the first output is 4.
CLASSIC_IMAGE = np.array(
    [
        [1, 1, 1, 0, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 1, 1, 1],
        [0, 0, 1, 1, 0],
        [0, 1, 1, 0, 0],
    ],
    dtype=np.float32,
)
CLASSIC_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=np.float32)

POOL_MODES = ("max", "avg", "min")
POOL_SOURCES = ("image", "feature")  # pool the picture (or the small grid), or the first conv output
COLORS = ("grey", "rgb")  # a picture as one input channel, or three
CUSTOM_KERNEL = "custom"  # the kernel typed into the grid
UPLOAD = "upload"  # the session's uploaded picture


@dataclass(frozen=True)
class Geometry:
    """How a kernel walks over an image: the three knobs of ``nn.Conv2d`` besides its size."""

    stride: int = 1
    padding: int = 0  # zeros added on every side
    dilation: int = 1  # gap between kernel taps (1 = touching)


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output side for input side n and kernel side k: floor((n + 2p - d(k - 1) - 1) / s) + 1.

    Returns <= 0 when the (dilated) kernel does not fit in the padded input.
    """
    span = n + 2 * padding - dilation * (k - 1) - 1
    if span < 0:
        return 0
    return span // stride + 1


def check_fits(height: int, width: int, k: int, geometry: Geometry) -> tuple[int, int]:
    """The (H', W') output size, or ValueError saying why the kernel does not fit."""
    if geometry.stride < 1 or geometry.dilation < 1 or geometry.padding < 0:
        raise ValueError("stride and dilation must be >= 1 and padding >= 0")
    effective = geometry.dilation * (k - 1) + 1
    padded = (height + 2 * geometry.padding, width + 2 * geometry.padding)
    if effective > min(padded):
        raise ValueError(
            f"the kernel spans {effective} pixels (size {k}, dilation {geometry.dilation}) but "
            f"the padded input is only {padded[0]}x{padded[1]}: use a smaller kernel or dilation, "
            "or more padding"
        )
    return (
        output_size(height, k, geometry.stride, geometry.padding, geometry.dilation),
        output_size(width, k, geometry.stride, geometry.padding, geometry.dilation),
    )


def _tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32))


@torch.no_grad()
def conv2d(image: np.ndarray, kernels: np.ndarray, geometry: Geometry = Geometry()) -> np.ndarray:
    """Cross-correlation as in a conv layer (no bias): (C, H, W) x (K, C, k, k) -> (K, H', W').

    Each output channel sums its kernel's response over all C input channels.
    """
    x = _tensor(image).unsqueeze(0)  # (1, C, H, W)
    w = _tensor(kernels)  # (K, C, k, k)
    check_fits(x.shape[2], x.shape[3], w.shape[-1], geometry)
    y = F.conv2d(x, w, stride=geometry.stride, padding=geometry.padding, dilation=geometry.dilation)
    return y[0].numpy()


@torch.no_grad()
def conv2d_per_channel(
    image: np.ndarray, kernels: np.ndarray, geometry: Geometry = Geometry()
) -> np.ndarray:
    """What each input channel contributes: (C, H, W) x (K, C, k, k) -> (K, C, H', W').

    Summing over axis 1 gives ``conv2d``. Computed as a grouped convolution (groups = C), so
    every input channel only meets its own slice of every kernel.
    """
    x = _tensor(image).unsqueeze(0)  # (1, C, H, W)
    w = _tensor(kernels)  # (K, C, k, k)
    n_out, n_in, k, _ = w.shape
    check_fits(x.shape[2], x.shape[3], k, geometry)
    # groups=C wants the weights ordered by input channel: (C*K, 1, k, k).
    grouped = w.permute(1, 0, 2, 3).reshape(n_in * n_out, 1, k, k)
    y = F.conv2d(
        x,
        grouped,
        stride=geometry.stride,
        padding=geometry.padding,
        dilation=geometry.dilation,
        groups=n_in,
    )  # (1, C*K, H', W')
    return y[0].reshape(n_in, n_out, *y.shape[2:]).permute(1, 0, 2, 3).numpy()


@torch.no_grad()
def pool2d(
    image: np.ndarray, mode: str, size: int, stride: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Max, average or min pooling of (C, H, W) over size x size windows -> (C, H', W').

    Also returns, for max and min, the flat index (row * W + col) into the input of the value
    each window picked, shape (C, H', W'); None for avg. No padding: the course's N x N, stride S.
    """
    if mode not in POOL_MODES:
        raise ValueError(f"unknown pooling {mode!r}; choose one of {', '.join(POOL_MODES)}")
    x = _tensor(image).unsqueeze(0)  # (1, C, H, W)
    if size < 1 or stride < 1:
        raise ValueError("pooling size and stride must be >= 1")
    if size > min(x.shape[2], x.shape[3]):
        raise ValueError(
            f"a {size}x{size} pooling window does not fit in a {x.shape[2]}x{x.shape[3]} input"
        )
    if mode == "avg":
        return F.avg_pool2d(x, size, stride)[0].numpy(), None
    sign = 1.0 if mode == "max" else -1.0  # min pooling is max pooling of the negated input
    values, indices = F.max_pool2d(sign * x, size, stride, return_indices=True)
    return (sign * values)[0].numpy(), indices[0].numpy()


# --- one window, for the step-by-step panel -------------------------------------------------


@dataclass(frozen=True)
class ConvWindow:
    """One output cell of a single-channel convolution, shown as its sum of products."""

    row: int  # output position
    col: int
    rows: list[int]  # input rows of the kernel taps, in *padded* coordinates (len k)
    cols: list[int]
    values: np.ndarray  # (k, k) input values under the taps (zeros on the padding)
    products: np.ndarray  # (k, k) values * kernel
    total: float  # sum of products = the output cell


def pad(image: np.ndarray, padding: int) -> np.ndarray:
    """(H, W) -> (H + 2p, W + 2p) with a zero border."""
    return np.pad(np.asarray(image, dtype=np.float32), padding)


def conv_window(
    image: np.ndarray, kernel: np.ndarray, geometry: Geometry, index: int
) -> ConvWindow:
    """The window of output cell ``index`` (row-major) of (H, W) image with (k, k) kernel."""
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    k = kernel.shape[0]
    out_h, out_w = check_fits(*image.shape, k, geometry)
    if not 0 <= index < out_h * out_w:
        raise ValueError(f"window {index} does not exist; the output has {out_h * out_w} cells")
    row, col = divmod(index, out_w)
    rows = [row * geometry.stride + i * geometry.dilation for i in range(k)]
    cols = [col * geometry.stride + j * geometry.dilation for j in range(k)]
    values = pad(image, geometry.padding)[np.ix_(rows, cols)]
    products = values * kernel
    return ConvWindow(row, col, rows, cols, values, products, float(products.sum()))


@dataclass(frozen=True)
class PoolWindow:
    """One output cell of a pooling layer: the window and the value it kept."""

    row: int
    col: int
    rows: list[int]  # input rows covered (len size)
    cols: list[int]
    values: np.ndarray  # (size, size)
    chosen: tuple[int, int] | None  # (i, j) inside the window of the value kept; None for avg
    result: float


def pool_window(image: np.ndarray, mode: str, size: int, stride: int, index: int) -> PoolWindow:
    """The window of pooled cell ``index`` (row-major) of an (H, W) input."""
    image = np.asarray(image, dtype=np.float32)
    pooled, _ = pool2d(image[None], mode, size, stride)
    out_h, out_w = pooled.shape[1:]
    if not 0 <= index < out_h * out_w:
        raise ValueError(f"window {index} does not exist; the output has {out_h * out_w} cells")
    row, col = divmod(index, out_w)
    rows = list(range(row * stride, row * stride + size))
    cols = list(range(col * stride, col * stride + size))
    values = image[np.ix_(rows, cols)]
    chosen = None
    if mode != "avg":  # the first cell holding the extreme value, reading row by row
        flat = int(values.argmax() if mode == "max" else values.argmin())
        chosen = divmod(flat, size)
    return PoolWindow(row, col, rows, cols, values, chosen, float(pooled[0, row, col]))


# --- the lab's config -----------------------------------------------------------------------

Value = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
KernelName = Literal[(*PRESETS, CUSTOM_KERNEL)]
SampleName = Literal[(*SAMPLE_IMAGES, UPLOAD)]


def _rectangle(rows: list[list[float]], what: str) -> tuple[int, int]:
    if not rows or not rows[0] or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError(f"{what} must be a non-empty grid with rows of equal length")
    return len(rows), len(rows[0])


class Pooling(BaseModel):
    """N x N windows with stride S keeping the max, average or min, of the image or of the
    first conv output."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal[POOL_MODES] = "max"
    size: int = Field(2, ge=1, description="The window's side N.")
    stride: int = Field(2, ge=1, description="How far the window jumps, S.")
    source: Literal[POOL_SOURCES] = "image"


class ConvolutionConfig(BaseModel):
    """The whole lab: the small worked example with its pooling, and the real pictures with
    theirs (each part has its own pooling: a window that suits a 256-pixel picture does not fit
    a 5 x 5 grid), and the shift and rotation of the picture.

    Upper bounds that depend on the server's settings are checked against the validation context
    ``{"limits": ...}`` (any object with ``max_grid``, ``max_kernel_size``, ``max_stride``...).
    """

    model_config = ConfigDict(extra="forbid")

    # the small worked example
    grid: list[list[Value]] = Field(default_factory=lambda: CLASSIC_IMAGE.tolist())
    kernel: list[list[Value]] = Field(default_factory=lambda: CLASSIC_KERNEL.tolist())
    stride: int = Field(1, ge=1)
    padding: int = Field(0, ge=0)
    dilation: int = Field(1, ge=1)
    # pooling of the small grid ("image") or of its convolution ("feature")
    pool: Pooling = Field(default_factory=Pooling)
    # real pictures: one output channel per kernel (grey), or one kernel's R, G, B slices (rgb)
    sample: SampleName = "camera"
    color: Literal[COLORS] = "grey"
    kernels: list[KernelName] = Field(default_factory=lambda: ["sobel_x", "sobel_y"], min_length=1)
    rgb_kernels: list[KernelName] = Field(
        default_factory=lambda: ["sobel_x", "sobel_x", "sobel_x"], min_length=3, max_length=3
    )
    # pooling of the picture or of its first conv output, and of the shift and rotation demos
    picture_pool: Pooling = Field(default_factory=Pooling)
    shift_x: int = 1
    shift_y: int = 0
    rotation: int = Field(10, ge=-180, le=180, description="Degrees the rotation demo turns.")

    @model_validator(mode="after")
    def _within_limits(self, info: ValidationInfo) -> ConvolutionConfig:
        limits = limits_of(info)
        height, width = _rectangle(self.grid, "grid")
        k_rows, k_cols = _rectangle(self.kernel, "kernel")
        if k_rows != k_cols:
            raise ValueError(f"the kernel must be square, not {k_rows}x{k_cols}")
        if limits is None:
            return self
        checks = [
            (max(height, width), limits.max_grid, "grid side"),
            (k_rows, limits.max_kernel_size, "kernel size"),
            (self.stride, limits.max_stride, "stride"),
            (self.padding, limits.max_padding, "padding"),
            (self.dilation, limits.max_dilation, "dilation"),
            (self.pool.size, limits.max_pool, "pooling size"),
            (self.pool.stride, limits.max_pool, "pooling stride"),
            (self.picture_pool.size, limits.max_pool, "picture pooling size"),
            (self.picture_pool.stride, limits.max_pool, "picture pooling stride"),
            (len(self.kernels), limits.max_kernels, "number of kernels"),
            (abs(self.shift_x), limits.max_shift, "shift x"),
            (abs(self.shift_y), limits.max_shift, "shift y"),
        ]
        for value, most, what in checks:
            if value > most:
                raise ValueError(f"{what} is {value}; the most is {most}")
        return self

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.stride, self.padding, self.dilation)

    def kernel_bank(self) -> np.ndarray:
        """(K, C, k, k) float32, at the size of ``kernel``: one kernel per output channel on one
        input channel (grey), or one kernel with a slice per input channel (rgb). ValueError when
        a preset does not exist at that size."""
        size = len(self.kernel)

        def make(name: str) -> np.ndarray:
            if name == CUSTOM_KERNEL:
                return np.asarray(self.kernel, dtype=np.float32)
            return preset_kernel(name, size)

        if self.color == "grey":
            return np.stack([make(name) for name in self.kernels])[:, None]
        return np.stack([make(name) for name in self.rgb_kernels])[None]

