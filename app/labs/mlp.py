"""The MLP playground: pick or draw 2-D data, build a small network, watch it learn live.

The lab wraps one ``ml_core.mlp_run.MLPRun`` (no I/O) and turns it into the messages of
docs/protocol-mlp.md: ``configured`` (full config, data split, model size, hints), ``metrics``
and binary ``mlp`` frames with the output map, every unit's map (uint8) and the weights.
"""

from __future__ import annotations

import numpy as np
import torch

from app.frames import BinaryFrame, absmax, quantise
from app.labs.base import Diverged, Lab, LabError, Message, validate
from app.schemas.common import Configure
from app.schemas.mlp import LabConfig, PointsMessage, SetMessage
from ml_core.datasets2d import DataConfig
from ml_core.device import describe
from ml_core.features import LABELS
from ml_core.mlp import MLPConfig, TrainConfig
from ml_core.mlp_run import MLPRun, RunConfig


def notes(config: LabConfig, run: MLPRun) -> list[str]:
    """Plain-language hints about this setup, shown beside the controls."""
    model, training, out = config.model, config.training, []
    nonlinear = [LABELS[f] for f in model.features if f not in ("x1", "x2")]
    linear_net = not model.hidden or model.activation == "linear"
    if run.n_train == 0 or len(np.unique(run.train_y)) < 2:
        out.append("Draw points of at least two classes (click on the plot) to train.")
    if linear_net:
        why = (
            "No hidden layer: the network can only draw a straight line"
            if not model.hidden
            else "Linear activation: stacked linear layers are still one linear map, so the "
            "network can only draw a straight line however deep it is"
        )
        if nonlinear:
            out.append(
                f"{why} in its inputs — but {', '.join(nonlinear)} are curved over the plane, "
                "so the boundary can still bend (x₁·x₂ alone separates XOR)."
            )
        else:
            out.append(f"{why}, so XOR, the circle or the spiral cannot be separated.")
    if model.activation == "sigmoid" and model.hidden:
        out.append(
            "Sigmoid units saturate and their slope is at most 0.25, so the signal fades "
            "layer by layer: deep sigmoid stacks learn slowly. Prefer ReLU or tanh."
        )
    if (
        model.activation in ("relu", "leaky_relu", "prelu", "rrelu")
        and training.learning_rate >= 0.3
    ):
        out.append(
            "ReLU-like units with a high learning rate can die: a neuron whose map is flat "
            "everywhere outputs 0 and stops learning. Lower the rate if you see several."
        )
    if training.loss in ("mse", "l1"):
        out.append(
            f"{'L2' if training.loss == 'mse' else 'L1'} loss on probabilities: its gradient fades "
            "when the output saturates, even on wrong answers. Cross-entropy is the usual choice."
        )
    if training.loss == "hinge":
        out.append(
            "Hinge loss: only points inside the margin or on the wrong side push the boundary."
        )
    if training.batch_size == 1:
        out.append("Batch size 1 is pure stochastic gradient descent: cheap, noisy steps.")
    elif run.n_train and training.batch_size >= run.n_train:
        out.append(
            "The batch holds every training point: this is plain (full-batch) gradient descent."
        )
    if run.n_val == 0 and run.n_train:
        out.append("No validation set: you cannot see overfitting. Hold some points out.")
    if run.engine == "reference":
        out.append(
            f"Trained on the plain PyTorch path ({run.fast_reason}); the fast path "
            "covers networks without dropout, batch norm or RReLU."
        )
    return out


def _rows(xy: np.ndarray, labels: np.ndarray) -> list[list]:
    """Points (N, 2) and labels (N,) -> [[x, y, label], ...] rounded for the wire."""
    return [
        [round(x, 4), round(y, 4), c]
        for (x, y), c in zip(xy.tolist(), labels.tolist(), strict=True)
    ]


class MLPLab(Lab):
    name = "mlp"
    config_model = LabConfig
    messages = (PointsMessage, SetMessage)
    title = "Playground"
    summary = "Train a small network on 2-D data and watch every neuron."

    def __init__(self, settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.config = LabConfig()
        self.points: list = []  # the user's drawing, kept while the network settings change
        self.run: MLPRun | None = None

    # ---- configuration ---------------------------------------------------------------------
    def _validate(self, config: dict, prefix: str = "configure: ") -> LabConfig:
        if not isinstance(config, dict):
            raise LabError(f"{prefix}config must be an object")
        return validate(LabConfig, config, prefix, context={"limits": self.limits})

    def _build(self, cfg: LabConfig) -> dict:
        d, m, t = cfg.dataset, cfg.model, cfg.training
        config = RunConfig(
            DataConfig(d.name, d.samples, d.noise, d.val_fraction, d.classes, d.seed),
            MLPConfig(tuple(m.hidden), m.activation, tuple(m.features), m.dropout, m.batch_norm),
            TrainConfig(t.optimizer, t.learning_rate, t.batch_size, t.loss, t.weight_decay),
        )
        try:
            run = MLPRun(
                config,
                self.device,
                points=self.points if d.name == "custom" else None,
                grid=self.limits.grid_size,
                thumb=self.limits.thumb_size,
            )
        except ValueError as exc:
            raise LabError(str(exc)) from None
        data = run.config.data  # custom data: the classes come from the points
        dataset = cfg.dataset.model_copy(update={"classes": data.classes})
        self.config = cfg.model_copy(update={"dataset": dataset})
        self.run = run
        return self._configured()

    def configure(self, request: Configure) -> dict:
        return self._build(self._validate(request.config))

    def _configured(self) -> dict:
        s = self.run
        return {
            "type": "configured",
            "lab": self.name,
            "config": self.config.model_dump(mode="json"),
            "model": {**s.describe(), "device": describe(s.device)},
            "data": {"train": _rows(s.train_xy, s.train_y), "val": _rows(s.val_xy, s.val_y)},
            "notes": notes(self.config, s),
        }

    # ---- lab messages ----------------------------------------------------------------------
    def on_points(self, request: PointsMessage) -> list[Message]:
        if len(request.points) > self.limits.max_points:
            raise LabError(f"points: at most {self.limits.max_points} points")
        if any(p[2] >= self.limits.max_classes for p in request.points):
            raise LabError(f"points: labels go from 0 to {self.limits.max_classes - 1}")
        previous = self.points
        self.points = [list(p) for p in request.points]
        cfg = self.config.model_copy(
            update={"dataset": self.config.dataset.model_copy(update={"name": "custom"})}
        )
        try:
            return [self._build(cfg)]
        except LabError:
            self.points = previous
            raise

    def on_set(self, request: SetMessage) -> list[Message]:
        change = request.training.model_dump(exclude_none=True)
        training = self.config.training.model_copy(update=change)
        self.config = self.config.model_copy(update={"training": training})
        self.run.set_training(training.learning_rate, training.weight_decay)
        return [{"type": "updated", "config": self.config.model_dump(mode="json")}]

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
    def metrics(self) -> dict | None:
        s = self.run
        rate = s.epochs_per_s
        return {
            "type": "metrics",
            **s.metrics(),
            "epochs_per_s": None if rate is None else round(rate, 1),
        }

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
            "classes": s.config.data.classes,
            "layers": list(s.config.model.layer_sizes),
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
        return [BinaryFrame("mlp", meta, arrays)]
