"""One training run: what a learner sees (XOR, circle), determinism, pictures, divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.features import feature_matrix
from ml_core.mlp import build_mlp, load_parameters
from ml_core.mlp_config import DataConfig, ModelConfig, PlaygroundConfig, TrainConfig
from ml_core.mlp_run import MLPRun, plane_grid
from ml_core.training import Diverged


def make_run(data=None, model=None, training=None, **kwargs) -> MLPRun:
    config = PlaygroundConfig(
        dataset=data or DataConfig(),
        model=model or ModelConfig(),
        training=training or TrainConfig(),
    )
    return MLPRun(config, **kwargs)


def train_epochs(s: MLPRun, epochs: int) -> dict:
    s.step(epochs * s.steps_per_epoch)
    return s.metrics()


XOR = DataConfig(name="xor")


@pytest.mark.parametrize(
    "model",
    [ModelConfig(hidden=()), ModelConfig(hidden=(4, 4), activation="linear")],
    ids=["no-hidden", "linear"],
)
def test_xor_cannot_be_learnt_by_a_linear_network(model):
    m = train_epochs(make_run(XOR, model, TrainConfig(learning_rate=0.1)), 150)
    assert m["train_accuracy"] < 0.75
    assert m["val_accuracy"] < 0.75


def test_xor_is_learnt_with_a_hidden_tanh_layer():
    s = make_run(XOR, ModelConfig(hidden=(4,)), TrainConfig(learning_rate=0.1))
    m = train_epochs(s, 150)
    assert m["val_accuracy"] > 0.9


def test_circle_accuracy_rises_with_the_default_network():
    s = make_run()
    before = s.metrics()
    after = train_epochs(s, 300)
    assert before["val_accuracy"] < 0.7
    assert after["val_accuracy"] > 0.9
    assert after["train_loss"] < before["train_loss"]
    assert after["epoch"] == 300
    assert after["step"] == 300 * 25  # 250 training points, batch 10


SPIRAL = (
    DataConfig(name="spiral", seed=3),
    ModelConfig(hidden=(6, 6)),
    TrainConfig(optimizer="adam", learning_rate=0.01),
)


@pytest.mark.parametrize("fast", [True, False])
def test_same_seed_same_run(fast):
    a, b = make_run(*SPIRAL, fast=fast), make_run(*SPIRAL, fast=fast)
    assert train_epochs(a, 5) == train_epochs(b, 5)
    np.testing.assert_array_equal(a.snapshot().output, b.snapshot().output)
    other = make_run(DataConfig(name="spiral", seed=4), *SPIRAL[1:], fast=fast)
    assert train_epochs(other, 5) != train_epochs(make_run(*SPIRAL, fast=fast), 5)


def test_reset_replays_the_same_run():
    s = make_run(DataConfig(name="moons"))
    first = train_epochs(s, 3)
    s.reset()
    assert s.metrics()["step"] == 0
    assert train_epochs(s, 3) == first


@pytest.mark.parametrize(
    "model",
    [ModelConfig(dropout=0.2), ModelConfig(batch_norm=True), ModelConfig(activation="rrelu")],
    ids=["dropout", "batch_norm", "rrelu"],
)
def test_configs_outside_the_fast_path_train_on_the_reference_path(model):
    blobs, adam = DataConfig(name="blobs", classes=3), TrainConfig(optimizer="adam")
    s = make_run(blobs, model, adam)
    assert s.engine.name == "reference"
    assert train_epochs(s, 20)["val_accuracy"] > 0.9
    assert train_epochs(make_run(blobs, model, adam), 20) == s.metrics()


def test_batch_norm_merges_a_lone_last_point():
    data = DataConfig(name="circle", samples=21, val_fraction=0.0, test_fraction=0.0)
    s = make_run(data, ModelConfig(batch_norm=True))
    assert s.batches == [(0, 10), (10, 21)]  # 21 = 10 + 11, not 10 + 10 + 1
    assert s.step(5) == 5


def test_learning_rate_changes_without_a_reset():
    s = make_run()
    s.step(30)
    w = s.snapshot().weights[0].copy()
    s.set_training(learning_rate=0.0)
    s.step(10)
    assert s.steps == 40
    np.testing.assert_array_equal(s.snapshot().weights[0], w)  # lr 0: frozen, not reset
    s.set_training(learning_rate=0.5)
    s.step(1)
    assert not np.array_equal(s.snapshot().weights[0], w)
    assert s.config.training.learning_rate == 0.5


def test_a_huge_learning_rate_diverges_clearly():
    s = make_run(
        model=ModelConfig(hidden=(8,) * 6, activation="linear"),
        training=TrainConfig(learning_rate=10),
    )
    with pytest.raises(Diverged, match="lower the learning rate"):
        train_epochs(s, 10)
    assert all(v is None or np.isfinite(v) for v in s.metrics().values())


def test_snapshot_shapes_and_orientation():
    data = DataConfig(name="gauss", noise=0.0)
    s = make_run(data, ModelConfig(hidden=(3,)), grid=16, thumb=8)
    train_epochs(s, 30)
    snap = s.snapshot()
    assert snap.output.shape == (16, 16)
    assert snap.output_class.shape == (16, 16)
    assert snap.neurons.shape == (2 + 3, 8, 8)
    # class 1 sits around (0.4, 0.4): top right (row 0 = y +1, column -1 = x +1)
    assert snap.output_class[0, -1] == 1
    assert snap.output_class[-1, 0] == 0
    assert snap.output[0, -1] > 0.9
    assert snap.output[-1, 0] < 0.1
    x1 = snap.neurons[0]  # the x1 feature: -1 in the left column, +1 in the right, every row
    np.testing.assert_allclose(x1[:, 0], -1.0)
    np.testing.assert_allclose(x1[:, -1], 1.0)
    np.testing.assert_allclose(snap.neurons[1][0], 1.0)  # x2 is +1 on the top row
    assert [w.shape for w in snap.weights] == [(3, 2), (1, 3)]
    assert snap.prelu is None


def test_snapshot_neurons_are_what_the_hidden_units_output():
    """Against the PyTorch module holding the run's parameters, on its own grid of features."""
    model = ModelConfig(hidden=(3, 2), activation="prelu")
    s = make_run(model=model, grid=8, thumb=4)
    assert s.snapshot().prelu == [0.25, 0.25]
    s.step(50)
    snap = s.snapshot()
    reference = build_mlp(model, classes=2, seed=99).eval()
    load_parameters(reference, s.engine.parameters())
    with torch.no_grad():
        _, hiddens = reference.forward_hidden(feature_matrix(plane_grid(4), model.features))
    expected = torch.cat(hiddens, dim=1).T.reshape(5, 4, 4).numpy()
    np.testing.assert_allclose(snap.neurons[2:], expected, rtol=1e-5, atol=1e-6)
    assert snap.prelu == pytest.approx([a.weight.item() for a in reference.acts])
    assert snap.prelu != [0.25, 0.25]


