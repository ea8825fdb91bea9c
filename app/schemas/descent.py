"""Wire models of the gradient-descent lab (docs/protocol-descent.md).

Every number has a bound here; bounds that depend on the server's settings (most steps, top
speed) and on the surface (the start point must lie in its window) are checked by the lab.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SurfaceName = Literal["bowl", "valley", "saddle", "wells", "rosenbrock"]
Coordinate = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
LearningRate = Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class GDConfig(_Strict):
    """Plain gradient descent: p ← p − lr·∇f(p)."""

    enabled: bool = True
    lr: LearningRate = 0.1


class SGDConfig(_Strict):
    """Stochastic gradient descent: the gradient of a mini-batch is the true gradient plus noise."""

    enabled: bool = True
    lr: LearningRate = 0.1
    noise: float = Field(1.0, ge=0, le=10, description="Gradient noise std of one sample.")
    batch: int = Field(4, ge=1, le=1024, description="Batch size: noise std ÷ √batch.")


class MomentumConfig(_Strict):
    """SGD with momentum (exact gradients): v ← βv + ∇f, p ← p − lr·v."""

    enabled: bool = True
    lr: LearningRate = 0.05
    momentum: float = Field(0.9, ge=0, lt=1)


class AdamConfig(_Strict):
    """Adam (β1 0.9, β2 0.999): per-parameter steps scaled by running gradient statistics."""

    enabled: bool = True
    lr: LearningRate = 0.1


class Optimizers(_Strict):
    gd: GDConfig = GDConfig()
    sgd: SGDConfig = SGDConfig()
    momentum: MomentumConfig = MomentumConfig()
    adam: AdamConfig = AdamConfig()


class LabConfig(_Strict):
    """The whole configuration; a `configure` message may send any part of it (defaults fill the
    rest). ``start`` null means the surface's own suggested start."""

    surface: SurfaceName = "bowl"
    start: tuple[Coordinate, Coordinate] | None = None
    max_steps: int = Field(500, ge=1, description="Steps before a run stops (≤ settings).")
    speed: float = Field(60.0, gt=0, le=100_000, description="Steps a second in play mode.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of SGD's gradient noise.")
    optimizers: Optimizers = Optimizers()


class StartMessage(_Strict):
    """The user clicked a start point: every run restarts from it (and play goes on)."""

    type: Literal["start"]
    x: Coordinate
    y: Coordinate


class SurfaceMessage(_Strict):
    """Ask for the heat map of the configured surface (a `surface` binary frame)."""

    type: Literal["surface"]
