"""What each channel responds to: its strongest validation images, and how its values spread.

A CNN's conv block b is conv -> [batch norm] -> [activation] -> [pool] -> [dropout]; ``blocks``
finds those rows in the layer table. A channel's *response* is the block's output before pooling
(after the activation, or the batch norm, or the conv itself); its *pre-activation* is what the
activation receives (the batch norm's output, or the conv's).

``ChannelWatch`` rides along a validation pass (forward hooks, no extra forward): for every
channel of every conv block it keeps the ``top`` validation images whose response peaks highest
and where (y, x) it peaks (``peaks``), and for the first ``hist_images`` images the histogram of
each block's pre-activations on fixed bins (``HIST_RANGE``), so histograms of successive passes
line up as a picture of the distribution over time (``histograms``). Each costs a share of the
validation pass, so a run asks only for what is being looked at. ``crops`` cuts each top image down to the receptive field
of its peak: what, exactly, that pixel of the feature map looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_core.cnn_shapes import LayerInfo, square_box

TOP = 9
HIST_BINS = 48
HIST_RANGE = (-6.0, 6.0)  # values beyond are counted in the edge bins
HIST_IMAGES = 64


@dataclass
class Block:
    """The rows of conv block ``number`` in the layer table (None: the block has no such layer)."""

    number: int
    conv: LayerInfo
    norm: LayerInfo | None
    act: LayerInfo | None
    pool: LayerInfo | None
    drop: LayerInfo | None

    @property
    def pre_activation(self) -> LayerInfo:
        return self.norm or self.conv

    @property
    def response(self) -> LayerInfo:
        return self.act or self.norm or self.conv

    @property
    def rows(self) -> list[LayerInfo]:
        return [r for r in (self.conv, self.norm, self.act, self.pool, self.drop) if r is not None]


KIND_SLOT = {"batchnorm": "norm", "activation": "act", "pool": "pool", "dropout": "drop"}


def blocks(layers: list[LayerInfo]) -> list[Block]:
    """The conv blocks of a layer table, in order."""
    found: list[Block] = []
    for layer in layers:
        if layer.kind == "conv":
            found.append(Block(len(found) + 1, layer, None, None, None, None))
        elif layer.rf is not None and found:
            setattr(found[-1], KIND_SLOT[layer.kind], layer)
    return found


def block_of(layers: list[LayerInfo], index: int) -> Block | None:
    """The conv block that holds row ``index`` (None: a row after the blocks)."""
    return next((b for b in blocks(layers) if any(r.index == index for r in b.rows)), None)


@dataclass
class ChannelTops:
    """The strongest responses of every channel of one block: (C, top) each, strongest first."""

    block: int
    layer: int  # the response row's index
    values: np.ndarray  # float32: the peak response
    images: np.ndarray  # int64: validation indices
    ys: np.ndarray  # int64: where in the response map it peaks
    xs: np.ndarray


class ChannelWatch:
    """Forward hooks for one validation pass (``with ChannelWatch(...) as watch: forward...``)."""

    def __init__(self, model: nn.Sequential, layers: list[LayerInfo], top: int = TOP,
                 hist_images: int = HIST_IMAGES, peaks: bool = True,
                 histograms: bool = True) -> None:
        self.model, self.blocks, self.top = model, blocks(layers), top
        self.hist_images = hist_images
        self.want_peaks, self.want_histograms = peaks, histograms
        self.seen = 0  # images of the pass so far (the offset of the next chunk)
        self._best: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self.histograms: dict[int, np.ndarray] = {}
        self._handles: list = []

    def __enter__(self) -> ChannelWatch:
        for block in self.blocks:
            if self.want_peaks:
                self._handles.append(self.model[block.response.index].register_forward_hook(
                    lambda _m, _i, out, b=block.number: self._peaks(b, out)))
            if self.want_histograms:
                self._handles.append(self.model[block.pre_activation.index].register_forward_hook(
                    lambda _m, _i, out, b=block.number: self._histogram(b, out)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def advance(self, images: int) -> None:
        """Call after each chunk of the pass, with its number of images."""
        self.seen += images

    @torch.no_grad()
    def _peaks(self, block: int, out: torch.Tensor) -> None:
        n, c, h, w = out.shape
        peak, where = out.detach().flatten(2).max(2)  # (n, C) each
        ids = torch.arange(self.seen, self.seen + n, device=out.device).expand(c, n)
        values, spots = peak.T, where.T  # (C, n)
        if block in self._best:
            old_v, old_i, old_s = self._best[block]
            values, ids, spots = (torch.cat(p, 1) for p in ((old_v, values), (old_i, ids),
                                                             (old_s, spots)))
        k = min(self.top, values.shape[1])
        values, order = values.topk(k, dim=1)
        self._best[block] = (values, ids.gather(1, order), spots.gather(1, order))

    @torch.no_grad()
    def _histogram(self, block: int, out: torch.Tensor) -> None:
        take = self.hist_images - self.seen
        if take <= 0:
            return
        lo, hi = HIST_RANGE
        # bin numbers, edge bins holding what lies beyond (bincount: ~10x faster than histc)
        bins = ((out.detach()[:take].flatten() - lo) * (HIST_BINS / (hi - lo))).floor_()
        bins = bins.clamp_(0, HIST_BINS - 1).long()
        counts = torch.bincount(bins, minlength=HIST_BINS).cpu().numpy()
        self.histograms[block] = self.histograms.get(block, 0) + counts

    def tops(self) -> list[ChannelTops]:
        result = []
        for block in self.blocks:
            if block.number not in self._best:
                continue
            values, ids, spots = (t.cpu().numpy() for t in self._best[block.number])
            w = block.response.shape[2]
            result.append(ChannelTops(block.number, block.response.index,
                                      values.astype(np.float32), ids, spots // w, spots % w))
        return result


def crops(images: torch.Tensor, layer: LayerInfo, ys: np.ndarray, xs: np.ndarray,
          side: int) -> np.ndarray:
    """float32 (n, s, s, C) in 0..1: the receptive field of (ys[i], xs[i]) of ``layer`` in
    images[i] (uint8 (n, C, H, W)), black where the field reaches past the image, average-pooled
    down to at most ``side`` pixels. A field larger than the image shows the whole image."""
    n, c, h, w = images.shape
    size = layer.rf[0]
    sh, sw = min(size, h), min(size, w)
    pad = size
    padded = F.pad(images, (pad, pad, pad, pad))  # zeros: black outside the image
    out = torch.empty((n, c, sh, sw), dtype=torch.uint8, device=images.device)
    for i in range(n):
        top, left, _, _ = square_box(layer, int(ys[i]), int(xs[i]))
        top = min(max(top, 0), h - sh) if size > h else top  # a field larger than the image
        left = min(max(left, 0), w - sw) if size > w else left
        out[i] = padded[i, :, top + pad: top + pad + sh, left + pad: left + pad + sw]
    pixels = out.float() / 255
    if max(sh, sw) > side:
        pixels = F.adaptive_avg_pool2d(pixels, (min(sh, side), min(sw, side)))
    return pixels.permute(0, 2, 3, 1).cpu().numpy()