def test_k_classes_give_the_top_probability_and_its_class():
    s = make_run(
        DataConfig(name="blobs", classes=4),
        ModelConfig(hidden=(8,)),
        TrainConfig(optimizer="adam", learning_rate=0.03),
    )
    train_epochs(s, 20)
    snap = s.snapshot()
    assert set(np.unique(snap.output_class).tolist()) == {0, 1, 2, 3}
    assert snap.output.min() >= 0.25 - 1e-6  # the max of 4 probabilities
    assert snap.output.max() <= 1.0


def test_custom_points_set_the_classes_and_an_empty_plane_does_not_train():
    points = [[-0.5, -0.5, 0], [0.5, 0.5, 2], [0.5, -0.5, 1], [-0.5, 0.5, 0]]
    s = make_run(DataConfig(name="custom", val_fraction=0.0, test_fraction=0.0), points=points)
    assert s.config.dataset.classes == 3
    assert s.config.model.layer_sizes(s.classes)[-1] == 3
    assert s.n_train == 4
    empty = make_run(DataConfig(name="custom"), points=[])
    assert empty.step(5) == 0
    assert empty.train_for(0.01) == 0
    assert empty.metrics()["train_loss"] is None
    assert empty.metrics()["val_accuracy"] is None
    assert empty.snapshot().output.shape == (64, 64)


