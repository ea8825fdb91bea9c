"""Wire messages of the MLP playground (docs/protocol-mlp.md).

The configuration itself is ``ml_core.mlp_config.PlaygroundConfig`` (one definition for the core,
the wire and the page's defaults); bounds that depend on the server's settings come from
``settings.mlp`` through the validation context. Here are only the messages around it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import Configure, Configured, Metrics, ServerMessage, Updated
from ml_core.datasets2d import CUSTOM, DATASETS, MAX_VALUE
from ml_core.features import FEATURES
from ml_core.mlp import ACTIVATIONS, LOSSES, OPTIMIZERS, REGRESSION_LOSSES, TASKS
from ml_core.mlp_config import (
    HARD_MAX_POINTS,
    MAX_LEARNING_RATE,
    MAX_STEPS_PER_FRAME,
    PlaygroundConfig,
)

Coordinate = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
# A class label 0..max_classes-1 (a whole number; the lab checks both), or a regression's value.
Target = Annotated[float, Field(ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False)]
Point = tuple[Coordinate, Coordinate, Target]  # [x, y, label] or [x, y, value]
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


class PlayChange(_Strict):
    steps_per_frame: int = Field(ge=0, le=MAX_STEPS_PER_FRAME)


class SetMessage(_Strict):
    """Change the learning rate, the weight decay and / or play's speed on the fly, without a
    reset."""

    type: Literal["set"]
    training: TrainingChange = TrainingChange()
    play: PlayChange | None = None

    @model_validator(mode="after")
    def _something(self) -> SetMessage:
        t = self.training
        if t.learning_rate is None and t.weight_decay is None and self.play is None:
            raise ValueError(
                "nothing to change: give training.learning_rate, training.weight_decay or "
                "play.steps_per_frame"
            )
        return self


class RestoreMessage(_Strict):
    """Put back the weights (and the optimizer's memory) of the lowest training loss so far:
    after a divergence, those from before the blow-up."""

    type: Literal["restore"]


class ExamMessage(_Strict):
    """The final exam: score the network on the held-out test points, now."""

    type: Literal["exam"]


class ExplainMessage(_Strict):
    """Walk training point ``index`` through the network (forward, loss, backward, update) at
    the current weights. ``point`` is that point as the client knows it ([x, y, label] from
    ``configured.data.train``): if the data changed since, the request is refused rather than
    answered about another point."""

    type: Literal["explain"]
    index: int = Field(ge=0, le=HARD_MAX_POINTS)
    point: Point


class GradientsMessage(_Strict):
    """Put the backward view in every frame: gradients over every training point (``train``)
    or the last mini-batch (``batch``), or none (``off``, the default)."""

    type: Literal["gradients"]
    over: Literal["off", "train", "batch"]


# ---- server -> client ----------------------------------------------------------------------
class DatasetOption(BaseModel):
    name: str
    min_classes: int
    max_classes: int
    task: Literal["classification", "regression"] | None  # None: custom, which takes either


class Options(BaseModel):
    """The values each choice of the config takes, from the core's registries: the page shows
    these (with its own labels), never a list of its own."""

    datasets: list[DatasetOption]
    tasks: list[str]
    activations: list[str]
    losses: list[str]  # a classification's
    regression_losses: list[str]
    optimizers: list[str]
    features: list[str]
    frames_per_s: float  # play.steps_per_frame times this is the speed in steps a second
    max_value: float  # a drawn regression point's value lies in [-max_value, max_value]

    @classmethod
    def from_core(cls, max_classes: int, fps: float) -> Options:
        datasets = [
            DatasetOption(
                name=name,
                min_classes=spec.min_classes,
                max_classes=min(spec.max_classes, max_classes),
                task=spec.task,
            )
            for name, spec in DATASETS.items()
        ]
        custom = DatasetOption(name=CUSTOM, min_classes=2, max_classes=max_classes, task=None)
        return cls(
            datasets=[*datasets, custom],
            tasks=list(TASKS),
            activations=list(ACTIVATIONS),
            losses=list(LOSSES),
            regression_losses=list(REGRESSION_LOSSES),
            optimizers=list(OPTIMIZERS),
            features=list(FEATURES),
            frames_per_s=fps,
            max_value=MAX_VALUE,
        )


class Dim(BaseModel):
    name: str  # "N" (the batch), "features", "h1", ..., "logits", "probabilities", "slope"
    size: int | None  # None for N: whatever is pushed through at once


class TensorRow(BaseModel):
    """One step of the forward pass as tensors (ml_core/mlp_tensors.py)."""

    name: str
    kind: Literal["linear", "batch_norm", "activation", "dropout", "output"]  # output: sigmoid,
    # softmax or (a regression) identity
    layer: int  # the Linear layer (0-based) it belongs to
    input: list[Dim]
    output: list[Dim]
    params: dict[str, list[Dim]]
    dtype: str
    device: str
    library: Literal["numpy", "torch"]


class ModelInfo(BaseModel):
    parameters: int
    layers: list[int]  # (n_features, h1, ..., n_out)
    features: list[str]
    device: str
    engine: Literal["fast", "reference"]
    steps_per_epoch: int
    tensors: list[TensorRow]


Row = tuple[float, float, int | float]  # [x, y, label], or [x, y, value] for a regression


class DataSplit(BaseModel):
    train: list[Row]
    val: list[Row]
    test: list[Row]  # held out for the final exam: the page draws where they are, not what


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
    train_accuracy: float | None  # None for a regression (its metric is the loss)
    val_accuracy: float | None
    epochs_per_s: float | None


class Restored(ServerMessage):
    """The answer to ``restore``: the weights now are those of ``step`` (training loss
    ``loss``); the step counter goes on from ``now``."""

    type: Literal["restored"] = "restored"
    step: int
    loss: float | None
    now: int


class ExamResult(ServerMessage):
    """The answer to ``exam``: the network's score on the test points at ``step``."""

    type: Literal["exam_result"] = "exam_result"
    step: int
    epoch: int
    points: int  # test points (0: the split holds none out)
    loss: float | None
    accuracy: float | None  # None for a regression, or without test points
    exams: int  # how many times the test set was looked at since the last configure


# ---- the step-by-step walk-through (ml_core/backprop.py) -------------------------------------------
Numbers = list[float] | list[list[float]]  # a vector, or a matrix (out, in) as rows


class LayerPass(BaseModel):
    """One Linear layer (and a hidden layer's activation) on the example; see ml_core/backprop.py."""

    inputs: list[float]  # a_{l-1}
    weights: list[list[float]]  # W (out, in)
    biases: list[float]
    z: list[float]  # W a_{l-1} + b
    norm_scale: list[float] | None  # eval batch norm: u = scale * z + shift
    norm_shift: list[float] | None
    activation_input: list[float]  # u: z, or batch norm's output (what f gets)
    outputs: list[float]  # a = f(u); the logits for the output layer
    slope: float | None  # the activation's slope for negative inputs
    derivative: list[float] | None  # f'(u)
    upstream: list[float] | None  # dL/da = W_next^T delta_next
    delta: list[float]  # dL/dz
    grad_weights: list[list[float]]  # delta a_{l-1}^T
    grad_biases: list[float]
    grad_slope: float | None  # PReLU


class LossPass(BaseModel):
    name: str
    logits: list[float]
    probabilities: list[float]  # a regression's prediction (the output itself)
    target: list[float]
    value: float
    grad_probabilities: list[float] | None  # dL/dp (mse, l1)
    delta: list[float]  # dL/dlogits


class ParamUpdate(BaseModel):
    value: Numbers
    grad: Numbers  # dL/dw
    decay: Numbers  # lambda w
    velocity_before: Numbers | None  # momentum's v / Adam's m, before
    velocity: Numbers | None  # after
    second_before: Numbers | None  # Adam's v, before
    second: Numbers | None
    velocity_hat: Numbers | None  # Adam's m^
    second_hat: Numbers | None  # Adam's v^
    step: Numbers  # what is subtracted
    new: Numbers


class LayerUpdate(BaseModel):
    weight: ParamUpdate
    bias: ParamUpdate
    slope: ParamUpdate | None


class UpdatePass(BaseModel):
    optimizer: str
    learning_rate: float
    weight_decay: float
    momentum: float | None
    betas: tuple[float, float] | None
    eps: float | None
    t: int | None
    layers: list[LayerUpdate]


class Explanation(ServerMessage):
    """The answer to ``explain``: one training point through the network, every number."""

    type: Literal["explanation"] = "explanation"
    index: int
    point: Row
    step: int  # the run's step count: the weights are those after this many steps
    features: list[str]
    classes: int
    x: list[float]
    label: int | float  # the class, or a regression's target value
    task: Literal["classification", "regression"]
    activation: str
    layers: list[LayerPass]
    loss: LossPass
    update: UpdatePass
