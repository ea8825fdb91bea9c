"""The perceptron against the course's rule, computed by hand, and the convergence theorem."""

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ml_core.perceptron import (
    INITS,
    ORDERS,
    Handle,
    LearningConfig,
    Perceptron,
    PerceptronConfig,
    line_segment,
    weights_from_line,
)
from ml_core.perceptron_data import CUSTOM, DATASETS, DatasetConfig, make_dataset, separability


def brute_force_margin(points: torch.Tensor, labels: torch.Tensor, steps: int = 300) -> float:
    """Best margin over a fine grid of unit (w1, w2, b) directions: a reference for the QP."""
    z = np.hstack([points.double().numpy(), np.ones((len(points), 1))])  # (N, 3)
    theta, phi = np.meshgrid(np.linspace(0, np.pi, steps), np.linspace(0, 2 * np.pi, 2 * steps))
    u = np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1
    ).reshape(-1, 3)  # (D, 3) unit vectors
    margins = (labels.double().numpy()[None, :] * (u @ z.T)).min(axis=1)  # (D,)
    return float(margins.max())


@pytest.mark.parametrize("name", ["separable", "margin"])
@pytest.mark.parametrize("order", ["cycle", "shuffle", "restart"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_converges_within_the_bound_on_separable_data(name, order, seed):
    points, labels = make_dataset(name, 40, seed=seed)
    analysis = separability(points, labels)
    assert analysis.separable
    # R = max ‖(x, 1)‖ and γ the best margin of a unit (w, b): Novikoff's theorem.
    radius = float(torch.cat([points.double(), torch.ones(len(points), 1)], 1).norm(dim=1).max())
    assert analysis.radius == pytest.approx(radius)
    perceptron = Perceptron(points, labels, LearningConfig(order=order, max_epochs=10_000))
    perceptron.run(10**7)
    assert perceptron.converged
    assert perceptron.mistakes <= (radius / analysis.margin) ** 2
    assert perceptron.mistakes == pytest.approx(sum(perceptron.epoch_mistakes))
    assert perceptron.accuracy() == 1.0  # converged really means every point is right


@pytest.mark.parametrize("seed", [0, 3])
def test_margin_is_the_best_a_line_can_do(seed):
    points, labels = make_dataset("separable", 30, seed=seed)
    reference = brute_force_margin(points, labels)
    margin = separability(points, labels).margin
    assert margin >= reference - 1e-6  # at least as good as the best of 180,000 directions
    # Not an over-statement: the margin moves at most R·‖Δu‖ between neighbouring directions
    # (grid spacing ≈ 0.0105 rad, R ≤ √3).
    assert margin <= reference + math.sqrt(3) * 0.0105


@pytest.mark.parametrize("order", ["cycle", "shuffle", "restart"])
def test_never_converges_on_xor(order):
    points, labels = make_dataset("xor", 40, seed=0)
    assert not separability(points, labels).separable
    perceptron = Perceptron(points, labels, LearningConfig(order=order, max_epochs=60))
    visits = perceptron.run(10**6)
    assert not perceptron.converged
    assert perceptron.finished
    assert perceptron.epoch == 60
    assert visits == 60 * len(points)
    assert all(m > 0 for m in perceptron.epoch_mistakes[:60])  # every pass made a mistake
    assert perceptron.accuracy() < 1.0
    with pytest.raises(RuntimeError, match="reset"):
        perceptron.step()


@pytest.mark.parametrize("order", ["cycle", "restart"])
@pytest.mark.parametrize("init", ["zeros", "random", "line"])
def test_every_update_is_the_rule_by_hand(order, init):
    points, labels = make_dataset("noisy", 25, noise=0.2, seed=4)
    lam = 0.37
    config = LearningConfig(learning_rate=lam, init=init, order=order, max_epochs=20, seed=9)
    perceptron = Perceptron(points, labels, config)
    w, b = perceptron.w.tolist(), perceptron.b
    expected_index = 0
    updates = 0
    for _ in range(300):
        visit = perceptron.step()
        assert visit.index == expected_index
        x = points[visit.index].double().tolist()
        t = int(labels[visit.index])
        s = w[0] * x[0] + w[1] * x[1] + b
        out = 1 if s >= 0 else -1
        assert visit.w_before == pytest.approx(w)
        assert visit.b_before == pytest.approx(b)
        assert (visit.x, visit.target) == (pytest.approx(x), t)
        assert visit.activation == pytest.approx(s)
        assert (visit.output, visit.correct) == (out, out == t)
        if out != t:
            w = [w[0] + lam * (t - out) * x[0], w[1] + lam * (t - out) * x[1]]
            b = b + lam * (t - out)
            assert visit.delta_w == pytest.approx([lam * (t - out) * x[0], lam * (t - out) * x[1]])
            assert visit.delta_b == pytest.approx(lam * (t - out))
            updates += 1
        else:
            assert (visit.delta_w, visit.delta_b) == ([0.0, 0.0], 0.0)
        assert visit.w_after == pytest.approx(w)
        assert visit.b_after == pytest.approx(b)
        for wb, segment in (
            ((visit.w_before, visit.b_before), visit.line_before),
            ((visit.w_after, visit.b_after), visit.line_after),
        ):
            if segment is not None:  # the drawn line is where wᵀx + b = 0
                for p in segment:
                    assert wb[0][0] * p[0] + wb[0][1] * p[1] + wb[1] == pytest.approx(0, abs=1e-9)
        # Step 5: the next point; the slide's variant starts over after a mistake.
        restart = order == "restart" and out != t
        expected_index = 0 if restart else (visit.index + 1) % len(points)
        if perceptron.finished:
            break
    assert updates > 3  # noisy data: the walk did go through the update branch


def test_epochs_count_passes_and_shuffle_visits_each_point_once():
    points, labels = make_dataset("xor", 12, seed=1)
    perceptron = Perceptron(points, labels, LearningConfig(order="shuffle", max_epochs=5))
    seen = [perceptron.step().index for _ in range(36)]
    assert perceptron.epoch == 3
    for k in range(3):
        assert sorted(seen[12 * k : 12 * (k + 1)]) == list(range(12))
    assert seen[:12] != seen[12:24]  # a new order each pass


def test_line_goes_through_the_weights():
    gen = torch.Generator().manual_seed(0)
    drawn = 0
    for _ in range(200):
        w = torch.randn(2, generator=gen, dtype=torch.float64)
        b = float(torch.randn(1, generator=gen)) * 0.8
        segment = line_segment(w, b)
        corners = torch.tensor([[-1, -1], [-1, 1], [1, -1], [1, 1]], dtype=torch.float64)
        crosses = (corners @ w + b).min() <= 0 <= (corners @ w + b).max()
        assert (segment is not None) == bool(crosses)
        if segment is None:
            continue
        drawn += 1
        for p in segment:
            assert float(w[0] * p[0] + w[1] * p[1] + b) == pytest.approx(0, abs=1e-9)
            assert max(abs(p[0]), abs(p[1])) == pytest.approx(1.0)  # ends on the square's edge
        assert math.dist(*segment) > 0
    assert drawn > 100
    assert line_segment(torch.zeros(2), 0.5) is None  # w = 0: no line


def test_line_handles_give_the_weights():
    p, q = (-0.4, 0.2), (0.6, -0.3)
    w, b = weights_from_line(p, q)
    for point in (p, q):
        assert float(w @ torch.tensor(point, dtype=torch.float64)) + b == pytest.approx(0)
    assert float(w.norm()) == pytest.approx(1)
    # w points to the left of p → q: a point there is classed +1.
    left = torch.tensor([0.1 + 0.5, -0.05 + 1.0], dtype=torch.float64)
    config = LearningConfig(init="line", line=(Handle(x=p[0], y=p[1]), Handle(x=q[0], y=q[1])))
    perceptron = Perceptron(torch.zeros(1, 2), torch.ones(1, dtype=torch.int64), config)
    assert int(perceptron.output(left)) == 1
    with pytest.raises(ValueError, match="apart"):
        weights_from_line(p, p)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_datasets(name):
    points, labels = make_dataset(name, 50, noise=0.1, seed=5)
    assert (points.shape, labels.shape) == ((50, 2), (50,))
    assert points.abs().max() <= 1
    assert set(labels.tolist()) == {-1, 1}
    again, _ = make_dataset(name, 50, noise=0.1, seed=5)
    assert torch.equal(points, again)
    expected = {"separable": True, "margin": True, "xor": False}
    if name in expected:
        assert separability(points, labels).separable == expected[name]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown dataset"):
        make_dataset("spiral", 10)
    with pytest.raises(ValueError, match="-1 or \\+1"):
        Perceptron(torch.zeros(2, 2), torch.tensor([0, 1]), LearningConfig())
    with pytest.raises(ValueError, match="at least one"):
        Perceptron(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64), LearningConfig())


def test_the_config_offers_exactly_the_cores_registries():
    schema = PerceptronConfig.model_json_schema()
    defs = schema["$defs"]
    assert defs["DatasetConfig"]["properties"]["name"]["enum"] == [*DATASETS, CUSTOM]
    assert defs["LearningConfig"]["properties"]["init"]["enum"] == list(INITS)
    assert defs["LearningConfig"]["properties"]["order"]["enum"] == list(ORDERS)
    with pytest.raises(ValidationError, match="spiral"):
        DatasetConfig(name="spiral")


def test_a_preset_config_makes_its_dataset():
    config = DatasetConfig(name="noisy", samples=17, noise=0.3, seed=2)
    points, labels = config.generate()
    expected_points, expected_labels = make_dataset("noisy", 17, noise=0.3, seed=2)
    assert torch.equal(points, expected_points)
    assert torch.equal(labels, expected_labels)


def test_a_line_init_needs_two_handles_apart():
    same = (Handle(x=0.2, y=0.2), Handle(x=0.2, y=0.2))
    with pytest.raises(ValidationError, match="apart"):
        LearningConfig(init="line", line=same)
    assert LearningConfig(init="zeros", line=same).init == "zeros"  # unused handles may touch


def test_retune_changes_the_rate_without_a_reset():
    points, labels = make_dataset("noisy", 20, noise=0.3, seed=1)
    perceptron = Perceptron(points, labels, LearningConfig(learning_rate=0.1))
    perceptron.run(7)
    w, visits = perceptron.w.clone(), perceptron.visits
    perceptron.retune(LearningConfig(learning_rate=0.5))
    assert torch.equal(perceptron.w, w)
    assert perceptron.visits == visits
    while perceptron.step().correct:
        pass
    assert perceptron.last.learning_rate == 0.5
    assert perceptron.last.delta_b in (-1.0, 1.0)  # λ(target − output) = 0.5 · ±2