def test_play_trains_for_about_the_budget_and_measures_speed():
    s = make_run()
    assert s.epochs_per_s is None
    done = s.train_for(0.05)
    done += s.train_for(0.05)
    assert done > 0
    assert s.steps == done
    assert s.epochs_per_s > 0


@pytest.mark.parametrize(
    ("model", "fast"),
    [
        (ModelConfig(hidden=(5, 4), activation="prelu"), False),
        (ModelConfig(hidden=(5, 4), activation="relu", batch_norm=True, dropout=0.2), True),
    ],
    ids=["prelu", "batch_norm+dropout"],
)
def test_numpy_and_module_evaluation_agree(model, fast):
    """The reference engine evaluates with the module's forward on a GPU, in numpy on the CPU."""
    data = DataConfig(name="blobs", classes=3)
    a = make_run(data, model, fast=fast)
    b = make_run(data, model, fast=fast, numpy_eval=False)
    assert a.engine.name == b.engine.name == "reference"
    for s in (a, b):
        s.step(60)
    ma, mb = a.metrics(), b.metrics()
    for key in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert ma[key] == pytest.approx(mb[key], rel=1e-5, abs=1e-6)
    sa, sb = a.snapshot(), b.snapshot()
    np.testing.assert_allclose(sa.output, sb.output, atol=1e-5)
    np.testing.assert_allclose(sa.neurons, sb.neurons, rtol=1e-4, atol=1e-5)
    assert (sa.output_class != sb.output_class).mean() < 0.01  # ties at the boundary only
    assert sa.prelu == pytest.approx(sb.prelu)


# ---- slowed play, the test set, regression's table ------------------------------------------------
def test_slowed_play_trains_the_steps_its_speed_comes_to():
    s = make_run()
    assert s.train_paced(0.1, 100, budget_s=1.0) == 10
    assert s.train_paced(0.015, 100, budget_s=1.0) == 1  # 1.5 steps: one now, half carried
    assert s.train_paced(0.005, 100, budget_s=1.0) == 1  # 0.5 + 0.5
    assert s.steps == 12
    # A slice that cannot fit its steps drops the rest: the speed is a most, never a backlog.
    assert s.train_paced(1.0, 10**6, budget_s=0.0) >= 1
    assert s.train_paced(0.001, 100, budget_s=1.0) == 0


def test_the_test_set_is_held_out_and_marked_only_on_request():
    s = make_run(DataConfig(samples=500, val_fraction=0.3, test_fraction=0.2))
    assert (s.n_train, s.n_val, s.n_test) == (250, 150, 100)
    train_epochs(s, 100)
    assert s.exams == 0
    m = s.metrics()
    assert not any("test" in key for key in m)
    exam = s.exam()
    assert (exam.step, exam.points, s.exams) == (s.steps, 100, 1)
    # Independently: the module with the run's weights on the test points' features.
    reference = build_mlp(s.config.model, classes=2, seed=0).eval()
    load_parameters(reference, s.engine.parameters())
    x = feature_matrix(torch.from_numpy(s.test_xy), s.config.model.features)
    with torch.no_grad():
        logits = reference(x)
    labels = torch.from_numpy(s.test_y)
    assert exam.accuracy == pytest.approx(((logits[:, 0] > 0).long() == labels).float().mean())
    assert exam.loss == pytest.approx(
        torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], labels.float()).item(),
        rel=1e-5,
    )
    assert s.exam().step == exam.step
    assert s.exams == 2
    empty = make_run(DataConfig(val_fraction=0.2, test_fraction=0.0))
    assert empty.exam().points == 0
    assert empty.exam().accuracy is None


def test_a_regressions_tensor_table_ends_with_its_value():
    s = make_run(DataConfig(name="plane"), ModelConfig(hidden=(3,)), TrainConfig(loss="l1"))
    rows = s.describe()["tensors"]
    assert rows[-1]["name"] == "identity"
    assert rows[-1]["output"][1] == {"name": "prediction", "size": 1}
    assert s.describe()["layers"] == [2, 3, 1]
