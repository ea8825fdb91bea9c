"""The numpy fast path equals the PyTorch reference: losses, gradients and parameter updates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.datasets2d import DataConfig, generate
from ml_core.fastmlp import FastMLP, eval_forward, eval_layers, unsupported_reason
from ml_core.mlp import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    MLPConfig,
    TrainConfig,
    build_mlp,
    loss_fn,
)
from ml_core.mlp_run import MLPRun, RunConfig
from ml_core.training import make_optimizer

FAST_ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "prelu")
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


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
def test_fast_path_equals_reference(activation, loss, optimizer, classes):
    config = MLPConfig(
        hidden=(5, 3),
        activation=activation,
        features=("x1", "x2", "x1sq", "x2sq"),
        classes=classes,
    )
    train = TrainConfig(optimizer, learning_rate=0.2, loss=loss, weight_decay=0.01)
    model = build_mlp(config, seed=11)
    fast = FastMLP(config, train)
    fast.load(model)
    reference = make_optimizer(optimizer, model.parameters(), 0.2, 0.01)
    x, labels = batch(classes)
    for step in range(4):  # several steps: momentum and Adam state must match too
        reference.zero_grad()
        expected = loss_fn(loss, model(torch.from_numpy(x)), torch.from_numpy(labels))
        expected.backward()
        got = fast.gradients(x, labels)
        assert got == pytest.approx(expected.item(), rel=1e-5, abs=1e-7), f"loss, step {step}"
        np.testing.assert_allclose(fast.vector(grad=True), reference_vector(model, "grad"), **TOL)
        reference.step()
        fast._update()
        np.testing.assert_allclose(fast.vector(), reference_vector(model, "data"), **TOL)


@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
def test_store_round_trips_the_parameters(activation):
    config = MLPConfig(hidden=(4, 2), activation=activation)
    source, target = build_mlp(config, seed=1), build_mlp(config, seed=2)
    fast = FastMLP(config, TrainConfig())
    fast.load(source)
    fast.flat += 0.5  # change every parameter, PReLU slopes included
    fast.store(target)
    np.testing.assert_allclose(reference_vector(target, "data"), fast.vector())
    assert not np.allclose(reference_vector(source, "data"), fast.vector())


def test_gradient_descent_on_a_batch_of_one_and_a_ragged_last_batch():
    config = MLPConfig(hidden=(3,))
    model = build_mlp(config, seed=0)
    fast = FastMLP(config, TrainConfig("sgd", 0.5))
    fast.load(model)
    for size in (1, 7, 10, 7):  # a cached buffer per batch size, reused
        x, labels = batch(2, size)
        loss_fn(
            "cross_entropy", model(torch.from_numpy(x[:, :2])), torch.from_numpy(labels)
        ).backward()
        fast.gradients(x[:, :2], labels)
        np.testing.assert_allclose(fast.vector(grad=True), reference_vector(model, "grad"), **TOL)
        model.zero_grad()


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (MLPConfig(dropout=0.1), "dropout"),
        (MLPConfig(batch_norm=True), "batch norm"),
        (MLPConfig(activation="rrelu"), "RReLU"),
    ],
)
def test_random_or_batch_statistics_configs_are_left_to_the_reference(config, reason):
    assert reason in unsupported_reason(config)
    with pytest.raises(ValueError, match=reason):
        FastMLP(config, TrainConfig())
    assert unsupported_reason(MLPConfig(activation="prelu")) is None


@pytest.mark.parametrize(
    ("data", "model", "training"),
    [
        (DataConfig("circle"), MLPConfig(), TrainConfig()),
        (
            DataConfig("spiral", classes=3, samples=200),
            MLPConfig(hidden=(8,) * 6, activation="relu", features=("x1", "x2", "sin_x1")),
            TrainConfig("adam", 0.01, batch_size=7, loss="hinge", weight_decay=0.001),
        ),
        (
            DataConfig("moons", val_fraction=0.2),
            MLPConfig(hidden=(6, 6), activation="prelu"),
            TrainConfig("momentum", 0.05, batch_size=1, loss="mse"),
        ),
    ],
    ids=["circle", "spiral", "moons"],
)
def test_whole_runs_match_between_the_two_paths(data, model, training):
    config = RunConfig(data, model, training)
    fast, reference = MLPRun(config, fast=True), MLPRun(config, fast=False)
    assert (fast.engine, reference.engine) == ("fast", "reference")
    steps = 3 * fast.steps_per_epoch
    fast.step(steps)
    reference.step(steps)
    a, b = fast.metrics(), reference.metrics()
    assert a["epoch"] == b["epoch"] == 3
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-3), key
    np.testing.assert_allclose(fast.snapshot().output, reference.snapshot().output, atol=1e-3)


@pytest.mark.parametrize(
    "model",
    [MLPConfig(hidden=(5, 4), activation=a) for a in ACTIVATIONS]
    + [MLPConfig(hidden=(6, 3), batch_norm=True, dropout=0.3, activation="leaky_relu")],
    ids=[*ACTIVATIONS, "batch_norm+dropout"],
)
def test_numpy_evaluation_equals_the_module_in_eval_mode(model):
    """Metrics and pictures on the CPU come from eval_forward: it must be the module's eval."""
    config = RunConfig(DataConfig("spiral", classes=3, samples=120), model, TrainConfig("adam"))
    s = MLPRun(config, fast=False)
    s.step(40)  # moved weights, batch-norm running statistics, PReLU slopes
    s.model.eval()
    with torch.no_grad():
        logits, hiddens = s.model.forward_hidden(s._X_eval)
    got_logits, got_hiddens = eval_forward(eval_layers(s.model), model.activation, s._X_eval_np)
    np.testing.assert_allclose(got_logits, logits.numpy(), rtol=1e-4, atol=1e-5)
    for got, expected in zip(got_hiddens, hiddens, strict=True):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
