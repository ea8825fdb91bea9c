"""The perceptron lab: walk the learning rule one data point at a time, or play it at a speed.

One step is one visit of the course's steps 1-5 (choose a point, compute the output, compare,
update if wrong, go on). The data is small (at most a few hundred points), so every frame is one
JSON message with the weights, the line and the numbers of the last visit
(docs/protocol-perceptron.md).
"""

from __future__ import annotations

import time

import torch

from app.labs.base import Lab, LabError, Message, validate
from app.schemas.perceptron import (
    Data,
    EmptyFrame,
    PerceptronConfigure,
    PerceptronConfigured,
    PerceptronFrame,
    PerceptronMetrics,
    PerceptronUpdated,
    SetMessage,
)
from ml_core.perceptron import Perceptron, PerceptronConfig
from ml_core.perceptron_data import CUSTOM, Separability, separability
from ml_core.training import checkpoint

SLICE_S = 0.1  # most wall-clock seconds one slice of play may work (the scheduler is shared)


def _notes(analysis: Separability, n: int) -> list[str]:
    """Plain-language hints about the data, shown beside the plot."""
    if n == 0:
        return ["No points yet: pick a preset or click on the plot to add points."]
    if not analysis.separable:
        return [
            "No straight line separates these two classes, so every pass over the data "
            "makes at least one mistake: the perceptron never converges and stops at the "
            "epoch limit. A network with a hidden layer can bend the boundary — open these "
            "points in the MLP playground."
        ]
    if analysis.margin is None:  # one class only: any line with every point on one side
        return ["All points have the same class: a line with every point on one side will do."]
    return [
        f"A straight line separates these classes. With the widest margin γ = "
        f"{analysis.margin:.3f} and radius R = {analysis.radius:.2f}, the perceptron "
        f"convergence theorem says that, from zero weights, it makes at most "
        f"(R/γ)² ≈ {analysis.bound:,.0f} mistakes before a pass with none."
    ]


