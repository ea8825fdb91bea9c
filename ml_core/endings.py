"""Where a run on a loss surface ended: the surface's minima, and a verdict on the end point.

``minima`` finds every minimum of a surface numerically (no hand-kept lists); ``classify`` names
the point a run stopped at by its gradient and the signs of its Hessian's eigenvalues (a global or
local minimum, a saddle, a maximum, a flat region, still moving, or diverged).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from enum import StrEnum

import torch
from torch import Tensor

from ml_core.surfaces import DTYPE, Surface, derivatives, get_surface, gradient, hessian


@dataclass(frozen=True)
class Minimum:
    point: tuple[float, float]
    value: float
    is_global: bool


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
        values, grads, hess = derivatives(surface, points)
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
    values, grads, hess = derivatives(surface, points)
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
        # A minimum the Newton search missed: global when it is as low as the known global one.
        lowest = min(m.value for m in minima(surface.name))
        ending = Ending.GLOBAL_MIN if float(value) <= lowest + 1e-6 else Ending.LOCAL_MIN
    elif eig[0] < -tol and eig[1] > tol:
        ending = Ending.SADDLE
    elif eig[1] < -tol:
        ending = Ending.MAXIMUM
    else:
        ending = Ending.FLAT
    return Verdict(ending, *facts)
