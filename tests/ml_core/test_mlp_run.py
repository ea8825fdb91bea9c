"""One training run: what a learner sees (XOR, circle), determinism, pictures, divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.datasets2d import DataConfig
from ml_core.mlp import MLPConfig, TrainConfig
from ml_core.mlp_run import MLPRun, RunConfig
from ml_core.training import Diverged


def make_run(data=None, model=None, training=None, **kwargs) -> MLPRun:
    config = RunConfig(data or DataConfig(), model or MLPConfig(), training or TrainConfig())
    return MLPRun(config, **kwargs)


def train_epochs(s: MLPRun, epochs: int) -> dict:
    s.step(epochs * s.steps_per_epoch)
    return s.metrics()


@pytest.mark.parametrize(
    "model", [MLPConfig(hidden=()), MLPConfig(hidden=(4, 4), activation="linear")], ids=str
)
def test_xor_cannot_be_learnt_by_a_linear_network(model):
    m = train_epochs(make_run(DataConfig("xor"), model, TrainConfig(learning_rate=0.1)), 150)
    assert m["train_accuracy"] < 0.75 and m["val_accuracy"] < 0.75


def test_xor_is_learnt_with_a_hidden_tanh_layer():
    s = make_run(DataConfig("xor"), MLPConfig(hidden=(4,)), TrainConfig(learning_rate=0.1))
    m = train_epochs(s, 150)
    assert m["val_accuracy"] > 0.9


def test_circle_accuracy_rises_with_the_default_network():
    s = make_run()
    before = s.metrics()
    after = train_epochs(s, 300)
    assert before["val_accuracy"] < 0.7 < 0.9 < after["val_accuracy"]
    assert after["train_loss"] < before["train_loss"]
    assert after["epoch"] == 300 and after["step"] == 300 * 25  # 250 training points, batch 10


@pytest.mark.parametrize("fast", [True, False])
def test_same_seed_same_run(fast):
    config = (DataConfig("spiral", seed=3), MLPConfig(hidden=(6, 6)), TrainConfig("adam", 0.01))
    a, b = make_run(*config, fast=fast), make_run(*config, fast=fast)
    assert train_epochs(a, 5) == train_epochs(b, 5)
    np.testing.assert_array_equal(a.snapshot().output, b.snapshot().output)
    other = make_run(DataConfig("spiral", seed=4), *config[1:], fast=fast)
    assert train_epochs(other, 5) != train_epochs(make_run(*config, fast=fast), 5)


def test_reset_replays_the_same_run():
    s = make_run(DataConfig("moons"))
    first = train_epochs(s, 3)
    s.reset()
    assert s.metrics()["step"] == 0
    assert train_epochs(s, 3) == first


@pytest.mark.parametrize(
    "model",
    [MLPConfig(dropout=0.2), MLPConfig(batch_norm=True), MLPConfig(activation="rrelu")],
    ids=["dropout", "batch_norm", "rrelu"],
)
def test_configs_outside_the_fast_path_train_on_the_reference_path(model):
    s = make_run(DataConfig("blobs", classes=3), model, TrainConfig("adam", 0.03))
    assert s.engine == "reference"
    assert train_epochs(s, 20)["val_accuracy"] > 0.9
    assert (
        train_epochs(make_run(DataConfig("blobs", classes=3), model, TrainConfig("adam", 0.03)), 20)
        == s.metrics()
    )


def test_batch_norm_merges_a_lone_last_point():
    s = make_run(DataConfig("circle", samples=21, val_fraction=0.0), MLPConfig(batch_norm=True))
    assert s._bounds[-1] == (10, 21)  # 21 = 10 + 11, not 10 + 10 + 1
    s.step(5)


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
        model=MLPConfig(hidden=(8,) * 6, activation="linear"),
        training=TrainConfig(learning_rate=10),
    )
    with pytest.raises(Diverged, match="lower the learning rate"):
        train_epochs(s, 10)
    assert all(v is None or np.isfinite(v) for v in s.metrics().values())


def test_snapshot_shapes_and_orientation():
    s = make_run(DataConfig("gauss", noise=0.0), MLPConfig(hidden=(3,)), grid=16, thumb=8)
    train_epochs(s, 30)
    snap = s.snapshot()
    assert snap.output.shape == (16, 16) and snap.output_class.shape == (16, 16)
    assert snap.neurons.shape == (2 + 3, 8, 8)
    # class 1 sits around (0.4, 0.4): top right (row 0 = y +1, column -1 = x +1)
    assert snap.output_class[0, -1] == 1 and snap.output_class[-1, 0] == 0
    assert snap.output[0, -1] > 0.9 and snap.output[-1, 0] < 0.1
    x1 = snap.neurons[0]  # the x1 feature: -1 in the left column, +1 in the right, every row
    np.testing.assert_allclose(x1[:, 0], -1.0) and np.testing.assert_allclose(x1[3, -1], 1.0)
    np.testing.assert_allclose(snap.neurons[1][0], 1.0)  # x2 is +1 on the top row
    assert [w.shape for w in snap.weights] == [(3, 2), (1, 3)]
    assert snap.prelu is None


def test_snapshot_neurons_are_what_the_hidden_units_output():
    s = make_run(model=MLPConfig(hidden=(3, 2), activation="prelu"), grid=8, thumb=4)
    assert s.snapshot().prelu == [0.25, 0.25]
    s.step(50)
    snap = s.snapshot()
    s.fast.store(s.model)
    with torch.no_grad():
        _, hiddens = s.model.forward_hidden(s._X_plane[64:])
    expected = torch.cat(hiddens, dim=1).T.reshape(5, 4, 4).numpy()
    np.testing.assert_allclose(snap.neurons[2:], expected, rtol=1e-5, atol=1e-6)
    assert snap.prelu == [a.weight.item() for a in s.model.acts] != [0.25, 0.25]


def test_k_classes_give_the_top_probability_and_its_class():
    s = make_run(DataConfig("blobs", classes=4), MLPConfig(hidden=(8,)), TrainConfig("adam", 0.03))
    train_epochs(s, 20)
    snap = s.snapshot()
    assert set(np.unique(snap.output_class).tolist()) == {0, 1, 2, 3}
    assert snap.output.min() >= 0.25 - 1e-6 and snap.output.max() <= 1.0  # max of 4 probabilities


def test_custom_points_set_the_classes_and_an_empty_plane_does_not_train():
    points = [[-0.5, -0.5, 0], [0.5, 0.5, 2], [0.5, -0.5, 1], [-0.5, 0.5, 0]]
    s = make_run(DataConfig("custom", val_fraction=0.0), points=points)
    assert s.config.data.classes == 3 and s.config.model.layer_sizes[-1] == 3
    assert s.n_train == 4 and s.config.data.samples == 4
    empty = make_run(DataConfig("custom"), points=[])
    assert empty.step(5) == 0 and empty.train_for(0.01) == 0
    assert empty.metrics()["train_loss"] is None and empty.metrics()["val_accuracy"] is None
    assert empty.snapshot().output.shape == (64, 64)


def test_play_trains_for_about_the_budget_and_measures_speed():
    s = make_run()
    assert s.epochs_per_s is None
    done = s.train_for(0.05)
    done += s.train_for(0.05)
    assert done > 0 and s.steps == done
    assert s.epochs_per_s > 0


@pytest.mark.parametrize("fast", [True, False])
def test_numpy_and_module_evaluation_agree(fast):
    """The module's forward is what a GPU session uses for metrics and pictures."""
    config = (DataConfig("blobs", classes=3), MLPConfig(hidden=(5, 4), activation="prelu"))
    a = make_run(*config, fast=fast)
    b = make_run(*config, fast=fast, numpy_eval=False)
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
