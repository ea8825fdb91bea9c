"""The reference MLP: shapes, activations, losses (against hand-written loops), optimizers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ml_core.datasets2d import CUSTOM, DATASETS
from ml_core.features import FEATURES
from ml_core.mlp import (
    ACTIVATIONS,
    ALL_LOSSES,
    HUBER_DELTA,
    LEAKY_SLOPE,
    LOSSES,
    OPTIMIZERS,
    PRELU_INIT,
    REGRESSION_LOSSES,
    RRELU_LOWER,
    RRELU_UPPER,
    build_mlp,
    count_parameters,
    loss_fn,
    make_activation,
    map_probability,
    mean_loss,
    predicted,
    predictions,
    probabilities,
)
from ml_core.mlp_config import DataConfig, ModelConfig, PlaygroundConfig
from ml_core.training import OPTIMIZERS as ALL_OPTIMIZERS
from ml_core.training import make_optimizer, set_hyperparameters


def test_layers_and_parameter_count_follow_the_config():
    config = ModelConfig(hidden=(4, 2), features=("x1", "x2", "x1sq"))
    model = build_mlp(config, classes=2, seed=0)
    assert config.layer_sizes(2) == (3, 4, 2, 1)
    assert count_parameters(model) == (3 * 4 + 4) + (4 * 2 + 2) + (2 * 1 + 1)
    k = ModelConfig(hidden=())
    assert k.layer_sizes(5) == (2, 5)
    assert build_mlp(k, classes=5, seed=0)(torch.zeros(7, 2)).shape == (7, 5)


def test_forward_hidden_returns_every_hidden_layer():
    model = build_mlp(ModelConfig(hidden=(5, 3, 2), activation="relu"), classes=2, seed=1)
    logits, hiddens = model.forward_hidden(torch.randn(6, 2))
    assert logits.shape == (6, 1)
    assert [h.shape for h in hiddens] == [(6, 5), (6, 3), (6, 2)]
    assert all((h >= 0).all() for h in hiddens)  # relu outputs


def test_weights_come_from_the_seed():
    a = build_mlp(ModelConfig(), classes=2, seed=3)
    b = build_mlp(ModelConfig(), classes=2, seed=3)
    c = build_mlp(ModelConfig(), classes=2, seed=4)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
    w = a.linears[0].weight  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 2
    assert w.abs().max() <= 1 / math.sqrt(2)


def test_relu_like_layers_start_from_he_initialisation():
    """Weights that feed a ReLU-like unit are drawn from U(+-sqrt(6 / fan_in)) (He), the rest
    (the output layer, the biases, other activations) from PyTorch's U(+-1 / sqrt(fan_in))."""
    tanh = build_mlp(ModelConfig(hidden=(64, 64)), classes=2, seed=3)
    relu = build_mlp(ModelConfig(hidden=(64, 64), activation="relu"), classes=2, seed=3)
    for j, (plain, he) in enumerate(zip(tanh.linears, relu.linears, strict=True)):
        bound = 1 / math.sqrt(plain.in_features)
        gain = math.sqrt(6) if j < 2 else 1.0
        assert plain.weight.abs().max() <= bound
        assert he.weight.abs().max() <= gain * bound
        assert he.weight.abs().max() > 0.9 * gain * bound  # 64 x 64 draws reach near the bound
        torch.testing.assert_close(he.bias, plain.bias)


