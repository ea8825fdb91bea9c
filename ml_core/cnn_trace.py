"""Every number traced: how one pixel of a feature map, or one unit of a dense layer, is computed.

``trace_pixel`` follows one position of one channel through its conv block, with the live
model's own weights and the image's own values (eval mode, as the feature maps are shown):

1. conv: for each input channel, the k x k window of its input (zeros in the padding) times the
   kernel, summed; those sums plus the bias are the pre-activation;
2. batch norm: (x - running mean) / sqrt(running var + eps) * gamma + beta;
3. the activation;
4. the pooling window that consumes it (or, when a pooling map's pixel was clicked, the window
   that produced it: its max, or its mean);
5. for the last spatial layer, where the value lands in the flattened vector:
   ``channel * H * W + row * W + column`` (PyTorch's (C, H, W) order: along each row, then row
   after row, then channel after channel).

``trace_unit`` does the same for a fully-connected unit (its largest input x weight products and
their sum), and for the output layer goes on through softmax to the probabilities. Tests check
every number against the model's forward pass (tests/ml_core/test_cnn_trace.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ml_core.cnn_channels import block_of, blocks
from ml_core.cnn_inspect import feature_maps
from ml_core.cnn_shapes import LayerInfo, field_box

SHOWN_CHANNELS = 16  # input channels whose windows are sent in full (the largest sums first)
SHOWN_TERMS = 16  # largest input x weight products of a dense unit


class TraceError(ValueError):
    """A position or layer that does not exist in this model."""


@dataclass
class ChannelTerm:
    channel: int
    total: float  # sum of window * kernel for this input channel
    window: list[list[float]] | None = None  # k x k inputs (None: not shown, see SHOWN_CHANNELS)
    kernel: list[list[float]] | None = None
    products: list[list[float]] | None = None


@dataclass
class ConvStep:
    layer: str
    y: int
    x: int
    kernel_size: int
    stride: int
    padding: int
    rows: tuple[int, int]  # the window in the input map, inclusive (may reach into the padding)
    cols: tuple[int, int]
    in_channels: int
    terms: list[ChannelTerm]  # largest |total| first
    bias: float
    value: float  # sum of the totals + bias: the pre-activation


@dataclass
class NormStep:
    layer: str
    x: float
    mean: float
    var: float
    eps: float
    gamma: float
    beta: float
    normalised: float
    value: float


@dataclass
class ActStep:
    layer: str
    function: str
    x: float
    value: float


@dataclass
class PoolStep:
    layer: str
    kind: str  # max | avg
    y: int  # the pooling map's cell
    x: int
    rows: tuple[int, int]  # its window in the map before pooling, inclusive
    cols: tuple[int, int]
    window: list[list[float]]
    value: float
    others: int = 0  # further windows that also hold the traced value (overlapping pools)


@dataclass
class PixelTrace:
    layer: int  # the clicked row
    name: str
    channel: int
    y: int
    x: int
    value: float  # the clicked value, as the forward pass computed it
    field: tuple[int, int, int, int] | None  # input pixels it sees: top, left, bottom, right
    focus: tuple[int, int]  # the conv position traced (for a pooling map: its window's choice)
    conv: ConvStep
    norm: NormStep | None
    act: ActStep | None
    pool: PoolStep | None
    flat_index: int | None  # the position in the flattened vector (last spatial layer only)
    flat_size: int | None


@dataclass
class Term:
    index: int
    input: float
    weight: float
    product: float


@dataclass
class UnitTrace:
    layer: int
    name: str
    unit: int
    inputs: int
    terms: list[Term]  # the largest |product| first
    rest: float  # the sum of the products not shown
    bias: float
    value: float  # the unit's output before its activation (for ``output``: the logit)
    activation: ActStep | None = None
    logits: list[float] = field(default_factory=list)  # output layer: softmax, step by step
    exps: list[float] = field(default_factory=list)  # exp(logit - max logit)
    probabilities: list[float] = field(default_factory=list)


def _grid(t: torch.Tensor) -> list[list[float]]:
    return [[float(v) for v in row] for row in t]


def _activation_name(module: nn.Module) -> str:
    return type(module).__name__.lower()


def _conv_step(conv: nn.Conv2d, layer: LayerInfo, inp: torch.Tensor, c: int, y: int, x: int
               ) -> ConvStep:
    (k, _), (s, _), (p, _) = conv.kernel_size, conv.stride, conv.padding
    padded = F.pad(inp, (p, p, p, p))  # (Cin, H + 2p, W + 2p)
    window = padded[:, y * s: y * s + k, x * s: x * s + k]  # (Cin, k, k)
    weight = conv.weight[c]  # (Cin, k, k)
    products = window * weight
    totals = products.sum((1, 2))  # (Cin,)
    order = torch.argsort(totals.abs(), descending=True).tolist()
    terms = []
    for rank, ci in enumerate(order):
        term = ChannelTerm(ci, float(totals[ci]))
        if rank < SHOWN_CHANNELS:
            term.window, term.kernel = _grid(window[ci]), _grid(weight[ci])
            term.products = _grid(products[ci])
        terms.append(term)
    bias = float(conv.bias[c]) if conv.bias is not None else 0.0
    top, left = y * s - p, x * s - p
    return ConvStep(layer.name, y, x, k, s, p, (top, top + k - 1), (left, left + k - 1),
                    inp.shape[0], terms, bias, float(totals.double().sum()) + bias)


def _pool_step(pool: nn.Module, layer: LayerInfo, before: torch.Tensor, py: int, px: int
               ) -> PoolStep:
    k, s = pool.kernel_size, pool.stride
    window = before[py * s: py * s + k, px * s: px * s + k]
    kind = "max" if isinstance(pool, nn.MaxPool2d) else "avg"
    value = float(window.max() if kind == "max" else window.mean())
    return PoolStep(layer.name, kind, py, px, (py * s, py * s + k - 1), (px * s, px * s + k - 1),
                    _grid(window), value)


def _consumers(pool: nn.Module, shape: tuple[int, ...], y: int, x: int) -> list[tuple[int, int]]:
    """The pooling map's cells whose windows hold position (y, x) of the map before it."""
    k, s = pool.kernel_size, pool.stride
    _, h, w = shape
    rows = [r for r in range(h) if r * s <= y <= r * s + k - 1]
    cols = [c for c in range(w) if c * s <= x <= c * s + k - 1]
    return [(r, c) for r in rows for c in cols]


