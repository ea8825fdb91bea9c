"""The gradient-descent race: optimisers stepping down one loss surface from one start.

``DescentConfig`` is the lab's whole configuration, its one definition: the server validates
against it and the runs are built from it (``race``). Every allowed value comes from the core:
surfaces from ``SURFACES``, and each optimiser's options name the ``torch.optim`` optimizer it
runs in ``ml_core.training.OPTIMIZERS`` (GD and SGD are the same ``torch.optim.SGD``; they differ
in the gradient it is given). A surface may bring its own learning rates and step budget
(``SURFACE_PRESETS``); where a run ended is ``ml_core.endings``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import Tensor

from ml_core.config import Strict
from ml_core.endings import Ending, Verdict, classify, is_diverged, sgd_tolerance
from ml_core.surfaces import DTYPE, SURFACES, Surface, get_surface, gradient
from ml_core.training import MOMENTUM, Params, checkpoint, make_optimizer

Coordinate = Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)]
LearningRate = Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
HARD_MAX_STEPS = 1_000_000  # ceilings whatever the server's settings say (they apply lower ones)
HARD_MAX_SPEED = 100_000.0
SGD_WINDOW = 50  # SGD's last points averaged into where it rests


# ---- the optimisers of the race ------------------------------------------------------------
class OptimizerOptions(Strict):
    """One optimiser of the race. ``optimizer`` is its key in ``ml_core.training.OPTIMIZERS``;
    a ``stochastic`` one gets a noisy gradient and runs all its steps."""

    optimizer: ClassVar[str]
    stochastic: ClassVar[bool] = False
    enabled: bool = True
    lr: LearningRate

    def make(self, params: Params) -> torch.optim.Optimizer:
        return make_optimizer(self.optimizer, params, self.lr)

    @property
    def noise_std(self) -> float:
        """Std of the noise added to each gradient coordinate (0: the exact gradient)."""
        return 0.0


class GDOptions(OptimizerOptions):
    """Plain gradient descent: p ← p − lr·∇f(p)."""

    optimizer: ClassVar[str] = "sgd"
    lr: LearningRate = 0.1


class SGDOptions(OptimizerOptions):
    """Stochastic gradient descent: the gradient of a mini-batch is the true gradient plus noise."""

    optimizer: ClassVar[str] = "sgd"
    stochastic: ClassVar[bool] = True
    lr: LearningRate = 0.1
    noise: float = Field(1.0, ge=0, le=10, description="Gradient noise std of one sample.")
    batch: int = Field(4, ge=1, le=1024, description="Batch size: noise std ÷ √batch.")

    @property
    def noise_std(self) -> float:
        return self.noise / math.sqrt(self.batch)


class MomentumOptions(OptimizerOptions):
    """SGD with momentum (exact gradients): v ← βv + ∇f, p ← p − lr·v."""

    optimizer: ClassVar[str] = "momentum"
    lr: LearningRate = 0.05
    momentum: float = Field(MOMENTUM, ge=0, lt=1)

    def make(self, params: Params) -> torch.optim.Optimizer:
        return make_optimizer(self.optimizer, params, self.lr, momentum=self.momentum)


class AdamOptions(OptimizerOptions):
    """Adam (β1 0.9, β2 0.999): per-parameter steps scaled by running gradient statistics."""

    optimizer: ClassVar[str] = "adam"
    lr: LearningRate = 0.1


class Optimizers(Strict):
    """The race: every optimiser's options, in the order they are listed and drawn."""

    gd: GDOptions = GDOptions()
    sgd: SGDOptions = SGDOptions()
    momentum: MomentumOptions = MomentumOptions()
    adam: AdamOptions = AdamOptions()


RACERS: tuple[str, ...] = tuple(Optimizers.model_fields)


