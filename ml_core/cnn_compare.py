"""With vs without batch norm: the same net, the same seed, trained side by side.

``Comparison`` pairs the lab's run with a twin: when the run has batch norm (in any block), the
twin has none; when it has none, the twin has it in every conv block. Everything else is equal: the data (shared), the seed, hence the conv and linear
weights at step 0 (batch norm draws no random numbers), the batch order and the dropout masks.
They share the worker fairly: ``train_for`` always gives the next slice to the run that has done
fewer steps, so their curves cover the same steps; ``train_steps`` steps both.

What to look for (the course's three points): the run with batch norm learns faster and stands
higher learning rates (try 0.01 with SGD); its pre-activations keep the same spread while the
other run's drift as the weights change (internal covariate shift, in the histograms of
``CNNRun.histograms``); and its training curve is a little noisier (each batch's own mean and
variance), a mild regulariser.
"""

from __future__ import annotations

import time

from ml_core.cnn_config import CNNConfig
from ml_core.cnn_run import CNNRun
from ml_core.cnn_shapes import ComputeLimits

SLICE_S = 0.01  # one run trains at most this long before the other may catch up


def toggled(config: CNNConfig, batch_norm: bool) -> CNNConfig:
    """``config`` with batch norm on (or off) in every conv block."""
    blocks = [b.model_copy(update={"batch_norm": batch_norm}) for b in config.architecture.blocks]
    architecture = config.architecture.model_copy(update={"blocks": blocks})
    return config.model_copy(update={"architecture": architecture})


def has_batch_norm(config: CNNConfig) -> bool:
    return any(b.batch_norm for b in config.architecture.blocks)


class Comparison:
    """``run`` and its twin with batch norm toggled, both (re)started at step 0."""

    def __init__(self, run: CNNRun, limits: ComputeLimits | None = None) -> None:
        mine = has_batch_norm(run.config)
        twin = CNNRun(toggled(run.config, not mine), run.data.dataset, run.device, limits,
                      data=run.data)
        run.reset()
        self.run, self.twin = run, twin
        self.runs: dict[bool, CNNRun] = {mine: run, not mine: twin}
        for r in self.runs.values():
            r.watch_histograms = True

    def stop(self) -> None:
        """The comparison ends: the run stops recording histograms."""
        self.run.watch_histograms = False

    @property
    def with_bn(self) -> CNNRun:
        return self.runs[True]

    @property
    def without_bn(self) -> CNNRun:
        return self.runs[False]

    def reset(self) -> None:
        for run in self.runs.values():
            run.reset()

    def finished(self) -> bool:
        return all(run.finished() for run in self.runs.values())

    def train_for(self, budget_s: float) -> None:
        """About ``budget_s`` seconds of training, in slices to whichever run is behind."""
        start = time.perf_counter()
        while not self.finished():
            left = budget_s - (time.perf_counter() - start)
            if left <= 0:
                break
            behind = min((r for r in self.runs.values() if not r.finished()),
                         key=lambda r: r.steps)
            behind.train_for(min(left, SLICE_S))

    def train_steps(self, steps: int, validate: bool = True) -> None:
        for run in self.runs.values():
            run.train_steps(steps, validate)
