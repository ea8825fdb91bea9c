"""ml_core.cnn_shapes and cnn_reference: receptive fields against gradients, FLOPs against a
written-out count, the compute bounds, and the classic nets' parameter counts."""

from __future__ import annotations

import random

import pytest
import torch

from ml_core.cnn import PRESETS, Architecture, ConvBlock, FCLayer, build_model, infer_shapes
from ml_core.cnn_reference import REFERENCES, reference_layers, stacked_vs_single
from ml_core.cnn_shapes import (
    ArchitectureError,
    ComputeLimits,
    check_compute,
    count_params,
    field_box,
    square_box,
    step_cost,
)


def gradient_footprint(model, layers, input_shape, index, channel, y, x):
    """The input pixels whose gradient for output (index, channel, y, x) is not zero."""
    image = torch.randn(1, *input_shape, dtype=torch.float64, requires_grad=True)
    model = model.double().eval()
    out = model[: index + 1](image)
    out[0, channel, y, x].backward()
    nonzero = image.grad[0].abs().sum(0) != 0  # (H, W)
    return torch.nonzero(nonzero).tolist()


def box_pixels(box):
    if box is None:
        return []
    top, left, bottom, right = box
    return [[r, q] for r in range(top, bottom + 1) for q in range(left, right + 1)]


# Dense fields (every kernel and pooling window at least as large as its stride): the field is a
# full box; tanh and average pooling let every pixel in it through to the gradient.
DENSE = [
    Architecture(blocks=[ConvBlock(channels=3, kernel_size=3, padding=1, activation="tanh",
                                   pool="avg"),
                         ConvBlock(channels=4, kernel_size=5, padding=2, activation="tanh",
                                   pool="avg", pool_size=3, pool_stride=2)]),
    Architecture(blocks=[ConvBlock(channels=2, kernel_size=4, stride=2, padding=1,
                                   activation="tanh", pool="none"),
                         ConvBlock(channels=2, kernel_size=3, stride=1, padding=0,
                                   activation="tanh", pool="avg", pool_size=2, pool_stride=1),
                         ConvBlock(channels=2, kernel_size=3, padding=3, activation="tanh",
                                   pool="none")]),
    PRESETS["lenet5"],
]


@pytest.mark.parametrize("arch", DENSE)
def test_receptive_fields_are_exactly_the_pixels_with_a_gradient(arch):
    input_shape = (2, 20, 20)
    model, layers = build_model(arch, input_shape, 3)
    rng = random.Random(1)
    for layer in layers:
        if layer.rf is None:
            continue
        c, h, w = layer.shape
        for _ in range(4):
            y, x = rng.randrange(h), rng.randrange(w)
            pixels = gradient_footprint(model, layers, input_shape, layer.index, 0, y, x)
            box = field_box(layers, layer.index, y, x)
            assert pixels == box_pixels(box), f"{layer.name} at ({y}, {x})"
            top, left, bottom, right = square_box(layer, y, x)  # the square holds the field
            assert all(top <= r <= bottom and left <= q <= right for r, q in pixels)


def test_sparse_fields_bound_the_pixels_with_a_gradient():
    """Stride larger than the window leaves holes: the field is then their bounding box."""
    arch = Architecture(blocks=[
        ConvBlock(channels=2, kernel_size=1, stride=2, padding=0, activation="tanh", pool="none"),
        ConvBlock(channels=2, kernel_size=3, padding=1, activation="tanh", pool="max"),
    ])
    model, layers = build_model(arch, (1, 16, 16), 2)
    conv2 = next(layer for layer in layers if layer.name == "conv2")
    pixels = gradient_footprint(model, layers, (1, 16, 16), conv2.index, 1, 3, 4)
    rows, cols = {p[0] for p in pixels}, {p[1] for p in pixels}
    assert (min(rows), min(cols), max(rows), max(cols)) == field_box(layers, conv2.index, 3, 4)
    assert len(pixels) == 9  # every other pixel of the 5x5 box


def test_max_pooling_passes_a_gradient_only_inside_the_field():
    model, layers = build_model(PRESETS["default"], (1, 16, 16), 10)
    pool2 = next(layer for layer in layers if layer.name == "pool2")
    pixels = gradient_footprint(model, layers, (1, 16, 16), pool2.index, 5, 2, 1)
    top, left, bottom, right = field_box(layers, pool2.index, 2, 1)
    assert pixels
    assert all(top <= r <= bottom and left <= q <= right for r, q in pixels)
    assert pool2.rf == (10, 4, -3)  # deeper layers see more: conv1 3, pool1 4, conv2 8, pool2 10


def written_out_flops(arch, input_shape, classes):
    """Forward FLOPs counted layer by layer from the architecture, as the docs define them."""
    c, h, w = input_shape
    total = 0
    for b in arch.blocks:
        h = (h + 2 * b.padding - b.kernel_size) // b.stride + 1
        w = (w + 2 * b.padding - b.kernel_size) // b.stride + 1
        total += 2 * c * b.kernel_size**2 * b.channels * h * w
        c = b.channels
        total += (2 if b.batch_norm else 0) * c * h * w
        total += (0 if b.activation == "none" else 1) * c * h * w
        if b.pool != "none":
            h = (h - b.pool_size) // b.pool_stride + 1
            w = (w - b.pool_size) // b.pool_stride + 1
            total += b.pool_size**2 * c * h * w
        total += (1 if b.dropout else 0) * c * h * w
    n = c * h * w
    for f in arch.fc:
        total += 2 * n * f.units + (f.activation != "none") * f.units + (f.dropout > 0) * f.units
        n = f.units
    return total + 2 * n * classes


