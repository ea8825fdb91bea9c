"""The MLP playground: pick or draw 2-D data, build a small network, watch it learn live.

The lab wraps one ``ml_core.mlp_run.MLPRun`` (no I/O), built straight from the one config
(``ml_core.mlp_config.PlaygroundConfig``), and turns it into the messages of
docs/protocol-mlp.md: ``configured`` (full config, data split, model size, hints, the options),
``updated``, ``metrics`` and binary ``mlp`` frames with the output map, every unit's map (uint8)
and the weights, plus, once the page asks (``gradients``), the backward view; ``explain`` walks
one training point through the network (app/labs/mlp_backprop.py); ``restore`` puts back the
last good weights after a divergence; ``exam`` scores the held-out test set.

Play runs at the config's speed (``play.steps_per_frame``): slowed, the lab is ``paced`` (the
scheduler gives it the seconds since its last slice, once a frame interval, and it trains the
steps those come to); at full speed (0) it trains flat out in the slices it is given.
"""

from __future__ import annotations

import numpy as np
import torch

from app.frames import BinaryFrame, absmax, quantise
from app.labs.base import Lab, LabError, Message, validate
from app.labs.mlp_backprop import explanation, gradient_part
from app.labs.mlp_notes import notes
from app.schemas.common import State
from app.schemas.mlp import (
    DataSplit,
    ExamMessage,
    ExamResult,
    ExplainMessage,
    GradientsMessage,
    MLPConfigure,
    MLPConfigured,
    MLPMetrics,
    MLPUpdated,
    ModelInfo,
    Options,
    PointsMessage,
    Restored,
    RestoreMessage,
    SetMessage,
)
from ml_core.cohort import Cohort, signature
from ml_core.datasets2d import CUSTOM
from ml_core.device import describe
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.training import Diverged, finite

PACED_SLICE_S = 0.02  # slowed play: the most one slice trains (a slow engine plays slower)


def _rows(xy: np.ndarray, targets: np.ndarray) -> list[tuple[float, float, int | float]]:
    """Points (N, 2) and labels or values (N,) -> [(x, y, target), ...] rounded for the wire."""
    if targets.dtype.kind == "f":
        targets = np.round(targets.astype(np.float64), 4)
    return [
        (round(x, 4), round(y, 4), c)
        for (x, y), c in zip(xy.tolist(), targets.tolist(), strict=True)
    ]


def output_range(run: MLPRun) -> tuple[float, float]:
    """The values the output map's 0 and 255 stand for: [0, 1] for a probability; for a
    regression ±(the largest |target|, at least 1), so a colour means the same value from
    frame to frame (only a change of the data changes it)."""
    if run.task == "classification":
        return 0.0, 1.0
    targets = np.concatenate([run.train_y, run.val_y, run.test_y])
    top = max(1.0, float(np.abs(targets).max()) if len(targets) else 1.0)
    return -top, top


