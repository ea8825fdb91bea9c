"""Wire models of the convolution and pooling lab (see docs/protocol-convolution.md).

Upper bounds that depend on settings (grid and kernel sides, stride, padding...) are checked
against ``settings.convolution``, passed as the validation context ``{"limits": ...}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from ml_core.convolution import CLASSIC_IMAGE, CLASSIC_KERNEL, PRESETS
from ml_core.images import SAMPLE_IMAGES

Value = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
KernelName = Literal[PRESETS + ("custom",)]  # "custom" is the kernel typed into the grid
SampleName = Literal[tuple(SAMPLE_IMAGES) + ("upload",)]


def _rectangle(rows: list[list[float]], what: str) -> tuple[int, int]:
    if not rows or not rows[0] or any(len(row) != len(rows[0]) for row in rows):
        raise ValueError(f"{what} must be a non-empty grid with rows of equal length")
    return len(rows), len(rows[0])


class ConvolutionConfig(BaseModel):
    """The whole page state that the server needs; omitted fields take these defaults."""

    model_config = ConfigDict(extra="forbid")

    # the small worked example
    grid: list[list[Value]] = Field(default_factory=lambda: CLASSIC_IMAGE.tolist())
    kernel: list[list[Value]] = Field(default_factory=lambda: CLASSIC_KERNEL.tolist())
    stride: int = Field(1, ge=1)
    padding: int = Field(0, ge=0)
    dilation: int = Field(1, ge=1)
    # pooling, of the small grid ("image") or of the first conv output ("feature")
    pool_mode: Literal["max", "avg", "min"] = "max"
    pool_size: int = Field(2, ge=1)
    pool_stride: int = Field(2, ge=1)
    pool_source: Literal["image", "feature"] = "image"
    # real images
    sample: SampleName = "camera"
    color: Literal["grey", "rgb"] = "grey"
    kernels: list[KernelName] = Field(default_factory=lambda: ["sobel_x", "sobel_y"], min_length=1)
    rgb_kernels: list[KernelName] = Field(
        default_factory=lambda: ["sobel_x", "sobel_x", "sobel_x"], min_length=3, max_length=3
    )
    shift_x: int = 1
    shift_y: int = 0

    @model_validator(mode="after")
    def _within_limits(self, info: ValidationInfo) -> ConvolutionConfig:
        limits = (info.context or {}).get("limits")
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
            (self.pool_size, limits.max_pool, "pooling size"),
            (self.pool_stride, limits.max_pool, "pooling stride"),
            (len(self.kernels), limits.max_kernels, "number of kernels"),
            (abs(self.shift_x), limits.max_shift, "shift x"),
            (abs(self.shift_y), limits.max_shift, "shift y"),
        ]
        for value, most, what in checks:
            if value > most:
                raise ValueError(f"{what} is {value}; the most is {most}")
        return self


class Upload(BaseModel):
    """The reply to a successful image upload."""

    width: int  # of the image as used (downscaled to display_size)
    height: int
    original_width: int
    original_height: int
    config: dict  # the lab's config now (sample = "upload")
