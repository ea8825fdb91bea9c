"""The perceptron, walked one data point at a time exactly as the course teaches it.

f(x) = sign(wᵀx + b), with sign(0) taken as +1 so every output is a class (±1).
One *visit* is the slide's steps 1-5 for one point:
  1. choose a data point x (with its target ±1),
  2. compute the output sign(wᵀx + b),
  3. compare it with the target,
  4. if wrong, update  w ← w + λ(target − output)·x,  b ← b + λ(target − output),
  5. go on to the next point; a full pass with no mistake means the data is separated.

Besides the model this module has the lab's datasets (a name → generator registry, points in
[-1, 1]², labels ±1) and the analysis a teacher wants beside it: is the data linearly separable,
with what margin γ and radius R, and so the convergence bound (R/γ)² on the number of mistakes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linprog, minimize  # scipy ships with scikit-learn

Order = Literal["cycle", "shuffle", "restart"]
Init = Literal["zeros", "random", "line"]
Point = tuple[float, float]

# Weights with a norm below this draw no line: wᵀx + b is then (almost) the constant b.
_NO_LINE = 1e-9


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


def make_dataset(name: str, samples: int, noise: float = 0.1, seed: int = 0):
    """Points (N, 2) float32 in [-1, 1]² and labels (N,) int64 in {−1, +1} from a preset."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    points, labels = DATASETS[name](samples, noise, seed)
    return torch.as_tensor(points, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.int64)


# ----------------------------------------------------------------------------- geometry
def line_segment(w: torch.Tensor, b: float, lo: float = -1.0, hi: float = 1.0):
    """The part of the line wᵀx + b = 0 inside the square [lo, hi]², as [[x1, y1], [x2, y2]].

    None when w is (almost) zero (no line) or the line misses the square.
    """
    w1, w2 = float(w[0]), float(w[1])
    if math.hypot(w1, w2) < _NO_LINE:
        return None
    hits: list[Point] = []
    if abs(w2) > _NO_LINE:  # crossings of the left and right sides x = lo, x = hi
        hits += [(x, -(w1 * x + b) / w2) for x in (lo, hi)]
    if abs(w1) > _NO_LINE:  # crossings of the bottom and top sides y = lo, y = hi
        hits += [(-(w2 * y + b) / w1, y) for y in (lo, hi)]
    eps = 1e-9
    inside = [p for p in hits if lo - eps <= p[0] <= hi + eps and lo - eps <= p[1] <= hi + eps]
    if not inside:
        return None
    # The two crossings farthest apart (corners are found twice).
    a, c = max(((p, q) for p in inside for q in inside), key=lambda pq: math.dist(*pq))
    return [[a[0], a[1]], [c[0], c[1]]]


def weights_from_line(p: Point, q: Point) -> tuple[torch.Tensor, float]:
    """Unit w and b of the line through p and q; w points to the left of the direction p → q."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    length = math.hypot(dx, dy)
    if length < 1e-6:
        raise ValueError("the two handles of the line must be apart")
    w = torch.tensor([-dy / length, dx / length], dtype=torch.float64)
    return w, -float(w[0] * p[0] + w[1] * p[1])


@dataclass
class Separability:
    """Is the data split by a line? With γ (best margin of the unit (w, b)) and R = max ‖(x, 1)‖."""

    separable: bool
    radius: float
    margin: float | None = None  # γ, only when separable
    bound: float | None = None  # (R/γ)²: most mistakes from zero weights

    def to_dict(self) -> dict:
        return asdict(self)


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


# ----------------------------------------------------------------------------- the model
@dataclass
class PerceptronConfig:
    """How the perceptron learns. `line` is two handle points, used when init == "line"."""

    learning_rate: float = 0.1  # λ
    init: Init = "zeros"
    line: tuple[Point, Point] = ((-0.5, -0.5), (0.5, 0.5))
    # cycle: the next point; shuffle: a new order each pass; restart: the slide's step 4
    order: Order = "cycle"
    max_epochs: int = 100
    seed: int = 0


@dataclass
class Visit:
    """One pass of steps 1-5 on one data point, with every number of the update."""

    visit: int  # 1-based count of points visited so far
    epoch: int  # passes completed before this visit
    index: int  # which data point (row of the dataset)
    x: list[float]
    target: int
    activation: float  # wᵀx + b
    output: int  # sign(wᵀx + b)
    correct: bool
    learning_rate: float
    w_before: list[float]
    b_before: float
    w_after: list[float]
    b_after: float
    delta_w: list[float] = field(default_factory=list)  # λ(target − output)·x
    delta_b: float = 0.0  # λ(target − output)
    line_before: list | None = None
    line_after: list | None = None
    converged: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def sign(s: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1, so a point on the line is classed +1 (never 'no answer')."""
    return torch.where(s >= 0, 1, -1)


