"""Activation functions, losses, softmax with temperature, and L1 / L2 line fits.

Every curve is computed by torch itself: activations by ``torch.nn`` modules, derivatives by
autograd (``y.sum().backward()`` gives dy/dx elementwise, since each activation acts elementwise),
losses by ``torch.nn.functional`` with ``reduction="none"`` so one call gives the whole curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "prelu", "rrelu")
LOSSES = ("bce", "ce", "l1", "l2", "huber", "kl")
# Losses whose prediction is a probability in (0, 1); the others predict a real number.
PROBABILITY_LOSSES = ("bce", "ce", "kl")


@dataclass(frozen=True)
class ActivationParams:
    """Knobs of the parametrised activations (ignored by the others)."""

    slope: float = 0.01  # Leaky ReLU's negative slope
    prelu_init: float = 0.25  # PReLU's learnable slope (its initial value; torch's default)
    lower: float = 1 / 8  # RReLU's random slope range [lower, upper] (torch's defaults)
    upper: float = 1 / 3
    training: bool = True  # RReLU: random slopes in training, the fixed mean slope in eval
    seed: int = 0


def activation_module(name: str, params: ActivationParams = ActivationParams()) -> nn.Module:
    """The torch module for an activation, set to train or eval mode."""
    if name == "sigmoid":
        module: nn.Module = nn.Sigmoid()
    elif name == "tanh":
        module = nn.Tanh()
    elif name == "relu":
        module = nn.ReLU()
    elif name == "leaky_relu":
        module = nn.LeakyReLU(params.slope)
    elif name == "prelu":
        module = nn.PReLU(num_parameters=1, init=params.prelu_init)
    elif name == "rrelu":
        if not params.lower <= params.upper:
            raise ValueError("RReLU needs lower <= upper")
        module = nn.RReLU(params.lower, params.upper)
    else:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return module.train(params.training)


@dataclass(frozen=True)
class ActivationCurve:
    x: np.ndarray  # (n,) float32
    y: np.ndarray  # (n,) activation
    dy: np.ndarray  # (n,) dy/dx by autograd
    dparam: np.ndarray | None  # (n,) dy/da for PReLU's learnable slope a, else None


def activation_curve(
    name: str,
    params: ActivationParams = ActivationParams(),
    lo: float = -6.0,
    hi: float = 6.0,
    n: int = 241,
) -> ActivationCurve:
    """The activation and its derivative on ``n`` points of [lo, hi]."""
    module = activation_module(name, params)
    x = torch.linspace(lo, hi, n, requires_grad=True)
    # RReLU draws its slopes from torch's global generator: seed it for a repeatable picture.
    with torch.random.fork_rng():
        torch.manual_seed(params.seed)
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


def softmax(logits: list[float], temperature: float = 1.0) -> SoftmaxResult:
    """softmax(z / T): low T sharpens towards the arg-max, high T flattens towards uniform."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    z = torch.tensor(logits, dtype=torch.float64)

    def fn(v: Tensor) -> Tensor:
        return F.softmax(v / temperature, dim=-1)

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


def _loss(name: str, pred: Tensor, target: float, classes: int, delta: float) -> Tensor:
    """Per-point loss (n,) of predictions (n,) against one target."""
    t = torch.full_like(pred, target)
    if name == "bce":
        return F.binary_cross_entropy(pred, t, reduction="none")
    if name == "ce":
        # pred is the probability given to the true class (index 0); the rest is shared
        # equally by the other classes. Log-probabilities are valid logits for cross_entropy.
        rest = ((1 - pred) / (classes - 1)).unsqueeze(1).expand(-1, classes - 1)
        probs = torch.cat([pred.unsqueeze(1), rest], dim=1)  # (n, classes)
        labels = torch.zeros(len(pred), dtype=torch.long)
        return F.cross_entropy(torch.log(probs), labels, reduction="none")
    if name == "l1":
        return F.l1_loss(pred, t, reduction="none")
    if name == "l2":
        return F.mse_loss(pred, t, reduction="none")
    if name == "huber":
        return F.huber_loss(pred, t, reduction="none", delta=delta)
    if name == "kl":
        # KL(target || prediction) of two Bernoulli distributions [t, 1-t] and [p, 1-p].
        log_q = torch.log(torch.stack([pred, 1 - pred], dim=1))  # (n, 2)
        p = torch.stack([t, 1 - t], dim=1)
        return F.kl_div(log_q, p, reduction="none").sum(dim=1)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")


def loss_curve(
    name: str, target: float, classes: int = 3, delta: float = 1.0, n: int = 241
) -> LossCurve:
    """Loss against the prediction for one target, with its derivative (autograd)."""
    if name in PROBABILITY_LOSSES and name != "ce" and not 0 <= target <= 1:
        raise ValueError(f"the target of {name} is a probability in [0, 1]")
    if name == "ce" and classes < 2:
        raise ValueError("cross-entropy needs at least 2 classes")
    if delta <= 0:
        raise ValueError("Huber's delta must be positive")
    lo, hi = prediction_range(name, target)
    pred = torch.linspace(lo, hi, n, dtype=torch.float64, requires_grad=True)
    loss = _loss(name, pred, target, classes, delta)
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
