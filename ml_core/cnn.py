"""Convolutional networks built from a small config: the architecture, shape inference, the builder.

An ``Architecture`` is a list of conv blocks (conv -> batch norm -> activation -> pooling -> dropout)
followed by fully-connected layers; the output layer (one unit per class) is added by the builder.
These pydantic models are the one definition of the architecture: the CNN lab validates the wire
config with them (``CNNConfig`` in ml_core/cnn_config.py holds one), and their allowed values
come from the tables below (``ACTIVATION_LAYERS``, ``POOL_LAYERS``), which the builder uses too.

``infer_shapes`` (ml_core/cnn_shapes.py) walks an architecture with the conv/pool size formulas, so
the page can show every layer's C x H x W, parameter count, work and receptive field as the user
edits — and say which layer is impossible — before any tensor exists. ``build_model`` makes an ``nn.Sequential`` whose i-th module is the i-th
row of that table, so layer indices are shared by the shape table, the kernels and the feature
maps; its weights are drawn from a seeded ``torch.Generator`` on the CPU, never the global RNG.
What a trained net holds (feature maps, kernels) is read in ml_core/cnn_inspect.py.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from pydantic import Field, ValidationInfo, model_validator
from torch import nn

from ml_core.cnn_shapes import (  # noqa: F401  (re-exported: the CNN's one import)
    ArchitectureError,
    LayerInfo,
    count_params,
    infer_shapes,
)
from ml_core.config import Strict, at_most, limits_of
from ml_core.mlp import SeededDropout

# The CNN's layer tables: name -> module factory (None: no layer). The config accepts exactly
# these names, the builder makes these modules.
ACTIVATION_LAYERS: dict[str, Callable[[], nn.Module] | None] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "none": None,
}
POOL_LAYERS: dict[str, Callable[[int, int], nn.Module] | None] = {
    "max": nn.MaxPool2d,
    "avg": nn.AvgPool2d,
    "none": None,
}
ACTIVATIONS = tuple(ACTIVATION_LAYERS)
POOLS = tuple(POOL_LAYERS)


def one_of(names: Iterable[str]) -> Any:
    """``Literal[...]`` of a registry's names, so a config accepts exactly what the core has."""
    return Literal[tuple(names)]


Activation = one_of(ACTIVATIONS)
Pool = one_of(POOLS)


class ConvBlock(Strict):
    """conv(channels, k, stride, padding) -> [batch norm] -> activation -> [pool] -> [dropout]."""

    channels: int = Field(16, ge=1, le=1024)
    kernel_size: int = Field(3, ge=1, le=15)
    stride: int = Field(1, ge=1, le=4)
    padding: int = Field(1, ge=0, le=3)
    activation: Activation = "relu"
    batch_norm: bool = True
    pool: Pool = "max"
    pool_size: int = Field(2, ge=1, le=4)
    pool_stride: int = Field(2, ge=1, le=4)
    dropout: float = Field(0.0, ge=0, le=0.9)


class FCLayer(Strict):
    """linear(units) -> activation -> [dropout]."""

    units: int = Field(64, ge=1, le=8192)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, le=0.9)


class Architecture(Strict):
    blocks: list[ConvBlock] = Field(min_length=1, max_length=32)
    fc: list[FCLayer] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _within_limits(self, info: ValidationInfo) -> Architecture:
        limits = limits_of(info)
        if limits is None:
            return self
        at_most([
            (len(self.blocks), limits.max_blocks, "conv blocks"),
            (len(self.fc), limits.max_fc_layers, "fully-connected layers"),
            *((b.channels, limits.max_channels, f"conv{i} channels")
              for i, b in enumerate(self.blocks, start=1)),
            *((b.kernel_size, limits.max_kernel_size, f"conv{i} kernel size")
              for i, b in enumerate(self.blocks, start=1)),
            *((f.units, limits.max_fc_units, f"fc{j} units") for j, f in enumerate(self.fc, start=1)),
        ])
        return self


def _vgg_pair(channels: int, **fields: Any) -> list[ConvBlock]:
    return [ConvBlock(channels=channels, pool="none", **fields), ConvBlock(channels=channels, **fields)]


_LENET_CONV = {"kernel_size": 5, "activation": "tanh", "batch_norm": False, "pool": "avg"}