REFERENCE_ACTIVATIONS = {
    "linear": lambda x: x,
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "tanh": lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "relu": lambda x: torch.where(x > 0, x, 0.0),
    "leaky_relu": lambda x: torch.where(x > 0, x, LEAKY_SLOPE * x),
    "prelu": lambda x: torch.where(x > 0, x, PRELU_INIT * x),
    "rrelu": lambda x: torch.where(x >= 0, x, (RRELU_LOWER + RRELU_UPPER) / 2 * x),  # eval
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_match_their_formulas(name):
    x = torch.linspace(-3, 3, 61)
    act = make_activation(name, torch.Generator().manual_seed(0)).eval()
    torch.testing.assert_close(act(x), REFERENCE_ACTIVATIONS[name](x), rtol=1e-5, atol=1e-6)


def test_rrelu_draws_slopes_between_its_bounds_in_training():
    act = make_activation("rrelu", torch.Generator().manual_seed(0)).train()
    x = -torch.ones(1000)
    slope = -act(x)
    assert slope.min() >= RRELU_LOWER
    assert slope.max() <= RRELU_UPPER
    assert slope.std() > 0.02  # really random
    assert torch.equal(act(torch.ones(5)), torch.ones(5))


def test_dropout_is_seeded_and_off_in_eval():
    config = ModelConfig(hidden=(16,), dropout=0.5)
    x = torch.randn(32, 2)
    a, b = build_mlp(config, classes=2, seed=9), build_mlp(config, classes=2, seed=9)
    assert torch.equal(a(x), b(x))  # same masks from the same seed
    a.eval()
    assert torch.equal(a(x), a(x))
    assert torch.equal(a.drops[0](torch.ones(1000)), torch.ones(1000))  # eval: untouched
    a.train()
    dropped = a.drops[0](torch.ones(1000))
    assert set(dropped.unique().tolist()) == {0.0, 2.0}  # dropped or scaled by 1 / (1 - p)


def _loop_loss(name: str, logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Nested-loop reference for every loss (2 classes: one logit; k: k logits)."""
    batch, n_out = logits.shape
    total = 0.0
    for b in range(batch):
        y = int(labels[b])
        z = [float(v) for v in logits[b]]
        if n_out == 1:
            p, t = 1 / (1 + math.exp(-z[0])), float(y)
            if name == "cross_entropy":
                total += -(t * math.log(p) + (1 - t) * math.log(1 - p))
            elif name == "mse":
                total += (p - t) ** 2
            elif name == "l1":
                total += abs(p - t)
            else:
                total += max(0.0, 1 - (2 * t - 1) * z[0])
        else:
            exps = [math.exp(v) for v in z]
            probs = [e / sum(exps) for e in exps]
            if name == "cross_entropy":
                total += -math.log(probs[y])
            elif name in ("mse", "l1"):
                for i in range(n_out):
                    diff = probs[i] - (1.0 if i == y else 0.0)
                    total += (diff**2 if name == "mse" else abs(diff)) / n_out
            else:
                total += sum(max(0.0, 1 - z[y] + z[i]) for i in range(n_out) if i != y) / n_out
    return total / batch


@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("name", LOSSES)
def test_losses_match_a_nested_loop(name, classes):
    gen = torch.Generator().manual_seed(0)
    n_out = 1 if classes == 2 else classes
    logits = torch.randn(12, n_out, generator=gen) * 2
    labels = torch.randint(0, classes, (12,), generator=gen)
    got = float(loss_fn(name, logits, labels))
    assert got == pytest.approx(_loop_loss(name, logits, labels), rel=1e-5)


@pytest.mark.parametrize("name", REGRESSION_LOSSES)
def test_regression_losses_match_a_loop_on_the_output_itself(name):
    gen = torch.Generator().manual_seed(1)
    outputs = torch.randn(15, 1, generator=gen) * 2
    targets = torch.randn(15, generator=gen)
    total = 0.0
    for y, t in zip(outputs[:, 0].tolist(), targets.tolist(), strict=True):
        e = y - t
        if name == "mse":
            total += e * e
        elif name == "l1":
            total += abs(e)
        else:  # huber: squared inside |e| < delta, linear beyond
            total += 0.5 * e * e if abs(e) < HUBER_DELTA else HUBER_DELTA * (abs(e) - HUBER_DELTA / 2)
    got = float(loss_fn(name, outputs, targets, "regression"))
    assert got == pytest.approx(total / 15, rel=1e-5)


def test_a_regression_has_one_output_whatever_the_classes():
    config = ModelConfig(hidden=(3,))
    assert config.layer_sizes(4, "regression") == (2, 3, 1)
    model = build_mlp(config, classes=4, seed=0, task="regression")
    assert model(torch.zeros(5, 2)).shape == (5, 1)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown loss"):
        loss_fn("huber", torch.zeros(2, 1), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("swish")
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs", [torch.zeros(1, requires_grad=True)], 0.1)


def test_probabilities_and_predictions():
    two = torch.tensor([[-2.0], [0.5]])
    torch.testing.assert_close(probabilities(two), torch.sigmoid(two[:, 0]))
    assert predictions(two).tolist() == [0, 1]
    k = torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]])
    torch.testing.assert_close(probabilities(k), F.softmax(k, dim=1))
    assert predictions(k).tolist() == [1, 0]


@pytest.mark.parametrize("name", ALL_OPTIMIZERS)
def test_optimizers_take_a_step_downhill_and_change_rate_in_place(name):
    w = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = make_optimizer(name, [w], learning_rate=0.1)
    (w**2).sum().backward()
    opt.step()
    assert (w.detach().abs() < torch.tensor([1.0, 2.0])).all()
    set_hyperparameters(opt, 0.5, 0.01)
    assert opt.param_groups[0]["lr"] == 0.5
    assert opt.param_groups[0]["weight_decay"] == 0.01
    if name == "momentum":
        assert opt.param_groups[0]["momentum"] == 0.9


def test_the_playground_offers_the_optimizers_its_fast_path_implements():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "adam"} <= set(ALL_OPTIMIZERS)


# ---- the one config (ml_core/mlp_config.py) ----------------------------------------------------
def _enum(schema: dict, section: str, field: str) -> list:
    """The values the JSON schema allows for one field (directly, or for a tuple's items)."""
    prop = schema["$defs"][section]["properties"][field]
    return prop["items"]["enum"] if "items" in prop else prop["enum"]


def test_the_config_takes_its_choices_from_the_core_registries():
    schema = PlaygroundConfig.model_json_schema()
    assert _enum(schema, "ModelConfig", "activation") == list(ACTIVATIONS)
    assert _enum(schema, "ModelConfig", "features") == list(FEATURES)
    assert _enum(schema, "TrainConfig", "loss") == list(ALL_LOSSES)
    assert set(ALL_LOSSES) == set(LOSSES) | set(REGRESSION_LOSSES)
    assert _enum(schema, "TrainConfig", "optimizer") == list(OPTIMIZERS)
    assert _enum(schema, "DataConfig", "name") == [*DATASETS, CUSTOM]
    for name in ACTIVATIONS:  # every registered activation builds a network that runs
        config = PlaygroundConfig.model_validate({"model": {"activation": name}})
        model = build_mlp(config.model, classes=2, seed=0)
        assert model(torch.zeros(3, 2)).shape == (3, 1)
    with pytest.raises(ValidationError, match="activation"):
        PlaygroundConfig.model_validate({"model": {"activation": "swish"}})


LIMITS = SimpleNamespace(max_points=1000, max_classes=3, max_hidden_layers=2, max_neurons=5)


def test_without_a_context_only_the_hard_bounds_apply():
    config = PlaygroundConfig.model_validate({"model": {"hidden": [8, 8, 8]}})
    assert config.model.hidden == (8, 8, 8)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": {"hidden": [4, 4, 4]}}, "at most 2 hidden layers"),
        ({"model": {"hidden": [6]}}, "at most 5 neurons"),
        ({"dataset": {"samples": 1001}}, "at most 1000 points"),
        ({"dataset": {"name": "blobs", "classes": 4}}, "at most 3 classes"),
        ({"training": {"batch_size": 1001}}, "batch_size: at most 1000"),
    ],
)
def test_config_limits_come_from_the_validation_context(data, message):
    with pytest.raises(ValidationError, match=message):
        PlaygroundConfig.model_validate(data, context={"limits": LIMITS})


def test_config_normalises_features_and_checks_what_sections_share():
    config = PlaygroundConfig.model_validate({"model": {"features": ["x1x2", "x2", "x1"]}})
    assert config.model.features == ("x1", "x2", "x1x2")  # the diagram's fixed order
    with pytest.raises(ValidationError, match="at most once"):
        PlaygroundConfig.model_validate({"model": {"features": ["x1", "x1"]}})
    with pytest.raises(ValidationError, match="exactly 2 classes"):
        PlaygroundConfig.model_validate({"dataset": {"name": "xor", "classes": 3}})
    with pytest.raises(ValidationError, match="batch norm"):
        PlaygroundConfig.model_validate(
            {"model": {"batch_norm": True}, "training": {"batch_size": 1}}
        )
    assert PlaygroundConfig.model_validate({"dataset": {"name": "custom", "classes": 5}})


def test_the_task_follows_the_dataset_and_a_regression_defaults_to_l2():
    plane = PlaygroundConfig.model_validate({"dataset": {"name": "plane"}})
    assert plane.task == "regression"
    assert plane.training.loss == "mse"
    assert PlaygroundConfig(dataset=DataConfig(name="gaussians")).training.loss == "mse"
    drawn = PlaygroundConfig.model_validate({"dataset": {"name": "custom", "task": "regression"}})
    assert drawn.training.loss == "mse"
    huber = {"dataset": {"name": "plane"}, "training": {"loss": "huber"}}
    assert PlaygroundConfig.model_validate(huber).training.loss == "huber"
    assert PlaygroundConfig().task == "classification"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dataset": {"name": "plane"}, "training": {"loss": "cross_entropy"}}, "choose from mse"),
        ({"training": {"loss": "huber"}}, "does not fit a classification"),
        ({"dataset": {"name": "plane", "task": "classification"}}, "is a regression dataset"),
        ({"dataset": {"name": "circle", "task": "regression"}}, "regression takes plane"),
        ({"dataset": {"val_fraction": 0.5, "test_fraction": 0.5}}, "at most 0.9"),
        ({"dataset": {"test_fraction": 0.6}}, "test_fraction"),
        ({"play": {"steps_per_frame": -1}}, "steps_per_frame"),
    ],
)
def test_a_config_of_mixed_tasks_or_splits_is_refused(data, message):
    with pytest.raises(ValidationError, match=message):
        PlaygroundConfig.model_validate(data)


