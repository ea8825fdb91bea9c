"""Divergence: a training loss that blows up stops the run at the first step past the limit,
keeps its weights to look at, and the last good weights come back on request."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.datasets2d import DATASETS
from ml_core.divergence import DIVERGE_FACTOR
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.training import Diverged

CLASSIFICATION = [n for n, spec in DATASETS.items() if spec.task == "classification"]


def run(dataset: str = "circle", **training) -> MLPRun:
    return MLPRun(
        PlaygroundConfig.model_validate({"dataset": {"name": dataset}, "training": training})
    )


@pytest.mark.parametrize("dataset", CLASSIFICATION)
def test_a_rate_of_10_on_the_default_network_blows_up_within_a_few_steps(dataset):
    """The page's advice: raise the learning rate to 10 and watch the loss shoot up."""
    s = run(dataset, learning_rate=10)
    start = s.metrics()["train_loss"]
    with pytest.raises(Diverged, match="lower the learning rate") as caught:
        s.step(2000)
    m = s.metrics()
    assert s.steps < 50  # stopped at the blow-up, not 2000 steps later
    assert m["train_loss"] > DIVERGE_FACTOR * start  # the weights are left as they blew up
    assert f"{start:.3g}" in str(caught.value)


@pytest.mark.parametrize("dataset", CLASSIFICATION)
@pytest.mark.parametrize("rate", [0.03, 0.3, 3])
def test_tanh_sgd_at_rates_up_to_3_never_counts_as_diverged(dataset, rate):
    s = run(dataset, learning_rate=rate)
    s.step(100 * s.steps_per_epoch)  # no Diverged
    assert np.isfinite(s.metrics()["train_loss"])


def test_play_stops_at_the_first_step_past_the_limit():
    played, stepped = run(learning_rate=10), run(learning_rate=10)
    with pytest.raises(Diverged):
        for _ in range(100):
            played.train_for(0.05)  # runs of many steps: the blow-up is inside one of them
    limit = DIVERGE_FACTOR * stepped.metrics()["train_loss"]
    with pytest.raises(Diverged):
        for _ in range(100):
            stepped.step(1)  # one step at a time: the first step past the limit
    assert played.steps == stepped.steps
    assert played.metrics()["train_loss"] == pytest.approx(stepped.metrics()["train_loss"])
    assert played.metrics()["train_loss"] > limit


def test_the_last_good_weights_come_back_and_training_goes_on_at_a_lower_rate():
    s = run(learning_rate=0.3)
    s.step(60 * s.steps_per_epoch)
    trained = s.metrics()
    good_weights = s.engine.parameters().vector()
    s.set_training(learning_rate=10)
    with pytest.raises(Diverged):
        s.step(500)
    blown = s.metrics()
    assert blown["train_loss"] > 5 * trained["train_loss"]
    good = s.restore_good()
    assert good.step <= trained["step"]
    assert good.loss <= trained["train_loss"]
    back = s.metrics()
    assert back["step"] == blown["step"]  # the counter goes on: the curve keeps the blow-up
    assert back["train_loss"] == pytest.approx(good.loss)
    assert back["train_loss"] <= trained["train_loss"]
    assert np.abs(s.engine.parameters().vector() - good_weights).max() < 1.0
    s.set_training(learning_rate=0.03)
    s.step(10 * s.steps_per_epoch)  # no Diverged: the rate of now applies, not the one saved
    assert s.metrics()["train_loss"] < 2 * trained["train_loss"]
    assert s.config.training.learning_rate == 0.03


@pytest.mark.parametrize("fast", [True, False])
def test_restoring_puts_back_the_optimizers_memory_too(fast):
    config = PlaygroundConfig.model_validate(
        {"training": {"optimizer": "momentum", "learning_rate": 0.1}}
    )
    s = MLPRun(config, fast=fast)
    s.step(200)
    saved = s.engine.save_state()
    velocity = s.engine.optimizer_state().velocity.vector()
    s.step(50)
    s.engine.load_state(saved)
    np.testing.assert_array_equal(s.engine.optimizer_state().velocity.vector(), velocity)
    twin = MLPRun(config, fast=fast)
    twin.step(200)
    for engine in (s.engine, twin.engine):  # one more step on the same rows: same velocity
        engine.permute(np.arange(s.n_train))
        engine.step(0, 10)
    np.testing.assert_allclose(
        s.engine.parameters().vector(), twin.engine.parameters().vector(), rtol=1e-6
    )


def test_six_linear_layers_with_momentum_blow_up_to_a_finite_point_on_the_curve():
    config = PlaygroundConfig.model_validate(
        {
            "model": {"hidden": [8] * 6, "activation": "linear"},
            "training": {"optimizer": "momentum", "learning_rate": 1},
        }
    )
    s = MLPRun(config)
    with pytest.raises(Diverged):
        s.train_for(0.5)
    m = s.metrics()
    assert m["train_loss"] is None or m["train_loss"] > DIVERGE_FACTOR * 0.69
    assert s.good is not None
    assert s.restore_good().step == 0 or s.metrics()["train_loss"] < 1