@pytest.mark.parametrize("name", ["default", "lenet5", "vgg_small", "tiny_vgg"])
def test_flops_and_activation_memory_follow_their_definitions(name):
    arch = PRESETS[name]
    layers = infer_shapes(arch, (1, 32, 32), 10)
    assert sum(layer.flops for layer in layers) == written_out_flops(arch, (1, 32, 32), 10)
    flops, memory = step_cost(layers, 64)
    assert flops == 3 * 64 * sum(layer.flops for layer in layers)
    values = 32 * 32 + sum(layer.values for layer in layers)
    assert memory == 4 * 64 * values


def test_a_net_over_the_bounds_is_refused_naming_its_costliest_layer_and_the_limit():
    big = Architecture(blocks=[ConvBlock(channels=128, pool="none") for _ in range(8)])
    layers = infer_shapes(big, (3, 32, 32), 10)
    limits = ComputeLimits(max_step_flops=8e9, max_activation_bytes=48e6, max_eval_flops=40e9)
    with pytest.raises(ArchitectureError) as refused:
        check_compute(layers, 512, 100, limits)
    message = str(refused.value)
    assert message.startswith("conv2: too big")  # conv1 reads 3 channels, conv2..8 128
    assert "batch 512" in message
    assert "the limit is 8 GFLOP" in message
    assert refused.value.layer == 3  # conv1, bn1, act1, conv2
    small = infer_shapes(PRESETS["default"], (1, 16, 16), 10)
    check_compute(small, 512, 400, limits)  # the default net passes at the largest batch
    with pytest.raises(ArchitectureError, match=r"keeps .* of activations .* limit is 1 MB"):
        check_compute(small, 512, 400, ComputeLimits(max_activation_bytes=1e6))
    with pytest.raises(ArchitectureError, match=r"validation images needs .*limit is 1 MFLOP"):
        check_compute(small, 1, 400, ComputeLimits(max_eval_flops=1e6))


def test_thin_convs_are_charged_as_sixty_four_channel_pairs():
    thin = Architecture(blocks=[ConvBlock(channels=1, kernel_size=7, padding=3, pool="none")])
    (conv, *_) = infer_shapes(thin, (1, 32, 32), 2)
    assert conv.flops == 2 * 49 * 32 * 32
    assert conv.work == 64 * conv.flops
    with pytest.raises(ArchitectureError, match="charged as 64 channel pairs"):
        check_compute(infer_shapes(thin, (1, 32, 32), 2), 512, 10, ComputeLimits(
            max_step_flops=1e9))


def test_vgg16_alexnet_and_lenet5_are_the_classic_nets():
    ref, layers = reference_layers("vgg16")
    convs = [layer for layer in layers if layer.kind == "conv"]
    dense = [layer for layer in layers if layer.kind == "linear"]
    assert len(convs) == 13
    assert len(dense) == 3
    assert count_params(layers) == 138_357_544
    assert [layer.shape[0] for layer in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    pools = [layer.shape for layer in layers if layer.kind == "pool"]
    assert pools == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    assert next(layer for layer in layers if layer.kind == "flatten").shape == (25088,)
    assert sum(layer.flops for layer in convs) == pytest.approx(30.7e9, rel=0.01)
    assert ref.input_shape == (3, 224, 224)
    fc1 = next(layer for layer in layers if layer.name == "fc1")
    assert fc1.params == 25088 * 4096 + 4096
    assert fc1.params > count_params(layers) / 2  # most of them in the first dense layer
    assert count_params(reference_layers("alexnet")[1]) == 62_378_344
    assert count_params(reference_layers("lenet5")[1]) == 61_706
    assert set(REFERENCES) == {"lenet5", "alexnet", "vgg16"}


def test_two_stacked_3x3_see_what_one_5x5_sees_with_fewer_weights():
    stacks = {s.label: s for s in stacked_vs_single(64)}
    two, one = stacks["two 3×3"], stacks["one 5×5"]
    assert two.receptive_field == one.receptive_field == 5
    assert two.weights == 2 * 9 * 64 * 64
    assert one.weights == 25 * 64 * 64
    assert round(100 * two.weights / one.weights) == 72  # the page says 72%
    assert stacks["three 3×3"].receptive_field == stacks["one 7×7"].receptive_field == 7
    assert stacks["three 3×3"].weights < stacks["one 7×7"].weights


def test_layer_rows_carry_their_input_shape():
    layers = infer_shapes(Architecture(blocks=[ConvBlock()], fc=[FCLayer(units=5)]), (1, 8, 8), 3)
    assert layers[0].in_shape == (1, 8, 8)
    for before, after in zip(layers, layers[1:], strict=False):
        assert after.in_shape == before.shape
