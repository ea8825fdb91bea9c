"""The step-by-step walk-through (ml_core/backprop.py) against torch.autograd and torch's optimizers.

The reference is the network's own ``nn.Module`` (ml_core/mlp.py) in float64 and eval mode with
the run's current weights (batch-norm statistics included), ``loss_fn`` and ``make_optimizer``
loaded with the run's optimizer memory: every number the walk-through shows must equal what
autograd and the optimizer compute, to 1e-6 relative.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from ml_core.backprop import Explanation
from ml_core.mlp import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    REGRESSION_LOSSES,
    build_mlp,
    load_parameters,
    loss_fn,
)
from ml_core.mlp_config import DataConfig, ModelConfig, PlaygroundConfig, TrainConfig
from ml_core.mlp_run import MLPRun
from ml_core.training import ADAM_BETAS, make_optimizer

TOL = {"rtol": 1e-6, "atol": 1e-15}


def close(got, expected) -> None:
    np.testing.assert_allclose(np.asarray(got, np.float64), _numpy(expected), **TOL)


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().double().numpy()
    return np.asarray(value, np.float64)


def trained_run(model: ModelConfig, training: TrainConfig, classes: int, steps: int = 23) -> MLPRun:
    """A run some steps in: weights moved, the optimizer's memory filled."""
    data = DataConfig(name="blobs" if classes > 2 else "moons", classes=classes, samples=80)
    run = MLPRun(PlaygroundConfig(dataset=data, model=model, training=training))
    run.step(steps)
    return run


def reference_module(run: MLPRun) -> torch.nn.Module:
    """The run's network as a float64 nn.Module in eval mode, with its current weights."""
    if run.engine.name == "reference":
        model = copy.deepcopy(run.engine.model)
    else:
        model = build_mlp(run.config.model, run.classes, seed=0, task=run.task)
        load_parameters(model, run.engine.parameters())
    return model.double().eval()


def trainable(model, prelu: bool) -> list[torch.Tensor]:
    """W, b per layer, then PReLU's slopes: the order of ``Parameters``."""
    tensors = [p for lin in model.linears for p in (lin.weight, lin.bias)]
    return tensors + ([act.weight for act in model.acts] if prelu else [])


class Reference:
    """One example through the module by hand, with autograd on every intermediate."""

    def __init__(self, run: MLPRun, index: int) -> None:
        self.model = model = reference_module(run)
        prelu = run.config.model.activation == "prelu"
        self.params = trainable(model, prelu)
        x = torch.from_numpy(run.train_features[index : index + 1]).double()  # (1, F)
        label = torch.tensor([run.train_y[index].item()])  # a class, or a regression's value
        self.inputs, self.z, self.u, self.a = [], [], [], []
        a = x
        for j, linear in enumerate(model.linears):
            self.inputs.append(a)
            z = linear(a)
            z.retain_grad()
            self.z.append(z)
            if j == len(model.linears) - 1:
                break
            u = model.norms[j](z)
            a = model.acts[j](u)  # dropout is the identity in eval mode
            a.retain_grad()
            self.u.append(u)
            self.a.append(a)
        self.logits = self.z[-1]
        self.loss = loss_fn(run.config.training.loss, self.logits, label, run.task)
        self.loss.backward()

    def derivative(self, j: int) -> torch.Tensor:
        """f'(u) of hidden layer j, by autograd through the activation module alone."""
        u = self.u[j].detach().requires_grad_()
        (d,) = torch.autograd.grad(self.model.acts[j](u).sum(), u)
        return d[0]

    def step(self, run: MLPRun) -> torch.optim.Optimizer:
        """One optimizer step on this example's gradient, from the run's optimizer memory."""
        t = run.config.training
        optimizer = make_optimizer(t.optimizer, self.params, t.learning_rate, t.weight_decay)
        state = run.engine.optimizer_state()
        prelu = run.config.model.activation == "prelu"
        for i, p in enumerate(self.params):
            if t.optimizer == "momentum":
                v = _layout(state.velocity, prelu)[i]
                optimizer.state[p] = {"momentum_buffer": torch.from_numpy(v).double().reshape(p.shape)}
            elif t.optimizer == "adam":
                m, v = _layout(state.velocity, prelu)[i], _layout(state.second, prelu)[i]
                optimizer.state[p] = {
                    "step": torch.tensor(float(state.steps)),
                    "exp_avg": torch.from_numpy(m).double().reshape(p.shape),
                    "exp_avg_sq": torch.from_numpy(v).double().reshape(p.shape),
                }
        self.before = [p.detach().clone() for p in self.params]
        optimizer.step()
        return optimizer