PRESETS: dict[str, Architecture] = {
    # Two small conv blocks: >= 97% on digits within seconds on one CPU thread.
    "default": Architecture(
        blocks=[ConvBlock(channels=16), ConvBlock(channels=32)],
        fc=[FCLayer(units=64)],
    ),
    # LeCun et al. 1998: 5x5 convs with tanh and average pooling, then 120-84 units.
    # Padding 2 on the first conv keeps 28x28 MNIST at 28x28, as the usual modern variant does.
    "lenet5": Architecture(
        blocks=[
            ConvBlock(channels=6, padding=2, **_LENET_CONV),
            ConvBlock(channels=16, padding=0, **_LENET_CONV),
        ],
        fc=[FCLayer(units=120, activation="tanh"), FCLayer(units=84, activation="tanh")],
    ),
    # VGG's idea at toy scale: 3x3 conv-conv-pool blocks, channels doubling after each pool.
    "vgg_small": Architecture(
        blocks=_vgg_pair(16) + _vgg_pair(32),
        fc=[FCLayer(units=128, dropout=0.5)],
    ),
    # CNN Explainer's Tiny VGG (Wang et al. 2020): two conv-conv-pool blocks of 10 channels, no
    # batch norm, no hidden fully-connected layer; padding 1 keeps the bundled 16x16 digits at
    # 16 -> 8 -> 4 pixels.
    "tiny_vgg": Architecture(blocks=_vgg_pair(10, batch_norm=False) * 2, fc=[]),
}


def _modules(
    arch: Architecture, input_shape: tuple[int, int, int], layers: list[LayerInfo]
) -> OrderedDict[str, nn.Module]:
    """The modules of the shape table's rows, in order, named as the rows are."""
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    c = input_shape[0]
    for b, block in enumerate(arch.blocks, start=1):
        modules[f"conv{b}"] = nn.Conv2d(
            c, block.channels, block.kernel_size, block.stride, block.padding
        )
        c = block.channels
        if block.batch_norm:
            modules[f"bn{b}"] = nn.BatchNorm2d(c)
        if (activation := ACTIVATION_LAYERS[block.activation]) is not None:
            modules[f"act{b}"] = activation()
        if (pool := POOL_LAYERS[block.pool]) is not None:
            modules[f"pool{b}"] = pool(block.pool_size, block.pool_stride)
        if block.dropout > 0:
            modules[f"drop{b}"] = SeededDropout(block.dropout, None)
    modules["flatten"] = nn.Flatten()
    features = layers[len(modules) - 1].shape[0]
    for j, fc in enumerate(arch.fc, start=1):
        modules[f"fc{j}"] = nn.Linear(features, fc.units)
        features = fc.units
        if (activation := ACTIVATION_LAYERS[fc.activation]) is not None:
            modules[f"act_fc{j}"] = activation()
        if fc.dropout > 0:
            modules[f"drop_fc{j}"] = SeededDropout(fc.dropout, None)
    modules["output"] = nn.Linear(features, layers[-1].shape[0])
    return modules


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default init (conv and linear: U(-1/sqrt(fan_in), +) for weights and biases;
    batch norm: scale 1, shift 0, fresh running statistics), drawn from ``generator``."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            bound = 1.0 / math.sqrt(module.weight[0].numel())  # fan_in
            module.weight.uniform_(-bound, bound, generator=generator)
            module.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.reset_parameters()


def build_model(
    arch: Architecture,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[nn.Sequential, list[LayerInfo]]:
    """The network and its shape table; ``model[i]`` is the module of ``layers[i]``.

    Weights are drawn on the CPU from ``seed`` (the same on every device), dropout masks from a
    generator on ``device`` seeded with ``seed + 1``: no global RNG, so runs on other threads
    cannot disturb this one.
    """
    layers = infer_shapes(arch, input_shape, num_classes)
    with torch.device("meta"):  # no storage, no default init: the weights come from the seed
        model = nn.Sequential(_modules(arch, input_shape, layers))
    assert [name for name, _ in model.named_children()] == [layer.name for layer in layers]
    model.to_empty(device="cpu")
    init_weights(model, torch.Generator().manual_seed(seed))
    model.to(device)
    noise = torch.Generator(device=device).manual_seed(seed + 1)
    for module in model:
        if isinstance(module, SeededDropout):
            module.generator = noise
    return model, layers
