"""The CNN lab's pictures: binary frames built from a run, and the CPU share they may take.

Five frames (docs/protocol-cnn.md §4): ``cnn.kernels`` (conv weights), ``cnn.maps`` (every
spatial layer's output for the probe image), ``cnn.gallery`` (most confident mistakes),
``cnn.hardest`` (highest-loss training images) and ``cnn.augment`` (the augmentation preview).
Everything is quantised to uint8 with ``app.frames.quantise`` and capped by the lab's settings
(``limits``: channels, map side, gallery size). ``PictureBudget`` keeps the pictures streamed
while playing under a share of the training's CPU time.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from app.config import CNNSettings
from app.frames import BinaryFrame, quantise
from ml_core.cnn_inspect import Probe, augment_preview, hardest, mistakes
from ml_core.cnn_run import CNNRun
from ml_core.training import finite

SPATIAL = ("conv", "batchnorm", "activation", "pool")  # C x H x W ones are pictures
PICTURE_SHARE = 0.02  # most CPU the streamed pictures may take, relative to training
FORGET = 0.97  # per frame: the share follows the machine's current load
PREVIEW_COUNT = 16


class PictureBudget:
    """Decayed CPU seconds spent training and drawing: while playing, pictures are drawn only
    while they have cost at most PICTURE_SHARE of the training. On a crowded machine, where the
    worker gets a fraction of a core but frames are due by the wall clock, they come less often
    instead of slowing the training down."""

    def __init__(self, share: float = PICTURE_SHARE) -> None:
        self.share = share
        self.train_cpu = self.picture_cpu = 0.0

    def allows(self) -> bool:
        return self.picture_cpu <= self.share * self.train_cpu

    def trained(self, cpu_s: float) -> None:
        self.train_cpu += cpu_s

    def drew(self, cpu_s: float) -> None:
        """After each frame: what its pictures cost; older costs fade."""
        self.picture_cpu = (self.picture_cpu + cpu_s) * FORGET
        self.train_cpu *= FORGET


def _rounded(values: np.ndarray) -> list[float]:
    return np.round(np.nan_to_num(values, nan=0.0, posinf=1e30, neginf=-1e30), 4).tolist()


@torch.no_grad()
def kernels_frame(run: CNNRun, limits: CNNSettings) -> BinaryFrame:
    """Every conv layer's weights, the first ``max_kernels_out`` x ``max_kernels_in`` of them."""
    layers, arrays = [], {}
    convs = [layer for layer in run.layers if layer.kind == "conv"]
    for i, layer in enumerate(convs):
        weights = run.model[layer.index].weight  # (out, in, k, k)
        out_n = min(weights.shape[0], limits.max_kernels_out)
        in_n = min(weights.shape[1], limits.max_kernels_in)
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
    return BinaryFrame("cnn.kernels", {"step": run.steps, "layers": layers}, arrays)


def _map_layers(
    run: CNNRun, outputs: list[torch.Tensor], limits: CNNSettings
) -> list[tuple[dict, np.ndarray]]:
    """(meta, uint8 (shown, h, w)) for every spatial layer, capped in channels and size."""
    result = []
    side = limits.max_map_side
    for layer, out in zip(run.layers, outputs, strict=True):
        if layer.kind not in SPATIAL or len(layer.shape) != 3:
            continue
        maps = out[: limits.max_map_channels]  # (c, h, w)
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


def maps_frame(run: CNNRun, probe: Probe, limits: CNNSettings, model: int) -> BinaryFrame:
    """The probe image as the net sees it, its class probabilities and every layer's maps.
    ``model`` numbers the model shown: requests about these maps carry it back."""
    image, outputs, probs = probe.look(run)
    layers = _map_layers(run, outputs, limits)
    meta = {
        "model": model,
        "step": run.steps,
        "epoch": round(run.epoch, 3),
        "source": probe.source,
        "index": probe.index,
        "label": probe.label(run),
        "pred": int(probs.argmax()),
        "confidence": finite(float(probs.max())),
        "classes": run.classes,
        "layers": [m for m, _ in layers],
    }
    arrays = {"input": image, "probs": np.nan_to_num(probs).astype(np.float32)}
    arrays.update({f"L{m['index']}": a for m, a in layers})
    return BinaryFrame("cnn.maps", meta, arrays)


def gallery_frame(run: CNNRun, limits: CNNSettings) -> BinaryFrame | None:
    """The most confident mistakes of the last validation pass (None before the first)."""
    g = mistakes(run, limits.gallery_size)
    if g is None:
        return None
    meta = {
        "step": run.evaluation.step,
        "epoch": round(run.evaluation.epoch, 3),
        "total_wrong": g.total_wrong,
        "val": len(run.data.val_ids),
        "indices": g.indices.tolist(),
        "true": g.true.tolist(),
        "pred": g.pred.tolist(),
        "confidence": _rounded(g.confidence),
    }
    return BinaryFrame("cnn.gallery", meta, {"images": g.images})


def hardest_frame(run: CNNRun, limits: CNNSettings) -> BinaryFrame | None:
    """The highest-loss training images (None before any was trained on)."""
    h = hardest(run, limits.gallery_size)
    if h is None:
        return None
    meta = {
        "step": run.steps,
        "epoch": round(run.epoch, 3),
        "ids": h.ids.tolist(),
        "labels": h.labels.tolist(),
        "preds": h.preds.tolist(),
        "losses": _rounded(h.losses),
        "confidence": _rounded(h.confidence),
        "flipped": h.flipped.tolist(),
    }
    return BinaryFrame("cnn.hardest", meta, {"images": h.images})


def augment_frame(run: CNNRun, generator: torch.Generator) -> BinaryFrame:
    """PREVIEW_COUNT training images before and after augmentation."""
    original, augmented, labels = augment_preview(run, PREVIEW_COUNT, generator)
    meta = {"labels": labels.tolist(), "augment": run.config.augment.model_dump()}
    return BinaryFrame("cnn.augment", meta, {"original": original, "augmented": augmented})
