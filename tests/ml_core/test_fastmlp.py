"""The numpy fast engine equals the PyTorch reference: losses, gradients and parameter updates.

The reference is written out here (the module, ``loss_fn`` and a torch optimizer), independent of
both engines; the reference engine is checked against the same loop.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.datasets2d import generate
from ml_core.fastmlp import ACTIVATION_OPS, FastMLP, eval_forward, unsupported_reason
from ml_core.features import feature_matrix
from ml_core.mlp import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    build_mlp,
    loss_fn,
    parameters_of,
)
from ml_core.mlp_config import DataConfig, ModelConfig, PlaygroundConfig, TrainConfig
from ml_core.mlp_run import MLPRun
from ml_core.mlp_torch import TorchEngine, eval_layers
from ml_core.training import make_optimizer

FAST_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "rrelu")
TOL = {"rtol": 1e-4, "atol": 2e-6}


def reference_vector(model, attr: str) -> np.ndarray:
    """The module's parameters (or their .grad) in the fast path's flat layout."""
    parts = []
    for linear in model.linears:
        parts += [getattr(linear.weight, attr), getattr(linear.bias, attr)]
    if model.config.activation == "prelu":
        parts += [getattr(act.weight, attr) for act in model.acts]
    return torch.cat([p.detach().reshape(-1) for p in parts]).numpy()


def batch(classes: int, size: int = 10):
    xy, labels = generate("blobs" if classes > 2 else "circle", 60, 0.3, classes, seed=2)
    x = np.concatenate([xy, xy**2], axis=1)[:size]  # 4 features, some larger than 1
    return x.astype(np.float32), labels[:size]


def test_the_fast_path_covers_every_activation_but_the_random_one():
    assert set(ACTIVATION_OPS) == set(ACTIVATIONS)
    trained = {name for name, ops in ACTIVATION_OPS.items() if ops.derivative is not None}
    assert trained == set(FAST_ACTIVATIONS)


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
def test_engines_equal_the_textbook_loop(activation, loss, optimizer, classes, engine):
    config = ModelConfig(
        hidden=(5, 3), activation=activation, features=("x1", "x2", "x1sq", "x2sq")
    )
    train = TrainConfig(optimizer=optimizer, learning_rate=0.2, loss=loss, weight_decay=0.01)
    model = build_mlp(config, classes, seed=11)
    reference = make_optimizer(optimizer, model.parameters(), 0.2, 0.01)
    if engine == "fast":
        tested = FastMLP(config, classes, train)
    else:
        tested = TorchEngine(config, classes, train)
    tested.reset(seed=11)
    x, labels = batch(classes)
    tested.set_data(x, labels)
    np.testing.assert_array_equal(tested.parameters().vector(), reference_vector(model, "data"))
    for step in range(4):  # several steps: momentum and Adam state must match too
        reference.zero_grad()
        expected = loss_fn(loss, model(torch.from_numpy(x)), torch.from_numpy(labels))
        expected.backward()
        got, gradient = tested.gradients(x, labels)
        assert got == pytest.approx(expected.item(), rel=1e-5, abs=1e-7), f"loss, step {step}"
        np.testing.assert_allclose(gradient, reference_vector(model, "grad"), **TOL)
        reference.step()
        tested.step(0, len(labels))
        np.testing.assert_allclose(
            tested.parameters().vector(), reference_vector(model, "data"), **TOL
        )


@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
def test_parameters_round_trip(activation):
    config = ModelConfig(hidden=(4, 2), activation=activation)
    fast = FastMLP(config, 2, TrainConfig())
    fast.reset(seed=1)
    source = fast.parameters()
    moved = parameters_of(build_mlp(config, 2, seed=2))
    for w in moved.weights:
        w += 0.5
    moved.prelu = [0.75, -0.5] if activation == "prelu" else None
    fast.load(moved)
    np.testing.assert_array_equal(fast.parameters().vector(), moved.vector())
    assert not np.allclose(source.vector(), moved.vector())


def test_gradient_descent_on_a_batch_of_one_and_a_ragged_last_batch():
    config = ModelConfig(hidden=(3,))
    model = build_mlp(config, 2, seed=0)
    fast = FastMLP(config, 2, TrainConfig(learning_rate=0.5))
    fast.reset(seed=0)
    for size in (1, 7, 10, 7):  # a cached buffer per batch size, reused
        x, labels = batch(2, size)
        loss_fn(
            "cross_entropy", model(torch.from_numpy(x[:, :2])), torch.from_numpy(labels)
        ).backward()
        _, gradient = fast.gradients(x[:, :2], labels)
        np.testing.assert_allclose(gradient, reference_vector(model, "grad"), **TOL)
        model.zero_grad()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (ModelConfig(dropout=0.1), "dropout"),
        (ModelConfig(batch_norm=True), "batch norm"),
        (ModelConfig(activation="rrelu"), "RReLU"),
    ],
)
def test_random_or_batch_statistics_configs_are_left_to_the_reference(config, reason):
    assert reason in unsupported_reason(config)
    with pytest.raises(ValueError, match=reason):
        FastMLP(config, 2, TrainConfig())
    assert unsupported_reason(ModelConfig(activation="prelu")) is None


@pytest.mark.parametrize(
    ("data", "model", "training"),
    [
        (DataConfig(), ModelConfig(), TrainConfig()),
        (
            DataConfig(name="spiral", classes=3, samples=200),
            ModelConfig(hidden=(8,) * 6, activation="relu", features=("x1", "x2", "sin_x1")),
            TrainConfig(
                optimizer="adam",
                learning_rate=0.01,
                batch_size=7,
                loss="hinge",
                weight_decay=0.001,
            ),
        ),
        (
            DataConfig(name="moons", val_fraction=0.2),
            ModelConfig(hidden=(6, 6), activation="prelu"),
            TrainConfig(optimizer="momentum", learning_rate=0.05, batch_size=1, loss="mse"),
        ),
    ],
    ids=["circle", "spiral", "moons"],
)
def test_whole_runs_match_between_the_two_paths(data, model, training):
    config = PlaygroundConfig(dataset=data, model=model, training=training)
    fast, reference = MLPRun(config, fast=True), MLPRun(config, fast=False)
    assert fast.engine.name == "fast"
    assert reference.engine.name == "reference"
    steps = 3 * fast.steps_per_epoch
    fast.step(steps)
    reference.step(steps)
    a, b = fast.metrics(), reference.metrics()
    assert a["epoch"] == 3
    assert b["epoch"] == 3
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-3), key
    np.testing.assert_allclose(fast.snapshot().output, reference.snapshot().output, atol=1e-3)


@pytest.mark.parametrize(
    "model",
    [ModelConfig(hidden=(5, 4), activation=a) for a in ACTIVATIONS]
    + [ModelConfig(hidden=(6, 3), batch_norm=True, dropout=0.3, activation="leaky_relu")],
    ids=[*ACTIVATIONS, "batch_norm+dropout"],
)
def test_numpy_evaluation_equals_the_module_in_eval_mode(model):
    """Metrics and pictures on the CPU come from eval_forward: it must be the module's eval."""
    data = DataConfig(name="spiral", classes=3, samples=120)
    s = MLPRun(PlaygroundConfig(dataset=data, model=model), fast=False)
    s.step(40)  # moved weights, batch-norm running statistics, PReLU slopes
    module = s.engine.model.eval()
    x = feature_matrix(torch.rand(300, 2) * 2 - 1, model.features)  # (300, F)
    with torch.no_grad():
        logits, hiddens = module.forward_hidden(x)
    got_logits, got_hiddens = eval_forward(eval_layers(module), model.activation, x.numpy())
    np.testing.assert_allclose(got_logits, logits.numpy(), rtol=1e-4, atol=1e-5)
    for got, expected in zip(got_hiddens, hiddens, strict=True):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
