"""What the activation and loss explorer tells the learner (templates/functions.html and the notes
in static/js/functions.js), each claim set up and checked against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_core.functions import (
    ActivationConfig,
    LossConfig,
    SoftmaxConfig,
    activation_curve,
    loss_curve,
    saturated_fraction,
    softmax,
)

SATURATED = 0.05  # the plot shades where |f′| is below this ("f′ < 0.05: saturated")


def curve(name, **knobs):
    return activation_curve(ActivationConfig(name=name, **knobs))


def test_relu_passes_gradient_1_for_positive_inputs_and_0_for_negative():
    """ReLU: "its gradient is exactly 1 for every positive input, so it does not fade with
    depth"; a neuron with negative inputs everywhere "gets gradient 0 and stops learning"."""
    relu = curve("relu")
    assert (relu.dy[relu.x > 0] == 1).all()
    assert (relu.dy[relu.x < 0] == 0).all()


def test_a_dead_relu_neuron_never_recovers():
    """"a big step can push a neuron where its input is always negative, its gradient is 0 there
    and it never recovers (a dead ReLU)" — gradient descent leaves its weights as they are."""
    torch.manual_seed(0)
    neuron = torch.nn.Linear(2, 1)
    with torch.no_grad():
        neuron.bias.fill_(-10.0)  # pushed far negative: ReLU's input < 0 for every x in [-1, 1]²
    optimizer = torch.optim.SGD(neuron.parameters(), lr=0.5)
    x, y = torch.rand(64, 2) * 2 - 1, torch.rand(64, 1)
    before = [p.detach().clone() for p in neuron.parameters()]
    for _ in range(100):
        optimizer.zero_grad()
        F.mse_loss(F.relu(neuron(x)), y).backward()
        optimizer.step()
    for old, new in zip(before, neuron.parameters(), strict=True):
        assert torch.equal(old, new)


def test_leaky_relu_keeps_a_gradient_flowing_everywhere():
    """Leaky ReLU: "a small slope for negative inputs keeps some gradient flowing, so neurons
    cannot die"."""
    leaky = curve("leaky_relu", slope=0.1)
    assert leaky.dy.min() == pytest.approx(0.1)


def test_sigmoid_derivative_is_at_most_a_quarter_and_saturates_past_3():
    """Sigmoid: "at most 0.25, below 0.05 once |x| passes 3 (the shaded bands) and below 0.02
    past 4"."""
    sigmoid = curve("sigmoid")
    assert sigmoid.dy.max() == pytest.approx(0.25, abs=1e-6)
    shaded = np.abs(sigmoid.dy) < SATURATED
    assert shaded[np.abs(sigmoid.x) > 3].all()
    assert not shaded[np.abs(sigmoid.x) < 2.85].any()  # the bands begin near |x| = 2.89
    assert (sigmoid.dy[np.abs(sigmoid.x) > 4] < 0.02).all()


def test_tanh_saturates_past_3():
    """tanh: "it saturates like sigmoid — its derivative is near 0 once |x| > 3"."""
    tanh = curve("tanh")
    assert (tanh.dy[np.abs(tanh.x) > 3] < 0.01).all()
    assert saturated_fraction(tanh.dy) > 0.4


def test_ten_sigmoids_shrink_the_gradient_below_a_millionth():
    """"Backpropagation multiplies one such factor per layer ...: through ten sigmoids it is at
    most 0.25¹⁰, about one millionth." (the best case: every input at 0)"""
    for start in (0.0, 1.5, -3.0):
        x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        h = x
        for _ in range(10):
            h = torch.sigmoid(h)
        h.backward()
        assert 0 < float(x.grad) <= 0.25**10
    assert 0.25**10 == pytest.approx(1e-6, rel=0.05)


def test_rrelu_eval_uses_the_average_slope():
    """RReLU: "in eval() it uses the fixed average slope"."""
    rrelu = curve("rrelu", lower=0.1, upper=0.3, training=False)
    assert rrelu.dy[rrelu.x < 0] == pytest.approx(0.2)