def _layout(params, prelu: bool) -> list[np.ndarray]:
    """Parameters -> arrays in ``trainable`` order."""
    arrays = [a for pair in zip(params.weights, params.biases, strict=True) for a in pair]
    return arrays + ([np.array([s], np.float32) for s in params.prelu] if prelu else [])


def check_walk(run: MLPRun, index: int) -> Explanation:
    """Every number of run.explain(index) against the reference."""
    walk = run.explain(index)
    ref = Reference(run, index)
    hidden = len(run.config.model.hidden)
    assert len(walk.layers) == hidden + 1
    close(walk.x, run.train_features[index])
    assert walk.label == pytest.approx(run.train_y[index].item())
    # forward
    for j, layer in enumerate(walk.layers):
        linear = ref.model.linears[j]
        close(layer.inputs, ref.inputs[j][0])
        close(layer.weights, linear.weight)
        close(layer.biases, linear.bias)
        close(layer.z, ref.z[j][0])
        if j < hidden:
            close(layer.activation_input, ref.u[j][0])
            close(layer.outputs, ref.a[j][0])
            close(layer.derivative, ref.derivative(j))
    # loss
    loss = walk.loss
    assert loss.value == pytest.approx(ref.loss.item(), rel=1e-6)
    close(loss.logits, ref.logits[0])
    if run.task == "regression":  # the prediction is the output itself
        close(loss.probabilities, ref.logits[0])
        close(loss.target, [walk.label])
        assert loss.grad_probabilities is None
    else:
        probabilities = ref.logits[0].sigmoid() if run.classes == 2 else ref.logits[0].softmax(0)
        close(loss.probabilities, probabilities)
        target = torch.nn.functional.one_hot(torch.tensor(walk.label), run.classes).double()
        close(loss.target, target[1:] if run.classes == 2 else target)
    if loss.grad_probabilities is not None:
        p = probabilities.detach().requires_grad_()
        t = target[1:] if run.classes == 2 else target
        error = torch.nn.functional.mse_loss if loss.name == "mse" else torch.nn.functional.l1_loss
        (grad_p,) = torch.autograd.grad(error(p, t), p)
        close(loss.grad_probabilities, grad_p)
    close(loss.delta, ref.logits.grad[0])
    # backward
    for j, layer in enumerate(walk.layers):
        linear = ref.model.linears[j]
        close(layer.delta, ref.z[j].grad[0])
        close(layer.grad_weights, linear.weight.grad)
        close(layer.grad_biases, linear.bias.grad)
        if j < hidden:
            close(layer.upstream, ref.a[j].grad[0])
        if run.config.model.activation == "prelu" and j < hidden:
            assert layer.grad_slope == pytest.approx(ref.model.acts[j].weight.grad.item(), rel=1e-6)
    # update
    t = run.config.training
    optimizer = ref.step(run)
    prelu = run.config.model.activation == "prelu"
    updates = []
    for j, layer in enumerate(walk.update.layers):
        updates += [layer.weight, layer.bias]
        assert (layer.slope is not None) == (prelu and j < hidden)
    updates += [layer.slope for layer in walk.update.layers if layer.slope is not None]
    assert len(updates) == len(ref.params)
    for update, p, before in zip(updates, ref.params, ref.before, strict=True):
        shape = p.shape
        close(update.value.reshape(shape), before)
        close(update.grad.reshape(shape), p.grad)
        close(update.decay.reshape(shape), t.weight_decay * before)
        close(update.new.reshape(shape), p)
        close(update.step.reshape(shape), before - p)
        state = optimizer.state.get(p, {})
        if t.optimizer == "momentum":
            close(update.velocity.reshape(shape), state["momentum_buffer"])
        if t.optimizer == "adam":
            step = walk.update.t
            assert state["step"].item() == step
            close(update.velocity.reshape(shape), state["exp_avg"])
            close(update.second.reshape(shape), state["exp_avg_sq"])
            close(update.velocity_hat.reshape(shape), state["exp_avg"] / (1 - ADAM_BETAS[0] ** step))
            close(update.second_hat.reshape(shape), state["exp_avg_sq"] / (1 - ADAM_BETAS[1] ** step))
        if t.optimizer == "sgd":
            assert update.velocity is None
    return walk


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_number_of_the_walk_equals_autograd(activation, loss, optimizer, classes):
    model = ModelConfig(hidden=(5, 3), activation=activation, features=("x1", "x2", "x1x2"))
    training = TrainConfig(optimizer=optimizer, loss=loss, learning_rate=0.1, weight_decay=0.01)
    run = trained_run(model, training, classes)
    for index in (0, 7):
        check_walk(run, index)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
