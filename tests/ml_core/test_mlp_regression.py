"""Regression in the playground: a real value a point, L2 / L1 / Huber on the output itself.

Both engines against the textbook torch loop, a linear model's L2 fit against numpy's least
squares, and the lesson of the outlier: one point dragged far off bends an L2 fit much more
than an L1 fit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.datasets2d import generate
from ml_core.fastmlp import FastMLP
from ml_core.mlp import OPTIMIZERS, REGRESSION_LOSSES, build_mlp, loss_fn
from ml_core.mlp_config import ModelConfig, PlaygroundConfig, TrainConfig
from ml_core.mlp_run import MLPRun, plane_grid
from ml_core.mlp_torch import TorchEngine
from ml_core.training import make_optimizer
from tests.ml_core.test_fastmlp import FAST_ACTIVATIONS, TOL, reference_vector


def regression_batch(size: int = 12):
    xy, values = generate("gaussians", 60, 0.2, 2, seed=3)
    x = np.concatenate([xy, xy**2], axis=1)[:size]  # 4 features
    return x.astype(np.float32), (3 * values[:size]).astype(np.float32)  # errors beyond 1: Huber


@pytest.mark.parametrize("engine", ["fast", "reference"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
@pytest.mark.parametrize("activation", FAST_ACTIVATIONS)
def test_engines_equal_the_textbook_loop_on_a_regression(activation, loss, optimizer, engine):
    config = ModelConfig(
        hidden=(5, 3), activation=activation, features=("x1", "x2", "x1sq", "x2sq")
    )
    train = TrainConfig(optimizer=optimizer, learning_rate=0.05, loss=loss, weight_decay=0.01)
    model = build_mlp(config, 2, seed=5, task="regression")
    reference = make_optimizer(optimizer, model.parameters(), 0.05, 0.01)
    if engine == "fast":
        tested = FastMLP(config, 2, train, "regression")
    else:
        tested = TorchEngine(config, 2, train, task="regression")
    tested.reset(seed=5)
    x, values = regression_batch()
    tested.set_data(x, values)
    for step in range(4):
        reference.zero_grad()
        expected = loss_fn(loss, model(torch.from_numpy(x)), torch.from_numpy(values), "regression")
        expected.backward()
        got, gradient = tested.gradients(x, values)
        assert got == pytest.approx(expected.item(), rel=1e-5, abs=1e-7), f"loss, step {step}"
        np.testing.assert_allclose(gradient, reference_vector(model, "grad"), **TOL)
        reference.step()
        tested.step(0, len(values))
        np.testing.assert_allclose(
            tested.parameters().vector(), reference_vector(model, "data"), **TOL
        )


def plane_run(**training) -> MLPRun:
    config = PlaygroundConfig.model_validate(
        {"dataset": {"name": "plane"}, "training": {"learning_rate": 0.1, **training}}
    )
    return MLPRun(config)


def test_the_default_network_fits_the_plane_to_a_small_squared_error():
    s = plane_run()
    before = s.metrics()
    s.step(40 * s.steps_per_epoch)
    after = s.metrics()
    assert before["train_loss"] > 0.05
    assert after["train_loss"] < 0.01
    assert after["val_loss"] < 0.01
    assert after["train_accuracy"] is None  # a regression's metric is its loss
    assert after["val_accuracy"] is None


@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
def test_whole_regression_runs_match_between_the_two_paths(loss):
    config = PlaygroundConfig.model_validate(
        {
            "dataset": {"name": "gaussians", "samples": 200},
            "model": {"hidden": [6, 4], "activation": "relu"},
            "training": {"loss": loss, "optimizer": "adam", "learning_rate": 0.01},
        }
    )
    fast, reference = MLPRun(config, fast=True), MLPRun(config, fast=False)
    assert (fast.engine.name, reference.engine.name) == ("fast", "reference")
    steps = 3 * fast.steps_per_epoch
    fast.step(steps)
    reference.step(steps)
    for key in ("train_loss", "val_loss"):
        assert fast.metrics()[key] == pytest.approx(reference.metrics()[key], rel=1e-3)
    np.testing.assert_allclose(fast.snapshot().output, reference.snapshot().output, atol=1e-3)


def test_the_output_map_is_the_value_the_network_computes():
    s = plane_run()
    s.step(30 * s.steps_per_epoch)
    snap = s.snapshot()
    assert snap.output_class is None
    xy = plane_grid(s.grid).numpy().reshape(s.grid, s.grid, 2)  # row 0 is y = +1
    inside = (np.abs(xy) <= 0.7).all(axis=2)
    plane = xy.sum(axis=2) / 2  # the value the data follows
    assert np.abs(snap.output - plane)[inside].max() < 0.1
    assert snap.output[inside].min() < -0.6  # a ramp, not a flat average


# ---- the outlier: L2 bends towards it, L1 hardly ------------------------------------------------
LINEAR = {"hidden": [], "features": ["x1", "x2"]}
POINTS = [  # a clean plane (x + y) / 2 on a 5 x 5 grid
    [x, y, (x + y) / 2] for x in np.linspace(-0.8, 0.8, 5) for y in np.linspace(-0.8, 0.8, 5)
]
OUTLIER = 12  # the centre point (0, 0)


def drawn_fit(points, loss: str, steps: int = 4000) -> MLPRun:
    config = PlaygroundConfig.model_validate(
        {
            "dataset": {"name": "custom", "task": "regression", "val_fraction": 0,
                        "test_fraction": 0},
            "model": LINEAR,
            "training": {"loss": loss, "batch_size": len(points), "learning_rate": 0.1},
            "play": {"steps_per_frame": 0},
        }
    )
    s = MLPRun(config, points=points)
    s.step(steps)
    return s


def fitted(s: MLPRun) -> np.ndarray:
    """The run's output at every training point (n,)."""
    return s.engine.evaluate(s.train_features)[0][:, 0]


