"""Shape inference for the CNN: every layer's shape, parameters, work, memory and receptive field.

``infer_shapes`` walks an ``Architecture`` (ml_core/cnn.py) with the conv and pooling size
formulas, before any tensor exists, so the page can show the layer table as the user edits, say
which layer is impossible, and describe nets too big to build (VGG-16, AlexNet:
ml_core/cnn_reference.py). Each row (``LayerInfo``) carries:

- ``shape`` (C, H, W) or (features,) of its output for one image, ``in_shape`` of its input;
- ``params``: trainable parameters;
- ``flops``: forward floating-point operations for one image (a multiply-add counts 2; batch
  norm 2 per value, activations and dropout 1, pooling one per window cell); ``work``: the same,
  except that a thin conv (fewer than ``THIN_PAIRS`` input x output channel pairs) is charged as
  if it had that many: a CPU runs a 1-channel 7x7 conv's backward pass no faster than a
  64-pair one (measured: ~0.3 GFLOP/s against ~20), so FLOPs alone would let such nets through;
- ``rf``: for spatial layers, the receptive field ``(size, jump, start)`` in input pixels: output
  pixel (y, x) sees input rows ``start + y*jump ... start + y*jump + size - 1`` (the same for
  columns). It grows by (k - 1) * jump at every conv or pooling window and jump multiplies by
  the stride: that is why deeper layers see larger parts of the image. Near the border part of
  that square is padding; ``field_box`` gives the pixels of the image a position really sees,
  window by window back to the input;
- ``window``: (kernel, stride, padding) of a conv or pooling row.

``step_cost`` turns the table into the work of one training step (about 3x the forward: the
backward pass costs about twice the forward) and the activation memory autograd keeps for it;
``check_compute`` refuses a net over the server's bounds and names the layer that costs most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ml_core.cnn import Architecture

BYTES_PER_VALUE = 4  # float32
BACKWARD_FACTOR = 3  # forward + backward (about twice the forward) of one training step
THIN_PAIRS = 64  # a conv with fewer input x output channel pairs costs as much as one with 64


@dataclass
class LayerInfo:
    """One row of the shape table; ``shape`` is (C, H, W) for spatial layers, (N,) after flatten."""

    index: int
    name: str
    kind: str  # conv | batchnorm | activation | pool | dropout | flatten | linear
    shape: tuple[int, ...]
    params: int
    detail: str = ""
    in_shape: tuple[int, ...] = ()
    flops: int = 0  # forward, one image
    work: int = 0  # flops, with thin convs charged as THIN_PAIRS channel pairs
    rf: tuple[int, int, int] | None = None  # (size, jump, start) in input pixels; spatial only
    window: tuple[int, int, int] | None = None  # (kernel, stride, padding): conv and pool rows

    @property
    def values(self) -> int:
        """Numbers in this layer's output for one image."""
        return math.prod(self.shape)


class ArchitectureError(ValueError):
    """An impossible architecture; ``layer`` is the offending row's index (None: the whole net)."""

    def __init__(self, message: str, layer: int | None, layers: list[LayerInfo]) -> None:
        super().__init__(message)
        self.layer = layer
        self.layers = layers


