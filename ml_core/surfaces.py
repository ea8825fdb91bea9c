"""Loss surfaces over two parameters and their derivatives, for the gradient-descent race.

A surface is a torch function of a point ``p`` of shape ``(..., 2)`` returning ``(...)``: the same
code evaluates a whole grid for the heat map and a single point for autograd. Gradients and Hessians
always come from torch (``torch.autograd.grad``, ``torch.autograd.functional.hessian``), never from
hand-written derivatives. Points are float64 so that "exactly on the ridge" stays exact.
Where a run on a surface ended is ``ml_core.endings``; the runs themselves ``ml_core.descent``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

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
            "Steep walls, flat floor: GD zig-zags across, momentum and Adam run along it faster.",
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


def derivatives(surface: Surface, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Values (n,), gradients (n, 2) and Hessians (n, 2, 2) of a batch of points (n, 2).

    Each point's value depends only on that point, so one backward pass of the summed values gives
    every gradient, and one more per coordinate gives every Hessian row (autograd, batched).
    """
    p = points.detach().clone().requires_grad_(True)
    values = surface.fn(p)
    (grads,) = torch.autograd.grad(values.sum(), p, create_graph=True)
    rows = [torch.autograd.grad(grads[:, k].sum(), p, retain_graph=True)[0] for k in range(2)]
    return values.detach(), grads.detach(), torch.stack(rows, dim=1)
