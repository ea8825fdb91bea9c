"""Pictures of the CNN lab's "inside the network" views, as binary frames (docs/protocol-cnn.md
§6). Every picture is uint8 (``app.frames.quantise``) and bounded:

- ``cnn.channels``: one conv block's channels x 9 crops of at most CROP_SIDE x CROP_SIDE x C
  (worst case 128 x 9 x 16 x 16 x 3 = 884,736 bytes), after each validation pass while open;
- ``cnn.dream``: one H x W x C picture (at most 32 x 32 x 3);
- ``cnn.explain``: the image and its H x W heat map;
- ``cnn.bn``: three H x W maps of one channel (input, train mode, eval mode);
- ``cnn.histograms``: per run and block, HISTOGRAM_POINTS x HIST_BINS (worst case 2 x 8 x 120 x
  48 = 92,160 bytes), after each validation pass while comparing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from app.frames import BinaryFrame, quantise
from ml_core.cnn_bn import BNPanel
from ml_core.cnn_channels import HIST_BINS, HIST_RANGE, ChannelTops, crops
from ml_core.cnn_compare import Comparison
from ml_core.cnn_dream import Dream
from ml_core.cnn_run import CNNRun
from ml_core.training import finite

CROP_SIDE = 16


def _number(value: float) -> float | None:
    return finite(float(value))


def channels_frame(run: CNNRun, tops: ChannelTops, model: int) -> BinaryFrame:
    """Every channel's top validation images, cropped to the receptive field of their peak."""
    layer = run.layers[tops.layer]
    conv = next(r for r in run.layers if r.kind == "conv" and r.name == f"conv{tops.block}")
    channels, top = tops.images.shape
    picked = torch.from_numpy(tops.images.reshape(-1)).to(run.device)
    cut = crops(run.data.x_val[picked], layer, tops.ys.reshape(-1), tops.xs.reshape(-1),
                CROP_SIDE)  # (channels * top, s, s, C)
    meta = {
        "model": model,
        "step": run.evaluation.step if run.evaluation else run.steps,
        "epoch": round(run.evaluation.epoch if run.evaluation else run.epoch, 3),
        "block": tops.block,
        "conv": conv.index,
        "layer": tops.layer,
        "name": layer.name,
        "channels": channels,
        "top": top,
        "field": layer.rf[0],
        "values": [[_number(v) for v in row] for row in tops.values],
        "images": tops.images.tolist(),
        "positions": np.stack([tops.ys, tops.xs], -1).tolist(),
    }
    pictures = quantise(cut.reshape(channels, top, *cut.shape[1:]))  # 0..1 -> uint8
    return BinaryFrame("cnn.channels", meta, {"crops": pictures})


def dream_frame(dream: Dream, job: int, model: int, error: str | None = None) -> BinaryFrame:
    """The picture activation maximisation has made so far."""
    meta = {
        "job": job,
        "model": model,
        "layer": dream.layer.index,
        "name": dream.layer.name,
        "channel": dream.channel,
        "step": dream.done_steps,
        "steps": dream.steps,
        "activation": finite(dream.activation) if dream.activation is not None else None,
        "seconds": round(dream.seconds, 3),
        "done": dream.done,
        "error": error,
    }
    # stretched to its own range: the pattern, not its (small) contrast, is the point
    image = dream.image()
    lo, hi = float(image.min()), float(image.max())
    meta.update(pixel_min=round(lo, 4), pixel_max=round(hi, 4))
    return BinaryFrame("cnn.dream", meta, {"image": quantise(image, lo, max(hi, lo + 1e-6))})


def explain_frame(image: np.ndarray, heat: np.ndarray, meta: dict) -> BinaryFrame:
    """The probe image and a heat map over it, scaled from 0 to its largest value."""
    top = float(heat.max()) if np.isfinite(heat).all() and heat.max() > 0 else 1.0
    meta = {**meta, "max": top}
    return BinaryFrame("cnn.explain", meta, {"input": image, "heat": quantise(heat, 0.0, top)})


def bn_frame(panel: BNPanel, model: int, step: int) -> BinaryFrame:
    """The batch-norm panel: its numbers, histograms, and the probe's maps on one scale."""
    maps = (panel.probe_input, panel.probe_train, panel.probe_eval)
    lo = min(float(m.min()) for m in maps)
    hi = max(float(m.max()) for m in maps)
    meta = {
        "model": model,
        "step": step,
        **{f.name: getattr(panel, f.name) for f in dataclasses.fields(panel)
           if not isinstance(getattr(panel, f.name), np.ndarray | type(None))},
        "map_min": lo,
        "map_max": hi,
    }
    meta = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v)
            for k, v in meta.items()}
    meta = {k: (_number(v) if isinstance(v, float) else v) for k, v in meta.items()}
    arrays = {name: quantise(m, lo, hi) for name, m in zip(("input", "train", "eval"), maps,
                                                            strict=True)}
    return BinaryFrame("cnn.bn", meta, arrays)


def histograms_frame(pair: Comparison) -> BinaryFrame:
    """Each block's pre-activation histograms over time, for both runs: column t is the
    histogram at the t-th validation pass, scaled to its own largest bin (255)."""
    runs, arrays = [], {}
    for batch_norm, run in pair.runs.items():
        points = run.histograms
        numbers = sorted({b for p in points for b in p.counts})
        for block in numbers:
            counts = np.stack([p.counts.get(block, np.zeros(HIST_BINS)) for p in points])
            peak = np.maximum(counts.max(1, keepdims=True), 1)
            arrays[f"{'on' if batch_norm else 'off'}{block}"] = quantise(counts / peak)
        runs.append({"batch_norm": batch_norm, "steps": [p.step for p in points],
                     "blocks": numbers})
    meta = {"bins": HIST_BINS, "range": list(HIST_RANGE), "runs": runs}
    return BinaryFrame("cnn.histograms", meta, arrays)
