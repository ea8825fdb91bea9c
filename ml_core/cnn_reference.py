"""The classic nets as references: LeNet-5, AlexNet and VGG-16, described and never built.

Each is an ``Architecture`` of this lab (ml_core/cnn.py) on its historical input, and its layer
table comes from the lab's own shape inference (``infer_shapes``): every output shape, parameter
count, forward FLOPs and receptive field is computed, not typed in. VGG-16 has 138,357,544
parameters; building it would take half a gigabyte, so it is only ever described.

``stacked_vs_single`` is the lesson VGG teaches: two stacked 3x3 convs see what one 5x5 sees
(receptive field 5) with fewer weights, and an activation in between.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_core.cnn import Architecture, ConvBlock, FCLayer
from ml_core.cnn_shapes import LayerInfo, count_params, forward_flops, infer_shapes


@dataclass
class Reference:
    name: str
    title: str
    year: int
    note: str
    input_shape: tuple[int, int, int]
    classes: int
    architecture: Architecture


def _vgg16() -> Architecture:
    blocks: list[ConvBlock] = []
    for channels, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        for i in range(convs):
            blocks.append(
                ConvBlock(
                    channels=channels, kernel_size=3, padding=1, batch_norm=False,
                    pool="max" if i == convs - 1 else "none",
                )
            )
    return Architecture(blocks=blocks, fc=[FCLayer(units=4096, dropout=0.5)] * 2)


def _alexnet() -> Architecture:
    def conv(channels: int, k: int, stride: int = 1, padding: int = 0, pool: bool = False):
        return ConvBlock(
            channels=channels, kernel_size=k, stride=stride, padding=padding, batch_norm=False,
            pool="max" if pool else "none", pool_size=3, pool_stride=2,
        )

    return Architecture(
        blocks=[
            conv(96, 11, stride=4, pool=True),
            conv(256, 5, padding=2, pool=True),
            conv(384, 3, padding=1),
            conv(384, 3, padding=1),
            conv(256, 3, padding=1, pool=True),
        ],
        fc=[FCLayer(units=4096, dropout=0.5)] * 2,
    )


def _lenet5() -> Architecture:
    conv = {"kernel_size": 5, "padding": 0, "activation": "tanh", "batch_norm": False,
            "pool": "avg"}
    return Architecture(
        blocks=[ConvBlock(channels=6, **conv), ConvBlock(channels=16, **conv)],
        fc=[FCLayer(units=120, activation="tanh"), FCLayer(units=84, activation="tanh")],
    )


REFERENCES: dict[str, Reference] = {
    "lenet5": Reference(
        "lenet5", "LeNet-5", 1998,
        "LeCun et al.: 5×5 convolutions, tanh and average pooling on 32×32 digits.",
        (1, 32, 32), 10, _lenet5(),
    ),
    "alexnet": Reference(
        "alexnet", "AlexNet", 2012,
        "Krizhevsky et al.: large early kernels (11×11, stride 4), ReLU and dropout; the net "
        "that started the deep-learning era on ImageNet (shown without its two-GPU split).",
        (3, 227, 227), 1000, _alexnet(),
    ),
    "vgg16": Reference(
        "vgg16", "VGG-16", 2014,
        "Simonyan & Zisserman: only 3×3 convolutions (13 of them) and 2×2 max pooling, channels "
        "doubling 64 → 128 → 256 → 512 after each pool, then 3 fully-connected layers.",
        (3, 224, 224), 1000, _vgg16(),
    ),
}


def reference_layers(name: str) -> tuple[Reference, list[LayerInfo]]:
    """The reference net ``name`` and its layer table (shape inference only: nothing is built)."""
    ref = REFERENCES[name]
    return ref, infer_shapes(ref.architecture, ref.input_shape, ref.classes)


@dataclass
class Stack:
    """A few convs on ``channels`` channels in and out: their weights and receptive field."""

    label: str
    params: int
    weights: int  # without the biases
    receptive_field: int
    flops: int  # forward, per image, on a 56x56 map


def stacked_vs_single(channels: int = 64, side: int = 56) -> list[Stack]:
    """Two stacked 3x3 convs against one 5x5, and three 3x3 against one 7x7, ``channels`` in and
    out, from the shape inference (the output layer it adds is left out)."""
    out = []
    for label, kernels in (("two 3×3", (3, 3)), ("one 5×5", (5,)), ("three 3×3", (3, 3, 3)),
                           ("one 7×7", (7,))):
        blocks = [
            ConvBlock(channels=channels, kernel_size=k, padding=k // 2, batch_norm=False,
                      pool="none")
            for k in kernels
        ]
        layers = infer_shapes(Architecture(blocks=blocks), (channels, side, side), 1)[:-2]
        convs = [layer for layer in layers if layer.kind == "conv"]
        params = count_params(layers)
        out.append(Stack(label, params, params - channels * len(convs), convs[-1].rf[0],
                         forward_flops(layers)))
    return out
