"""Activations, derivatives, losses and line fits against torch.nn.functional and references."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from ml_core.functions import (
    ACTIVATIONS,
    LOSSES,
    ActivationConfig,
    FitConfig,
    FunctionsConfig,
    LossConfig,
    SoftmaxConfig,
    activation_curve,
    fit_l1,
    fit_l2,
    loss_curve,
    outlier_points,
    saturated_fraction,
    softmax,
)

X = torch.linspace(-6, 6, 241)


def reference(params):
    """(value, derivative) from torch.nn.functional and the textbook derivative."""
    name = params.name
    if name == "sigmoid":
        s = torch.sigmoid(X)
        return s, s * (1 - s)
    if name == "tanh":
        t = torch.tanh(X)
        return t, 1 - t**2
    if name == "relu":
        return F.relu(X), (X > 0).float()
    if name == "leaky_relu":
        return F.leaky_relu(X, params.slope), torch.where(X > 0, 1.0, params.slope)
    if name == "prelu":
        a = torch.tensor([params.prelu_init])
        return F.prelu(X, a), torch.where(X > 0, 1.0, params.prelu_init)
    mean = (params.lower + params.upper) / 2  # rrelu in eval mode
    return F.rrelu(X, params.lower, params.upper, training=False), torch.where(X >= 0, 1.0, mean)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_and_derivative_equal_torch_functional(name):
    params = ActivationConfig(
        name=name, slope=0.2, prelu_init=0.3, lower=0.1, upper=0.3, training=False
    )
    curve = activation_curve(params)
    value, derivative = reference(params)
    np.testing.assert_allclose(curve.x, X.numpy())
    np.testing.assert_allclose(curve.y, value.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(curve.dy, derivative.numpy(), rtol=1e-5, atol=1e-6)


def test_rrelu_is_random_in_training_and_fixed_in_eval():
    params = ActivationConfig(name="rrelu", lower=0.1, upper=0.4, training=True, seed=5)
    curve = activation_curve(params)
    negative = curve.x < 0
    slopes = curve.y[negative] / curve.x[negative]
    assert slopes.min() >= 0.1
    assert slopes.max() <= 0.4
    assert slopes.std() > 0.03
    # Derivative = the slope that was drawn, point by point.
    np.testing.assert_allclose(curve.dy[negative], slopes, rtol=1e-5)
    # Same seed, same picture; eval mode uses the mean slope everywhere.
    np.testing.assert_array_equal(activation_curve(params).y, curve.y)
    evaluated = activation_curve(params.model_copy(update={"training": False}))
    np.testing.assert_allclose(evaluated.dy[negative], 0.25, rtol=1e-6)


def test_prelu_slope_gradient_is_min_zero_x():
    curve = activation_curve(ActivationConfig(name="prelu", prelu_init=0.25))
    np.testing.assert_allclose(curve.dparam, np.minimum(0, curve.x), atol=1e-7)


def test_sigmoid_saturates_relu_does_not_for_positive_inputs():
    sigmoid = activation_curve(ActivationConfig(name="sigmoid"))
    relu = activation_curve(ActivationConfig(name="relu"))
    assert sigmoid.dy.max() == pytest.approx(0.25, abs=1e-3)  # at best a quarter passes back
    assert saturated_fraction(sigmoid.dy) > 0.4
    assert saturated_fraction(relu.dy[relu.x > 0]) == 0


def test_softmax_temperature():
    logits = [2.0, 1.0, 0.1, -1.0]

    def at(temperature):
        return softmax(SoftmaxConfig(logits=logits, temperature=temperature))

    for t in (0.1, 1.0, 5.0):
        result = at(t)
        expected = F.softmax(torch.tensor(logits, dtype=torch.float64) / t, dim=0)
        np.testing.assert_allclose(result.probs, expected.numpy(), rtol=1e-12)
        p = expected.numpy()
        np.testing.assert_allclose(result.jacobian, (np.diag(p) - np.outer(p, p)) / t, atol=1e-12)
    assert at(0.1).entropy < at(1).entropy < at(5).entropy
    # The hottest allowed T: nearly uniform (z / T spans 0.15, an entropy deficit of ~var / 2).
    assert at(20).entropy == pytest.approx(np.log(4), abs=3e-3)
    with pytest.raises(ValidationError, match="temperature"):
        SoftmaxConfig(temperature=0)


def loss_reference(name, pred, target, classes, delta):
    t = torch.full_like(pred, target)
    if name == "bce":
        return -(t * torch.log(pred) + (1 - t) * torch.log(1 - pred))
    if name == "ce":
        return -torch.log(pred)
    if name == "l1":
        return (pred - t).abs()
    if name == "l2":
        return (pred - t) ** 2
    if name == "huber":
        err = (pred - t).abs()
        return torch.where(err < delta, 0.5 * err**2, delta * (err - 0.5 * delta))
    p = torch.tensor([target, 1 - target], dtype=pred.dtype)
    return sum(p[k] * torch.log(p[k] / q) for k, q in enumerate((pred, 1 - pred)))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("target", [0.3, 0.9])
def test_loss_and_gradient_equal_reference(name, target):
    curve = loss_curve(LossConfig(name=name, target=target, classes=4, delta=0.7))
    pred = torch.tensor(curve.prediction, requires_grad=True)
    expected = loss_reference(name, pred, target, 4, 0.7)
    expected.sum().backward()
    np.testing.assert_allclose(curve.loss, expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curve.grad, pred.grad.numpy(), rtol=1e-7, atol=1e-9)


def test_losses_are_zero_at_the_target_and_l2_grows_fastest():
    l1, l2, huber = (loss_curve(LossConfig(name=n, target=2.0)) for n in ("l1", "l2", "huber"))
    at_target = np.argmin(np.abs(l1.prediction - 2.0))
    assert l1.loss[at_target] == l2.loss[at_target] == pytest.approx(0, abs=1e-12)
    # 4 away from the target: L2's gradient is 8, L1's and Huber's stay at 1.
    assert l2.grad[-1] == pytest.approx(8)
    assert l1.grad[-1] == huber.grad[-1] == pytest.approx(1)
    assert loss_curve(LossConfig(name="kl", target=0.3)).loss.min() == pytest.approx(0, abs=1e-4)


def test_bad_config_is_refused():
    with pytest.raises(ValidationError, match="probability"):
        LossConfig(name="bce", target=1.5)
    assert LossConfig(name="ce", target=1.5).target == 1.5  # cross-entropy's target is a class
    with pytest.raises(ValidationError, match="name"):
        LossConfig(name="hinge")
    with pytest.raises(ValidationError, match="lower slope"):
        ActivationConfig(name="rrelu", lower=0.4, upper=0.2)
    with pytest.raises(ValidationError, match="points"):
        FitConfig(points=[[1, 1]])


def test_the_config_offers_exactly_the_cores_registries():
    defs = FunctionsConfig.model_json_schema()["$defs"]
    assert defs["ActivationConfig"]["properties"]["name"]["enum"] == list(ACTIVATIONS)
    assert defs["LossConfig"]["properties"]["name"]["enum"] == list(LOSSES)
    # The outlier demo's points are the default, and null stands for them.
    assert FitConfig().points == [tuple(p) for p in outlier_points()]
    assert FitConfig(points=None) == FitConfig()


def brute_force_l1(points):
    """Nested loops over every line through two points: the textbook LAD vertex search."""
    best = np.inf
    for (x1, y1), (x2, y2) in itertools.combinations(points, 2):
        if x1 == x2:
            continue
        a = (y2 - y1) / (x2 - x1)
        b = y1 - a * x1
        best = min(best, np.mean([abs(y - a * x - b) for x, y in points]))
    return best


def test_l1_fit_is_the_least_absolute_deviation_line():
    rng = np.random.default_rng(0)
    points = np.c_[rng.uniform(0, 10, 25), rng.uniform(0, 10, 25)]
    fit = fit_l1(torch.tensor(points), chunk=7)  # small chunks exercise the chunking
    assert fit.loss == pytest.approx(brute_force_l1(points.tolist()), rel=1e-12)
    # And no nearby line does better (it is a minimum, not just a good vertex).
    x, y = points[:, 0], points[:, 1]
    for da, db in itertools.product((-1e-3, 0, 1e-3), repeat=2):
        assert np.mean(np.abs(y - (fit.slope + da) * x - (fit.intercept + db))) >= fit.loss - 1e-12


def test_l2_fit_equals_numpy_polyfit():
    points = np.array(outlier_points())
    fit = fit_l2(torch.tensor(points))
    slope, intercept = np.polyfit(points[:, 0], points[:, 1], 1)
    assert (fit.slope, fit.intercept) == pytest.approx((slope, intercept), rel=1e-9)


def test_moving_the_outlier_moves_the_l2_line_more_than_the_l1_line():
    points = outlier_points()
    before_l1, before_l2 = fit_l1(torch.tensor(points)), fit_l2(torch.tensor(points))
    points[-1] = [8.0, 9.5]  # drag the outlier from below the line to above it
    after_l1, after_l2 = fit_l1(torch.tensor(points)), fit_l2(torch.tensor(points))
    l1_move = abs(after_l1.slope - before_l1.slope) + abs(after_l1.intercept - before_l1.intercept)
    l2_move = abs(after_l2.slope - before_l2.slope) + abs(after_l2.intercept - before_l2.intercept)
    assert l2_move > 3 * l1_move
    # The L1 line stays close to the inliers' line y = 0.6x + 1.5.
    assert after_l1.slope == pytest.approx(0.6, abs=0.15)


def test_fits_refuse_degenerate_points():
    with pytest.raises(ValueError, match="two points"):
        fit_l1(torch.tensor([[1.0, 2.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="two points"):
        fit_l2(torch.tensor([[1.0, 2.0]]))