@pytest.mark.parametrize("activation", ["tanh", "relu", "prelu"])
def test_the_walk_of_a_regression_point_equals_autograd(activation, loss, optimizer):
    model = ModelConfig(hidden=(5, 3), activation=activation)
    training = TrainConfig(optimizer=optimizer, loss=loss, learning_rate=0.05, weight_decay=0.01)
    data = DataConfig(name="gaussians", samples=80)
    run = MLPRun(PlaygroundConfig(dataset=data, model=model, training=training))
    run.step(23)
    for index in (0, 7):
        walk = check_walk(run, index)
        assert walk.task == "regression"


@pytest.mark.parametrize(
    "model",
    [
        ModelConfig(hidden=(6, 4), batch_norm=True, dropout=0.2, activation="prelu"),
        ModelConfig(hidden=(4,), batch_norm=True, activation="rrelu"),
        ModelConfig(hidden=(), features=("x1", "x2", "sin_x1")),
        ModelConfig(hidden=(3,) * 6, activation="sigmoid"),
    ],
    ids=["batchnorm-dropout-prelu", "batchnorm-rrelu", "no-hidden-layer", "six-sigmoid"],
)
def test_the_walk_equals_autograd_for_unusual_networks(model):
    training = TrainConfig(optimizer="adam", loss="cross_entropy", weight_decay=0.003)
    run = trained_run(model, training, classes=3, steps=31)
    check_walk(run, 5)


def test_the_walk_uses_the_runs_current_weights_and_changes_nothing():
    run = trained_run(ModelConfig(), TrainConfig(optimizer="momentum"), classes=2)
    before = run.engine.parameters().vector()
    state = run.engine.optimizer_state().velocity.vector()
    walk = run.explain(3)
    for layer, W in zip(walk.layers, run.engine.parameters().weights, strict=True):
        close(layer.weights, W)
    np.testing.assert_array_equal(run.engine.parameters().vector(), before)
    np.testing.assert_array_equal(run.engine.optimizer_state().velocity.vector(), state)
    assert run.steps == 23


def test_the_output_delta_of_softmax_cross_entropy_is_softmax_minus_one_hot():
    run = trained_run(ModelConfig(), TrainConfig(), classes=5)
    walk = run.explain(2)
    onehot = np.eye(5)[walk.label]
    close(walk.loss.delta, walk.loss.probabilities - onehot)
    close(walk.loss.target, onehot)


@pytest.mark.parametrize(
    ("index", "error", "says"),
    [(-1, IndexError, "no training point -1"), (40, IndexError, "there are 40 (0 to 39)")],
)
def test_explaining_a_point_that_does_not_exist_is_refused(index, error, says):
    run = trained_run(ModelConfig(), TrainConfig(), classes=2)
    with pytest.raises(error, match=re.escape(says)):
        run.explain(index)


def test_explaining_without_training_points_is_refused():
    empty = PlaygroundConfig(dataset=DataConfig(name="custom"))
    run = MLPRun(empty, points=[])
    with pytest.raises(ValueError, match="no training points"):
        run.explain(0)
    assert run.gradients("train") is None
