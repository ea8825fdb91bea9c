"""The CNN lab: build a convolutional net, train it live, look inside it, probe it with an image.

Where things live:
- the config (``CNNConfig``) and the training (``CNNRun``): ml_core/cnn_config.py, cnn_run.py;
- this module: the lab itself — validating configs, the dataset cache, the message handlers
  (``on_<type>``), play/step, when a frame carries which pictures, and the REST work (predict,
  save, load) that app/labs/cnn_rest.py runs on the session's worker;
- app/labs/cnn_replies.py: the JSON messages (configured, shapes, metrics, evaluation, ...);
- app/labs/cnn_frames.py: the binary frames (kernels, maps, galleries) and their CPU budget;
- app/labs/cnn_inside.py (+ cnn_inside_frames.py): the "inside the network" views (traces, top
  images, activation maximisation, heat maps, batch norm, with vs without batch norm, tensors,
  the classic nets), mixed into this lab;
- app/schemas/cnn.py, cnn_inside.py: the wire models; docs/protocol-cnn.md: the protocol.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from PIL import Image

from app.config import CNNSettings, Settings
from app.labs import cnn_frames as frames
from app.labs import cnn_replies as replies
from app.labs.base import Lab, LabError, Message, validate
from app.labs.cnn_inside import InsideViews
from app.schemas.cnn import (
    AugmentPreview,
    CNNConfigured,
    CNNMetrics,
    Describe,
    Drop,
    DropSuspects,
    Inspect,
    Prediction,
    Refresh,
    Restore,
    SelectImage,
    Shapes,
    Test,
)
from app.schemas.cnn_inside import INSIDE_MESSAGES
from app.schemas.common import ClientMessage, Configure
from ml_core.checkpoint import CheckpointError, from_bytes
from ml_core.cnn import ArchitectureError
from ml_core.cnn_compare import Comparison
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_inspect import Probe, suspects
from ml_core.cnn_run import CNNRun
from ml_core.image_datasets import DatasetError, ImageDataset, LoadOptions, load, prepare_image
from ml_core.images import ImageError, load_sample, to_array

MAX_UPLOAD_SIDE = 1024  # an uploaded picture is shrunk to this before it is prepared


class DatasetCache:
    """The last dataset loaded: configure, inspect and a model load share it."""

    def __init__(self, limits: CNNSettings) -> None:
        self.limits = limits
        self._key: tuple | None = None
        self._dataset: ImageDataset | None = None

    def get(self, config: CNNConfig) -> ImageDataset:
        key = (config.dataset, config.dataset_upscale, config.samples, config.seed)
        if key != self._key or self._dataset is None:
            options = LoadOptions(
                data_dir=self.limits.data_dir,
                samples=config.samples,
                max_samples=self.limits.max_samples,
                upscale=config.dataset_upscale,
                seed=config.seed,
            )
            try:
                self._dataset = load(config.dataset, options)
            except DatasetError as exc:
                raise LabError(str(exc)) from None
            self._key = key
        return self._dataset


class CNNLab(InsideViews, Lab):
    name = "cnn"
    config_model = CNNConfig
    messages = (Inspect, SelectImage, Drop, DropSuspects, Restore, Test, AugmentPreview, Describe, Refresh,
                *INSIDE_MESSAGES)
    title = "CNN"
    summary = "Train a CNN and see what it learns."

    def __init__(self, settings: Settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.run: CNNRun | None = None
        self.comparison: Comparison | None = None  # with vs without batch norm
        self.compute_limits = replies.compute_limits(self.limits)
        self.model_id = 0  # which model the pictures show: counts rebuilds and resets
        self._steps_to_go = 0  # of the step command in progress
        self._answered = False  # the next complete frame follows a lab message (see ``frame``)
        self._reset_inside()
        self.datasets = DatasetCache(self.limits)
        self.probe = Probe()
        self.preview_rng = torch.Generator()
        self.budget = frames.PictureBudget()
        self._sent_eval = -1  # eval_version whose evaluation/gallery/hardest went out last
        self._best_val: float | None = None
        self._pictured_step = -1
        self.pictures_sent = 0

    # ---- configuration -----------------------------------------------------------------------
    def _validate(self, config: dict) -> CNNConfig:
        return validate(CNNConfig, config, "config: ", context={"limits": self.limits})

    def _build(self, config: CNNConfig) -> CNNRun:
        dataset = self.datasets.get(config)
        bad = [c for c in config.imbalance.classes if c >= len(dataset.classes)]
        if bad:
            raise LabError(
                f"imbalance: {dataset.name} has classes 0..{len(dataset.classes) - 1}, not {bad[0]}"
            )
        try:
            return CNNRun(config, dataset, self.device, self.compute_limits)
        except ArchitectureError as exc:
            raise LabError(str(exc)) from None

    def configure(self, request: Configure) -> CNNConfigured:
        self._install(self._build(self._validate(request.config)))
        return self._configured()

    def _install(self, run: CNNRun) -> None:
        self.run = run
        self.comparison = None
        self.probe = Probe()
        self.preview_rng.manual_seed(run.config.seed)
        self._restarted()

    def _restarted(self) -> None:
        """Training starts again (a new model, new weights): the next frame sends the
        evaluation afresh, and pictures of the old model no longer answer."""
        self._sent_eval, self._best_val = -1, None
        self.model_id += 1
        self._reset_inside()

    def _configured(self) -> CNNConfigured:
        return replies.configured(self._run, self.name, self.limits.data_dir, self.device)

    @property
    def _run(self) -> CNNRun:
        if self.run is None:
            raise LabError("the lab is not configured yet")
        return self.run

    # ---- messages ----------------------------------------------------------------------------
    def on_inspect(self, request: Inspect) -> list[Message]:
        try:
            config = self._validate(request.config)
            dataset = self.datasets.get(config)
        except LabError as exc:
            return [Shapes(ok=False, error=str(exc))]
        return [replies.shapes(config, dataset, self.compute_limits)]

    def on_select_image(self, request: SelectImage) -> list[Message]:
        try:
            self.probe.select_val(self._run, request.index)
        except ValueError as exc:
            raise LabError(f"select_image: {exc}") from None
        return [frames.maps_frame(self._run, self.probe, self.limits, self.model_id)]

    def on_drop(self, request: Drop) -> list[Message]:
        return self._drop("drop", request.ids)

    def on_drop_suspects(self, request: DropSuspects) -> list[Message]:
        s = self._run
        if request.count >= len(s.data.active()):
            raise LabError("drop_suspects: that would leave no training images")
        try:
            ids = suspects(s, request.count).tolist()
        except ValueError as exc:
            raise LabError(f"drop_suspects: {exc}") from None
        return self._drop("drop_suspects", ids)

    def _drop(self, what: str, ids: list[int]) -> list[Message]:
        s = self._run
        s.evaluate_if_stale()  # the figure to beat: the model as it was when dropped
        before = s.evaluation
        try:
            count = s.drop(ids)
        except ValueError as exc:
            raise LabError(f"{what}: {exc}") from None
        self._restart_twin()
        return [replies.dropped(s, count, s.data.flipped_among(ids), before)]

    def on_restore(self, request: Restore) -> list[Message]:
        self._run.restore()
        self._restart_twin()
        return [replies.dropped(self._run, 0)]

    def _restart_twin(self) -> None:
        """The run restarted (its data changed): so does its twin, to stay comparable."""
        if self.comparison is not None:
            self.comparison.twin.reset()
        self._restarted()

    def on_test(self, request: Test) -> list[Message]:
        return [replies.test_result(self._run.evaluate("test"), self._run.classes)]

    def on_augment_preview(self, request: AugmentPreview) -> list[Message]:
        return [frames.augment_frame(self._run, self.preview_rng)]

    def on_describe(self, request: Describe) -> list[Message]:
        return [self._configured()]

    def on_refresh(self, request: Refresh) -> list[Message]:
        self._sent_eval = self._sent_channels = -1
        self._sent_histograms = ()
        return [replies.history(self._run), *self.frame(streaming=False)]

    # ---- training ----------------------------------------------------------------------------
    def reset(self) -> None:
        if self.comparison is not None:
            self.comparison.reset()
        else:
            self._run.reset()
        self._restarted()

    @property
    def _trainer(self) -> CNNRun | Comparison:
        """What play and step train: the run, or it and its twin while comparing."""
        return self.comparison if self.comparison is not None else self._run

    def handle(self, message: ClientMessage) -> list[Message]:
        self._answered = True
        return super().handle(message)

    def train(self, budget_s: float) -> None:
        self._answered = False  # whatever frame a message was owed has gone by
        start = time.thread_time()
        try:
            self._trainer.train_for(budget_s)
        finally:
            self.budget.trained(time.thread_time() - start)

    def check_steps(self, steps: int) -> None:
        super().check_steps(steps)
        self._steps_to_go = steps  # the scheduler runs them in slices: validate after the last

    def step(self, steps: int) -> None:
        if steps > self.limits.max_steps:
            raise LabError(f"step: at most {self.limits.max_steps} steps at once")
        self._steps_to_go -= steps
        self._answered = False
        self._trainer.train_steps(steps, validate=self._steps_to_go <= 0)

    def finished(self) -> bool:
        return self.run is not None and self._trainer.finished()

    def metrics(self) -> CNNMetrics | None:
        if self.run is None:
            return None
        if self.run.evaluation is not None:
            self._best_val = max(self._best_val or 0.0, self.run.evaluation.accuracy)
        return replies.metrics(self.run, self._best_val)

    # ---- frames ------------------------------------------------------------------------------
    def frame(self, streaming: bool) -> list[Message]:
        """Kernels and maps; the evaluation and galleries after each new validation pass.
        While playing, the pictures keep within their CPU budget (``frames.PictureBudget``)."""
        if self.run is None:
            return []
        s = self.run
        start = time.thread_time()
        out: list[Message] = []
        answered, self._answered = self._answered, False
        # Paused or finished: every figure catches up with the weights. Not after a lab message:
        # while playing, some come many times a second (activation maximisation's slices).
        if not streaming and not answered:
            runs = self.comparison.runs.values() if self.comparison is not None else (s,)
            if [r.evaluate_if_stale() for r in runs].count(True):
                out.append(self.metrics())  # after the host's: the validation numbers are new
        # Only play mode is throttled: after a step, a command or the last epoch, always draw.
        if not streaming or s.finished() or s.steps == self._pictured_step or self.budget.allows():
            out.append(frames.kernels_frame(s, self.limits))
            out.append(frames.maps_frame(s, self.probe, self.limits, self.model_id))
            self._pictured_step = s.steps
            self.pictures_sent += 1
        if s.evaluation is not None and s.eval_version != self._sent_eval:
            self._sent_eval = s.eval_version
            out.append(replies.evaluation(s.evaluation, s.classes))
            galleries = (frames.gallery_frame(s, self.limits), frames.hardest_frame(s, self.limits))
            out.extend(g for g in galleries if g is not None)
        if self.comparison is not None:
            out.append(self._compare_metrics())
        # what follows a validation pass waits while playing pictures are over their budget
        if not streaming or self.budget.allows():
            extra = (self._channels_frame(s),
                     self._histograms_frame() if self.comparison is not None else None)
            out.extend(f for f in extra if f is not None)
        self.budget.drew(time.thread_time() - start)
        return out

    # ---- REST work (runs on the worker thread through session.call) -------------------------
    def predict(self, image: Image.Image | None, sample: str | None) -> Prediction:
        """Classify a user's picture (or a sample) prepared like the dataset's images. It becomes
        the probe: the ``cnn.maps`` frame that follows the call shows it and its feature maps."""
        s = self._run
        if image is not None:
            array = to_array(image, max_side=MAX_UPLOAD_SIDE, grey=s.input_shape[0] == 1)
        else:
            try:
                array = load_sample(sample or "")
            except ImageError as exc:
                raise LabError(str(exc)) from None
        self.probe.set_image(s, prepare_image(array, s.data.dataset))  # (H, W, C) uint8, copied
        x = torch.from_numpy(self.probe.image).permute(2, 0, 1)[None].to(s.device)  # (1, C, H, W)
        probs = np.nan_to_num(s.predict(x)[0].cpu().numpy())
        predicted = int(probs.argmax())
        return Prediction(
            classes=s.classes,
            probabilities=[float(p) for p in probs],
            predicted=predicted,
            label=s.classes[predicted],
        )

    def export_model(self) -> tuple[bytes, str]:
        s = self._run
        return s.checkpoint(), f"cnn-{s.data.dataset.name}-step{s.steps}.safetensors"

    def load_model(self, data: bytes) -> CNNConfigured:
        try:
            config, extra, tensors = from_bytes(data, self.name)
            run = self._build(self._validate(config))
            run.load_checkpoint(tensors, extra)
        except CheckpointError as exc:
            raise LabError(str(exc)) from None
        self._install(run)
        return self._configured()
