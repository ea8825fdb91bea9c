"""Activation functions, losses, softmax with temperature, and L1 / L2 line fits.

Every curve is computed by torch itself: activations by ``torch.nn`` modules, derivatives by
autograd (``y.sum().backward()`` gives dy/dx elementwise, since each activation acts elementwise),
losses by ``torch.nn.functional`` with ``reduction="none"`` so one call gives the whole curve.

Activations and losses live in name → function registries (``ACTIVATIONS``, ``LOSSES``);
``FunctionsConfig`` is the explorer's whole configuration, its one definition, with every name
taken from them, and each curve is computed from its part of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import Tensor, nn

from ml_core.config import Strict

HARD_MAX = 10_000  # most logits or points whatever the settings say (they apply lower limits)


# ---- registries ----------------------------------------------------------------------------
# name -> the torch module, from the activation's knobs (in the order the page lists them).
ACTIVATIONS: dict[str, Callable[[ActivationConfig], nn.Module]] = {
    "relu": lambda c: nn.ReLU(),
    "leaky_relu": lambda c: nn.LeakyReLU(c.slope),
    "prelu": lambda c: nn.PReLU(num_parameters=1, init=c.prelu_init),
    "rrelu": lambda c: nn.RReLU(c.lower, c.upper),
    "tanh": lambda c: nn.Tanh(),
    "sigmoid": lambda c: nn.Sigmoid(),
}


def _cross_entropy(pred: Tensor, config: LossConfig) -> Tensor:
    """pred is the probability given to the true class (index 0); the rest is shared equally by
    the other classes. Log-probabilities are valid logits for cross_entropy."""
    classes = config.classes
    rest = ((1 - pred) / (classes - 1)).unsqueeze(1).expand(-1, classes - 1)
    probs = torch.cat([pred.unsqueeze(1), rest], dim=1)  # (n, classes)
    labels = torch.zeros(len(pred), dtype=torch.long)
    return F.cross_entropy(torch.log(probs), labels, reduction="none")


def _kl(pred: Tensor, config: LossConfig) -> Tensor:
    """KL(target || prediction) of two Bernoulli distributions [t, 1-t] and [p, 1-p]."""
    t = torch.full_like(pred, config.target)
    log_q = torch.log(torch.stack([pred, 1 - pred], dim=1))  # (n, 2)
    p = torch.stack([t, 1 - t], dim=1)
    return F.kl_div(log_q, p, reduction="none").sum(dim=1)


def _target(pred: Tensor, config: LossConfig) -> Tensor:
    return torch.full_like(pred, config.target)


# name -> per-point loss (n,) of predictions (n,) against the config's target.
LOSSES: dict[str, Callable[[Tensor, LossConfig], Tensor]] = {
    "l2": lambda p, c: F.mse_loss(p, _target(p, c), reduction="none"),
    "l1": lambda p, c: F.l1_loss(p, _target(p, c), reduction="none"),
    "huber": lambda p, c: F.huber_loss(p, _target(p, c), reduction="none", delta=c.delta),
    "bce": lambda p, c: F.binary_cross_entropy(p, _target(p, c), reduction="none"),
    "ce": _cross_entropy,
    "kl": _kl,
}
# Losses whose prediction is a probability in (0, 1); the others predict a real number.
PROBABILITY_LOSSES = ("bce", "ce", "kl")
# Losses whose target is a probability too (cross-entropy's target is the class, not a number).
PROBABILITY_TARGETS = ("bce", "kl")


# ---- the config ------------------------------------------------------------------------------
Logit = Annotated[float, Field(ge=-20, le=20, allow_inf_nan=False)]
PlotCoordinate = Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]


class ActivationConfig(Strict):
    """One activation and its knobs (the parametrised ones read theirs, the others none)."""

    name: Literal[tuple(ACTIVATIONS)] = "relu"
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


class LossConfig(Strict):
    name: Literal[tuple(LOSSES)] = "l2"
    target: float = Field(0.0, ge=-5, le=5, description="Target (a probability for bce and kl).")
    classes: int = Field(3, ge=2, le=20, description="Classes of the cross-entropy example.")
    delta: float = Field(1.0, ge=0.05, le=5, description="Huber's switch from L2 to L1.")

    @model_validator(mode="after")
    def _probability(self) -> LossConfig:
        if self.name in PROBABILITY_TARGETS and not 0 <= self.target <= 1:
            raise ValueError(f"the target of {self.name} is a probability between 0 and 1")
        return self


class SoftmaxConfig(Strict):
    logits: list[Logit] = Field(
        default_factory=lambda: [2.0, 1.0, 0.1, -1.0], min_length=1, max_length=HARD_MAX
    )
    temperature: float = Field(1.0, ge=0.05, le=20)


class FitConfig(Strict):
    """Points of the outlier demo on [0, 10]²; the last one is the draggable outlier."""

    points: list[tuple[PlotCoordinate, PlotCoordinate]] = Field(
        None,  # validated too: null stands for the demo's own points
        validate_default=True,
        min_length=2,
        max_length=HARD_MAX,
        description="null: the default points.",
    )

    @field_validator("points", mode="before")
    @classmethod
    def _default(cls, points: object) -> object:
        return outlier_points() if points is None else points


class FunctionsConfig(Strict):
    """The explorer's whole configuration; `configure` and `update` may send any part of it."""

    activation: ActivationConfig = Field(default_factory=ActivationConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    softmax: SoftmaxConfig = Field(default_factory=SoftmaxConfig)
    fit: FitConfig = Field(default_factory=FitConfig)


# ---- activations ---------------------------------------------------------------------------
def activation_module(config: ActivationConfig) -> nn.Module:
    """The torch module for an activation, set to train or eval mode."""
    return ACTIVATIONS[config.name](config).train(config.training)


@dataclass(frozen=True)
class ActivationCurve:
    x: np.ndarray  # (n,) float32
    y: np.ndarray  # (n,) activation
    dy: np.ndarray  # (n,) dy/dx by autograd
    dparam: np.ndarray | None  # (n,) dy/da for PReLU's learnable slope a, else None


def activation_curve(
    config: ActivationConfig, lo: float = -6.0, hi: float = 6.0, n: int = 241
) -> ActivationCurve:
    """The activation and its derivative on ``n`` points of [lo, hi]."""
    module = activation_module(config)
    x = torch.linspace(lo, hi, n, requires_grad=True)
    # RReLU draws its slopes from torch's global generator: seed it for a repeatable picture.
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        y = module(x)
    y.sum().backward()
    dparam = None
    if isinstance(module, nn.PReLU):
        # y = max(0, x) + a·min(0, x), so each point's dy/da is min(0, x): the slope learns
        # only from negative inputs. Computed per point with autograd.
        per_point = torch.autograd.functional.jacobian(
            lambda a: F.prelu(x.detach(), a), module.weight.detach()
        )  # (n, 1)
        dparam = per_point[:, 0].numpy()
    return ActivationCurve(x.detach().numpy(), y.detach().numpy(), x.grad.numpy(), dparam)


def saturated_fraction(dy: np.ndarray, threshold: float = 0.05) -> float:
    """Share of the plotted inputs where the derivative is below ``threshold``: there
    backpropagation passes almost nothing through (sigmoid's tails, ReLU's negative half)."""
    return float(np.mean(np.abs(dy) < threshold))


@dataclass(frozen=True)
class SoftmaxResult:
    probs: np.ndarray  # (k,) softmax(z / T)
    jacobian: np.ndarray  # (k, k) d probs_i / d z_j
    entropy: float  # in nats; log(k) is uniform, 0 is one-hot


def softmax(config: SoftmaxConfig) -> SoftmaxResult:
    """softmax(z / T): low T sharpens towards the arg-max, high T flattens towards uniform."""
    z = torch.tensor(config.logits, dtype=torch.float64)

    def fn(v: Tensor) -> Tensor:
        return F.softmax(v / config.temperature, dim=-1)

    probs = fn(z)
    jac = torch.autograd.functional.jacobian(fn, z)  # (k, k)
    entropy = float(-(probs * torch.log(probs.clamp_min(1e-300))).sum())
    return SoftmaxResult(probs.numpy(), jac.numpy(), entropy)


@dataclass(frozen=True)
class LossCurve:
    prediction: np.ndarray  # (n,) the x axis
    loss: np.ndarray  # (n,)
    grad: np.ndarray  # (n,) d loss / d prediction by autograd


def prediction_range(name: str, target: float) -> tuple[float, float]:
    """The x axis of a loss plot: probabilities avoid 0 and 1 (the loss is infinite there)."""
    if name in PROBABILITY_LOSSES:
        return 0.005, 0.995
    return target - 4.0, target + 4.0


def loss_curve(config: LossConfig, n: int = 241) -> LossCurve:
    """Loss against the prediction for the config's target, with its derivative (autograd)."""
    lo, hi = prediction_range(config.name, config.target)
    pred = torch.linspace(lo, hi, n, dtype=torch.float64, requires_grad=True)
    loss = LOSSES[config.name](pred, config)
    loss.sum().backward()
    return LossCurve(pred.detach().numpy(), loss.detach().numpy(), pred.grad.numpy())


# --- L1 / L2 line fits (the outlier demo) ---------------------------------------------------


@dataclass(frozen=True)
class LineFit:
    slope: float
    intercept: float
    loss: float  # mean absolute (L1) or mean squared (L2) residual


def _check_points(points: Tensor) -> Tensor:
    points = torch.as_tensor(points, dtype=torch.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError("points must be a list of [x, y] pairs")
    if len(points) < 2 or float(points[:, 0].max() - points[:, 0].min()) < 1e-9:
        raise ValueError("a line fit needs at least two points with different x")
    return points


def fit_l2(points: Tensor) -> LineFit:
    """Least squares, closed form (torch.linalg.lstsq): minimises the mean squared residual."""
    points = _check_points(points)
    x, y = points[:, 0], points[:, 1]
    design = torch.stack([x, torch.ones_like(x)], dim=1)  # (n, 2)
    solution = torch.linalg.lstsq(design, y.unsqueeze(1)).solution[:, 0]
    slope, intercept = float(solution[0]), float(solution[1])
    return LineFit(slope, intercept, float(((y - slope * x - intercept) ** 2).mean()))


def fit_l1(points: Tensor, chunk: int = 4096) -> LineFit:
    """Least absolute deviations, exactly.

    The mean absolute residual is convex and piecewise linear in (slope, intercept), so a minimum
    sits at a vertex: a line through two of the points. Try every pair with different x (n ≤ a few
    hundred: at most ~20k lines) and keep the best, in chunks of ``chunk`` lines.
    """
    points = _check_points(points)
    x, y = points[:, 0], points[:, 1]
    i, j = torch.triu_indices(len(points), len(points), offset=1)
    dx = x[j] - x[i]
    keep = dx.abs() > 1e-12
    i, j, dx = i[keep], j[keep], dx[keep]
    best = (math.inf, 0.0, 0.0)
    for start in range(0, len(i), chunk):
        a, b, d = i[start : start + chunk], j[start : start + chunk], dx[start : start + chunk]
        slopes = (y[b] - y[a]) / d  # (m,)
        intercepts = y[a] - slopes * x[a]
        cost = (y[None, :] - slopes[:, None] * x[None, :] - intercepts[:, None]).abs().mean(1)
        k = int(cost.argmin())
        if float(cost[k]) < best[0]:
            best = (float(cost[k]), float(slopes[k]), float(intercepts[k]))
    return LineFit(best[1], best[2], best[0])


def outlier_points(n: int = 12, seed: int = 0) -> list[list[float]]:
    """The demo's default data: ``n - 1`` points near y = 0.6x + 1.5 on [0, 10]², and one outlier
    (the last point) far below the line, for the user to drag."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.5, 9.5, n - 1, dtype=torch.float64)
    y = 0.6 * x + 1.5 + 0.4 * torch.randn(n - 1, generator=gen, dtype=torch.float64)
    points = [[round(float(a), 3), round(float(b), 3)] for a, b in zip(x, y, strict=True)]
    return points + [[8.0, 1.0]]
