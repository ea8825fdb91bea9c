"""A cohort steps several runs of one network shape in stacked NumPy calls: every member must
come out exactly as if it had been stepped alone (weights, optimizer state, counters, shuffle,
metrics, divergence), wherever each one stands in its epoch."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.cohort import Cohort, signature
from ml_core.mlp import LOSSES, REGRESSION_LOSSES
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.training import Cancelled, Diverged

CHUNKS = (40, 1, 3, 120, 7, 129)  # 300 steps: 12 epochs of 25, boundaries inside the chunks
DATASETS = {2: ("circle", "xor", "moons"), 3: ("circle", "spiral", "blobs")}


def config(dataset: str, seed: int, classes: int = 2, **training) -> PlaygroundConfig:
    return PlaygroundConfig.model_validate(
        {
            "dataset": {"name": dataset, "seed": seed, "classes": classes, "samples": 500,
                        "val_fraction": 0.5, "test_fraction": 0},
            "model": {"hidden": [4, 2], "activation": training.pop("activation", "tanh")},
            "training": training,
        }
    )


def pairs(configs: list[PlaygroundConfig], ahead: int = 0) -> tuple[list[MLPRun], list[MLPRun]]:
    """Two identical runs of each config; member i takes ``ahead * i`` steps first, so the
    members stand at different places in their epochs."""
    together, alone = [MLPRun(c) for c in configs], [MLPRun(c) for c in configs]
    for i, (a, b) in enumerate(zip(together, alone, strict=True)):
        a.step(ahead * i, settle=False)
        b.step(ahead * i, settle=False)
    return together, alone


def assert_same(together: MLPRun, alone: MLPRun, exact: bool = True) -> None:
    """The same numbers, bit for bit: per member the stacked calls compute what FastMLP's do,
    on matrices of the same layout, so BLAS adds up in the same order. Not ``exact``: a short
    batch padded with rows of zero weight sums more terms, equal up to float32 rounding."""
    state = zip(
        (together.engine.flat, together.engine.buf, together.engine.sq),
        (alone.engine.flat, alone.engine.buf, alone.engine.sq),
        strict=True,
    )
    for got, expected in state:
        if exact:
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert together.engine.t == alone.engine.t
    assert together.steps == alone.steps
    assert together.epochs == alone.epochs
    assert together._shuffle.bit_generator.state == alone._shuffle.bit_generator.state
    np.testing.assert_array_equal(together.last_batch(), alone.last_batch())
    assert together._check_every == alone._check_every
    assert together.good.step == alone.good.step
    if exact:
        assert together.engine.batch_loss() == alone.engine.batch_loss()
        assert together.metrics() == alone.metrics()
    else:
        assert together.engine.batch_loss() == pytest.approx(alone.engine.batch_loss(), rel=1e-5)
        got, expected = together.metrics(), alone.metrics()
        assert got == pytest.approx(expected, rel=1e-5)


def step_both(together: list[MLPRun], alone: list[MLPRun], chunks=CHUNKS) -> None:
    cohort = Cohort(together)
    for chunk in chunks:
        assert cohort.step(chunk) == {}
        for run in alone:
            run.step(chunk, settle=False)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("loss", LOSSES)
def test_members_come_out_as_if_stepped_alone(optimizer, classes, loss):
    rates = (0.03, 0.1, 0.3) if optimizer != "adam" else (0.003, 0.01, 0.03)
    configs = [
        config(name, seed=7 + i, classes=classes, optimizer=optimizer, loss=loss,
               learning_rate=rate, weight_decay=(0.0, 0.001, 0.01)[i])
        for i, (name, rate) in enumerate(zip(DATASETS[classes], rates, strict=True))
    ]
    together, alone = pairs(configs, ahead=9)
    step_both(together, alone)
    for a, b in zip(together, alone, strict=True):
        assert_same(a, b)


@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
def test_regression_members_come_out_as_if_stepped_alone(loss):
    configs = [config("plane", seed=s, loss=loss, learning_rate=0.05, optimizer="momentum")
               for s in (1, 2)]
    together, alone = pairs(configs, ahead=4)
    step_both(together, alone)
    for a, b in zip(together, alone, strict=True):
        assert_same(a, b)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "linear"])
def test_a_short_last_batch_and_other_activations(activation):
    """Batch 16 of 250 points: each epoch ends with a batch of 10, padded in the stack."""
    configs = [config("circle", seed=s, batch_size=16, activation=activation, learning_rate=0.1)
               for s in (3, 4, 5, 6)]
    together, alone = pairs(configs, ahead=5)
    assert together[0].batches[-1] == (240, 250)
    step_both(together, alone)
    for a, b in zip(together, alone, strict=True):
        assert_same(a, b, exact=False)


def test_a_member_that_diverges_stops_where_it_would_alone_and_the_others_go_on():
    configs = [config("circle", seed=1, learning_rate=0.03), config("circle", seed=2,
               learning_rate=10), config("xor", seed=3, learning_rate=0.3)]
    together, alone = pairs(configs, ahead=3)
    cohort = Cohort(together)
    diverged = cohort.step(200)
    assert list(diverged) == [together[1]]
    with pytest.raises(Diverged) as caught:
        alone[1].step(200, settle=False)
    assert str(diverged[together[1]]) == str(caught.value)
    assert_same(together[1], alone[1])  # stopped at the same step, weights as they blew up
    assert cohort.runs == [together[0], together[2]]
    for run in (alone[0], alone[2]):
        run.step(200, settle=False)
    cohort.step(100)
    for run in (alone[0], alone[2]):
        run.step(100, settle=False)
    for i in (0, 2):
        assert_same(together[i], alone[i])


def test_train_for_plays_every_member_and_measures_their_speed():
    configs = [config("circle", seed=s) for s in range(4)]
    together, alone = pairs(configs)
    Cohort(together).train_for(0.05)
    steps = together[0].steps
    assert steps > 0
    assert [run.steps for run in together] == [steps] * 4
    for run in alone:
        run.step(steps, settle=False)
    for a, b in zip(together, alone, strict=True):
        assert_same(a, b)
    Cohort(together).train_for(0.05)
    assert together[0].epochs_per_s > 0


def test_only_runs_of_one_signature_make_a_cohort():
    circle = MLPRun(config("circle", seed=1))
    assert signature(circle) == signature(MLPRun(config("xor", seed=2, learning_rate=1)))
    assert signature(circle) != signature(MLPRun(config("circle", seed=1, batch_size=5)))
    assert signature(MLPRun(config("circle", seed=1, activation="prelu"))) is None
    with pytest.raises(ValueError, match="one signature"):
        Cohort([circle, MLPRun(config("circle", seed=1, optimizer="adam"))])


def test_a_cancel_inside_a_look_leaves_every_member_a_consistent_run(monkeypatch):
    """A look may be cancelled (its replay after a blow-up calls ``checkpoint``): the members
    still stacked then are written back with the steps they took, as if stepped alone."""
    configs = [config("circle", seed=s) for s in (1, 2, 3)]
    together, alone = pairs(configs, ahead=70)

    def cancelled(before) -> None:
        raise Cancelled("the session closed")

    monkeypatch.setattr(together[1], "_check", cancelled)
    with pytest.raises(Cancelled):
        Cohort(together).step(300)
    steps = together[0].steps - alone[0].steps
    assert steps > 0
    assert together[2].steps - alone[2].steps == steps  # none of its steps lost
    for i in (0, 2):
        alone[i].step(steps, settle=False)
        assert_same(together[i], alone[i])
