"""Where a run on a loss surface ended: the surface's minima, and a verdict on the end point.

``minima`` finds every minimum of a surface numerically (no hand-kept lists); ``classify`` names
the point a run stopped at by its gradient and the signs of its Hessian's eigenvalues (a global or
local minimum, a saddle, a maximum, a flat region, out of steps while still moving, or diverged),
and each verdict says which numbers and which threshold decided it.
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
    curvature: float = 1.0  # the Hessian's smallest eigenvalue there (how fast |∇f| grows)


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
    found: list[tuple[tuple[float, float], float, float]] = []
    for point, value, grad, h in zip(points, values, grads, hess, strict=True):
        inside = xmin <= point[0] <= xmax and ymin <= point[1] <= ymax
        curvature = float(torch.linalg.eigvalsh(h)[0])
        if not inside or grad.norm() > 1e-6 or curvature <= 0:
            continue
        xy = (float(point[0]), float(point[1]))
        if all(math.dist(xy, q) > 1e-3 * surface.span for q, _, _ in found):
            found.append((xy, float(value), curvature))
    lowest = min(v for _, v, _ in found)
    return tuple(
        Minimum(q, v, math.isclose(v, lowest, abs_tol=1e-9), c)
        for q, v, c in sorted(found, key=lambda item: item[1])
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
    Ending.GLOBAL_MIN: "converged to the global minimum at {at}",
    Ending.LOCAL_MIN: "converged to a local minimum at {at}, not the deepest one",
    Ending.SADDLE: "stalled at a saddle point (gradient ≈ 0, Hessian of mixed sign)",
    Ending.MAXIMUM: "stalled on a maximum (gradient ≈ 0, Hessian negative)",
    Ending.FLAT: "stalled on a flat region (gradient ≈ 0, Hessian ≈ 0)",
    Ending.DIVERGED: "diverged: the steps grew without bound — lower the learning rate",
    Ending.MOVING: "ran out of steps while still moving",
}

GRAD_TOL = 1e-3  # |∇f| below this counts as zero (the exact-gradient optimisers)
NEAR = 0.02  # a point this close to a known minimum (× the window's width) is at it
CURVATURE_TOL = 1e-2  # Hessian eigenvalues within this of 0 count as 0 (every surface here
# curves by at least 0.1 in its minima)


@dataclass(frozen=True)
class Verdict:
    """Where a run ended and the numbers that decided it.

    ``grad_norm`` is |∇f| at the point judged and ``grad_tol`` the |∇f| below which it counts as
    zero; ``averaged`` is how many of SGD's last points were averaged into that point (0: the
    last point itself), ``noise_std`` SGD's gradient noise a step (what sets its tolerance).
    """

    ending: Ending
    value: float | None
    grad_norm: float | None
    eigenvalues: tuple[float, float] | None  # of the Hessian, ascending
    grad_tol: float = GRAD_TOL
    averaged: int = 0
    noise_std: float = 0.0
    at: tuple[float, float] | None = None  # the minimum it converged to

    @property
    def text(self) -> str:
        at = "({:.2f}, {:.2f})".format(*(round(v, 2) + 0.0 for v in self.at)) if self.at else ""
        return ENDING_TEXT[self.ending].format(at=at)

    @property
    def detail(self) -> str:
        """The numbers behind the verdict and the threshold, in words."""
        if self.ending is Ending.DIVERGED or self.grad_norm is None:
            return "It went more than 10 window widths away (or to infinity)."
        where = f"at the average of its last {self.averaged} points" if self.averaged else (
            "where it stopped"
        )
        small = self.grad_norm < self.grad_tol
        said = f"|∇f| = {_g(self.grad_norm)} {where}, {'below' if small else 'not below'} "
        if not (self.averaged and self.noise_std > 0):
            return said + f"{_g(self.grad_tol)}, the size that counts as zero."
        left = self.noise_std / math.sqrt(self.averaged)
        return said + (
            f"{_g(self.grad_tol)}: SGD never stands still, and its noise ({_g(self.noise_std)} a "
            f"step) leaves about {_g(left)} in an average of {self.averaged} points, so 3 × that "
            "counts as zero."
        )


def _g(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def is_diverged(surface: Surface, point: Tensor) -> bool:
    """Non-finite, or so far outside the window (10 spans) that it is not coming back."""
    x, y = point.tolist()  # plain floats: this runs every step, tensor ops cost more here
    if not (math.isfinite(x) and math.isfinite(y)):
        return True
    xmin, xmax, ymin, ymax = surface.bounds
    far = 10 * surface.span
    return abs(x - (xmin + xmax) / 2) > far or abs(y - (ymin + ymax) / 2) > far


def sgd_tolerance(noise_std: float, averaged: int) -> float:
    """The |∇f| under which SGD's averaged resting point counts as a zero gradient.

    SGD steps by the gradient plus noise of std ``noise_std`` a coordinate; averaging ``averaged``
    of its points leaves noise of about noise_std/√averaged in the gradient there. Three times
    that (never less than GRAD_TOL): a settled SGD is below it but in about 1 % of cases.
    """
    if averaged < 1:
        return GRAD_TOL
    return max(GRAD_TOL, 3 * noise_std / math.sqrt(averaged))


def classify(
    surface: Surface,
    point: Tensor,
    grad_tol: float = GRAD_TOL,
    near: float = NEAR,
    averaged: int = 0,
    noise_std: float = 0.0,
) -> Verdict:
    """Say where a run that stopped at ``point`` (2,) ended, in this order:

    1. diverged: non-finite, or more than 10 window widths away;
    2. ran out of steps, still moving: |∇f| ≥ ``grad_tol`` (the gradient is not small);
    3. at a known minimum: within ``near`` × the window's width of it, or within the distance
       over which |∇f| grows to ``grad_tol`` there (``grad_tol`` / its smallest curvature: the
       ring SGD's larger tolerance allows): that minimum, global or local;
    4. otherwise a critical point named by the signs of the Hessian's eigenvalues: a saddle
       (mixed), a maximum (negative), flat (≈ 0); positive ones: a minimum the search missed
       when |∇f| < GRAD_TOL, else still moving (SGD creeping with a larger tolerance).

    ``averaged`` and ``noise_std`` only travel into the verdict, for its explanation.
    """
    point = point.detach().to(DTYPE)
    facts = {"grad_tol": grad_tol, "averaged": averaged, "noise_std": noise_std}
    if is_diverged(surface, point):
        return Verdict(Ending.DIVERGED, None, None, None, **facts)
    value, grad = gradient(surface, point)
    if not bool(torch.isfinite(value)) or not bool(torch.isfinite(grad).all()):
        return Verdict(Ending.DIVERGED, None, None, None, **facts)
    eig = torch.linalg.eigvalsh(hessian(surface, point))
    eigenvalues = (float(eig[0]), float(eig[1]))
    grad_norm = float(grad.norm())
    numbers = (float(value), grad_norm, eigenvalues)
    if grad_norm >= grad_tol:
        return Verdict(Ending.MOVING, *numbers, **facts)
    for m in minima(surface.name):
        radius = max(near * surface.span, grad_tol / m.curvature)
        if math.dist(m.point, point.tolist()) < radius:
            ending = Ending.GLOBAL_MIN if m.is_global else Ending.LOCAL_MIN
            return Verdict(ending, *numbers, **facts, at=m.point)
    if eig[0] > CURVATURE_TOL:
        if grad_norm >= GRAD_TOL:
            ending = Ending.MOVING  # a bowl's side, not its bottom: creeping on
        else:  # a minimum the Newton search missed: global when as low as the known global one
            lowest = min(m.value for m in minima(surface.name))
            ending = Ending.GLOBAL_MIN if float(value) <= lowest + 1e-6 else Ending.LOCAL_MIN
            facts["at"] = tuple(point.tolist())
    elif eig[0] < -CURVATURE_TOL and eig[1] > CURVATURE_TOL:
        ending = Ending.SADDLE
    elif eig[1] < -CURVATURE_TOL:
        ending = Ending.MAXIMUM
    else:
        ending = Ending.FLAT
    return Verdict(ending, *numbers, **facts)