class PerceptronLab(Lab):
    name = "perceptron"
    paced = True
    config_model = PerceptronConfig
    configure_message = PerceptronConfigure
    messages = (SetMessage,)
    title = "Perceptron"
    summary = "Step through the perceptron learning rule."

    def __init__(self, settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.config = PerceptronConfig()
        # The model stays on the CPU whatever the device: one point per step, a few hundred
        # points in all; a GPU would only add a sync per visit.
        self.points = torch.zeros(0, 2)  # (N, 2) in [-1, 1]²
        self.labels = torch.zeros(0, dtype=torch.int64)  # (N,) in {−1, +1}
        self.model: Perceptron | None = None
        self.analysis = Separability(separable=False, radius=1.0)
        self._credit = 0.0  # visits owed to play mode (fractions carry over between slices)

    # ---- configuration -------------------------------------------------------------------
    def _validate(self, config: dict) -> PerceptronConfig:
        cfg = validate(PerceptronConfig, config, "configure: ")
        if cfg.dataset.samples > self.limits.max_points:
            raise LabError(f"at most {self.limits.max_points} points")
        if cfg.perceptron.max_epochs > self.limits.max_epochs:
            raise LabError(f"at most {self.limits.max_epochs} epochs")
        if cfg.perceptron.speed > self.limits.max_speed:
            raise LabError(f"at most {self.limits.max_speed:g} points a second")
        return cfg

    def configure(self, request: PerceptronConfigure) -> PerceptronConfigured:
        cfg = self._validate(request.config)
        if request.points is not None:  # the user's drawing replaces the data
            if len(request.points) > self.limits.max_points:
                raise LabError(f"at most {self.limits.max_points} points")
            cfg = cfg.model_copy(
                update={"dataset": cfg.dataset.model_copy(update={"name": CUSTOM})}
            )
            rows = torch.tensor(request.points, dtype=torch.float32).reshape(-1, 3)  # (N, 3)
            points, labels = rows[:, :2].contiguous(), rows[:, 2].to(torch.int64)
        elif cfg.dataset.name == CUSTOM:  # keep the points on the plot; the user edits them
            points, labels = self.points, self.labels
        else:
            points, labels = cfg.dataset.generate()
        self.config = cfg
        self.points, self.labels = points, labels
        self.analysis = separability(points, labels)
        self.model = Perceptron(points, labels, cfg.perceptron) if len(points) else None
        self._credit = 0.0
        return self._configured()

    def _configured(self) -> PerceptronConfigured:
        rows = torch.cat([self.points.double(), self.labels[:, None].double()], 1)  # (N, 3)
        return PerceptronConfigured(
            lab=self.name,
            config=self.config,
            data=Data(points=[(round(x, 5), round(y, 5), int(c)) for x, y, c in rows.tolist()]),
            analysis=self.analysis,
            notes=_notes(self.analysis, len(self.points)),
        )

    # ---- lab messages ----------------------------------------------------------------------
    def on_set(self, request: SetMessage) -> list[Message]:
        changes = request.model_dump(exclude={"type"}, exclude_none=True)
        merged = {**self.config.perceptron.model_dump(), **changes}
        self.config = self._validate(
            {"dataset": self.config.dataset.model_dump(), "perceptron": merged}
        )
        if self.model is not None:  # no reset: the run goes on with the new λ / limit
            self.model.retune(self.config.perceptron)
        return [PerceptronUpdated(config=self.config)]

    # ---- running -----------------------------------------------------------------------------
    def reset(self) -> None:
        if self.model is not None:
            self.model.reset()
        self._credit = 0.0

    def step(self, steps: int) -> None:
        if self.model is None:
            raise LabError("no points yet: pick a preset or click on the plot to add points")
        self.model.run(steps)  # a finished run stays as it is; the page offers reset

    def train(self, budget_s: float) -> None:
        """Play at ``speed`` visits a second: the visits ``budget_s`` seconds of it are worth.
        (A paced lab: the scheduler calls this once a frame with the time since the last call.)"""
        if self.model is None or self.model.finished:
            return
        self._credit += self.config.perceptron.speed * budget_s
        visits = int(self._credit)
        self._credit -= visits
        # At most budget_s (and SLICE_S) seconds of work: a speed the machine cannot keep up
        # with is dropped, never owed (the scheduler runs every session in turn).
        deadline = time.perf_counter() + min(budget_s, SLICE_S)
        done = 0
        while done < visits and not self.model.finished:
            checkpoint()
            done += self.model.run(min(64, visits - done))
            if time.perf_counter() > deadline:
                break

    def finished(self) -> bool:
        return self.model is None or self.model.finished

    # ---- what the page draws ----------------------------------------------------------------
    def metrics(self) -> PerceptronMetrics | None:
        m = self.model
        if m is None:
            return None
        metrics = PerceptronMetrics(
            step=m.visits,
            epoch=m.epoch,
            mistakes=m.mistakes,
            accuracy=m.accuracy(),
            converged=m.converged,
        )
        m.history.record(metrics.model_dump(exclude={"type"}))
        return metrics

    def _status(self) -> str:
        m = self.model
        if m is None:
            return "empty"
        if m.converged:
            return "converged"
        if m.finished:
            return "gave_up"
        return "running" if m.visits else "ready"

    @torch.no_grad()
    def frame(self, streaming: bool) -> list[Message]:
        m = self.model
        if m is None:
            return [EmptyFrame()]
        wrong = (m.output(m.points) != m.labels).nonzero().flatten()  # (M,) misclassified rows
        return [
            PerceptronFrame(
                status=self._status(),
                n=m.n,
                w=m.w.tolist(),
                b=m.b,
                line=m.line(),
                learning_rate=m.config.learning_rate,
                epoch=m.epoch,
                visits=m.visits,
                mistakes=m.mistakes,
                streak=m.streak,
                next_index=m.next_index,
                # Mistakes per pass begun (a copy: it is sent while the worker goes on).
                epoch_mistakes=m.epoch_mistakes[: m.epoch + (m.visits % m.n > 0)],
                wrong=wrong.tolist(),
                max_epochs=m.config.max_epochs,
                last=m.last,
            )
        ]