# The NumPy losses the metrics and the divergence watch read equal torch's, wherever the
# outputs are: moderate, huge (a diverging run), or exactly on a hinge's margin.
LOGIT = st.floats(-60, 60, allow_nan=False, width=32) | st.sampled_from([0.0, 1.0, -1.0, 1e4, -1e4])


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(LOSSES), classes=st.sampled_from([2, 3, 5]))
def test_numpy_losses_equal_torchs(data, name, classes):
    n_out = 1 if classes == 2 else classes
    m = data.draw(st.integers(1, 12))
    logits = np.array(data.draw(st.lists(LOGIT, min_size=m * n_out, max_size=m * n_out)), np.float32)
    logits = logits.reshape(m, n_out)
    labels = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=m, max_size=m)))
    want = float(loss_fn(name, torch.from_numpy(logits).double(), torch.from_numpy(labels)))
    assert mean_loss(name, logits, labels) == pytest.approx(want, rel=1e-6, abs=1e-9)
    torch_preds = predictions(torch.from_numpy(logits)).numpy()
    assert (predicted(logits) == torch_preds).all()  # ties: both take the first largest
    probs = probabilities(torch.from_numpy(logits).double()).numpy()
    shown = probs if n_out == 1 else probs.max(axis=1)
    np.testing.assert_allclose(map_probability(logits.astype(np.float64)), shown, rtol=1e-6, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), name=st.sampled_from(REGRESSION_LOSSES))
def test_numpy_regression_losses_equal_torchs(data, name):
    m = data.draw(st.integers(1, 12))
    values = st.floats(-100, 100, allow_nan=False, width=32)
    outputs = np.array(data.draw(st.lists(values, min_size=m, max_size=m)), np.float32)[:, None]
    targets = np.array(data.draw(st.lists(values, min_size=m, max_size=m)), np.float32)
    want = float(loss_fn(name, torch.from_numpy(outputs).double(), torch.from_numpy(targets).double(), "regression"))
    assert mean_loss(name, outputs, targets, "regression") == pytest.approx(want, rel=1e-6, abs=1e-9)


def test_a_numpy_loss_of_diverged_outputs_is_not_a_number():
    logits = np.array([[np.nan], [1.0]], np.float32)
    assert np.isnan(mean_loss("cross_entropy", logits, np.array([0, 1])))
    with pytest.raises(ValueError, match="unknown loss"):
        mean_loss("huber", logits, np.array([0, 1]))