def least_squares(points) -> np.ndarray:
    """The L2 fit of a linear model with a bias, by numpy: its value at every point."""
    p = np.asarray(points, np.float64)
    a = np.column_stack([p[:, 0], p[:, 1], np.ones(len(p))])
    coef, *_ = np.linalg.lstsq(a, p[:, 2], rcond=None)
    return a @ coef


def test_a_linear_l2_fit_is_the_least_squares_fit():
    dragged = [list(p) for p in POINTS]
    dragged[OUTLIER][2] = 6.0
    s = drawn_fit(dragged, "mse")
    order = np.lexsort((s.train_xy[:, 1], s.train_xy[:, 0]))  # the run's rows in POINTS' order
    expected = least_squares(dragged)
    np.testing.assert_allclose(fitted(s)[order], expected, atol=2e-3)


def test_dragging_one_point_far_off_moves_l2_more_than_l1():
    dragged = [list(p) for p in POINTS]
    dragged[OUTLIER][2] = 6.0  # was 0
    moved = {}
    for loss in ("mse", "l1"):
        before, after = drawn_fit(POINTS, loss), drawn_fit(dragged, loss)
        moved[loss] = float(np.abs(fitted(after) - fitted(before)).mean())
    # L2: the bias takes a 25th of the outlier's 6 everywhere (the mean); L1: its median moves
    # by at most one point's worth of pull, a fraction of that.
    assert moved["mse"] == pytest.approx(6 / 25, rel=0.05)
    assert moved["l1"] < moved["mse"] / 3


def test_huber_shrugs_off_the_outlier_like_l1():
    """The page's note: Huber fits like L2 near the data and like L1 against an outlier."""
    dragged = [list(p) for p in POINTS]
    dragged[OUTLIER][2] = 6.0
    moved = {}
    for loss in ("mse", "huber"):
        before, after = drawn_fit(POINTS, loss), drawn_fit(dragged, loss)
        moved[loss] = float(np.abs(fitted(after) - fitted(before)).mean())
    clean = drawn_fit(POINTS, "huber")
    assert np.abs(fitted(clean) - least_squares(POINTS)).max() < 0.01  # the clean plane, as L2
    assert moved["huber"] < moved["mse"] / 3


def test_the_bumps_need_a_hidden_layer_and_the_plane_does_not():
    """The page's note: without a hidden layer the output is a flat plane; the plane dataset
    fits, the Gaussian bumps do not."""
    def loss_after(name: str, hidden: list[int]) -> float:
        config = PlaygroundConfig.model_validate(
            {
                "dataset": {"name": name},
                "model": {"hidden": hidden, "activation": "tanh"},
                "training": {"learning_rate": 0.03, "optimizer": "adam"},
                "play": {"steps_per_frame": 0},
            }
        )
        s = MLPRun(config)
        s.step(150 * s.steps_per_epoch)
        return s.metrics()["train_loss"]

    assert loss_after("plane", []) < 0.01
    flat, bent = loss_after("gaussians", []), loss_after("gaussians", [8, 8])
    assert bent < flat / 3
