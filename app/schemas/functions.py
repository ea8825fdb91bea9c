"""Wire models of the activation and loss explorer (docs/protocol-functions.md).

Every number has a bound here; bounds that depend on the server's settings (most logits, most
points) are checked by the lab against ``settings.functions``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ActivationName = Literal["sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu"]
LossName = Literal["bce", "ce", "l1", "l2", "huber", "kl"]
Logit = Annotated[float, Field(ge=-20, le=20, allow_inf_nan=False)]
PlotCoordinate = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]
HARD_MAX = 10_000  # a ceiling whatever the settings say; the lab applies its own limits


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ActivationConfig(_Strict):
    name: ActivationName = "relu"
    slope: float = Field(0.1, ge=0, le=1, description="Leaky ReLU's negative slope.")
    prelu_init: float = Field(0.25, ge=-1, le=1, description="PReLU's learnable slope a.")
    lower: float = Field(1 / 8, ge=0, le=1, description="RReLU's smallest random slope.")
    upper: float = Field(1 / 3, ge=0, le=1, description="RReLU's largest random slope.")
    training: bool = Field(True, description="RReLU: train mode (random) or eval (mean slope).")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="RReLU's random slopes.")

    @model_validator(mode="after")
    def _range(self) -> ActivationConfig:
        if self.lower > self.upper:
            raise ValueError("RReLU's lower slope must not exceed its upper slope")
        return self


class LossConfig(_Strict):
    name: LossName = "l2"
    target: float = Field(0.0, ge=-5, le=5, description="Target (a probability for bce and kl).")
    classes: int = Field(3, ge=2, le=20, description="Classes of the cross-entropy example.")
    delta: float = Field(1.0, ge=0.05, le=5, description="Huber's switch from L2 to L1.")


class SoftmaxConfig(_Strict):
    logits: list[Logit] = Field(default_factory=lambda: [2.0, 1.0, 0.1, -1.0],
                                min_length=1, max_length=HARD_MAX)
    temperature: float = Field(1.0, ge=0.05, le=20)


class FitConfig(_Strict):
    """Points of the outlier demo on [0, 10]²; the last one is the draggable outlier."""

    points: list[tuple[PlotCoordinate, PlotCoordinate]] | None = Field(
        None, max_length=HARD_MAX, description="null: the default points."
    )


class LabConfig(_Strict):
    """The whole configuration; `configure` and `update` may send any part of it."""

    activation: ActivationConfig = ActivationConfig()
    loss: LossConfig = LossConfig()
    softmax: SoftmaxConfig = SoftmaxConfig()
    fit: FitConfig = FitConfig()


class UpdateMessage(_Strict):
    """Change part of the configuration, keeping the rest (a slider move, a dragged point)."""

    type: Literal["update"]
    config: dict[str, Any]