def _window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a conv or pooling window (PyTorch's floor rule, dilation 1)."""
    return (size + 2 * padding - kernel) // stride + 1


def _grow(rf: tuple[int, int, int], kernel: int, stride: int, padding: int) -> tuple[int, int, int]:
    """The receptive field after a window of ``kernel`` with ``stride`` and ``padding``."""
    size, jump, start = rf
    return size + (kernel - 1) * jump, jump * stride, start - padding * jump


def infer_shapes(
    arch: Architecture,
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_parameters: int | None = None,
) -> list[LayerInfo]:
    """The shape table of ``arch`` on (C, H, W) inputs; raises ArchitectureError if impossible."""
    layers: list[LayerInfo] = []
    c, h, w = input_shape
    rf = (1, 1, 0)
    before: tuple[int, ...] = tuple(input_shape)

    def add(name: str, kind: str, shape: tuple[int, ...], params: int = 0, detail: str = "",
            flops: int = 0, field: tuple[int, int, int] | None = None, work: int = 0,
            window: tuple[int, int, int] | None = None) -> None:
        nonlocal before
        layers.append(LayerInfo(len(layers), name, kind, shape, params, detail, before, flops,
                                max(flops, work), field, window))
        before = shape

    for b, block in enumerate(arch.blocks, start=1):
        k, s, p = block.kernel_size, block.stride, block.padding
        if h + 2 * p < k or w + 2 * p < k:
            raise ArchitectureError(
                f"conv{b}: its input is {h}×{w} but the kernel is {k}×{k} (with padding {p}) — "
                "add padding, use a smaller kernel, or remove a pooling layer or stride before it",
                len(layers),
                layers,
            )
        h, w = _window_out(h, k, s, p), _window_out(w, k, s, p)
        rf = _grow(rf, k, s, p)
        out = block.channels
        add(f"conv{b}", "conv", (out, h, w), out * c * k * k + out,
            f"{out} × {k}×{k}, stride {s}, padding {p}", 2 * c * k * k * out * h * w, rf,
            work=2 * k * k * THIN_PAIRS * h * w, window=(k, s, p))
        c, values = out, out * h * w
        if block.batch_norm:
            add(f"bn{b}", "batchnorm", (c, h, w), 2 * c, "", 2 * values, rf)
        if block.activation != "none":
            add(f"act{b}", "activation", (c, h, w), 0, block.activation, values, rf)
        if block.pool != "none":
            k, s = block.pool_size, block.pool_stride
            if h < k or w < k:
                raise ArchitectureError(
                    f"pool{b}: its input is {h}×{w}, smaller than the {k}×{k} pooling window — "
                    "remove this pooling layer or shrink the maps less before it",
                    len(layers),
                    layers,
                )
            h, w = _window_out(h, k, s, 0), _window_out(w, k, s, 0)
            rf = _grow(rf, k, s, 0)
            add(f"pool{b}", "pool", (c, h, w), 0, f"{block.pool} {k}×{k}, stride {s}",
                k * k * c * h * w, rf, window=(k, s, 0))
        if block.dropout > 0:
            add(f"drop{b}", "dropout", (c, h, w), 0, f"p = {block.dropout:g}", c * h * w, rf)
    features = c * h * w
    add("flatten", "flatten", (features,), 0, "channels × rows × columns")
    for j, fc in enumerate(arch.fc, start=1):
        add(f"fc{j}", "linear", (fc.units,), features * fc.units + fc.units, f"{fc.units} units",
            2 * features * fc.units)
        features = fc.units
        if fc.activation != "none":
            add(f"act_fc{j}", "activation", (features,), 0, fc.activation, features)
        if fc.dropout > 0:
            add(f"drop_fc{j}", "dropout", (features,), 0, f"p = {fc.dropout:g}", features)
    add("output", "linear", (num_classes,), features * num_classes + num_classes,
        f"{num_classes} classes", 2 * features * num_classes)
    total = count_params(layers)
    if max_parameters is not None and total > max_parameters:
        raise ArchitectureError(
            f"the model has {total:,} parameters; the limit is {max_parameters:,} — "
            "use fewer channels or units, or pool before the fully-connected layers",
            None,
            layers,
        )
    return layers


def count_params(layers: list[LayerInfo]) -> int:
    return sum(layer.params for layer in layers)


def forward_flops(layers: list[LayerInfo]) -> int:
    """Forward FLOPs of the whole net for one image."""
    return sum(layer.flops for layer in layers)


def forward_work(layers: list[LayerInfo]) -> int:
    """Forward FLOPs charged against the limits (thin convs as THIN_PAIRS pairs), one image."""
    return sum(layer.work for layer in layers)


# ---- the work of a training step ---------------------------------------------------------------
@dataclass(frozen=True)
class ComputeLimits:
    """The server's bounds on one net (settings.cnn): parameters, work and memory."""

    max_parameters: int | None = None
    max_step_flops: float | None = None  # one training step (forward + backward, one batch)
    max_activation_bytes: float | None = None  # what autograd keeps for one step's backward
    max_eval_flops: float | None = None  # one pass over the validation (or test) images


def step_flops(layer: LayerInfo, batch: int, charged: bool = False) -> int:
    """FLOPs this layer costs in one training step of ``batch`` images (``charged``: its work)."""
    return BACKWARD_FACTOR * batch * (layer.work if charged else layer.flops)


def activation_bytes(layer: LayerInfo, batch: int) -> int:
    """Bytes of this layer's output for ``batch`` images (kept for the backward pass)."""
    return BYTES_PER_VALUE * batch * layer.values


def step_cost(layers: list[LayerInfo], batch: int, charged: bool = False) -> tuple[int, int]:
    """(FLOPs, activation bytes) of one training step of ``batch`` images, input included."""
    flops = sum(step_flops(layer, batch, charged) for layer in layers)
    memory = sum(activation_bytes(layer, batch) for layer in layers)
    if layers:
        memory += BYTES_PER_VALUE * batch * math.prod(layers[0].in_shape)
    return flops, memory


def _size(value: float, unit: str) -> str:
    """1.23 GFLOP, 45.6 MB: a number for people."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def flops_text(value: float) -> str:
    return _size(value, "FLOP")


def bytes_text(value: float) -> str:
    return _size(value, "B")


def check_compute(
    layers: list[LayerInfo], batch: int, eval_images: int, limits: ComputeLimits
) -> None:
    """Raise ArchitectureError if one training step or one evaluation pass is over the bounds.
    The message names the layer that costs most and the limit. FLOPs are charged (``work``)."""
    flops, memory = step_cost(layers, batch, charged=True)
    checks = (
        (flops, limits.max_step_flops, lambda layer: step_flops(layer, batch, True), flops_text,
         f"a training step (batch {batch}) needs", "a smaller batch, fewer channels, or pool "
         "(or stride) earlier"),
        (memory, limits.max_activation_bytes, lambda layer: activation_bytes(layer, batch),
         bytes_text, f"a training step (batch {batch}) keeps", "a smaller batch, fewer channels, "
         "or pool earlier"),
        (eval_images * forward_work(layers), limits.max_eval_flops,
         lambda layer: eval_images * layer.work, flops_text,
         f"one pass over the {eval_images:,} validation images needs", "fewer channels, fewer "
         "images, or pool earlier"),
    )
    for total, most, cost, text, what, fix in checks:
        if most is None or total <= most:
            continue
        worst = max(layers, key=cost)
        unit = "of activations" if text is bytes_text else ""
        thin = " (a conv with few channels is charged as 64 channel pairs: a CPU runs it no " \
            "faster)" if text is flops_text and worst.work > worst.flops else ""
        raise ArchitectureError(
            f"{worst.name}: too big — {what} {text(total)} {unit}".rstrip()
            + f" ({worst.name} alone {text(cost(worst))}{thin}); the limit is {text(most)} — "
            + fix,
            worst.index,
            layers,
        )


# ---- receptive fields ---------------------------------------------------------------------------
def square_box(layer: LayerInfo, y: int, x: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), inclusive, in input pixels: the receptive-field square of
    output pixel (y, x) of a spatial layer, padding included (it may reach past the image)."""
    if layer.rf is None:
        raise ValueError(f"{layer.name} is not a spatial layer")
    size, jump, start = layer.rf
    top, left = start + y * jump, start + x * jump
    return top, left, top + size - 1, left + size - 1


def field_box(layers: list[LayerInfo], index: int, y: int, x: int
              ) -> tuple[int, int, int, int] | None:
    """(top, left, bottom, right), inclusive: the input pixels output pixel (y, x) of row
    ``index`` depends on, found window by window back to the input, each clipped to the map it
    reads (padding holds no pixels). None when the position sees padding only. (A stride larger
    than its window leaves holes: this is then their bounding box.)"""
    if layers[index].rf is None:
        raise ValueError(f"{layers[index].name} is not a spatial layer")
    top, bottom, left, right = y, y, x, x
    for layer in reversed(layers[: index + 1]):
        if layer.window is None:  # batch norm, activation, dropout: position by position
            continue
        k, s, p = layer.window
        _, h, w = layer.in_shape
        top, bottom = max(top * s - p, 0), min(bottom * s - p + k - 1, h - 1)
        left, right = max(left * s - p, 0), min(right * s - p + k - 1, w - 1)
        if top > bottom or left > right:
            return None
    return top, left, bottom, right