class MLPLab(Lab):
    name = "mlp"
    title = "Playground"
    summary = "Train a small network on 2-D data and watch every neuron."
    config_model = PlaygroundConfig
    configure_message = MLPConfigure
    messages = (
        PointsMessage, SetMessage, ExplainMessage, GradientsMessage, RestoreMessage, ExamMessage
    )

    def __init__(self, settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.points: list[list] = []  # the user's drawing, kept while the network settings change
        self.run: MLPRun | None = None
        self.options = Options.from_core(self.limits.max_classes, settings.fps)
        self.gradients_over = "off"  # the backward view in frames: off, train or batch

    @property
    def paced(self) -> bool:  # slowed play: the scheduler gives it the time since its last slice
        return self.run is not None and self.run.config.play.steps_per_frame > 0

    # ---- configuration ---------------------------------------------------------------------
    def _check_points(self, points: list, prefix: str, task: str) -> list[list]:
        if len(points) > self.limits.max_points:
            raise LabError(f"{prefix}at most {self.limits.max_points} points")
        if task == "classification" and any(p[2] >= self.limits.max_classes for p in points):
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
                train=_rows(run.train_xy, run.train_y),
                val=_rows(run.val_xy, run.val_y),
                test=_rows(run.test_xy, run.test_y),
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
            points = self._check_points(request.points, "configure: points: ", config.task)
        return self._build(config, points, request.request)

    # ---- lab messages ----------------------------------------------------------------------
    def on_points(self, request: PointsMessage) -> list[Message]:
        config = self.run.config
        points = self._check_points(request.points, "points: ", config.task)
        dataset = config.dataset.model_copy(update={"name": CUSTOM})
        return [self._build(config.model_copy(update={"dataset": dataset}), points)]

    def on_set(self, request: SetMessage) -> list[Message]:
        change = request.training
        if change.learning_rate is not None or change.weight_decay is not None:
            self.run.set_training(change.learning_rate, change.weight_decay)
        if request.play is not None:
            self.run.set_play(request.play.steps_per_frame)
        return [MLPUpdated(config=self.run.config)]

    def on_restore(self, request: RestoreMessage) -> list[Message]:
        """The last good weights back; a diverged session is paused again (a ``State`` in the
        replies sets the session's state), ready to go on at a lower rate."""
        try:
            good = self.run.restore_good()
        except ValueError as exc:
            raise LabError(f"restore: {exc}") from None
        restored = Restored(step=good.step, loss=finite(good.loss), now=self.run.steps)
        return [restored, State(state="paused")]

    def on_exam(self, request: ExamMessage) -> list[Message]:
        result = self.run.exam()
        return [
            ExamResult(
                step=result.step,
                epoch=result.epoch,
                points=result.points,
                loss=finite(result.loss),
                accuracy=result.accuracy,
                exams=self.run.exams,
            )
        ]

    def on_explain(self, request: ExplainMessage) -> list[Message]:
        return [explanation(self.run, request)]

    def on_gradients(self, request: GradientsMessage) -> list[Message]:
        self.gradients_over = request.over  # kept across configures; the next frame has it
        return []

    # ---- running (a divergence raises Diverged and leaves the weights as they are: the
    # curve keeps the blow-up, and ``restore`` puts back those from before it) -------------
    def reset(self) -> None:
        self.run.reset()

    def step(self, steps: int) -> None:
        if steps > self.limits.max_steps:
            raise LabError(f"step: at most {self.limits.max_steps} steps at once")
        if self.run.n_train == 0:
            raise LabError("no training points yet: draw some or pick a dataset")
        self.run.step(steps)

    def train(self, budget_s: float) -> None:
        """Play: ``budget_s`` is the time to fill at full speed, or (paced) the seconds since
        the last slice, which at a set speed come to a number of steps."""
        per_frame = self.run.config.play.steps_per_frame
        if per_frame:
            self.run.train_paced(budget_s, per_frame * self.settings.fps, PACED_SLICE_S)
        else:
            self.run.train_for(budget_s)

    def finished(self) -> bool:
        return self.run is None or self.run.n_train == 0

    # ---- playing together (app/scheduler.py: a class's sessions of one net on one worker) ----
    def cohort_key(self) -> tuple | None:
        """Sessions whose labs give equal keys can play in one stacked call (ml_core/cohort.py):
        full-speed play of a network the fast engine trains; None: this one plays alone."""
        if self.run is None or self.paced:
            return None
        key = signature(self.run)
        return None if key is None else (self.name, key)

    @staticmethod
    def train_together(labs: list[MLPLab], budget_s: float) -> dict[int, Diverged]:
        """Play for labs of one ``cohort_key``: about ``budget_s`` seconds for them all, each
        lab's run stepped as alone; the labs (by index) whose training diverged."""
        runs = [lab.run for lab in labs]
        diverged = Cohort(runs).train_for(budget_s)
        return {i: diverged[run] for i, run in enumerate(runs) if run in diverged}

    # ---- what the page draws ---------------------------------------------------------------
    def metrics(self) -> MLPMetrics:
        rate = self.run.epochs_per_s
        return MLPMetrics(
            **self.run.metrics(), epochs_per_s=None if rate is None else round(rate, 1)
        )

    def frame(self, streaming: bool) -> list[Message]:
        s = self.run
        snap = s.snapshot()
        with np.errstate(all="ignore"):  # diverged weights may be huge: quantise clips them
            scale = absmax(snap.neurons, axis=(1, 2))  # (N, 1, 1) each unit's max |value|
            neurons = quantise(snap.neurons, -scale, scale)
        lo, hi = output_range(s)
        meta = {
            "step": s.steps,
            "epoch": s.epochs,
            "grid": s.grid,
            "thumb": s.thumb,
            "task": s.task,
            "classes": s.classes,
            "output_range": [lo, hi],
            "layers": list(s.config.model.layer_sizes(s.classes, s.task)),
            "features": list(s.config.model.features),
            "weights": [np.round(w, 4).tolist() for w in snap.weights],
            "biases": [np.round(b, 4).tolist() for b in snap.biases],
            "prelu": None if snap.prelu is None else [round(a, 4) for a in snap.prelu],
            "neuron_scale": [round(float(v), 4) for v in scale.ravel()],
        }
        with np.errstate(all="ignore"):
            arrays = {"output": quantise(snap.output, lo, hi)}
        if snap.output_class is not None:
            arrays["output_class"] = snap.output_class.astype(np.uint8)
        arrays["neurons"] = neurons
        if self.gradients_over != "off":
            meta["gradients"], backward = gradient_part(s, self.gradients_over)
            arrays.update(backward)
        return [BinaryFrame("mlp", meta, arrays)]
