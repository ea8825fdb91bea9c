"""ml_core.cnn: shape inference against real forward passes, builder, presets, hooks."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F

from ml_core.cnn import (
    ACTIVATIONS,
    POOLS,
    PRESETS,
    Architecture,
    ArchitectureError,
    ConvBlock,
    FCLayer,
    build_model,
    count_params,
    infer_shapes,
)
from ml_core.cnn_inspect import conv_kernels, feature_maps


def real_shapes(model: torch.nn.Sequential, input_shape) -> list[tuple[int, ...]]:
    x = torch.zeros(2, *input_shape)
    shapes = []
    for module in model:
        x = module(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("preset", "input_shape"),
    [
        ("default", (1, 8, 8)),
        ("default", (1, 16, 16)),
        ("default", (3, 32, 32)),
        ("lenet5", (1, 28, 28)),
        ("lenet5", (1, 32, 32)),
        ("vgg_small", (3, 32, 32)),
        ("vgg_small", (1, 25, 25)),
    ],
)
def test_presets_shapes_and_params_match_a_real_forward(preset, input_shape):
    model, layers = build_model(PRESETS[preset], input_shape, 10)
    assert [layer.shape for layer in layers] == real_shapes(model, input_shape)
    for layer, module in zip(layers, model, strict=True):
        assert layer.params == trainable(module), layer.name
    assert count_params(layers) == trainable(model)


def test_lenet5_is_the_classic_net_on_32x32():
    _, layers = build_model(PRESETS["lenet5"], (1, 28, 28), 10)
    shapes = {layer.name: layer.shape for layer in layers}
    assert shapes["conv1"] == (6, 28, 28)
    assert shapes["pool1"] == (6, 14, 14)
    assert shapes["conv2"] == (16, 10, 10)
    assert shapes["pool2"] == (16, 5, 5)
    assert shapes["flatten"] == (400,)
    assert shapes["fc1"] == (120,)
    assert shapes["fc2"] == (84,)
    assert count_params(layers) == 61_706  # the well-known LeNet-5 parameter count


def random_architecture(rng: random.Random) -> Architecture:
    blocks = [
        ConvBlock(
            channels=rng.randint(1, 12),
            kernel_size=rng.randint(1, 5),
            stride=rng.randint(1, 3),
            padding=rng.randint(0, 3),
            activation=rng.choice(ACTIVATIONS),
            batch_norm=rng.random() < 0.5,
            pool=rng.choice(POOLS),
            pool_size=rng.randint(1, 3),
            pool_stride=rng.randint(1, 3),
            dropout=rng.choice((0.0, 0.3)),
        )
        for _ in range(rng.randint(1, 4))
    ]
    fc = [
        FCLayer(
            units=rng.randint(1, 20),
            activation=rng.choice(ACTIVATIONS),
            dropout=rng.choice((0.0, 0.2)),
        )
        for _ in range(rng.randint(0, 2))
    ]
    return Architecture(blocks=blocks, fc=fc)


def test_inferred_shapes_equal_real_shapes_or_the_forward_fails_too():
    """Random architectures: every valid one matches torch; every refused one breaks torch."""
    rng = random.Random(0)
    valid = refused = 0
    for _ in range(150):
        arch = random_architecture(rng)
        input_shape = (rng.choice((1, 3)), rng.randint(5, 20), rng.randint(5, 20))
        try:
            layers = infer_shapes(arch, input_shape, 4)
        except ArchitectureError as exc:
            refused += 1
            assert str(exc).split(":")[0] in {b for b in _names(arch)}
            with pytest.raises(RuntimeError):
                build_unchecked(arch, input_shape)(torch.zeros(1, *input_shape))
            continue
        valid += 1
        model, _ = build_model(arch, input_shape, 4)
        assert [layer.shape for layer in layers] == real_shapes(model, input_shape)
        assert count_params(layers) == trainable(model)
    assert valid > 30
    assert refused > 10  # the fuzz exercised both paths


def _names(arch: Architecture) -> list[str]:
    return [f"{kind}{b}" for b in range(1, len(arch.blocks) + 1) for kind in ("conv", "pool")]


def build_unchecked(arch: Architecture, input_shape) -> torch.nn.Sequential:
    """The same layers without shape inference, to show torch itself refuses them."""
    modules, c = [], input_shape[0]
    for block in arch.blocks:
        modules.append(
            torch.nn.Conv2d(c, block.channels, block.kernel_size, block.stride, block.padding)
        )
        c = block.channels
        if block.pool != "none":
            pool = torch.nn.MaxPool2d if block.pool == "max" else torch.nn.AvgPool2d
            modules.append(pool(block.pool_size, block.pool_stride))
    return torch.nn.Sequential(*modules)


def test_a_kernel_larger_than_its_map_is_refused_naming_the_layer():
    arch = Architecture(
        blocks=[
            ConvBlock(channels=6, kernel_size=5, padding=0),
            ConvBlock(channels=16, kernel_size=5, padding=0),
        ]
    )
    with pytest.raises(ArchitectureError) as info:
        infer_shapes(arch, (1, 8, 8), 10)
    message = str(info.value)
    assert message.startswith("conv2:")
    assert "2×2" in message
    assert "5×5" in message
    assert info.value.layer == 4  # conv1, bn1, act1, pool1, then conv2
    assert [layer.name for layer in info.value.layers] == ["conv1", "bn1", "act1", "pool1"]


def test_a_pool_larger_than_its_map_is_refused():
    arch = Architecture(blocks=[ConvBlock(channels=4, kernel_size=3, padding=1, pool_size=2)] * 4)
    with pytest.raises(ArchitectureError, match=r"^pool4: its input is 1×1"):
        infer_shapes(arch, (1, 8, 8), 10)


def test_too_many_parameters_is_refused_with_the_count():
    arch = Architecture(blocks=[ConvBlock(channels=64, pool="none")], fc=[FCLayer(units=1024)])
    with pytest.raises(ArchitectureError, match="parameters; the limit is 100,000") as info:
        infer_shapes(arch, (1, 16, 16), 10, max_parameters=100_000)
    assert info.value.layer is None


def test_hook_feature_maps_equal_a_manual_layer_by_layer_forward():
    model, layers = build_model(PRESETS["vgg_small"], (3, 16, 16), 5, seed=0)
    model.train()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # a training-mode pass moves batch-norm statistics off their init
        model(x * 2 + 1)
    outputs, logits = feature_maps(model, x)
    assert model.training  # mode restored

    # Manual forward with torch.nn.functional, batch norm on running stats, dropout off.
    h = x
    for layer, module, out in zip(layers, model, outputs, strict=True):
        if layer.kind == "conv":
            h = F.conv2d(h, module.weight, module.bias, module.stride, module.padding)
        elif layer.kind == "batchnorm":
            h = F.batch_norm(
                h,
                module.running_mean,
                module.running_var,
                module.weight,
                module.bias,
                training=False,
                eps=module.eps,
            )
        elif layer.kind == "activation":
            h = F.relu(h)
        elif layer.kind == "pool":
            h = F.max_pool2d(h, module.kernel_size, module.stride)
        elif layer.kind == "flatten":
            h = h.flatten(1)
        elif layer.kind == "linear":
            h = F.linear(h, module.weight, module.bias)
        torch.testing.assert_close(out, h, msg=layer.name)
    torch.testing.assert_close(logits, h)


def test_conv_kernels_are_the_conv_weights_in_order():
    model, layers = build_model(PRESETS["default"], (1, 8, 8), 10)
    kernels = conv_kernels(model, layers)
    assert [layer.name for layer, _ in kernels] == ["conv1", "conv2"]
    assert kernels[1][1].shape == (32, 16, 3, 3)
    torch.testing.assert_close(torch.from_numpy(kernels[0][1]), model.conv1.weight.detach())


def test_architecture_round_trips_through_json():
    arch = PRESETS["lenet5"]
    assert Architecture.model_validate_json(arch.model_dump_json()) == arch


def test_the_same_seed_builds_the_same_weights_whatever_the_global_rng():
    torch.manual_seed(1)
    a, _ = build_model(PRESETS["vgg_small"], (3, 16, 16), 10, seed=7)
    torch.manual_seed(2)
    b, _ = build_model(PRESETS["vgg_small"], (3, 16, 16), 10, seed=7)
    c, _ = build_model(PRESETS["vgg_small"], (3, 16, 16), 10, seed=8)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_weights_follow_pytorchs_default_init():
    """Conv and linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); batch norm: 1, 0, fresh statistics."""
    model, _ = build_model(PRESETS["default"], (1, 16, 16), 10, seed=0)
    for module in (model.conv2, model.fc1):
        bound = 1 / module.weight[0].numel() ** 0.5
        for values in (module.weight, module.bias):
            assert values.abs().max() <= bound
        assert module.weight.abs().max() > 0.9 * bound  # spread over the whole range
        assert module.weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.1)
    assert torch.equal(model.bn1.weight, torch.ones(16))
    assert torch.equal(model.bn1.running_var, torch.ones(16))
    assert model.bn1.num_batches_tracked.item() == 0


def test_dropout_masks_come_from_the_seed_not_the_global_rng():
    arch = Architecture(blocks=[ConvBlock(channels=4, dropout=0.5)], fc=[FCLayer(dropout=0.5)])
    x = torch.ones(2, 1, 8, 8)
    outputs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        model, _ = build_model(arch, (1, 8, 8), 3, seed=5)
        model.train()
        outputs.append(model(x))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    model.eval()
    assert not torch.equal(model(x), outputs[1])  # in training the masks did drop units


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ({"blocks": [{"activation": "swish"}]}, "blocks.0.activation"),
        ({"blocks": [{"pool": "median"}]}, "blocks.0.pool"),
        ({"blocks": [], "fc": []}, "blocks"),
        ({"blocks": [{"channels": 0}]}, "blocks.0.channels"),
        ({"blocks": [{}], "fc": [{"units": 64, "colour": "red"}]}, "fc.0.colour"),
    ],
)
def test_architectures_outside_the_layer_tables_are_refused(architecture, message):
    with pytest.raises(ValueError, match=message):
        Architecture.model_validate(architecture)


def test_every_activation_and_pool_of_the_tables_builds():
    for activation in ACTIVATIONS:
        for pool in POOLS:
            block = {"channels": 2, "activation": activation, "pool": pool}
            arch = Architecture.model_validate({"blocks": [block], "fc": [{"activation": activation}]})
            model, layers = build_model(arch, (1, 8, 8), 3)
            assert [layer.shape for layer in layers] == real_shapes(model, (1, 8, 8))