# ---- the config ------------------------------------------------------------------------------
class DescentConfig(Strict):
    """The whole configuration of the race. ``start`` None means the surface's own start."""

    surface: Literal[tuple(SURFACES)] = "bowl"
    start: tuple[Coordinate, Coordinate] | None = None
    max_steps: int = Field(500, ge=1, le=HARD_MAX_STEPS, description="Steps before a run stops.")
    speed: float = Field(60.0, gt=0, le=HARD_MAX_SPEED, description="Steps a second in play.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of SGD's gradient noise.")
    optimizers: Optimizers = Optimizers()

    @model_validator(mode="after")
    def _start_inside(self) -> DescentConfig:
        if self.start is not None:
            xmin, xmax, ymin, ymax = SURFACES[self.surface].bounds
            x, y = self.start
            if not (xmin <= x <= xmax and ymin <= y <= ymax):
                raise ValueError(
                    f"the start point must lie inside the surface: x in [{xmin}, {xmax}], "
                    f"y in [{ymin}, {ymax}]"
                )
        return self

    @property
    def start_point(self) -> tuple[float, float]:
        return self.start if self.start is not None else SURFACES[self.surface].start


@dataclass(frozen=True)
class SurfacePreset:
    """What a surface needs to show its lesson: a step budget and a learning rate per optimiser."""

    max_steps: int
    lr: dict[str, float]


# Surfaces whose lesson needs other steps than the config's defaults (Rosenbrock needs tiny ones:
# its walls curve ~1700 times more steeply than its floor). The others take the defaults.
SURFACE_PRESETS: dict[str, SurfacePreset] = {
    "valley": SurfacePreset(500, {"gd": 0.45, "sgd": 0.2, "momentum": 0.05, "adam": 0.3}),
    "wells": SurfacePreset(1000, {"gd": 0.5, "sgd": 0.5, "momentum": 0.1, "adam": 0.1}),
    "rosenbrock": SurfacePreset(
        3000, {"gd": 0.0008, "sgd": 0.0005, "momentum": 0.0002, "adam": 0.05}
    ),
}


def surface_defaults(surface: str) -> dict:
    """The part of a config that naming ``surface`` fills in (as JSON) for fields left out."""
    preset = SURFACE_PRESETS.get(surface)
    if preset is None:
        return {}
    return {
        "max_steps": preset.max_steps,
        "optimizers": {name: {"lr": lr} for name, lr in preset.lr.items()},
    }


def presets() -> dict[str, SurfacePreset]:
    """Every surface's step budget and learning rates, as a configure naming it gets them."""
    table = {}
    for name in SURFACES:
        config = DescentConfig.model_validate({"surface": name, **surface_defaults(name)})
        rates = {racer: getattr(config.optimizers, racer).lr for racer in RACERS}
        table[name] = SurfacePreset(config.max_steps, rates)
    return table


# ---- the runs --------------------------------------------------------------------------------
def race(config: DescentConfig) -> dict[str, Run]:
    """One run per enabled optimiser, all from the config's start; each its own noise seed."""
    surface = get_surface(config.surface)
    runs = {}
    for index, name in enumerate(RACERS):
        options = getattr(config.optimizers, name)
        if options.enabled:
            seed = config.seed * len(RACERS) + index
            runs[name] = Run(surface, options, config.start_point, config.max_steps, seed)
    return runs


