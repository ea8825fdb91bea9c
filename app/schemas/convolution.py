"""Wire messages of the convolution and pooling lab (see docs/protocol-convolution.md).

The lab's configuration is ``ml_core.convolution.ConvolutionConfig`` (one definition, with every
name from the core); here are only the messages. Upper bounds that depend on settings (grid and
kernel sides, stride, padding...) are checked by that config against the validation context
``{"limits": settings.convolution}``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import Configured, ServerMessage
from ml_core.convolution import (
    COLORS,
    CUSTOM_KERNEL,
    POOL_MODES,
    POOL_SOURCES,
    ConvolutionConfig,
)
from ml_core.kernels import PRESETS

Grid = list[list[float]]


class Options(BaseModel):
    """The values of the page's menus and segmented controls, from the core."""

    kernels: list[str] = Field(default_factory=lambda: [*PRESETS, CUSTOM_KERNEL])
    pool_modes: list[str] = Field(default_factory=lambda: list(POOL_MODES))
    pool_sources: list[str] = Field(default_factory=lambda: list(POOL_SOURCES))
    colors: list[str] = Field(default_factory=lambda: list(COLORS))


class ConvolutionConfigured(Configured):
    config: ConvolutionConfig
    presets: list[str]  # the preset kernels' names
    preset_kernels: dict[str, Grid]  # name -> weights at the current kernel size
    samples: list[str]  # the sample pictures
    has_upload: bool  # whether this session holds an uploaded picture
    options: Options = Field(default_factory=Options)


class ConvWindowInfo(BaseModel):
    """One output cell of the worked example as its sum of products."""

    rows: list[int]  # input rows under the kernel taps, in padded coordinates
    cols: list[int]
    values: Grid
    products: Grid
    total: float


class PoolWindowInfo(BaseModel):
    rows: list[int]
    cols: list[int]
    chosen: tuple[int, int] | None  # [i, j] inside the window of the value kept; null for avg
    result: float


class PoolGrid(BaseModel):
    source: str
    mode: str
    input: Grid | None = None  # what was pooled
    output: Grid | None = None
    windows: list[PoolWindowInfo] | None = None
    error: str | None = None  # why there are no numbers (e.g. the window does not fit)


class GridMessage(ServerMessage):
    """The worked example in exact numbers; ``error`` instead of the numbers when the kernel does
    not fit (pooling still has its own)."""

    type: Literal["grid"] = "grid"
    image: Grid
    kernel: Grid
    output: Grid | None = None
    windows: list[ConvWindowInfo] | None = None
    error: str | None = None
    pool: PoolGrid


class Upload(BaseModel):
    """The reply to a successful image upload."""

    width: int  # of the image as used (downscaled to display_size)
    height: int
    original_width: int
    original_height: int
    config: ConvolutionConfig  # the lab's config now (sample = "upload")
