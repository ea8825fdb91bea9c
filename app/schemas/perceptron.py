"""Wire messages of the perceptron lab (docs/protocol-perceptron.md).

The lab's configuration is ``ml_core.perceptron.PerceptronConfig`` (one definition, with every
allowed value from the core's registries); here are only the messages. Bounds that depend on the
server's settings (most points, most epochs, top speed) are checked by the lab.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from app.schemas.common import ClientMessage, Configure, Configured, Metrics, ServerMessage, Updated
from ml_core.perceptron import (
    INITS,
    ORDERS,
    Coordinate,
    Epochs,
    LearningRate,
    PerceptronConfig,
    Speed,
    Visit,
)
from ml_core.perceptron_data import CUSTOM, DATASETS, MAX_POINTS, Separability

Label = Literal[-1, 1]
DrawnPoint = tuple[Coordinate, Coordinate, Label]  # [x, y, label]
Segment = list[list[float]]  # [[x1, y1], [x2, y2]]


# ---- client -> server ----------------------------------------------------------------------
class PerceptronConfigure(Configure):
    """``configure``, optionally with the user's drawing: ``points`` replace the data (the
    dataset becomes "custom"), so a drawing and its config travel in one message."""

    points: list[DrawnPoint] | None = Field(None, max_length=MAX_POINTS)


class SetMessage(ClientMessage):
    """Change λ, the speed or the epoch limit on the fly, without a reset."""

    type: Literal["set"]
    learning_rate: LearningRate | None = None
    speed: Speed | None = None
    max_epochs: Epochs | None = None


# ---- server -> client ----------------------------------------------------------------------
class Options(BaseModel):
    """The values the page's menus offer, from the core's registries."""

    datasets: list[str] = Field(default_factory=lambda: [*DATASETS, CUSTOM])
    inits: list[str] = Field(default_factory=lambda: list(INITS))
    orders: list[str] = Field(default_factory=lambda: list(ORDERS))


class Data(BaseModel):
    points: list[tuple[float, float, int]]  # [x, y, label ±1]


class PerceptronConfigured(Configured):
    config: PerceptronConfig
    data: Data
    analysis: Separability
    notes: list[str]
    options: Options = Field(default_factory=Options)


class PerceptronUpdated(Updated):
    config: PerceptronConfig


class PerceptronMetrics(Metrics):
    """``step`` counts visits."""

    epoch: int
    mistakes: int
    accuracy: float
    converged: bool


class EmptyFrame(ServerMessage):
    """No points yet: nothing to draw but the hint."""

    type: Literal["perceptron"] = "perceptron"
    status: Literal["empty"] = "empty"
    n: Literal[0] = 0


class PerceptronFrame(ServerMessage):
    """The perceptron now, and every number of the last visit."""

    type: Literal["perceptron"] = "perceptron"
    status: Literal["ready", "running", "converged", "gave_up"]
    n: int
    w: list[float]
    b: float
    line: Segment | None  # wᵀx + b = 0 clipped to [-1, 1]²
    learning_rate: float
    epoch: int
    visits: int
    mistakes: int
    streak: int
    next_index: int  # the point step 1 will choose next
    epoch_mistakes: list[int]  # updates in each epoch begun (the last may be running)
    wrong: list[int]  # the points on the wrong side now
    max_epochs: int
    last: Visit | None
