"""Wire models of the perceptron lab (docs/protocol-perceptron.md).

Every number has a bound here; bounds that depend on the server's settings (most points, most
epochs, top speed) are checked by the lab against ``settings.perceptron``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Coordinate = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
Label = Literal[-1, 1]
HARD_MAX_POINTS = 100_000  # a ceiling whatever the settings say; the lab applies max_points


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Handle(_Strict):
    """One end of the line the user drags (initial weights "line")."""

    x: Coordinate
    y: Coordinate


class DatasetConfig(_Strict):
    name: Literal["separable", "margin", "noisy", "xor", "custom"] = "separable"
    samples: int = Field(30, ge=2, description="Points a preset makes (≤ max_points).")
    noise: float = Field(0.1, ge=0, le=0.5, description="Fraction of labels flipped ('noisy').")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class TrainingConfig(_Strict):
    learning_rate: float = Field(0.1, gt=0, le=10, description="λ of the learning rule.")
    init: Literal["zeros", "random", "line"] = "zeros"
    line: tuple[Handle, Handle] = (Handle(x=-0.6, y=-0.2), Handle(x=0.6, y=0.3))
    order: Literal["cycle", "shuffle", "restart"] = "cycle"
    max_epochs: int = Field(100, ge=1, description="Passes before a run stops (≤ settings).")
    speed: float = Field(10.0, gt=0, description="Points visited a second in play mode.")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class LabConfig(_Strict):
    """The whole configuration; a `configure` message may send any part of it."""

    dataset: DatasetConfig = DatasetConfig()
    perceptron: TrainingConfig = TrainingConfig()


class PointsMessage(_Strict):
    """Replace the data with the user's drawing: [[x, y, label], ...], label −1 or +1."""

    type: Literal["points"]
    points: list[tuple[Coordinate, Coordinate, Label]] = Field(max_length=HARD_MAX_POINTS)


class SetMessage(_Strict):
    """Change λ, the speed or the epoch limit on the fly, without a reset."""

    type: Literal["set"]
    learning_rate: float | None = Field(None, gt=0, le=10)
    speed: float | None = Field(None, gt=0)
    max_epochs: int | None = Field(None, ge=1)
