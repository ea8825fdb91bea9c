"""The CNN lab: build a convolutional net, train it live, look inside it, probe it with an image.

The training itself lives in ``ml_core.cnn_run``; this module validates client input, turns the
run's tensors into wire messages (uint8 binary frames, capped in channels and resolution, see
docs/protocol-cnn.md) and serves the REST endpoints: predict on an uploaded image, download the
model, load a model.
"""

from __future__ import annotations

import base64
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from app.config import Settings
from app.frames import BinaryFrame, quantise
from app.labs.base import Lab, LabError, Message, validate
from app.schemas.cnn import (
    AugmentPreview,
    CNNConfigModel,
    Describe,
    Drop,
    Inspect,
    Prediction,
    Refresh,
    Restore,
    SelectImage,
    Test,
)
from app.schemas.common import Configure
from ml_core.checkpoint import CheckpointError, from_bytes
from ml_core.cnn import PRESETS, ArchitectureError, count_params, infer_shapes
from ml_core.cnn_run import CNNConfig, CNNRun
from ml_core.device import describe
from ml_core.image_datasets import (
    DatasetError,
    ImageDataset,
    LoadOptions,
    availability,
    load,
    prepare_image,
)
from ml_core.images import SAMPLE_IMAGES, ImageError, load_sample, to_array
from ml_core.training import finite

SPATIAL = ("conv", "batchnorm", "activation", "pool")  # C x H x W ones are pictures
PICTURE_SHARE = 0.02  # most CPU the streamed pictures may take, relative to training


