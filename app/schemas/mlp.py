"""Wire messages of the MLP playground (docs/protocol-mlp.md).

The configuration itself is ``ml_core.mlp_config.PlaygroundConfig`` (one definition for the core,
the wire and the page's defaults); bounds that depend on the server's settings come from
``settings.mlp`` through the validation context. Here are only the messages around it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import Configure, Configured, Metrics, Updated
from ml_core.datasets2d import CUSTOM, DATASETS
from ml_core.features import FEATURES
from ml_core.mlp import ACTIVATIONS, LOSSES, OPTIMIZERS
from ml_core.mlp_config import HARD_MAX_POINTS, MAX_LEARNING_RATE, PlaygroundConfig

Coordinate = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
Label = Annotated[int, Field(ge=0, le=63)]  # the lab applies settings.mlp.max_classes
Point = tuple[Coordinate, Coordinate, Label]  # [x, y, label]
Points = Annotated[list[Point], Field(max_length=HARD_MAX_POINTS)]  # the lab: max_points
MAX_REQUEST = 2**31 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ---- client -> server ----------------------------------------------------------------------
class MLPConfigure(Configure):
    """``configure`` with, optionally, the drawn points (they replace the kept drawing and are
    the data when ``dataset.name`` is ``custom``) and a request number to echo."""

    points: Points | None = None
    request: int | None = Field(None, ge=0, le=MAX_REQUEST)


class PointsMessage(_Strict):
    """Replace the data with the user's drawing: [[x, y, label], ...], label 0 .. k-1."""

    type: Literal["points"]
    points: Points


class TrainingChange(_Strict):
    learning_rate: float | None = Field(None, gt=0, le=MAX_LEARNING_RATE)
    weight_decay: float | None = Field(None, ge=0, le=1)


class SetMessage(_Strict):
    """Change the learning rate and / or weight decay on the fly, without a reset."""

    type: Literal["set"]
    training: TrainingChange


# ---- server -> client ----------------------------------------------------------------------
class DatasetOption(BaseModel):
    name: str
    min_classes: int
    max_classes: int


class Options(BaseModel):
    """The values each choice of the config takes, from the core's registries: the page shows
    these (with its own labels), never a list of its own."""

    datasets: list[DatasetOption]
    activations: list[str]
    losses: list[str]
    optimizers: list[str]
    features: list[str]

    @classmethod
    def from_core(cls, max_classes: int) -> Options:
        datasets = [
            DatasetOption(
                name=name,
                min_classes=spec.min_classes,
                max_classes=min(spec.max_classes, max_classes),
            )
            for name, spec in DATASETS.items()
        ]
        datasets.append(DatasetOption(name=CUSTOM, min_classes=2, max_classes=max_classes))
        return cls(
            datasets=datasets,
            activations=list(ACTIVATIONS),
            losses=list(LOSSES),
            optimizers=list(OPTIMIZERS),
            features=list(FEATURES),
        )


class ModelInfo(BaseModel):
    parameters: int
    layers: list[int]  # (n_features, h1, ..., n_out)
    features: list[str]
    device: str
    engine: Literal["fast", "reference"]
    steps_per_epoch: int


class DataSplit(BaseModel):
    train: list[tuple[float, float, int]]
    val: list[tuple[float, float, int]]


class MLPConfigured(Configured):
    config: PlaygroundConfig
    model: ModelInfo
    data: DataSplit
    notes: list[str]
    options: Options
    request: int | None = None  # the configure's ``request`` this answers (None: no such)


class MLPUpdated(Updated):
    config: PlaygroundConfig


class MLPMetrics(Metrics):
    epoch: int
    train_loss: float | None
    val_loss: float | None
    train_accuracy: float | None
    val_accuracy: float | None
    epochs_per_s: float | None