class Perceptron:
    """A perceptron on a fixed dataset, advanced one visit at a time (no I/O, no threads)."""

    def __init__(self, points: torch.Tensor, labels: torch.Tensor, config: PerceptronConfig):
        if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
            raise ValueError("points must be (N, 2) with one label each")
        if len(points) == 0:
            raise ValueError("the perceptron needs at least one data point")
        if not bool(((labels == 1) | (labels == -1)).all()):
            raise ValueError("labels must be -1 or +1")
        # float64: the update numbers shown to students should be exact to many digits.
        self.points = points.to(torch.float64)  # (N, 2)
        self.labels = labels.to(torch.int64)  # (N,) in {−1, +1}
        self.config = config
        self.reset()

    @property
    def n(self) -> int:
        return len(self.points)

    def reset(self) -> None:
        """Initial weights from the config; back to the first point, epoch 0."""
        cfg = self.config
        if cfg.init == "zeros":
            self.w, self.b = torch.zeros(2, dtype=torch.float64), 0.0
        elif cfg.init == "random":
            gen = torch.Generator().manual_seed(cfg.seed)
            wb = torch.randn(3, generator=gen, dtype=torch.float64) * 0.5
            self.w, self.b = wb[:2].clone(), float(wb[2])
        elif cfg.init == "line":
            self.w, self.b = weights_from_line(*cfg.line)
        else:
            raise ValueError(f"unknown init {cfg.init!r}")
        self._rng = torch.Generator().manual_seed(cfg.seed)
        self._order = self._new_order()
        self.position = 0  # index into self._order of the next point to visit
        self.visits = 0
        self.epoch = 0  # completed passes (visits // N: the same for every order)
        self.streak = 0  # consecutive correct visits
        self.mistakes = 0  # updates made in total
        self.epoch_mistakes = [0]  # mistakes in each pass so far, the last one running
        self.converged = False
        self.last: Visit | None = None

    def _new_order(self) -> torch.Tensor:
        if self.config.order == "shuffle":
            return torch.randperm(self.n, generator=self._rng)
        return torch.arange(self.n)

    @property
    def next_index(self) -> int:
        """The data point that the next visit will choose (step 1)."""
        return int(self._order[self.position])

    @property
    def finished(self) -> bool:
        return self.converged or self.epoch >= self.config.max_epochs

    def output(self, x: torch.Tensor) -> torch.Tensor:
        """f(x) = sign(wᵀx + b) for points x (…, 2) → (…,) in {−1, +1}."""
        return sign(x.to(torch.float64) @ self.w + self.b)

    def line(self):
        return line_segment(self.w, self.b)

    @torch.no_grad()
    def step(self) -> Visit:
        """Steps 1-5 for the next data point; returns every number of that visit."""
        if self.finished:
            raise RuntimeError("the run is over: reset to start again")
        i = self.next_index  # step 1: choose a data point
        x, target = self.points[i], int(self.labels[i])
        activation = float(x @ self.w + self.b)  # step 2: compute the output
        output = 1 if activation >= 0 else -1
        correct = output == target  # step 3: compare with the target
        lam = self.config.learning_rate
        w_before, b_before, line_before = self.w.clone(), self.b, self.line()
        delta_w, delta_b = torch.zeros(2, dtype=torch.float64), 0.0
        if not correct:  # step 4: the perceptron learning rule
            delta_w = lam * (target - output) * x
            delta_b = lam * (target - output)
            self.w = self.w + delta_w
            self.b = self.b + delta_b
            self.mistakes += 1
            self.epoch_mistakes[-1] += 1
            self.streak = 0
        else:
            self.streak += 1
        self.visits += 1
        self._advance(correct)  # step 5: the next data point
        # A run of N correct visits is a full pass with no mistake (for shuffle, check a pass).
        if self.config.order == "shuffle":
            self.converged = self.position == 0 and self.epoch_mistakes[-2] == 0
        else:
            self.converged = self.streak >= self.n
        self.last = Visit(
            visit=self.visits,
            epoch=(self.visits - 1) // self.n,
            index=i,
            x=x.tolist(),
            target=target,
            activation=activation,
            output=output,
            correct=correct,
            learning_rate=lam,
            w_before=w_before.tolist(),
            b_before=b_before,
            w_after=self.w.tolist(),
            b_after=self.b,
            delta_w=delta_w.tolist(),
            delta_b=delta_b,
            line_before=line_before,
            line_after=self.line(),
            converged=self.converged,
        )
        return self.last

    def _advance(self, correct: bool) -> None:
        if self.visits % self.n == 0:  # a pass's worth of visits: count an epoch
            self.epoch += 1
            self.epoch_mistakes.append(0)
        if self.config.order == "restart" and not correct:
            self.position = 0  # the slide's step 4: start over with the first data point
            return
        self.position += 1
        if self.position == self.n:
            self.position = 0
            if self.config.order == "shuffle":
                self._order = self._new_order()

    def run(self, max_visits: int) -> int:
        """Up to `max_visits` visits, stopping when finished; returns how many were made."""
        done = 0
        while done < max_visits and not self.finished:
            self.step()
            done += 1
        return done

    @torch.no_grad()
    def accuracy(self) -> float:
        return float((self.output(self.points) == self.labels).double().mean())
