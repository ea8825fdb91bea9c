"""Wire models of the MLP playground (docs/protocol-mlp.md).

Every number has a bound. Bounds that depend on the server's settings (most points, layers,
neurons, classes) come from ``settings.mlp`` through the validation context:
``LabConfig.model_validate(data, context={"limits": settings.mlp})``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ml_core.datasets2d import DATASETS
from ml_core.features import FEATURES

Coordinate = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
HARD_MAX_POINTS = 100_000  # a ceiling whatever the settings say; the lab applies max_points
MAX_LEARNING_RATE = 10.0  # TensorFlow Playground's top rate; higher only ever diverges

DatasetName = Literal["circle", "xor", "gauss", "spiral", "moons", "blobs", "custom"]
Activation = Literal["linear", "sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu"]
Feature = Literal["x1", "x2", "x1sq", "x2sq", "x1x2", "sin_x1", "sin_x2"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _limits(info: ValidationInfo):
    return (info.context or {}).get("limits")


class DatasetConfig(_Strict):
    name: DatasetName = "circle"
    samples: int = Field(500, ge=2, le=HARD_MAX_POINTS, description="Points a preset makes.")
    noise: float = Field(0.1, ge=0, le=1, description="Jitter: 0 clean, 1 hopeless.")
    val_fraction: float = Field(0.5, ge=0, le=0.9, description="Share held out for validation.")
    classes: int = Field(2, ge=2, le=64, description="Classes (2 to max_classes).")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> DatasetConfig:
        limits = _limits(info)
        if limits is not None:
            if self.samples > limits.max_points:
                raise ValueError(f"samples: at most {limits.max_points} points")
            if self.classes > limits.max_classes:
                raise ValueError(f"classes: at most {limits.max_classes} classes")
        spec = DATASETS.get(self.name)
        if spec is not None and not spec.min_classes <= self.classes <= spec.max_classes:
            if spec.min_classes == spec.max_classes:
                raise ValueError(f"the {self.name} dataset has exactly {spec.min_classes} classes")
            raise ValueError(
                f"the {self.name} dataset takes {spec.min_classes} to {spec.max_classes} classes"
            )
        return self


class ModelConfig(_Strict):
    hidden: list[Annotated[int, Field(ge=1, le=1024)]] = Field([4, 2], max_length=64)
    activation: Activation = "tanh"
    features: list[Feature] = Field(["x1", "x2"], min_length=1, max_length=len(FEATURES))
    dropout: float = Field(
        0.0, ge=0, le=0.9, description="Drop probability after each hidden layer."
    )
    batch_norm: bool = False

    @field_validator("features")
    @classmethod
    def _ordered(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each feature at most once")
        return [name for name in FEATURES if name in value]  # the fixed order of the diagram

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ModelConfig:
        limits = _limits(info)
        if limits is not None:
            if len(self.hidden) > limits.max_hidden_layers:
                raise ValueError(f"hidden: at most {limits.max_hidden_layers} hidden layers")
            if self.hidden and max(self.hidden) > limits.max_neurons:
                raise ValueError(f"hidden: at most {limits.max_neurons} neurons in a layer")
        return self


class TrainingConfig(_Strict):
    optimizer: Literal["sgd", "momentum", "adam"] = "sgd"
    learning_rate: float = Field(0.03, gt=0, le=MAX_LEARNING_RATE)
    batch_size: int = Field(
        10, ge=1, le=HARD_MAX_POINTS, description="1: pure SGD; all points: GD."
    )
    loss: Literal["cross_entropy", "mse", "l1", "hinge"] = "cross_entropy"
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty on every parameter.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> TrainingConfig:
        limits = _limits(info)
        if limits is not None and self.batch_size > limits.max_points:
            raise ValueError(f"batch_size: at most {limits.max_points}")
        return self


class LabConfig(_Strict):
    """The whole configuration; a ``configure`` message may send any part of it."""

    dataset: DatasetConfig = DatasetConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()

    @model_validator(mode="after")
    def _check(self) -> LabConfig:
        if self.model.batch_norm and self.training.batch_size < 2:
            raise ValueError("batch norm needs batches of at least 2 points (batch_size >= 2)")
        return self


class PointsMessage(_Strict):
    """Replace the data with the user's drawing: [[x, y, label], ...], label 0 .. k-1."""

    type: Literal["points"]
    points: list[tuple[Coordinate, Coordinate, Annotated[int, Field(ge=0, le=63)]]] = Field(
        max_length=HARD_MAX_POINTS
    )


class TrainingChange(_Strict):
    learning_rate: float | None = Field(None, gt=0, le=MAX_LEARNING_RATE)
    weight_decay: float | None = Field(None, ge=0, le=1)


class SetMessage(_Strict):
    """Change the learning rate and / or weight decay on the fly, without a reset."""

    type: Literal["set"]
    training: TrainingChange
