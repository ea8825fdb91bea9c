"""The CNN lab's "inside the network" views: the message handlers and the state they keep.

``InsideViews`` is mixed into ``CNNLab`` (app/labs/cnn.py): it answers the messages of
app/schemas/cnn_inside.py with the numbers and pictures of ml_core (cnn_trace, cnn_channels,
cnn_dream, cnn_explain, cnn_bn, cnn_compare, cnn_tensors, cnn_reference). Requests that point at
a picture carry its ``model`` number: a model rebuilt or reset since gets a clear error.

Activation maximisation runs as a resumable job: ``dream`` starts it and answers with the first
slice's picture; the page sends ``dream_step`` after each ``cnn.dream`` frame, and each runs one
slice of at most DREAM_SLICE_S, so the worker serves other sessions in between and training goes
on while playing.
"""

from __future__ import annotations

import numpy as np
import torch

from app.labs import cnn_inside_frames as inside
from app.labs.base import LabError, Message
from app.schemas.cnn_inside import (
    BatchNormRequest,
    ChannelsRequest,
    CompareMetrics,
    CompareRequest,
    CompareRun,
    DreamRequest,
    DreamStepRequest,
    ExplainRequest,
    ReferenceReply,
    ReferenceRequest,
    TensorReply,
    TensorRequest,
    TraceReply,
    TraceRequest,
)
from ml_core.cnn_bn import PanelError, bn_panel
from ml_core.cnn_channels import block_of
from ml_core.cnn_compare import Comparison
from ml_core.cnn_dream import Dream, DreamError
from ml_core.cnn_explain import explain
from ml_core.cnn_inspect import feature_maps
from ml_core.cnn_reference import reference_layers, stacked_vs_single
from ml_core.cnn_run import CNNRun
from ml_core.cnn_shapes import ArchitectureError, count_params, forward_flops
from ml_core.cnn_tensors import TensorError, activation_view, weight_view
from ml_core.cnn_trace import TraceError, trace_pixel, trace_unit

DREAM_SLICE_S = 0.1


