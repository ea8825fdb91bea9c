"""The perceptron, walked one data point at a time exactly as the course teaches it.

f(x) = sign(wᵀx + b), with sign(0) taken as +1 so every output is a class (±1).
One *visit* is the slide's steps 1-5 for one point:
  1. choose a data point x (with its target ±1),
  2. compute the output sign(wᵀx + b),
  3. compare it with the target,
  4. if wrong, update  w ← w + λ(target − output)·x,  b ← b + λ(target − output),
  5. go on to the next point; a full pass with no mistake means the data is separated.

``PerceptronConfig`` is the lab's whole configuration (the data and the learning rule), the one
definition of it: the server validates against it and builds the model from it. The datasets and
the separability analysis are in ``ml_core.perceptron_data``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator

from ml_core.config import Strict
from ml_core.history import MetricsHistory
from ml_core.perceptron_data import DatasetConfig
from ml_core.training import checkpoint

Point = tuple[float, float]

# Weights with a norm below this draw no line: wᵀx + b is then (almost) the constant b.
_NO_LINE = 1e-9
HARD_MAX_EPOCHS = 1_000_000  # ceilings whatever the server's settings say (they apply lower ones)
HARD_MAX_SPEED = 1_000_000.0


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


# ----------------------------------------------------------------------------- the config
def _zero_weights(config: LearningConfig) -> tuple[torch.Tensor, float]:
    """w = (0, 0), b = 0: no line until the first mistake."""
    return torch.zeros(2, dtype=torch.float64), 0.0


def _random_weights(config: LearningConfig) -> tuple[torch.Tensor, float]:
    """w₁, w₂, b ~ N(0, 0.5²), drawn from the config's seed."""
    gen = torch.Generator().manual_seed(config.seed)
    wb = torch.randn(3, generator=gen, dtype=torch.float64) * 0.5
    return wb[:2].clone(), float(wb[2])


def _line_weights(config: LearningConfig) -> tuple[torch.Tensor, float]:
    """The line through the two handles the user dragged."""
    p, q = config.line
    return weights_from_line((p.x, p.y), (q.x, q.y))


# How the weights start: name -> initial (w (2,), b).
INITS: dict[str, Callable[[LearningConfig], tuple[torch.Tensor, float]]] = {
    "zeros": _zero_weights,
    "random": _random_weights,
    "line": _line_weights,
}
# Which point a visit chooses next. cycle: the next one; shuffle: a new random order every
# pass (like SGD); restart: after an update start over at the first point (the slide's step 4).
ORDERS = ("cycle", "shuffle", "restart")

Coordinate = Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False)]
LearningRate = Annotated[float, Field(gt=0, le=10, description="λ of the learning rule.")]
Epochs = Annotated[int, Field(ge=1, le=HARD_MAX_EPOCHS, description="Passes before a run stops.")]
Speed = Annotated[
    float, Field(gt=0, le=HARD_MAX_SPEED, description="Points visited a second in play mode.")
]


class Handle(Strict):
    """One end of the line the user drags (initial weights "line")."""

    x: Coordinate
    y: Coordinate


class LearningConfig(Strict):
    """How the perceptron learns. ``line`` is two handles, used when init is "line"; ``speed``
    paces play mode (the model itself does not read it)."""

    learning_rate: LearningRate = 0.1
    init: Literal[tuple(INITS)] = "zeros"
    line: tuple[Handle, Handle] = (Handle(x=-0.6, y=-0.2), Handle(x=0.6, y=0.3))
    order: Literal[ORDERS] = "cycle"
    max_epochs: Epochs = 100
    speed: Speed = 10.0
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _handles_apart(self) -> LearningConfig:
        p, q = self.line
        if self.init == "line" and abs(p.x - q.x) + abs(p.y - q.y) < 1e-3:
            raise ValueError("the two handles of the line must be apart")
        return self


class PerceptronConfig(Strict):
    """The perceptron lab's whole configuration: the data and the learning rule."""

    dataset: DatasetConfig = DatasetConfig()
    perceptron: LearningConfig = LearningConfig()


# ----------------------------------------------------------------------------- the model
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


def sign(s: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1, so a point on the line is classed +1 (never 'no answer')."""
    return torch.where(s >= 0, 1, -1)


class Perceptron:
    """A perceptron on a fixed dataset, advanced one visit at a time (no I/O, no threads)."""

    def __init__(self, points: torch.Tensor, labels: torch.Tensor, config: LearningConfig):
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

    def retune(self, config: LearningConfig) -> None:
        """Go on under a new λ, epoch limit or speed (what may change without a reset): the
        weights, the order of the points and the counts stay as they are."""
        self.config = config

    def reset(self) -> None:
        """Initial weights from the config; back to the first point, epoch 0."""
        self.w, self.b = INITS[self.config.init](self.config)
        self._rng = torch.Generator().manual_seed(self.config.seed)
        self._order = self._new_order()
        self.position = 0  # index into self._order of the next point to visit
        self.visits = 0
        self.epoch = 0  # completed passes (visits // N: the same for every order)
        self.streak = 0  # consecutive correct visits
        self.mistakes = 0  # updates made in total
        self.epoch_mistakes = [0]  # mistakes in each pass so far, the last one running
        self.converged = False
        self.last: Visit | None = None
        self.history = MetricsHistory()  # the lab's metrics over time, for the CSV export

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
            if done % 256 == 0:
                checkpoint()  # a long run can be stopped from outside (training.Cancelled)
            self.step()
            done += 1
        return done

    @torch.no_grad()
    def accuracy(self) -> float:
        return float((self.output(self.points) == self.labels).double().mean())
