"""Loss surfaces over two parameters, and where an optimiser that stops on one has ended up.

A surface is a torch function of a point ``p`` of shape ``(..., 2)`` returning ``(...)``: the same
code evaluates a whole grid for the heat map and a single point for autograd. Gradients and Hessians
always come from torch (``torch.autograd.grad``, ``torch.autograd.functional.hessian``), never from
hand-written derivatives. Points are float64 so that "exactly on the ridge" stays exact.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch
from torch import Tensor

from ml_core.training import make_optimizer

DTYPE = torch.float64


def _bowl(p: Tensor) -> Tensor:
    x, y = p[..., 0], p[..., 1]
    return 0.5 * (x**2 + y**2)


def _valley(p: Tensor) -> Tensor:
    # Curvatures 0.1 and 4: a 40:1 condition number, so plain GD zig-zags across the valley.
    x, y = p[..., 0], p[..., 1]
    return 0.05 * x**2 + 2.0 * y**2


def _saddle(p: Tensor) -> Tensor:
    # Saddle at (0, 0) (curvature +1 along x, -1 along y), minima at (0, ±1).
    # The x-axis is the saddle's stable manifold: a start with y == 0 slides straight into it.
    x, y = p[..., 0], p[..., 1]
    return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2


# Wells of the multi-minima surface: (centre x, centre y, depth, width). The deepest one is global.
_WELLS = (
    (-2.0, -1.5, 1.0, 0.8),
    (2.0, 1.8, 1.6, 0.9),
    (1.8, -2.0, 0.8, 0.7),
    (-1.8, 2.0, 1.2, 0.8),
)


def _wells(p: Tensor) -> Tensor:
    # A shallow bowl keeps everything bounded; Gaussian wells carve out the local minima.
    x, y = p[..., 0], p[..., 1]
    value = 0.04 * (x**2 + y**2)
    for cx, cy, depth, width in _WELLS:
        value = value - depth * torch.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * width**2))
    return value


def _rosenbrock(p: Tensor) -> Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2


@dataclass(frozen=True)
class Surface:
    """One loss surface: the function, the square window it is drawn over, and how to draw it."""

    name: str
    title: str
    fn: Callable[[Tensor], Tensor]  # (..., 2) -> (...)
    bounds: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    start: tuple[float, float]  # a start point that shows the surface's lesson
    log_scale: bool  # draw log(1 + f - fmin) (Rosenbrock spans four orders of magnitude), else
    # sqrt(f - fmin): a quadratic's contours come out evenly spaced, detail near the minimum
    note: str

    @property
    def span(self) -> float:
        xmin, xmax, ymin, ymax = self.bounds
        return max(xmax - xmin, ymax - ymin)

    def value(self, point: Tensor) -> Tensor:
        return self.fn(point.to(DTYPE))


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            "bowl",
            "Convex bowl",
            _bowl,
            (-3, 3, -3, 3),
            (-2.5, 2.0),
            False,
            "One minimum and every path leads to it: gradient descent works here.",
        ),
        Surface(
            "valley",
            "Elongated valley",
            _valley,
            (-6, 6, -6, 6),
            (-5.0, 3.0),
            False,
            "Steep walls, flat floor: GD zig-zags across; momentum and Adam run along it.",
        ),
        Surface(
            "saddle",
            "Saddle point",
            _saddle,
            (-2, 2, -2, 2),
            (-1.8, 0.0),
            False,
            "The gradient vanishes at the saddle too: started on the ridge, GD stops there.",
        ),
        Surface(
            "wells",
            "Local minima",
            _wells,
            (-4, 4, -4, 4),
            (0.0, -0.3),
            False,
            "Four valleys, one deepest: where you start decides where you end.",
        ),
        Surface(
            "rosenbrock",
            "Rosenbrock",
            _rosenbrock,
            (-2, 2, -1, 3),
            (-1.5, 2.5),
            True,
            "A curved, nearly flat valley: easy to find, slow to follow to (1, 1).",
        ),
    )
}


def get_surface(name: str) -> Surface:
    try:
        return SURFACES[name]
    except KeyError:
        raise ValueError(f"unknown surface {name!r}; choose one of {', '.join(SURFACES)}") from None


def gradient(surface: Surface, point: Tensor) -> tuple[Tensor, Tensor]:
    """(value, gradient) at one point (2,) by autograd."""
    p = point.detach().to(DTYPE).clone().requires_grad_(True)
    value = surface.fn(p)
    (grad,) = torch.autograd.grad(value, p)
    return value.detach(), grad


def hessian(surface: Surface, point: Tensor) -> Tensor:
    """The 2x2 Hessian at one point, by torch.autograd.functional.hessian."""
    return torch.autograd.functional.hessian(surface.fn, point.detach().to(DTYPE))


def grid(surface: Surface, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Heat map of the surface: (uint8 (size, size) with row 0 at the top = ymax, raw float (size, size)).

    The uint8 grid is ``sqrt(f - fmin)`` (or ``log(1 + f - fmin)``) scaled to 0..255 over the
    window: monotone in ``f``, so contours of the grid are contours of the loss.
    """
    xmin, xmax, ymin, ymax = surface.bounds
    xs = torch.linspace(xmin, xmax, size, dtype=DTYPE)
    ys = torch.linspace(ymax, ymin, size, dtype=DTYPE)  # top row is the largest y
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    with torch.no_grad():
        values = surface.fn(torch.stack([xx, yy], dim=-1))  # (size, size)
    above = values - values.min()
    shown = torch.log1p(above) if surface.log_scale else torch.sqrt(above)
    lo, hi = shown.min(), shown.max()
    scaled = (shown - lo) / (hi - lo).clamp_min(1e-12)
    return (scaled * 255).round().to(torch.uint8).numpy(), values.numpy()