class CNNLab(Lab):
    name = "cnn"
    config_model = CNNConfigModel
    messages = (Inspect, SelectImage, Drop, Restore, Test, AugmentPreview, Describe, Refresh)
    title = "CNN"
    summary = "Train a CNN and see what it learns."

    def __init__(self, settings: Settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.run: CNNRun | None = None
        self._dataset_key: tuple | None = None
        self._dataset: ImageDataset | None = None
        self._sent_eval = -1  # eval_version whose evaluation/gallery/hardest went out last
        self._best_val: float | None = None
        self._train_cpu = self._picture_cpu = 0.0  # decayed CPU seconds, for PICTURE_SHARE
        self._pictured_step = -1
        self.pictures_sent = 0

    # ---- configuration -----------------------------------------------------------------------
    def _validate(self, config: dict) -> CNNConfig:
        model = validate(CNNConfigModel, config, "config: ", context={"limits": self.limits})
        return CNNConfig.from_dict(model.model_dump())

    def _load_dataset(self, config: CNNConfig) -> ImageDataset:
        upscale = config.upscale if config.dataset == "digits" else 1
        key = (config.dataset, upscale, config.samples, config.seed)
        if key != self._dataset_key:
            options = LoadOptions(
                data_dir=self.limits.data_dir,
                samples=config.samples,
                max_samples=self.limits.max_samples,
                upscale=upscale,
                seed=config.seed,
            )
            try:
                self._dataset = load(config.dataset, options)
            except DatasetError as exc:
                raise LabError(str(exc)) from None
            self._dataset_key = key
        return self._dataset

    def _build(self, config: CNNConfig) -> CNNRun:
        dataset = self._load_dataset(config)
        bad = [c for c in config.imbalance.classes if c >= len(dataset.classes)]
        if bad:
            raise LabError(
                f"imbalance: {dataset.name} has classes 0..{len(dataset.classes) - 1}, not {bad[0]}"
            )
        try:
            return CNNRun(config, dataset, self.device, self.limits.max_parameters)
        except ArchitectureError as exc:
            raise LabError(str(exc)) from None

    def configure(self, request: Configure) -> dict:
        self._install(self._build(self._validate(request.config)))
        return self._configured()

    def _install(self, run: CNNRun) -> None:
        self.run = run
        self._sent_eval = -1
        self._best_val = None

    def _configured(self) -> dict:
        s = self._run
        train_counts = s.train_counts()
        return {
            "type": "configured",
            "lab": self.name,
            "config": s.config.to_dict(),
            "dataset": {
                "name": s.dataset.name,
                "title": s.dataset.title,
                "classes": s.classes,
                "input_shape": list(s.input_shape),
                "grey": s.input_shape[0] == 1,
                "train": sum(train_counts),
                "val": len(s.val_ids),
                "test": len(s.test_ids),
                "train_counts": train_counts,
                "val_counts": _counts(s.y_val, len(s.classes)),
                "test_counts": _counts(s.y_test, len(s.classes)),
                "flipped": int(s.flipped.sum()),
                "dropped": int(s.dropped.sum()),
            },
            "layers": [layer.to_dict() for layer in s.layers],
            "total_params": count_params(s.layers),
            "presets": {name: arch.to_dict() for name, arch in PRESETS.items()},
            "datasets": availability(self.limits.data_dir),
            "samples": list(SAMPLE_IMAGES),
            "device": describe(self.device),
        }

    @property
    def _run(self) -> CNNRun:
        if self.run is None:
            raise LabError("the lab is not configured yet")
        return self.run

    def _shapes(self, config: dict) -> dict:
        """The shape table of a prospective config; errors are part of the answer."""
        reply = {
            "type": "shapes",
            "ok": False,
            "error": None,
            "error_layer": None,
            "input_shape": None,
            "total_params": None,
            "layers": [],
        }
        try:
            cfg = self._validate(config)
            dataset = self._load_dataset(cfg)
            reply["input_shape"] = list(dataset.input_shape)
            layers = infer_shapes(
                cfg.architecture,
                dataset.input_shape,
                len(dataset.classes),
                self.limits.max_parameters,
            )
        except LabError as exc:
            reply["error"] = str(exc)
            return reply
        except ArchitectureError as exc:
            reply.update(
                error=str(exc),
                error_layer=exc.layer,
                layers=[layer.to_dict() for layer in exc.layers],
                total_params=count_params(exc.layers),
            )
            return reply
        reply.update(
            ok=True, layers=[layer.to_dict() for layer in layers], total_params=count_params(layers)
        )
        return reply

    # ---- messages ----------------------------------------------------------------------------
    def on_inspect(self, request: Inspect) -> list[Message]:
        return [self._shapes(request.config)]

    def on_select_image(self, request: SelectImage) -> list[Message]:
        try:
            self._run.select_val(request.index)
        except ValueError as exc:
            raise LabError(f"select_image: {exc}") from None
        return [self._maps_frame()]

    def on_drop(self, request: Drop) -> list[Message]:
        try:
            count = self._run.drop(request.ids)
        except ValueError as exc:
            raise LabError(f"drop: {exc}") from None
        self._sent_eval, self._best_val = -1, None
        return [self._dropped(count)]

    def on_restore(self, request: Restore) -> list[Message]:
        self._run.restore()
        self._sent_eval, self._best_val = -1, None
        return [self._dropped(0)]

    def on_test(self, request: Test) -> list[Message]:
        return [self._evaluation_message(self._run.evaluate("test"), "test_result")]

    def on_augment_preview(self, request: AugmentPreview) -> list[Message]:
        s = self._run
        original, augmented, labels = s.augment_preview(16)
        meta = {"labels": labels.tolist(), "augment": s.config.augment.to_dict()}
        return [BinaryFrame("cnn.augment", meta, {"original": original, "augmented": augmented})]

    def on_describe(self, request: Describe) -> list[Message]:
        return [self._configured()]

    def on_refresh(self, request: Refresh) -> list[Message]:
        out: list[Message] = [{"type": "history", "points": self._run.history}]
        self._sent_eval = -1
        out.extend(self.frame(streaming=False))
        return out

    def _dropped(self, count: int) -> dict:
        s = self._run
        counts = s.train_counts()
        return {
            "type": "dropped",
            "dropped": count,
            "total_dropped": int(s.dropped.sum()),
            "train": sum(counts),
            "train_counts": counts,
        }

    # ---- training ----------------------------------------------------------------------------
    def reset(self) -> None:
        self._run.reset()
        self._sent_eval, self._best_val = -1, None

    def train(self, budget_s: float) -> None:
        start = time.thread_time()
        try:
            self._run.train_for(budget_s)
        finally:
            self._train_cpu += time.thread_time() - start

    def step(self, steps: int) -> None:
        if steps > self.limits.max_steps:
            raise LabError(f"step: at most {self.limits.max_steps} steps at once")
        self._run.train_steps(steps)

    def finished(self) -> bool:
        return self.run is not None and self.run.finished()

    def metrics(self) -> dict | None:
        s = self.run
        if s is None:
            return None
        train_loss, train_acc = s.read_train_metrics()
        ev = s.evaluation
        if ev is not None:
            self._best_val = max(self._best_val or 0.0, ev.accuracy)
        return {
            "type": "metrics",
            "step": s.steps,
            "epoch": round(s.epoch, 3),
            "epochs": s.config.epochs,
            "samples_seen": s.samples_seen,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": ev.loss if ev else None,
            "val_acc": ev.accuracy if ev else None,
            "val_step": ev.step if ev else None,
            "best_val_acc": self._best_val,
            "images_per_s": round(s.samples_seen / s.train_time, 1) if s.train_time else None,
            "elapsed_s": round(s.train_time, 2),
        }

    # ---- frames ------------------------------------------------------------------------------
    def frame(self, streaming: bool) -> list[Message]:
        """Kernels and maps; the evaluation and galleries after each new validation pass.

        While training, the pictures may cost at most PICTURE_SHARE of the worker's CPU time:
        on a crowded machine, where the thread gets a fraction of a core but frames are due by
        the wall clock, they come less often instead of slowing the training down.
        """
        if self.run is None:
            return []
        s = self.run
        start = time.thread_time()
        out: list[Message] = []
        within_share = self._picture_cpu <= PICTURE_SHARE * self._train_cpu
        # Only play mode is throttled: after a step, a command or the last epoch, always draw.
        if not streaming or s.finished() or s.steps == self._pictured_step or within_share:
            out += [self._kernels_frame(), self._maps_frame()]
            self._pictured_step = s.steps
            self.pictures_sent += 1
        if s.evaluation is not None and s.eval_version != self._sent_eval:
            self._sent_eval = s.eval_version
            out.append(self._evaluation_message(s.evaluation, "evaluation"))
            out.append(self._gallery_frame())
            hardest = self._hardest_frame()
            if hardest is not None:
                out.append(hardest)
        self._picture_cpu += time.thread_time() - start
        # Forget slowly, so the share follows the machine's current load.
        self._picture_cpu *= 0.97
        self._train_cpu *= 0.97
        return out

    def _kernels_frame(self) -> BinaryFrame:
        s = self._run
        layers, arrays = [], {}
        convs = [layer for layer in s.layers if layer.kind == "conv"]
        with torch.no_grad():
            for i, layer in enumerate(convs):
                weights = s.model[layer.index].weight  # (out, in, k, k)
                out_n = min(weights.shape[0], self.limits.max_kernels_out)
                in_n = min(weights.shape[1], self.limits.max_kernels_in)
                absmax = finite(float(weights.abs().max())) or 1.0  # NaN after divergence
                # 128 = zero weight; 0 and 255 = ∓ the layer's largest |weight|
                arrays[f"L{layer.index}"] = quantise(weights[:out_n, :in_n], -absmax, absmax)
                layers.append(
                    {
                        "index": layer.index,
                        "name": layer.name,
                        "shape": list(weights.shape),
                        "shown": [out_n, in_n],
                        "rgb": i == 0 and weights.shape[1] == 3,
                        "absmax": absmax,
                    }
                )
        return BinaryFrame("cnn.kernels", {"step": s.steps, "layers": layers}, arrays)

    def _map_layers(self, outputs: list[torch.Tensor]) -> list[tuple[dict, np.ndarray]]:
        """(meta, uint8 (shown, h, w)) for every spatial layer, capped in channels and size."""
        s, result = self._run, []
        side = self.limits.max_map_side
        for layer, out in zip(s.layers, outputs, strict=True):
            if layer.kind not in SPATIAL or len(layer.shape) != 3:
                continue
            maps = out[: self.limits.max_map_channels]  # (c, h, w)
            if max(maps.shape[1:]) > side:
                size = (min(maps.shape[1], side), min(maps.shape[2], side))
                maps = F.adaptive_avg_pool2d(maps[None], size)[0]
            lo, hi = (finite(float(v)) or 0.0 for v in torch.aminmax(maps))
            meta = {
                "index": layer.index,
                "name": layer.name,
                "kind": layer.kind,
                "shape": list(layer.shape),
                "shown": int(maps.shape[0]),
                "min": lo,
                "max": hi,
            }
            result.append((meta, quantise(maps, lo, hi)))
        return result

    def _maps_frame(self) -> BinaryFrame:
        s = self._run
        image, outputs, probs = s.probe()
        layers = self._map_layers(outputs)
        index = s.probe_index
        meta = {
            "step": s.steps,
            "source": "val" if index is not None else "upload",
            "index": index,
            "label": int(s.y_val[index]) if index is not None else None,
            "pred": int(probs.argmax()),
            "confidence": finite(float(probs.max())),
            "classes": s.classes,
            "layers": [m for m, _ in layers],
        }
        arrays = {"input": image, "probs": np.nan_to_num(probs).astype(np.float32)}
        arrays.update({f"L{m['index']}": a for m, a in layers})
        return BinaryFrame("cnn.maps", meta, arrays)

    def _evaluation_message(self, ev, kind: str) -> dict:
        return {
            "type": kind,
            "split": ev.split,
            "step": ev.step,
            "epoch": round(ev.epoch, 3),
            "loss": ev.loss,
            "accuracy": ev.accuracy,
            "classes": self._run.classes,
            "confusion": ev.confusion.tolist(),
            "per_class_accuracy": ev.per_class_accuracy,
            "counts": ev.counts.tolist(),
        }

    def _gallery_frame(self) -> BinaryFrame:
        s = self._run
        g = s.misclassified(self.limits.gallery_size)
        meta = {
            "step": s.steps,
            "total_wrong": g["total_wrong"],
            "val": len(s.val_ids),
            "indices": g["indices"].tolist(),
            "true": g["true"].tolist(),
            "pred": g["pred"].tolist(),
            "confidence": _rounded(g["confidence"]),
        }
        return BinaryFrame("cnn.gallery", meta, {"images": g["images"]})

    def _hardest_frame(self) -> BinaryFrame | None:
        s = self._run
        h = s.hardest(self.limits.gallery_size)
        if h is None:
            return None
        meta = {
            "step": s.steps,
            "ids": h["ids"].tolist(),
            "labels": h["labels"].tolist(),
            "preds": h["preds"].tolist(),
            "losses": _rounded(h["losses"]),
            "confidence": _rounded(h["confidence"]),
            "flipped": h["flipped"].tolist(),
        }
        return BinaryFrame("cnn.hardest", meta, {"images": h["images"]})

    # ---- REST work (runs on the worker thread through session.call) -------------------------
    def predict(self, image: Image.Image | None, sample: str | None) -> dict:
        s = self._run
        grey = s.input_shape[0] == 1
        if image is not None:
            array = to_array(image, max_side=1024, grey=grey)
        else:
            try:
                array = load_sample(sample or "")
            except ImageError as exc:
                raise LabError(str(exc)) from None
        s.set_probe(prepare_image(array, s.dataset))
        shown, outputs, probs = s.probe()
        layers = [{**meta, "data": _b64(maps)} for meta, maps in self._map_layers(outputs)]
        predicted = int(probs.argmax())
        return Prediction(
            classes=s.classes,
            probabilities=[float(p) for p in np.nan_to_num(probs)],
            predicted=predicted,
            label=s.classes[predicted],
            input={"shape": list(shown.shape), "data": _b64(shown)},
            layers=layers,
        ).model_dump()

    def export_model(self) -> tuple[bytes, str]:
        s = self._run
        return s.checkpoint(), f"cnn-{s.dataset.name}-step{s.steps}.safetensors"

    def load_model(self, data: bytes) -> dict:
        try:
            config, extra, tensors = from_bytes(data, self.name)
            run = self._build(self._validate(config))
            run.load_checkpoint(tensors, extra)
        except CheckpointError as exc:
            raise LabError(str(exc)) from None
        self._install(run)
        return self._configured()


def _counts(labels: torch.Tensor, k: int) -> list[int]:
    return torch.bincount(labels.cpu(), minlength=k).tolist()


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(np.nan_to_num(values, nan=0.0, posinf=1e30, neginf=-1e30), 4).tolist()


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode()