def test_softmax_of_z_and_0_is_sigmoid_of_z():
    """"Softmax generalises sigmoid to many classes: with two logits, softmax of (z, 0) is
    sigmoid(z)." """
    for z in (-4.0, -0.5, 0.0, 2.3):
        p = softmax(SoftmaxConfig(logits=[z, 0.0])).probs
        assert p[0] == pytest.approx(float(torch.sigmoid(torch.tensor(z, dtype=torch.float64))))


def test_softmax_jacobian_signs_scale_and_a_confident_softmax():
    """"raising a logit raises its own probability (the red diagonal) and takes from the others
    (blue) ... every entry is divided by T, and a confident softmax (one p near 1) passes back
    almost no gradient at all." """
    logits = [2.0, 1.0, 0.1, -1.0]
    jac = softmax(SoftmaxConfig(logits=logits)).jacobian
    assert (np.diag(jac) > 0).all()
    assert (jac[~np.eye(4, dtype=bool)] < 0).all()
    hot = softmax(SoftmaxConfig(logits=logits, temperature=2.0))
    p = hot.probs
    np.testing.assert_allclose(hot.jacobian, (np.diag(p) - np.outer(p, p)) / 2.0, atol=1e-12)
    confident = softmax(SoftmaxConfig(logits=logits, temperature=0.05))
    assert confident.probs.max() > 0.999
    assert np.abs(confident.jacobian).max() < 1e-6


def test_low_temperature_sharpens_high_temperature_flattens():
    """"low T sharpens towards the largest, high T flattens towards uniform" """
    logits = [2.0, 1.0, 0.1, -1.0]
    cold = softmax(SoftmaxConfig(logits=logits, temperature=0.1)).probs
    hot = softmax(SoftmaxConfig(logits=logits, temperature=20)).probs
    assert cold[0] > 0.99
    assert np.abs(hot - 0.25).max() < 0.02


def test_l2_counts_twice_the_error_four_times_and_its_pull_grows():
    """"L2 squares each error, so a point twice as far away counts four times as much, and its
    gradient grows with the error." L1: "its gradient is ±1 whatever the size"; Huber: "L2 for
    small errors and L1 for large ones" with its gradient "capped at ±δ"."""
    l2 = loss_curve(LossConfig(name="l2", target=0.0))
    at = {round(float(p), 4): i for i, p in enumerate(l2.prediction)}
    assert l2.loss[at[2.0]] == pytest.approx(4 * l2.loss[at[1.0]])
    assert l2.grad[at[2.0]] == pytest.approx(2 * l2.grad[at[1.0]])
    l1 = loss_curve(LossConfig(name="l1", target=0.0))
    assert set(np.round(np.abs(l1.grad[l1.prediction != 0]), 6)) == {1.0}
    huber = loss_curve(LossConfig(name="huber", target=0.0, delta=1.5))
    small = np.abs(huber.prediction) < 1.5
    np.testing.assert_allclose(huber.grad[small], huber.prediction[small], atol=1e-9)  # as L2 / 2
    assert np.abs(huber.grad).max() == pytest.approx(1.5)
    assert (np.abs(huber.grad[~small]) == pytest.approx(1.5))


def test_a_confident_wrong_answer_costs_a_lot_in_binary_cross_entropy():
    """BCE: "the loss goes to infinity as the prediction reaches the wrong end" """
    bce = loss_curve(LossConfig(name="bce", target=1.0))
    assert (np.diff(bce.loss) < 0).all()  # the further from 1, the dearer
    assert bce.loss[0] > 5  # at p = 0.005: −log 0.005
    assert bce.loss[0] == pytest.approx(-np.log(0.005))


def test_kl_is_zero_exactly_where_the_prediction_is_the_target():
    """KL: "zero exactly when the predicted distribution equals the target's" """
    kl = loss_curve(LossConfig(name="kl", target=0.3))
    best = int(np.argmin(kl.loss))
    assert kl.prediction[best] == pytest.approx(0.3, abs=0.005)
    assert kl.loss[best] == pytest.approx(0, abs=1e-4)
    assert (np.delete(kl.loss, best) > 0).all()