@dataclass(frozen=True)
class Minimum:
    point: tuple[float, float]
    value: float
    is_global: bool


def _derivatives(surface: Surface, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Values (n,), gradients (n, 2) and Hessians (n, 2, 2) of a batch of points (n, 2).

    Each point's value depends only on that point, so one backward pass of the summed values gives
    every gradient, and one more per coordinate gives every Hessian row (autograd, batched).
    """
    p = points.detach().clone().requires_grad_(True)
    values = surface.fn(p)
    (grads,) = torch.autograd.grad(values.sum(), p, create_graph=True)
    rows = [torch.autograd.grad(grads[:, k].sum(), p, retain_graph=True)[0] for k in range(2)]
    return values.detach(), grads.detach(), torch.stack(rows, dim=1)


@functools.cache
def minima(name: str) -> tuple[Minimum, ...]:
    """Every minimum inside the window, found numerically from a 7x7 grid of starts.

    All 49 starts descend at once by damped Newton steps (Levenberg-Marquardt: the damping makes
    the step go downhill even where the Hessian has a negative eigenvalue, so runs leave saddles
    and maxima). A point counts when its gradient vanishes and its Hessian is positive definite;
    the lowest value is the global minimum. Numerical so that no surface needs a hand-kept list.
    """
    surface = get_surface(name)
    xmin, xmax, ymin, ymax = surface.bounds
    xs = torch.linspace(xmin, xmax, 7, dtype=DTYPE)
    ys = torch.linspace(ymin, ymax, 7, dtype=DTYPE)
    points = torch.cartesian_prod(xs, ys)  # (49, 2)
    damping = torch.full((len(points),), 1e-3, dtype=DTYPE)
    eye = torch.eye(2, dtype=DTYPE)
    for _ in range(300):
        values, grads, hess = _derivatives(surface, points)
        # Done when every start has converged, or can no longer lower f in float64 (damping up).
        if bool(((grads.norm(dim=1) < 1e-9) | (damping > 1e6)).all()):
            break
        shift = (-torch.linalg.eigvalsh(hess)[:, 0]).clamp_min(0) + damping  # (n,)
        step = torch.linalg.solve(hess + shift[:, None, None] * eye, -grads)  # (n, 2)
        trial = points + step
        with torch.no_grad():
            better = surface.fn(trial) <= values  # NaN compares False: rejected
        points = torch.where(better[:, None], trial, points)
        damping = torch.where(better, damping / 3, damping * 4).clamp(1e-12, 1e12)
    values, grads, hess = _derivatives(surface, points)
    found: list[tuple[tuple[float, float], float]] = []
    for point, value, grad, h in zip(points, values, grads, hess, strict=True):
        inside = xmin <= point[0] <= xmax and ymin <= point[1] <= ymax
        if not inside or grad.norm() > 1e-6 or torch.linalg.eigvalsh(h)[0] <= 0:
            continue
        xy = (float(point[0]), float(point[1]))
        if all(math.dist(xy, q) > 1e-3 * surface.span for q, _ in found):
            found.append((xy, float(value)))
    lowest = min(v for _, v in found)
    return tuple(
        Minimum(q, v, math.isclose(v, lowest, abs_tol=1e-9))
        for q, v in sorted(found, key=lambda item: item[1])
    )


class Ending(StrEnum):
    GLOBAL_MIN = "global_minimum"
    LOCAL_MIN = "local_minimum"
    SADDLE = "saddle"
    MAXIMUM = "maximum"
    FLAT = "flat"
    DIVERGED = "diverged"
    MOVING = "moving"


ENDING_TEXT = {
    Ending.GLOBAL_MIN: "reached the global minimum",
    Ending.LOCAL_MIN: "stuck in a local minimum",
    Ending.SADDLE: "stalled at a saddle point (gradient ≈ 0, Hessian of mixed sign)",
    Ending.MAXIMUM: "sitting on a maximum (gradient ≈ 0, Hessian negative)",
    Ending.FLAT: "stalled on a flat region (gradient ≈ 0, Hessian ≈ 0)",
    Ending.DIVERGED: "diverged: the steps grew without bound — lower the learning rate",
    Ending.MOVING: "still moving: the gradient is not zero yet",
}


@dataclass(frozen=True)
class Verdict:
    ending: Ending
    value: float | None
    grad_norm: float | None
    eigenvalues: tuple[float, float] | None  # of the Hessian, ascending

    @property
    def text(self) -> str:
        return ENDING_TEXT[self.ending]


def is_diverged(surface: Surface, point: Tensor) -> bool:
    """Non-finite, or so far outside the window (10 spans) that it is not coming back."""
    x, y = point.tolist()  # plain floats: this runs every step, tensor ops cost more here
    if not (math.isfinite(x) and math.isfinite(y)):
        return True
    xmin, xmax, ymin, ymax = surface.bounds
    far = 10 * surface.span
    return abs(x - (xmin + xmax) / 2) > far or abs(y - (ymin + ymax) / 2) > far


def classify(
    surface: Surface, point: Tensor, grad_tol: float = 1e-3, near: float = 0.02
) -> Verdict:
    """Say where a run that stopped at ``point`` (2,) ended.

    Within ``near * span`` of a known minimum counts as that minimum (a noisy SGD jitters around
    it and never has a zero gradient). Otherwise a gradient below ``grad_tol`` is a critical point
    named by the signs of the Hessian's eigenvalues; a larger gradient means it is still moving.
    """
    point = point.detach().to(DTYPE)
    if is_diverged(surface, point):
        return Verdict(Ending.DIVERGED, None, None, None)
    value, grad = gradient(surface, point)
    if not bool(torch.isfinite(value)) or not bool(torch.isfinite(grad).all()):
        return Verdict(Ending.DIVERGED, None, None, None)
    eig = torch.linalg.eigvalsh(hessian(surface, point))
    eigenvalues = (float(eig[0]), float(eig[1]))
    facts = (float(value), float(grad.norm()), eigenvalues)
    for m in minima(surface.name):
        if math.dist(m.point, point.tolist()) < near * surface.span:
            return Verdict(Ending.GLOBAL_MIN if m.is_global else Ending.LOCAL_MIN, *facts)
    if grad.norm() >= grad_tol:
        return Verdict(Ending.MOVING, *facts)
    # Curvature tolerance: well below the curvatures of every surface here (the smallest is 0.1).
    tol = 1e-2
    if eig[0] > tol:
        # A minimum the L-BFGS search missed: global when it is as low as the known global one.
        lowest = min(m.value for m in minima(surface.name))
        ending = Ending.GLOBAL_MIN if float(value) <= lowest + 1e-6 else Ending.LOCAL_MIN
    elif eig[0] < -tol and eig[1] > tol:
        ending = Ending.SADDLE
    elif eig[1] < -tol:
        ending = Ending.MAXIMUM
    else:
        ending = Ending.FLAT
    return Verdict(ending, *facts)


# --- optimiser runs -------------------------------------------------------------------------

OPTIMIZERS = ("gd", "sgd", "momentum", "adam")


@dataclass(frozen=True)
class OptimizerConfig:
    """One optimiser of a race. ``noise`` and ``batch`` only matter for "sgd"."""

    kind: str  # one of OPTIMIZERS
    lr: float
    momentum: float = 0.9  # "momentum" only
    noise: float = 1.0  # std of the gradient noise of one sample, "sgd" only
    batch: int = 1  # a batch of B samples divides the noise std by sqrt(B)


class Run:
    """One optimiser walking down one surface from one start, one torch.optim step at a time.

    The parameter is a (2,) float64 leaf tensor; ``loss.backward()`` fills its gradient and a real
    ``torch.optim`` optimiser (SGD, SGD with momentum, Adam) updates it. SGD's mini-batch gradient
    is modelled as the true gradient plus Gaussian noise of std ``noise / sqrt(batch)``.
    """

    def __init__(
        self,
        surface: Surface,
        config: OptimizerConfig,
        start: tuple[float, float],
        max_steps: int,
        seed: int = 0,
        grad_tol: float = 1e-6,
    ) -> None:
        if config.kind not in OPTIMIZERS:
            raise ValueError(f"unknown optimiser {config.kind!r}")
        self.surface, self.config, self.max_steps = surface, config, max_steps
        self.grad_tol = grad_tol
        self.param = torch.tensor(start, dtype=DTYPE, requires_grad=True)
        # GD and SGD are the same torch.optim.SGD; they differ in the gradient it is given.
        kind = "sgd" if config.kind == "gd" else config.kind
        self.optimizer = make_optimizer(kind, [self.param], config.lr, momentum=config.momentum)
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
            self.config.kind != "sgd"
            and self._grad_norm < self.grad_tol
            and moved < self.grad_tol * max(self.config.lr, 1e-12) * 10
        ):
            self.verdict = classify(self.surface, self.resting_point())
            return
        if self.config.kind == "sgd":
            std = self.config.noise / math.sqrt(self.config.batch)
            grad.add_(torch.randn(2, dtype=DTYPE, generator=self.generator) * std)
        self.optimizer.step()
        self.steps += 1
        self._fresh = False
        point = self.param.detach()
        self.path[self.steps] = point
        if is_diverged(self.surface, point):
            self._loss, self._grad_norm = math.nan, math.nan
            self.verdict = Verdict(Ending.DIVERGED, None, None, None)
        elif self.steps >= self.max_steps:
            self.verdict = classify(self.surface, self.resting_point())

    def run(self, steps: int) -> None:
        for _ in range(steps):
            if self.done:
                break
            self.step()

    def resting_point(self) -> Tensor:
        """Where the run ended: the last point, or for noisy SGD the mean of its last 50 points
        (it jitters around where it rests; the average is where it rests)."""
        if self.config.kind == "sgd":
            return self.path[max(0, self.steps - 49) : self.steps + 1].mean(dim=0)
        return self.path[self.steps]

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
