"""When is a run diverging, and which weights were the last good ones?

The lecture's warning about the learning rate ("careful with learning rate") is about a loss
that goes *up*: each step overshoots the valley it should descend into, and further each time.
Waiting for the numbers to overflow to NaN shows that too late, and not at all for a network of
tanh units, whose loss can rise tenfold and stay there without ever overflowing. So a run is
diverging once its training loss is far above where it started:

    loss > DIVERGE_FACTOR * max(start loss, LOSS_FLOOR), or the loss is not a number,

five times the loss of the untrained network. Normal training, even noisy one-point steps at a
high rate, stays below it (tests/ml_core/test_mlp_divergence.py checks every preset at rates up to 3);
a rate of 10 on the default network crosses it within a few steps.

While the run is healthy it keeps the weights (and the optimizer's memory) of its lowest
training loss so far: after a blow-up they are the last good ones, to put back and go on at a
lower rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DIVERGE_FACTOR = 5.0  # a training loss this many times its starting value: diverged
LOSS_FLOOR = 0.1  # a start loss below this counts as this (a fit that starts near perfect)


@dataclass
class Checkpoint:
    """The engine's state at one step (``Engine.save_state``) and its training loss then."""

    step: int
    loss: float
    state: object


class DivergenceWatch:
    """The start loss of one run (its untrained network's) and its best weights so far."""

    def __init__(self, start_loss: float | None) -> None:
        self.start = start_loss
        self.best: Checkpoint | None = None

    @property
    def limit(self) -> float:
        """The training loss above which the run has diverged (inf without a start loss)."""
        if self.start is None or not math.isfinite(self.start):
            return math.inf
        return DIVERGE_FACTOR * max(self.start, LOSS_FLOOR)

    def blown(self, loss: float | None) -> bool:
        """Is this training loss a divergence: not a number, or above ``limit``?"""
        if self.start is None:
            return False  # nothing to train on, nothing to compare with
        return loss is None or not math.isfinite(loss) or loss > self.limit

    def improves(self, loss: float) -> bool:
        """Would weights with this (healthy) loss be the best so far?"""
        return self.best is None or loss < self.best.loss

    def keep(self, step: int, loss: float, state: object) -> None:
        self.best = Checkpoint(step, loss, state)

    def message(self, loss: float | None) -> str:
        """What happened, in words, after the standard first words of ``Diverged``."""
        start = "?" if self.start is None else f"{self.start:.3g}"
        if loss is None or not math.isfinite(loss):
            what = f"the training loss went from {start} to infinity"
        else:
            what = f"the training loss rose from {start} to {loss:.3g}"
        return (
            f"{what}, more than {DIVERGE_FACTOR:g}× where it started: each step overshoots "
            "and makes it worse"
        )