class Run:
    """One optimiser walking down one surface from one start, one torch.optim step at a time.

    The parameter is a (2,) float64 leaf tensor; ``loss.backward()`` fills its gradient and a real
    ``torch.optim`` optimiser (SGD, SGD with momentum, Adam) updates it. SGD's mini-batch gradient
    is modelled as the true gradient plus Gaussian noise of std ``noise / sqrt(batch)``.
    """

    def __init__(
        self,
        surface: Surface,
        options: OptimizerOptions,
        start: tuple[float, float],
        max_steps: int,
        seed: int = 0,
        grad_tol: float = 1e-6,
    ) -> None:
        self.surface, self.options, self.max_steps = surface, options, max_steps
        self.grad_tol = grad_tol
        self.param = torch.tensor(start, dtype=DTYPE, requires_grad=True)
        self.optimizer = options.make([self.param])
        self.generator = torch.Generator().manual_seed(seed)
        # Trajectory buffer (max_steps + 1, 2): row i is the point after i steps.
        self.path = torch.empty(max_steps + 1, 2, dtype=DTYPE)
        self.path[0] = self.param.detach()
        self.steps = 0
        self.verdict: Verdict | None = None
        # Loss and gradient norm at path[steps]; computed by the next step's backward pass, or
        # on demand (``_refresh``) when read before it: one autograd pass per step, not two.
        self._loss, self._grad_norm, self._fresh = math.nan, math.nan, False

    def _refresh(self) -> None:
        if not self._fresh and not (self.verdict and self.verdict.ending is Ending.DIVERGED):
            value, grad = gradient(self.surface, self.param)
            self._loss, self._grad_norm, self._fresh = float(value), float(grad.norm()), True

    @property
    def loss(self) -> float:
        """The loss at the current point (NaN once diverged)."""
        self._refresh()
        return self._loss

    @property
    def grad_norm(self) -> float:
        """|∇f| at the current point, without SGD's noise (NaN once diverged)."""
        self._refresh()
        return self._grad_norm

    @property
    def done(self) -> bool:
        return self.verdict is not None

    def step(self) -> None:
        """One optimiser step; stops the run (and sets ``verdict``) when it ends."""
        if self.done:
            return
        self.optimizer.zero_grad()
        loss = self.surface.fn(self.param)
        loss.backward()
        grad = self.param.grad
        self._loss, self._grad_norm, self._fresh = float(loss.detach()), float(grad.norm()), True
        moved = (
            float((self.path[self.steps] - self.path[self.steps - 1]).norm())
            if self.steps
            else math.inf
        )
        # Exact-gradient optimisers stop once both the gradient and the last step vanish
        # (momentum can pass through a zero gradient at speed, hence the step check too).
        if (
            not self.options.stochastic
            and self._grad_norm < self.grad_tol
            and moved < self.grad_tol * max(self.options.lr, 1e-12) * 10
        ):
            self.verdict = self.judge()
            return
        if self.options.stochastic:
            noise = torch.randn(2, dtype=DTYPE, generator=self.generator)
            grad.add_(noise * self.options.noise_std)
        self.optimizer.step()
        self.steps += 1
        self._fresh = False
        point = self.param.detach()
        self.path[self.steps] = point
        if is_diverged(self.surface, point):
            self._loss, self._grad_norm = math.nan, math.nan
            self.verdict = Verdict(Ending.DIVERGED, None, None, None)
        elif self.steps >= self.max_steps:
            self.verdict = self.judge()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            if self.done:
                break
            # A step costs a backward pass and an optimizer step (~0.1-2 ms): check in before
            # each, so a long run can be stopped from outside (training.Cancelled) at once.
            checkpoint()
            self.step()

    def resting_window(self) -> int:
        """How many of its last points say where the run rests: 1, or up to SGD_WINDOW for SGD,
        which jitters around where it rests (the average of its points is where it rests)."""
        return min(SGD_WINDOW, self.steps + 1) if self.options.stochastic else 1

    def resting_point(self) -> Tensor:
        """Where the run ended: the mean of its last ``resting_window()`` points."""
        n = self.resting_window()
        return self.path[self.steps + 1 - n : self.steps + 1].mean(dim=0)

    def judge(self) -> Verdict:
        """The verdict on where the run ended (ml_core.endings.classify). A noisy SGD is judged
        at the average of its last points, against a tolerance its noise sets."""
        n = self.resting_window()
        if not self.options.stochastic:
            return classify(self.surface, self.resting_point())
        noise = self.options.noise_std
        return classify(
            self.surface,
            self.resting_point(),
            grad_tol=sgd_tolerance(noise, n),
            averaged=n,
            noise_std=noise,
        )

    @property
    def point(self) -> tuple[float, float]:
        p = self.path[self.steps]
        return float(p[0]), float(p[1])

    def trajectory(self, max_points: int = 1000) -> np.ndarray:
        """The path so far as float32 (n, 2), thinned to at most ``max_points`` (last point kept)."""
        path = self.path[: self.steps + 1]
        stride = max(1, math.ceil(len(path) / max_points))
        thinned = path[::stride]
        if (len(path) - 1) % stride:
            thinned = torch.cat([thinned, path[-1:]])
        return thinned.to(torch.float32).numpy()
