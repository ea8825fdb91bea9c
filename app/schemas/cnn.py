"""Wire models of the CNN lab (docs/protocol-cnn.md).

Every number has a bound. Bounds that depend on the server's settings (blocks, channels, kernel
size, units, batch size, epochs, samples) come from ``settings.cnn`` through the validation
context: ``CNNConfigModel.model_validate(data, context={"limits": settings.cnn})``. The hard
ceilings here hold whatever the settings say.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ml_core.cnn import PRESETS

DatasetName = Literal["digits", "faces", "shapes", "mnist", "fashion_mnist", "cifar10"]
Activation = Literal["relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "none"]
Optimizer = Literal["sgd", "momentum", "adam", "adamw", "rmsprop"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _limits(info: ValidationInfo):
    return (info.context or {}).get("limits")


class ConvBlockModel(_Strict):
    channels: int = Field(16, ge=1, le=1024)
    kernel_size: int = Field(3, ge=1, le=15)
    stride: int = Field(1, ge=1, le=4)
    padding: int = Field(1, ge=0, le=3)
    activation: Activation = "relu"
    batch_norm: bool = True
    pool: Literal["max", "avg", "none"] = "max"
    pool_size: int = Field(2, ge=1, le=4)
    pool_stride: int = Field(2, ge=1, le=4)
    dropout: float = Field(0.0, ge=0, le=0.9)


class FCLayerModel(_Strict):
    units: int = Field(64, ge=1, le=8192)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, le=0.9)


def _default_architecture() -> ArchitectureModel:
    return ArchitectureModel.model_validate(PRESETS["default"].to_dict())


class ArchitectureModel(_Strict):
    blocks: list[ConvBlockModel] = Field(min_length=1, max_length=32)
    fc: list[FCLayerModel] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ArchitectureModel:
        limits = _limits(info)
        if limits is None:
            return self
        if len(self.blocks) > limits.max_blocks:
            raise ValueError(f"at most {limits.max_blocks} conv blocks")
        if len(self.fc) > limits.max_fc_layers:
            raise ValueError(f"at most {limits.max_fc_layers} fully-connected layers")
        for b, block in enumerate(self.blocks, start=1):
            if block.channels > limits.max_channels:
                raise ValueError(f"conv{b}: at most {limits.max_channels} channels")
            if block.kernel_size > limits.max_kernel_size:
                raise ValueError(
                    f"conv{b}: kernels are at most {limits.max_kernel_size}×"
                    f"{limits.max_kernel_size}"
                )
        for j, fc in enumerate(self.fc, start=1):
            if fc.units > limits.max_fc_units:
                raise ValueError(f"fc{j}: at most {limits.max_fc_units} units")
        return self


class ImbalanceModel(_Strict):
    classes: list[int] = Field(default_factory=list, max_length=100)
    fraction: float = Field(0.1, ge=0.01, le=1)

    @field_validator("classes")
    @classmethod
    def _unique(cls, classes: list[int]) -> list[int]:
        if any(c < 0 or c > 999 for c in classes) or len(set(classes)) != len(classes):
            raise ValueError("classes must be distinct class numbers")
        return classes


class AugmentModel(_Strict):
    flip: bool = False
    shift: int = Field(0, ge=0, le=8)
    rotate: float = Field(0.0, ge=0, le=180)
    color_jitter: float = Field(0.0, ge=0, le=1)


class CNNConfigModel(_Strict):
    dataset: DatasetName = "digits"
    upscale: int = Field(2, ge=1, le=4)
    samples: int | None = Field(None, ge=50, le=1_000_000)
    val_fraction: float = Field(0.2, ge=0.05, le=0.5)
    test_fraction: float = Field(0.1, ge=0.05, le=0.5)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    architecture: ArchitectureModel = Field(default_factory=_default_architecture)
    optimizer: Optimizer = "adam"
    learning_rate: float = Field(0.001, ge=1e-6, le=10)
    weight_decay: float = Field(0.0, ge=0, le=1)
    batch_size: int = Field(64, ge=1, le=65536)
    epochs: int = Field(30, ge=1, le=100_000)
    imbalance: ImbalanceModel = Field(default_factory=ImbalanceModel)
    label_noise: float = Field(0.0, ge=0, le=0.9)
    augment: AugmentModel = Field(default_factory=AugmentModel)
    weighted_loss: bool = False

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> CNNConfigModel:
        if self.val_fraction + self.test_fraction > 0.7 + 1e-9:
            raise ValueError("val_fraction + test_fraction must be at most 0.7")
        limits = _limits(info)
        if limits is not None:
            if self.batch_size > limits.max_batch_size:
                raise ValueError(f"batch_size: at most {limits.max_batch_size}")
            if self.epochs > limits.max_epochs:
                raise ValueError(f"epochs: at most {limits.max_epochs}")
            if self.samples is not None and self.samples > limits.max_samples:
                raise ValueError(f"samples: at most {limits.max_samples}")
        return self


# ---- lab messages (client -> server) ----------------------------------------------------------
class Inspect(_Strict):
    type: Literal["inspect"]
    config: dict = Field(default_factory=dict)


class SelectImage(_Strict):
    type: Literal["select_image"]
    index: int = Field(ge=0, le=10_000_000)


class Drop(_Strict):
    type: Literal["drop"]
    ids: list[int] = Field(min_length=1, max_length=1000)


class Test(_Strict):
    """Evaluate on the held-out test split (the final exam)."""

    type: Literal["test"]


class Restore(_Strict):
    """Put every dropped training image back."""

    type: Literal["restore"]


class AugmentPreview(_Strict):
    """A batch before and after augmentation."""

    type: Literal["augment_preview"]


class Refresh(_Strict):
    """Everything a fresh page needs: the history of the curves and a full frame."""

    type: Literal["refresh"]


class Describe(_Strict):
    """The ``configured`` message again."""

    type: Literal["describe"]


# ---- REST responses ------------------------------------------------------------------------------
class EncodedImage(BaseModel):
    shape: list[int] = Field(description="(H, W, C) of the image the net sees.")
    data: str = Field(description="base64 of the uint8 pixels, H·W·C bytes.")


class MapLayer(BaseModel):
    index: int
    name: str
    kind: str
    shape: list[int]
    shown: int
    min: float
    max: float
    data: str = Field(description="base64 of uint8 (shown, h, w), min→0 and max→255.")


class Prediction(BaseModel):
    classes: list[str]
    probabilities: list[float]
    predicted: int
    label: str
    input: EncodedImage
    layers: list[MapLayer]
