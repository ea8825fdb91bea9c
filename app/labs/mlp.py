"""The MLP playground: pick or draw 2-D data, build a small network, watch it learn live.

The lab wraps one ``ml_core.mlp_run.MLPRun`` (no I/O), built straight from the one config
(``ml_core.mlp_config.PlaygroundConfig``), and turns it into the messages of
docs/protocol-mlp.md: ``configured`` (full config, data split, model size, hints, the options),
``updated``, ``metrics`` and binary ``mlp`` frames with the output map, every unit's map (uint8)
and the weights, plus, once the page asks (``gradients``), the backward view; ``explain`` walks
one training point through the network (app/labs/mlp_backprop.py).
"""

from __future__ import annotations

import numpy as np
import torch

from app.frames import BinaryFrame, absmax, quantise
from app.labs.base import Diverged, Lab, LabError, Message, validate
from app.labs.mlp_backprop import explanation, gradient_part
from app.labs.mlp_notes import notes
from app.schemas.mlp import (
    DataSplit,
    ExplainMessage,
    GradientsMessage,
    MLPConfigure,
    MLPConfigured,
    MLPMetrics,
    MLPUpdated,
    ModelInfo,
    Options,
    PointsMessage,
    SetMessage,
)
from ml_core.datasets2d import CUSTOM
from ml_core.device import describe
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun


def _rows(xy: np.ndarray, labels: np.ndarray) -> list[tuple[float, float, int]]:
    """Points (N, 2) and labels (N,) -> [(x, y, label), ...] rounded for the wire."""
    return [
        (round(x, 4), round(y, 4), c)
        for (x, y), c in zip(xy.tolist(), labels.tolist(), strict=True)
    ]


class MLPLab(Lab):
    name = "mlp"
    title = "Playground"
    summary = "Train a small network on 2-D data and watch every neuron."
    config_model = PlaygroundConfig
    configure_message = MLPConfigure
    messages = (PointsMessage, SetMessage, ExplainMessage, GradientsMessage)

    def __init__(self, settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.points: list[list] = []  # the user's drawing, kept while the network settings change
        self.run: MLPRun | None = None
        self.options = Options.from_core(self.limits.max_classes)
        self.gradients_over = "off"  # the backward view in frames: off, train or batch

    # ---- configuration ---------------------------------------------------------------------
    def _check_points(self, points: list, prefix: str) -> list[list]:
        if len(points) > self.limits.max_points:
            raise LabError(f"{prefix}at most {self.limits.max_points} points")
        if any(p[2] >= self.limits.max_classes for p in points):
            raise LabError(f"{prefix}labels go from 0 to {self.limits.max_classes - 1}")
        return [list(p) for p in points]

    def _build(
        self, config: PlaygroundConfig, points: list[list], request: int | None = None
    ) -> MLPConfigured:
        """A new run of ``config`` on ``points`` (when the dataset is custom); the drawing is
        kept only when the run could be built."""
        try:
            run = MLPRun(
                config,
                self.device,
                points=points if config.dataset.name == CUSTOM else None,
                grid=self.limits.grid_size,
                thumb=self.limits.thumb_size,
            )
        except ValueError as exc:
            raise LabError(str(exc)) from None
        self.run, self.points = run, points
        return MLPConfigured(
            lab=self.name,
            config=run.config,  # custom data: the classes come from the points too
            model=ModelInfo(**run.describe(), device=describe(run.device)),
            data=DataSplit(
                train=_rows(run.train_xy, run.train_y), val=_rows(run.val_xy, run.val_y)
            ),
            notes=notes(run.config, run),
            options=self.options,
            request=request,
        )

    def configure(self, request: MLPConfigure) -> MLPConfigured:
        config = validate(
            PlaygroundConfig, request.config, "configure: ", context={"limits": self.limits}
        )
        points = self.points
        if request.points is not None:
            points = self._check_points(request.points, "configure: points: ")
        return self._build(config, points, request.request)

    # ---- lab messages ----------------------------------------------------------------------
    def on_points(self, request: PointsMessage) -> list[Message]:
        points = self._check_points(request.points, "points: ")
        dataset = self.run.config.dataset.model_copy(update={"name": CUSTOM})
        return [self._build(self.run.config.model_copy(update={"dataset": dataset}), points)]

    def on_set(self, request: SetMessage) -> list[Message]:
        change = request.training
        self.run.set_training(change.learning_rate, change.weight_decay)
        return [MLPUpdated(config=self.run.config)]

    def on_explain(self, request: ExplainMessage) -> list[Message]:
        return [explanation(self.run, request)]

    def on_gradients(self, request: GradientsMessage) -> list[Message]:
        self.gradients_over = request.over  # kept across configures; the next frame has it
        return []

    # ---- running ---------------------------------------------------------------------------
    def _guard(self, run, *args) -> None:
        try:
            run(*args)
        except Diverged:
            self.run.reset()  # NaN weights draw nothing useful: back to the seed's start
            raise

    def reset(self) -> None:
        self.run.reset()

    def step(self, steps: int) -> None:
        if steps > self.limits.max_steps:
            raise LabError(f"step: at most {self.limits.max_steps} steps at once")
        if self.run.n_train == 0:
            raise LabError("no training points yet: draw some or pick a dataset")
        self._guard(self.run.step, steps)

    def train(self, budget_s: float) -> None:
        self._guard(self.run.train_for, budget_s)

    def finished(self) -> bool:
        return self.run is None or self.run.n_train == 0

    # ---- what the page draws ---------------------------------------------------------------
    def metrics(self) -> MLPMetrics:
        rate = self.run.epochs_per_s
        return MLPMetrics(
            **self.run.metrics(), epochs_per_s=None if rate is None else round(rate, 1)
        )

    def frame(self, streaming: bool) -> list[Message]:
        s = self.run
        snap = s.snapshot()
        scale = absmax(snap.neurons, axis=(1, 2))  # (N, 1, 1) each unit's max |value|
        neurons = quantise(snap.neurons, -scale, scale)
        meta = {
            "step": s.steps,
            "epoch": s.epochs,
            "grid": s.grid,
            "thumb": s.thumb,
            "classes": s.classes,
            "layers": list(s.config.model.layer_sizes(s.classes)),
            "features": list(s.config.model.features),
            "weights": [np.round(w, 4).tolist() for w in snap.weights],
            "biases": [np.round(b, 4).tolist() for b in snap.biases],
            "prelu": None if snap.prelu is None else [round(a, 4) for a in snap.prelu],
            "neuron_scale": [round(float(v), 4) for v in scale.ravel()],
        }
        arrays = {
            "output": quantise(snap.output, 0.0, 1.0),
            "output_class": snap.output_class.astype(np.uint8),
            "neurons": neurons,
        }
        if self.gradients_over != "off":
            meta["gradients"], backward = gradient_part(s, self.gradients_over)
            arrays.update(backward)
        return [BinaryFrame("mlp", meta, arrays)]
