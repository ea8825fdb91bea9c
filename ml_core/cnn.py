"""Convolutional networks built from a small config: shape inference, presets, builder, inspection.

An ``Architecture`` is a list of conv blocks (conv -> batch norm -> activation -> pooling -> dropout)
followed by fully-connected layers; the output layer (one unit per class) is added by the builder.
``infer_shapes`` walks it with the conv/pool size formulas, so the page can show every layer's
C x H x W and parameter count as the user edits — and say which layer is impossible — before any
tensor exists. ``build_model`` makes an ``nn.Sequential`` whose i-th module is the i-th row of that
table, so layer indices are shared by the shape table, the kernels and the feature maps.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid", "none")
POOLS = ("max", "avg", "none")


@dataclass
class ConvBlock:
    """conv(channels, k, stride, padding) -> [batch norm] -> activation -> [pool] -> [dropout]."""

    channels: int = 16
    kernel_size: int = 3
    stride: int = 1
    padding: int = 1
    activation: str = "relu"
    batch_norm: bool = True
    pool: str = "max"
    pool_size: int = 2
    pool_stride: int = 2
    dropout: float = 0.0


@dataclass
class FCLayer:
    """linear(units) -> activation -> [dropout]."""

    units: int = 64
    activation: str = "relu"
    dropout: float = 0.0


@dataclass
class Architecture:
    blocks: list[ConvBlock] = field(default_factory=list)
    fc: list[FCLayer] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> Architecture:
        return cls(
            blocks=[ConvBlock(**b) for b in data.get("blocks", [])],
            fc=[FCLayer(**f) for f in data.get("fc", [])],
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _vgg_pair(channels: int) -> list[ConvBlock]:
    return [ConvBlock(channels, pool="none"), ConvBlock(channels)]


PRESETS: dict[str, Architecture] = {
    # Two small conv blocks: >= 97% on digits within seconds on one CPU thread.
    "default": Architecture(
        blocks=[ConvBlock(16), ConvBlock(32)],
        fc=[FCLayer(64)],
    ),
    # LeCun et al. 1998: 5x5 convs with tanh and average pooling, then 120-84 units.
    # Padding 2 on the first conv keeps 28x28 MNIST at 28x28, as the usual modern variant does.
    "lenet5": Architecture(
        blocks=[
            ConvBlock(6, 5, 1, 2, "tanh", False, "avg", 2, 2),
            ConvBlock(16, 5, 1, 0, "tanh", False, "avg", 2, 2),
        ],
        fc=[FCLayer(120, "tanh"), FCLayer(84, "tanh")],
    ),
    # VGG's idea at toy scale: 3x3 conv-conv-pool blocks, channels doubling after each pool.
    "vgg_small": Architecture(
        blocks=_vgg_pair(16) + _vgg_pair(32),
        fc=[FCLayer(128, "relu", 0.5)],
    ),
}


@dataclass
class LayerInfo:
    """One row of the shape table; ``shape`` is (C, H, W) for spatial layers, (N,) after flatten."""

    index: int
    name: str
    kind: str  # conv | batchnorm | activation | pool | dropout | flatten | linear
    shape: tuple[int, ...]
    params: int
    detail: str = ""

    def to_dict(self) -> dict:
        return {**asdict(self), "shape": list(self.shape)}


class ArchitectureError(ValueError):
    """An impossible architecture; ``layer`` is the offending row's index (None: the whole net)."""

    def __init__(self, message: str, layer: int | None, layers: list[LayerInfo]) -> None:
        super().__init__(message)
        self.layer = layer
        self.layers = layers