@torch.no_grad()
def trace_pixel(model: nn.Sequential, layers: list[LayerInfo], x: torch.Tensor, index: int,
                channel: int, y: int, x_: int) -> PixelTrace:
    """The computation of (channel, y, x_) of row ``index``'s output for the image x (1, C, H, W)
    (standardised, as the net sees it)."""
    if not 0 <= index < len(layers) or layers[index].rf is None:
        raise TraceError(f"layer {index} is not a feature map of this model")
    layer = layers[index]
    c, h, w = layer.shape
    if not (0 <= channel < c and 0 <= y < h and 0 <= x_ < w):
        raise TraceError(f"{layer.name} has {c} channels of {h}×{w}: no channel {channel} at "
                         f"({y}, {x_})")
    block = block_of(layers, index)
    assert block is not None
    outputs, _ = feature_maps(model, x)
    out = [o[0] for o in outputs]  # per layer, (C, H, W) or (N,)
    before = block.response
    fy, fx = y, x_
    pool = None
    if layer.kind in ("pool", "dropout") and block.pool is not None:
        # a pooled pixel (dropout is the identity when the maps are shown): trace the position
        # its window chose
        pool = _pool_step(model[block.pool.index], block.pool, out[before.index][channel], y, x_)
        window = out[before.index][channel][pool.rows[0]: pool.rows[1] + 1,
                                            pool.cols[0]: pool.cols[1] + 1]
        pick = int(window.argmax()) if pool.kind == "max" else 0
        fy, fx = pool.rows[0] + pick // window.shape[1], pool.cols[0] + pick % window.shape[1]
    elif block.pool is not None:
        cells = _consumers(model[block.pool.index], block.pool.shape, y, x_)
        if cells:
            pool = _pool_step(model[block.pool.index], block.pool, out[before.index][channel],
                              *cells[0])
            pool.others = len(cells) - 1
    inp = out[block.conv.index - 1] if block.conv.index > 0 else x[0]
    conv = _conv_step(model[block.conv.index], block.conv, inp, channel, fy, fx)
    norm = act = None
    value = conv.value
    if block.norm is not None:
        bn = model[block.norm.index]
        mean, var = float(bn.running_mean[channel]), float(bn.running_var[channel])
        gamma, beta = float(bn.weight[channel]), float(bn.bias[channel])
        normalised = (value - mean) / math.sqrt(var + bn.eps)
        norm = NormStep(block.norm.name, value, mean, var, bn.eps, gamma, beta, normalised,
                        gamma * normalised + beta)
        value = norm.value
    if block.act is not None:
        module = model[block.act.index]
        result = float(module(torch.tensor([value], dtype=torch.float64))[0])
        act = ActStep(block.act.name, _activation_name(module), value, result)
    flatten = next(r for r in layers if r.kind == "flatten")
    last_block = block.number == max(b.number for b in blocks(layers))
    feeds_flatten = last_block and layer.shape == flatten.in_shape
    flat = channel * h * w + y * w + x_ if feeds_flatten else None
    return PixelTrace(index, layer.name, channel, y, x_, float(out[index][channel, y, x_]),
                      field_box(layers, index, y, x_), (fy, fx), conv, norm, act, pool, flat,
                      c * h * w if flat is not None else None)


@torch.no_grad()
def trace_unit(model: nn.Sequential, layers: list[LayerInfo], x: torch.Tensor, index: int,
               unit: int) -> UnitTrace:
    """The computation of unit ``unit`` of the dense row ``index`` for the image x (1, C, H, W)."""
    if not 0 <= index < len(layers) or layers[index].kind != "linear":
        raise TraceError(f"layer {index} is not a fully-connected layer of this model")
    layer = layers[index]
    if not 0 <= unit < layer.shape[0]:
        raise TraceError(f"{layer.name} has {layer.shape[0]} units: no unit {unit}")
    outputs, logits = feature_maps(model, x)
    h = outputs[index - 1][0]  # (N,): what the layer reads
    linear = model[index]
    products = h * linear.weight[unit]
    order = torch.argsort(products.abs(), descending=True)
    shown = order[:SHOWN_TERMS].tolist()
    terms = [Term(i, float(h[i]), float(linear.weight[unit, i]), float(products[i]))
             for i in shown]
    rest = float(products.double().sum()) - sum(t.product for t in terms)
    bias = float(linear.bias[unit])
    trace = UnitTrace(index, layer.name, unit, h.shape[0], terms, rest, bias,
                      float(products.double().sum()) + bias)
    follow = layers[index + 1] if index + 1 < len(layers) else None
    if follow is not None and follow.kind == "activation":
        trace.activation = ActStep(follow.name, _activation_name(model[follow.index]),
                                   trace.value, float(outputs[follow.index][0, unit]))
    if layer.name == "output":
        z = logits[0].double()
        trace.logits = z.tolist()
        trace.exps = torch.exp(z - z.max()).tolist()
        trace.probabilities = torch.softmax(z, 0).tolist()
    return trace
