"""The perceptron lab's data: preset datasets, and whether a line can separate them.

Datasets live in a name → generator registry (``DATASETS``), all with one signature
``(samples, noise, seed) -> (points (N, 2) in [-1, 1]², labels (N,) in {−1, +1})``; ``custom``
is the user's own drawing. ``separability`` is the analysis a teacher wants beside the data: is it
linearly separable, with what margin γ and radius R, and so the convergence bound (R/γ)² on the
number of mistakes the perceptron makes from zero weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linprog, minimize  # scipy ships with scikit-learn

MAX_POINTS = 100_000  # a ceiling whatever the server's settings say (they apply a lower one)


# ----------------------------------------------------------------------------- datasets
def _line_labels(points: np.ndarray, rng: np.random.Generator, gap: float):
    """Label points by the side of a random line; drop those closer than `gap` to it."""
    angle = rng.uniform(0, 2 * math.pi)
    normal = np.array([math.cos(angle), math.sin(angle)])
    offset = rng.uniform(-0.3, 0.3)
    distance = points @ normal + offset  # (N,) signed distance to the line
    return np.where(distance >= 0, 1, -1), np.abs(distance) >= gap


def _sample_away_from_line(samples: int, rng: np.random.Generator, gap: float):
    """Uniform points in [-1, 1]² at least `gap` from one random line, labelled by its side."""
    points = rng.uniform(-1, 1, size=(samples * 8 + 64, 2))
    labels, keep = _line_labels(points, rng, gap)
    points, labels = points[keep][:samples], labels[keep][:samples]
    return points, labels


def separable(samples: int, noise: float, seed: int):
    """Two classes split by a straight line, with points close to it (a small margin)."""
    rng = np.random.default_rng(seed)
    return _sample_away_from_line(samples, rng, gap=0.02)


def margin(samples: int, noise: float, seed: int):
    """Two classes split by a straight line with a wide empty band between them."""
    rng = np.random.default_rng(seed)
    return _sample_away_from_line(samples, rng, gap=0.25)


def noisy(samples: int, noise: float, seed: int):
    """Separable with a margin, then a fraction `noise` of the labels flipped (mislabelled)."""
    rng = np.random.default_rng(seed)
    points, labels = _sample_away_from_line(samples, rng, gap=0.1)
    flip = rng.random(len(labels)) < noise
    return points, np.where(flip, -labels, labels)


def xor(samples: int, noise: float, seed: int):
    """The four quadrants: +1 where x1 and x2 have the same sign, −1 where they differ."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0.1, 1.0, size=(samples, 2)) * rng.choice([-1, 1], size=(samples, 2))
    return points, np.where(points[:, 0] * points[:, 1] > 0, 1, -1)


Generator = Callable[[int, float, int], tuple[np.ndarray, np.ndarray]]
DATASETS: dict[str, Generator] = {
    "separable": separable,
    "margin": margin,
    "noisy": noisy,
    "xor": xor,
}
CUSTOM = "custom"  # the user's drawing: not generated, the points are kept as drawn


def make_dataset(name: str, samples: int, noise: float = 0.1, seed: int = 0):
    """Points (N, 2) float32 in [-1, 1]² and labels (N,) int64 in {−1, +1} from a preset."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    points, labels = DATASETS[name](samples, noise, seed)
    return torch.as_tensor(points, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.int64)


class DatasetConfig(BaseModel):
    """Which points the perceptron learns: a preset of ``DATASETS`` or the user's drawing."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: Literal[(*DATASETS, CUSTOM)] = "separable"
    samples: int = Field(30, ge=2, le=MAX_POINTS, description="Points a preset makes.")
    noise: float = Field(0.1, ge=0, le=0.5, description="Fraction of labels flipped ('noisy').")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    def generate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The preset's points and labels (a custom dataset has none to make)."""
        return make_dataset(self.name, self.samples, self.noise, self.seed)


# ----------------------------------------------------------------------------- separability
@dataclass
class Separability:
    """Is the data split by a line? With γ (best margin of the unit (w, b)) and R = max ‖(x, 1)‖."""

    separable: bool
    radius: float
    margin: float | None = None  # γ, only when separable
    bound: float | None = None  # (R/γ)²: most mistakes from zero weights


def separability(points: torch.Tensor, labels: torch.Tensor) -> Separability:
    """Decide linear separability exactly (a linear program) and find the best margin.

    Works on augmented points z = (x1, x2, 1), the space the perceptron's proof lives in:
    separable ⇔ some v has y·vᵀz ≥ 1 for every point; the best margin is 1/‖v‖ for the
    smallest such v (a small quadratic program).
    """
    z = np.hstack([points.double().numpy(), np.ones((len(points), 1))])  # (N, 3)
    y = labels.double().numpy()  # (N,)
    radius = float(np.linalg.norm(z, axis=1).max()) if len(z) else 1.0
    if len(z) == 0 or (y > 0).all() or (y < 0).all():
        return Separability(separable=len(z) > 0, radius=radius)
    a = -(y[:, None] * z)  # y·vᵀz ≥ 1  ⇔  −y·zᵀv ≤ −1
    lp = linprog(np.zeros(3), A_ub=a, b_ub=-np.ones(len(z)), bounds=[(None, None)] * 3)
    if lp.status != 0:
        return Separability(separable=False, radius=radius)
    v = _smallest_separator(a, lp.x)
    # The margin that v really achieves (never over-states γ, so the bound stays a bound).
    gamma = float((y * (z @ v)).min() / np.linalg.norm(v))
    return Separability(True, radius, gamma, (radius / gamma) ** 2)


def _smallest_separator(a: np.ndarray, start: np.ndarray) -> np.ndarray:
    """min ‖v‖² subject to a·v ≤ −1, by an active set: only the points nearest the line matter.

    SLSQP on a few dozen constraints at a time, adding the violated ones, is fast for any N;
    if it fails, the feasible LP solution `start` stands (a smaller margin, still a true bound).
    """
    v = start
    active = np.argsort(-(a @ v))[:16]  # the tightest constraints under the LP solution
    for _ in range(20):
        sub = a[active]
        qp = minimize(
            lambda u: u @ u,
            v,
            jac=lambda u: 2 * u,
            constraints=[
                {"type": "ineq", "fun": lambda u, s=sub: -(s @ u) - 1, "jac": lambda u, s=sub: -s}
            ],
            method="SLSQP",
            options={"maxiter": 200, "ftol": 1e-12},
        )
        if not qp.success:
            return start
        slack = -(a @ qp.x) - 1  # (N,) ≥ 0 where the constraint holds
        violated = np.flatnonzero(slack < -1e-9)
        if len(violated) == 0:
            return qp.x
        worst = violated[np.argsort(slack[violated])[:16]]
        active = np.union1d(active, worst)
        v = qp.x
    return start