def _window_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output side of a conv or pooling window (PyTorch's floor rule, dilation 1)."""
    return (size + 2 * padding - kernel) // stride + 1


def infer_shapes(
    arch: Architecture,
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_parameters: int | None = None,
) -> list[LayerInfo]:
    """The shape table of ``arch`` on (C, H, W) inputs; raises ArchitectureError if impossible."""
    layers: list[LayerInfo] = []

    def add(
        name: str, kind: str, shape: tuple[int, ...], params: int = 0, detail: str = ""
    ) -> None:
        layers.append(LayerInfo(len(layers), name, kind, shape, params, detail))

    c, h, w = input_shape
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
        add(
            f"conv{b}",
            "conv",
            (block.channels, h, w),
            block.channels * c * k * k + block.channels,
            f"{block.channels} × {k}×{k}, stride {s}, padding {p}",
        )
        c = block.channels
        if block.batch_norm:
            add(f"bn{b}", "batchnorm", (c, h, w), 2 * c)
        if block.activation != "none":
            add(f"act{b}", "activation", (c, h, w), 0, block.activation)
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
            add(f"pool{b}", "pool", (c, h, w), 0, f"{block.pool} {k}×{k}, stride {s}")
        if block.dropout > 0:
            add(f"drop{b}", "dropout", (c, h, w), 0, f"p = {block.dropout:g}")
    features = c * h * w
    add("flatten", "flatten", (features,))
    for j, fc in enumerate(arch.fc, start=1):
        add(f"fc{j}", "linear", (fc.units,), features * fc.units + fc.units, f"{fc.units} units")
        features = fc.units
        if fc.activation != "none":
            add(f"act_fc{j}", "activation", (features,), 0, fc.activation)
        if fc.dropout > 0:
            add(f"drop_fc{j}", "dropout", (features,), 0, f"p = {fc.dropout:g}")
    add(
        "output",
        "linear",
        (num_classes,),
        features * num_classes + num_classes,
        f"{num_classes} classes",
    )
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


def _activation(name: str) -> nn.Module:
    return {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(0.01),
        "elu": nn.ELU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
    }[name]()


def build_model(
    arch: Architecture, input_shape: tuple[int, int, int], num_classes: int
) -> tuple[nn.Sequential, list[LayerInfo]]:
    """The network and its shape table; ``model[i]`` is the module of ``layers[i]``."""
    layers = infer_shapes(arch, input_shape, num_classes)
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    c = input_shape[0]
    for b, block in enumerate(arch.blocks, start=1):
        modules[f"conv{b}"] = nn.Conv2d(
            c, block.channels, block.kernel_size, block.stride, block.padding
        )
        c = block.channels
        if block.batch_norm:
            modules[f"bn{b}"] = nn.BatchNorm2d(c)
        if block.activation != "none":
            modules[f"act{b}"] = _activation(block.activation)
        if block.pool != "none":
            pool = nn.MaxPool2d if block.pool == "max" else nn.AvgPool2d
            modules[f"pool{b}"] = pool(block.pool_size, block.pool_stride)
        if block.dropout > 0:
            modules[f"drop{b}"] = nn.Dropout(block.dropout)
    modules["flatten"] = nn.Flatten()
    features = layers[len(modules) - 1].shape[0]
    for j, fc in enumerate(arch.fc, start=1):
        modules[f"fc{j}"] = nn.Linear(features, fc.units)
        features = fc.units
        if fc.activation != "none":
            modules[f"act_fc{j}"] = _activation(fc.activation)
        if fc.dropout > 0:
            modules[f"drop_fc{j}"] = nn.Dropout(fc.dropout)
    modules["output"] = nn.Linear(features, num_classes)
    model = nn.Sequential(modules)
    assert [name for name, _ in model.named_children()] == [layer.name for layer in layers]
    return model, layers


@torch.no_grad()
def feature_maps(model: nn.Sequential, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every layer's output for input x (B, C, H, W), caught by forward hooks, and the logits.

    Returns ([output of model[0], output of model[1], ...], logits (B, classes)). Runs in eval mode
    (batch norm on running statistics, dropout off) and restores the previous mode.
    """
    outputs: list[torch.Tensor] = []
    handles = [
        module.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
        for module in model
    ]
    # Only batch norm and dropout behave differently in eval mode: flipping just their flags is
    # much cheaper than model.eval()/model.train(), and this runs at the display rate.
    modal = [m for m in model if isinstance(m, nn.modules.batchnorm._BatchNorm | nn.Dropout)]
    was_training = [m.training for m in modal]
    for m in modal:
        m.training = False
    try:
        logits = model(x)
    finally:
        for m, mode in zip(modal, was_training, strict=True):
            m.training = mode
        for handle in handles:
            handle.remove()
    return outputs, logits


def conv_kernels(
    model: nn.Sequential, layers: list[LayerInfo]
) -> list[tuple[LayerInfo, np.ndarray]]:
    """(layer, weights (out, in, k, k) float32) for every conv layer, first to last."""
    return [
        (layer, model[layer.index].weight.detach().float().cpu().numpy())
        for layer in layers
        if layer.kind == "conv"
    ]
