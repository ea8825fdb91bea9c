"""The backward view: every engine's gradients and deltas against autograd, the mini-batch they are
taken over, looking that never changes the run, and vanishing gradients (sigmoid vs ReLU)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from ml_core.fastmlp import FastMLP
from ml_core.mlp import ACTIVATIONS, LOSSES, build_mlp, load_parameters, loss_fn
from ml_core.mlp_config import DataConfig, ModelConfig, PlaygroundConfig, TrainConfig
from ml_core.mlp_run import MLPRun
from ml_core.mlp_torch import TorchEngine

FAST_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "rrelu")


def make_run(model: ModelConfig, training: TrainConfig | None = None, **data) -> MLPRun:
    dataset = DataConfig(**{"samples": 120, **data})
    return MLPRun(PlaygroundConfig(dataset=dataset, model=model, training=training or TrainConfig()))


def reference_gradients(run: MLPRun, rows: np.ndarray | None = None):
    """Mean loss over the rows (all training points by default) through the float64 module in
    eval mode: (loss, [dW], [db], [summed dL/dz per layer], [dL/d slope])."""
    if run.engine.name == "reference":
        model = copy.deepcopy(run.engine.model)
    else:
        model = build_mlp(run.config.model, run.classes, seed=0)
        load_parameters(model, run.engine.parameters())
    model = model.double().eval()
    rows = np.arange(run.n_train) if rows is None else rows
    a = torch.from_numpy(run.train_features[rows]).double()
    zs = []
    for j, linear in enumerate(model.linears):
        z = linear(a)
        z.retain_grad()
        zs.append(z)
        if j < len(model.acts):
            a = model.acts[j](model.norms[j](z))
    loss = loss_fn(run.config.training.loss, zs[-1], torch.from_numpy(run.train_y[rows]))
    loss.backward()
    slopes = [act.weight.grad.item() for act in model.acts] if run.config.model.activation == "prelu" else None
    return (
        loss.item(),
        [lin.weight.grad.numpy() for lin in model.linears],
        [lin.bias.grad.numpy() for lin in model.linears],
        [z.grad.sum(0).numpy() for z in zs],
        slopes,
    )


def near(got, expected, scale: float) -> None:
    """Float32 engines against the float64 reference: 1e-4 relative, with float32's rounding
    noise allowed at 1e-5 of ``scale`` (the largest gradient of the tensor or its layer)."""
    expected = np.asarray(expected, np.float64)
    np.testing.assert_allclose(np.asarray(got, np.float64), expected, rtol=1e-4, atol=1e-5 * scale)


def check_view(run: MLPRun, over: str, rows: np.ndarray | None) -> None:
    view = run.gradients(over)
    loss, dW, db, deltas, slopes = reference_gradients(run, rows)
    assert view.result.loss == pytest.approx(loss, rel=1e-5)
    assert view.result.rows == (run.n_train if rows is None else len(rows))
    for j in range(len(dW)):
        scale = max(np.abs(dW[j]).max(), np.abs(db[j]).max(), 1e-30)
        near(view.result.grads.weights[j], dW[j], scale)
        near(view.result.grads.biases[j], db[j], scale)
        near(view.result.deltas[j], deltas[j], scale)
    norms = view.result.norms()
    np.testing.assert_allclose(norms, [np.linalg.norm(g) for g in dW], rtol=1e-4)
    if slopes is not None:
        np.testing.assert_allclose(view.result.grads.prelu, slopes, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_both_engines_give_the_gradients_of_autograd(fast, activation, loss):
    model = ModelConfig(hidden=(5, 3), activation=activation)
    run = MLPRun(
        PlaygroundConfig(
            dataset=DataConfig(name="blobs", classes=3, samples=120),
            model=model,
            training=TrainConfig(loss=loss, optimizer="adam", learning_rate=0.01),
        ),
        fast=fast,
    )
    assert isinstance(run.engine, FastMLP if fast else TorchEngine)
    run.step(17)
    check_view(run, "train", None)
    check_view(run, "batch", run.last_batch())


@pytest.mark.parametrize(
    "model",
    [
        ModelConfig(hidden=(6, 4), batch_norm=True, dropout=0.3, activation="prelu"),
        ModelConfig(hidden=(5,), activation="rrelu", dropout=0.5),
    ],
    ids=["batchnorm-dropout-prelu", "rrelu-dropout"],
)
def test_the_reference_engine_gives_eval_mode_gradients(model):
    run = make_run(model, TrainConfig(optimizer="momentum"))
    assert run.engine.name == "reference"
    run.step(9)
    check_view(run, "train", None)
    check_view(run, "batch", run.last_batch())


def test_the_last_mini_batch_is_the_rows_the_last_step_trained_on():
    run = make_run(ModelConfig(), TrainConfig(batch_size=10), seed=4)  # 60 points, 6 steps/epoch
    first = run.gradients("batch")
    assert (first.over, first.result.rows) == ("train", 60)  # no step yet: the whole set
    run.step(3)
    order = np.random.default_rng(4 + 2).permutation(60)  # the run's first shuffle (seed + 2)
    np.testing.assert_array_equal(run.last_batch(), order[20:30])
    view = run.gradients("batch")
    assert (view.over, view.result.rows, view.step) == ("batch", 10, 3)
    run.step(4)  # into the second epoch, its own shuffle: batch 1 of 6
    assert len(run.last_batch()) == 10
    assert not np.array_equal(run.last_batch(), order[:10])
    check_view(run, "batch", run.last_batch())
    run.reset()
    assert run.gradients("batch").over == "train"


def test_a_ragged_last_batch_is_what_it_is():
    run = make_run(ModelConfig(), TrainConfig(batch_size=25))  # 60 points: 25, 25, 10
    run.step(3)
    assert run.gradients("batch").result.rows == 10
    assert run.gradients("train").result.rows == 60


@pytest.mark.parametrize(
    "model",
    [ModelConfig(activation="prelu"), ModelConfig(hidden=(6, 4), batch_norm=True, dropout=0.3,
                                                   activation="rrelu")],
    ids=["fast", "reference-with-randomness"],
)
def test_looking_never_changes_the_run(model):
    """Gradients, deltas and walk-throughs between steps leave the run exactly where it was:
    same weights, optimizer memory, batch-norm statistics and random draws afterwards."""
    training = TrainConfig(optimizer="adam", learning_rate=0.01)
    looked, plain = make_run(model, training), make_run(model, training)
    looked.step(7)
    for over in ("train", "batch"):
        looked.gradients(over)
    looked.explain(0)
    looked.explain(looked.n_train - 1)
    looked.step(7)
    plain.step(14)
    np.testing.assert_array_equal(looked.engine.parameters().vector(), plain.engine.parameters().vector())
    if looked.engine.name == "reference":
        for a, b in zip(looked.engine.model.state_dict().values(),
                        plain.engine.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)  # batch-norm running statistics included
    assert looked.metrics() == plain.metrics()


def test_the_view_is_cached_until_the_next_step():
    run = make_run(ModelConfig())
    first = run.gradients("train")
    assert run.gradients("train") is first
    run.step(1)
    assert run.gradients("train") is not first


def test_an_unknown_gradient_source_is_refused():
    with pytest.raises(ValueError, match="choose from train, batch"):
        make_run(ModelConfig()).gradients("everything")


# --- what the page's vanishing-gradient demo promises -------------------------------------------
# Six hidden layers of 8 on the circle, gradients over the whole training set (the page's
# default): the first layer's ||dL/dW|| sits thousands of times below the output layer's with
# sigmoid, and within a few tens of it with ReLU. Checked over several seeds and while training.
DEMO = ModelConfig(hidden=(8,) * 6)


def first_to_last(activation: str, seed: int) -> list[float]:
    run = make_run(DEMO.model_copy(update={"activation": activation}), samples=500, seed=seed)
    ratios = []
    for _ in range(4):
        norms = run.gradients("train").result.norms()
        ratios.append(norms[-1] / norms[0])
        run.step(200)
    return ratios


@pytest.mark.parametrize("seed", range(4))
def test_six_sigmoid_layers_starve_the_first_layer_of_gradient(seed):
    assert min(first_to_last("sigmoid", seed)) >= 1000


@pytest.mark.parametrize("seed", range(4))
def test_six_relu_layers_keep_the_first_layers_gradient(seed):
    assert max(first_to_last("relu", seed)) < 50


@pytest.mark.parametrize("seed", range(3))
def test_in_1000_steps_six_sigmoid_layers_stay_near_chance_while_relu_learns(seed):
    """The page: the first layers of the sigmoid stack barely learn; the ReLU stack does."""
    accuracy = {}
    for activation in ("sigmoid", "relu"):
        run = make_run(DEMO.model_copy(update={"activation": activation}), samples=500, seed=seed)
        run.step(1000)
        accuracy[activation] = run.metrics()["val_accuracy"]
    assert accuracy["sigmoid"] < 0.7
    assert accuracy["relu"] > 0.9


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "reference"])
def test_a_mini_batch_gradient_is_the_mean_of_its_examples_gradients(fast):
    """The page: the walk-through shows one example's gradient; a batch's is their average."""
    config = PlaygroundConfig(
        dataset=DataConfig(name="spiral", classes=3, samples=120),
        model=ModelConfig(hidden=(5, 4), activation="prelu"),
        training=TrainConfig(batch_size=8, optimizer="momentum"),
    )
    run = MLPRun(config, fast=fast)
    run.step(5)
    view = run.gradients("batch").result
    walks = [run.explain(int(i)) for i in run.last_batch()]
    for j in range(3):
        mean_w = np.mean([w.layers[j].grad_weights for w in walks], axis=0)
        mean_b = np.mean([w.layers[j].grad_biases for w in walks], axis=0)
        scale = np.abs(mean_w).max()
        near(view.grads.weights[j], mean_w, scale)
        near(view.grads.biases[j], mean_b, scale)
    slopes = np.mean([[w.layers[j].grad_slope for j in range(2)] for w in walks], axis=0)
    np.testing.assert_allclose(view.grads.prelu, slopes, rtol=1e-4, atol=1e-7)