class InsideViews:
    """Mixed into CNNLab; uses its ``_run``, ``probe``, ``model_id``, ``compute_limits``."""

    def _reset_inside(self) -> None:
        """A new or restarted model: nothing of the old one is followed any more."""
        if getattr(self, "run", None) is not None:
            self.run.watch_peaks = False
        self.channels_block: int | None = None  # the block whose top images follow validation
        self._sent_channels = -1
        self.dream: Dream | None = None
        self.dream_job = 0
        self._sent_histograms: tuple[int, ...] = ()

    def _current(self, model: int) -> CNNRun:
        run = self._run
        if model != self.model_id:
            raise LabError(
                "that picture belongs to a model that has since been rebuilt or reset; "
                "click on the new one"
            )
        return run

    def _probe_input(self, run: CNNRun) -> torch.Tensor:
        """The probe image as the net sees it (1, C, H, W), standardised."""
        return run.data.normalise(self.probe.pixels(run))

    # ---- every number traced ----------------------------------------------------------------
    def on_trace(self, request: TraceRequest) -> list[Message]:
        run = self._current(request.model)
        x = self._probe_input(run)
        try:
            if request.layer < len(run.layers) and run.layers[request.layer].kind == "linear":
                found = {"unit": trace_unit(run.model, run.layers, x, request.layer,
                                            request.channel)}
            else:
                found = {"pixel": trace_pixel(run.model, run.layers, x, request.layer,
                                              request.channel, request.y, request.x)}
        except TraceError as exc:
            raise LabError(f"trace: {exc}") from None
        return [TraceReply(model=self.model_id, step=run.steps, source=self.probe.source,
                           index=self.probe.index, **found)]

    def on_tensor(self, request: TensorRequest) -> list[Message]:
        run = self._current(request.model)
        if request.layer >= len(run.layers):
            raise LabError(f"tensor: this model has layers 0..{len(run.layers) - 1}")
        layer = run.layers[request.layer]
        outputs, _ = feature_maps(run.model, self._probe_input(run))
        try:
            weight = weight_view(run.model, layer, request.out, request.in_channel)
            activation = activation_view(outputs[layer.index], layer, request.channel)
        except TensorError as exc:
            raise LabError(f"tensor: {layer.name}: {exc}") from None
        return [TensorReply(model=self.model_id, layer=layer.index, name=layer.name,
                            weight=weight, activation=activation)]

    # ---- what each channel responds to ------------------------------------------------------
    def on_channels(self, request: ChannelsRequest) -> list[Message]:
        run = self._current(request.model)
        if request.layer is None:
            self.channels_block = None
            run.watch_peaks = False  # validation passes need no longer record them
            return []
        block = block_of(run.layers, request.layer) if request.layer < len(run.layers) else None
        if block is None:
            raise LabError(f"channels: layer {request.layer} is not part of a conv block")
        if not run.watch_peaks or not run.channel_tops:
            run.watch_peaks = True
            run.evaluate_val()  # the top images come from a validation pass: one now
        self.channels_block = block.number
        self._sent_channels = -1
        frame = self._channels_frame(run)
        return [frame] if frame is not None else []

    def _channels_frame(self, run: CNNRun):
        """The followed block's top images, if a validation pass made new ones."""
        if self.channels_block is None or run.eval_version == self._sent_channels:
            return None
        tops = next((t for t in run.channel_tops if t.block == self.channels_block), None)
        if tops is None:
            return None
        self._sent_channels = run.eval_version
        return inside.channels_frame(run, tops, self.model_id)

    def on_dream(self, request: DreamRequest) -> list[Message]:
        run = self._current(request.model)
        try:
            self.dream = Dream(run.model, run.layers, request.layer, request.channel,
                               run.input_shape, run.data.mean.flatten(), run.data.std.flatten(),
                               seed=run.config.seed)
        except DreamError as exc:
            raise LabError(f"activation maximisation: {exc}") from None
        self.dream_job += 1
        return self._dream_slice()

    def on_dream_step(self, request: DreamStepRequest) -> list[Message]:
        if self.dream is None or request.job != self.dream_job:
            return []  # a job that was replaced or dropped: nothing more to do
        return self._dream_slice()

    def _dream_slice(self) -> list[Message]:
        assert self.dream is not None
        self.dream.advance(DREAM_SLICE_S)
        frame = inside.dream_frame(self.dream, self.dream_job, self.model_id)
        if self.dream.done:
            self.dream = None
        return [frame]

    # ---- where the net looks ----------------------------------------------------------------
    def on_explain(self, request: ExplainRequest) -> list[Message]:
        run = self._current(request.model)
        classes = len(run.classes)
        if request.target is not None and request.target >= classes:
            raise LabError(f"explain: this dataset has classes 0..{classes - 1}")
        pixels = self.probe.pixels(run)
        x = run.data.normalise(pixels)
        probs = run.predict(pixels)[0]
        predicted = int(probs.argmax())
        target = predicted if request.target is None else request.target
        heat, layer = explain(run.model, run.layers, x, target, request.method)
        meta = {
            "model": self.model_id, "step": run.steps, "method": request.method,
            "layer": layer, "target": target, "predicted": predicted, "classes": run.classes,
            "probabilities": [round(float(p), 6) for p in np.nan_to_num(probs.cpu().numpy())],
            "source": self.probe.source, "index": self.probe.index,
        }
        return [inside.explain_frame(run.data.display(pixels)[0], heat, meta)]

    # ---- batch norm -------------------------------------------------------------------------
    def on_batchnorm(self, request: BatchNormRequest) -> list[Message]:
        run = self._current(request.model)
        try:
            panel = bn_panel(run.model, run.layers, request.layer, request.channel,
                             run.last_batch, self._probe_input(run))
        except PanelError as exc:
            raise LabError(f"batch norm: {exc}") from None
        return [inside.bn_frame(panel, self.model_id, run.steps)]

    def on_compare(self, request: CompareRequest) -> list[Message]:
        run = self._run
        if request.on:
            try:
                self.comparison = Comparison(run, self.compute_limits)
            except ArchitectureError as exc:
                raise LabError(f"compare: the twin net is not possible: {exc}") from None
            self._restarted()
        else:
            if self.comparison is not None:
                self.comparison.stop()
            self.comparison = None
        self._sent_histograms = ()
        return [self._compare_metrics()]

    def _compare_metrics(self) -> CompareMetrics:
        pair = self.comparison
        if pair is None:
            return CompareMetrics(on=False)
        rows = []
        for batch_norm, run in pair.runs.items():
            if run is self._run:
                train_loss, train_acc = run.last_train  # metrics() has just read them
            else:
                train_loss, train_acc = run.read_train_metrics()
            ev = run.evaluation
            rows.append(CompareRun(
                batch_norm=batch_norm, step=run.steps, epoch=round(run.epoch, 3),
                train_loss=train_loss, train_acc=train_acc, val_loss=ev.loss if ev else None,
                val_acc=ev.accuracy if ev else None, val_step=ev.step if ev else None,
            ))
        return CompareMetrics(on=True, runs=rows)

    def _histograms_frame(self):
        """Both runs' histograms over time, when a validation pass added to them."""
        pair = self.comparison
        versions = tuple(r.eval_version for r in pair.runs.values())
        if versions == self._sent_histograms:
            return None
        self._sent_histograms = versions
        return inside.histograms_frame(pair)

    # ---- the classic nets -------------------------------------------------------------------
    def on_reference(self, request: ReferenceRequest) -> list[Message]:
        ref, layers = reference_layers(request.name)
        return [ReferenceReply(
            name=ref.name, title=ref.title, year=ref.year, note=ref.note,
            input_shape=list(ref.input_shape), classes=ref.classes, layers=layers,
            total_params=count_params(layers), forward_flops=forward_flops(layers),
            stacks=stacked_vs_single(),
        )]
