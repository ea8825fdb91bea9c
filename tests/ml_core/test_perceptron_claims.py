"""What the perceptron page tells the learner they will see, each claim set up and checked.

The page's words are quoted in each test's docstring (templates/perceptron.html,
static/js/perceptron*.js, the notes of app/labs/perceptron.py).
"""

import pytest
import torch

from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.perceptron import LearningConfig, Perceptron, sign
from ml_core.perceptron_data import DatasetConfig, make_dataset, separability


def run_to_end(points, labels, **config) -> Perceptron:
    perceptron = Perceptron(points, labels, LearningConfig(**config))
    perceptron.run(10**7)
    return perceptron


def test_w_points_to_the_plus_side_and_the_line_itself_is_plus():
    """"w points to the +1 side. (A point exactly on the line is given +1.)\""""
    w, b = torch.tensor([0.6, -0.8], dtype=torch.float64), 0.1
    perceptron = Perceptron(torch.zeros(1, 2), torch.ones(1, dtype=torch.int64), LearningConfig())
    perceptron.w, perceptron.b = w, b
    on_line = -b * w  # ‖w‖ = 1: the foot of the normal from the origin, on wᵀx + b = 0
    assert float(on_line @ w + b) == pytest.approx(0)
    assert int(perceptron.output(on_line + 0.01 * w)) == 1  # a step along w: the +1 side
    assert int(perceptron.output(on_line - 0.01 * w)) == -1
    assert int(sign(torch.tensor(0.0))) == 1


@pytest.mark.parametrize("target", [1, -1])
def test_a_mistake_pulls_w_towards_a_plus_point_and_pushes_it_from_a_minus_point(target):
    """"A +1 point on the −1 side pulls w towards itself; a −1 point pushes it away.\""""
    x = torch.tensor([[0.7, 0.4]])
    perceptron = Perceptron(x, torch.tensor([target]), LearningConfig(init="random", seed=3))
    # w at an angle to x, and a bias that puts x on the wrong side
    perceptron.w, perceptron.b = torch.tensor([-0.2, 0.9], dtype=torch.float64), -target * 1.0
    before = torch.nn.functional.cosine_similarity(perceptron.w, x[0].double(), dim=0)
    visit = perceptron.step()
    assert not visit.correct
    after = torch.nn.functional.cosine_similarity(perceptron.w, x[0].double(), dim=0)
    if target == 1:
        assert after > before  # towards x
    else:
        assert after < before  # away from x


def test_from_zero_weights_the_rate_only_scales_the_weights():
    """"Starting from zero weights, λ only scales w and b, so the line is the same for every λ\""""
    points, labels = make_dataset("separable", 30, seed=0)
    slow = Perceptron(points, labels, LearningConfig(learning_rate=0.01))
    fast = Perceptron(points, labels, LearningConfig(learning_rate=3.0))
    for _ in range(200):
        a, b = slow.step(), fast.step()
        assert a.index == b.index
        assert a.correct == b.correct
        torch.testing.assert_close(fast.w, slow.w * 300)
        assert fast.b == pytest.approx(slow.b * 300)
        if slow.finished:
            break


def test_from_a_dragged_line_a_small_rate_moves_it_in_small_steps():
    """"with random or dragged weights, a small λ moves the line in small steps\""""
    points, labels = make_dataset("separable", 30, seed=0)
    moves = {}
    for lam in (0.01, 1.0):
        perceptron = Perceptron(points, labels, LearningConfig(init="line", learning_rate=lam))
        while perceptron.step().correct:
            pass
        last = perceptron.last
        moves[lam] = float(torch.tensor(last.w_after + [last.b_after]).sub(
            torch.tensor(last.w_before + [last.b_before])).norm())
    assert moves[0.01] < moves[1.0] / 50


def test_a_wider_margin_gives_a_smaller_bound_and_fewer_updates():
    """"A wider margin gives a smaller bound, and usually fewer updates: compare ... "Linearly
    separable" with ... "Separable with a margin".\" (the page's default data, seed 0)"""
    default = DatasetConfig()
    plain = DatasetConfig(name="separable", samples=default.samples, seed=default.seed)
    wide = plain.model_copy(update={"name": "margin"})
    plain_analysis = separability(*plain.generate())
    wide_analysis = separability(*wide.generate())
    assert wide_analysis.margin > plain_analysis.margin
    assert wide_analysis.bound < plain_analysis.bound
    assert run_to_end(*wide.generate()).mistakes < run_to_end(*plain.generate()).mistakes
    for seed in range(1, 5):  # the bound, not only on the default seed
        a = separability(*plain.model_copy(update={"seed": seed}).generate())
        b = separability(*wide.model_copy(update={"seed": seed}).generate())
        assert b.bound < a.bound, seed


@pytest.mark.parametrize("name", ["xor", "noisy"])
def test_without_a_separating_line_every_pass_makes_a_mistake(name):
    """Notes: "No straight line separates these two classes, so every pass over the data makes
    at least one mistake: the perceptron never converges and stops at the epoch limit.\""""
    points, labels = DatasetConfig(name=name).generate()  # the page's defaults
    assert not separability(points, labels).separable
    perceptron = run_to_end(points, labels, max_epochs=50)
    assert not perceptron.converged
    assert perceptron.epoch == 50
    assert min(perceptron.epoch_mistakes[:50]) >= 1


def test_shuffled_order_is_a_new_random_order_each_epoch():
    """"Try the shuffled order: a new random order each epoch, exactly like SGD.\""""
    points, labels = make_dataset("xor", 30, seed=0)
    perceptron = Perceptron(points, labels, LearningConfig(order="shuffle", max_epochs=4))
    passes = [[perceptron.step().index for _ in range(30)] for _ in range(3)]
    assert all(sorted(p) == list(range(30)) for p in passes)  # every point once an epoch
    assert passes[0] != passes[1] != passes[2]
    assert passes[0] != list(range(30))


def test_four_tanh_neurons_bend_the_boundary_around_xor():
    """"open the points in the MLP playground and 4 tanh neurons bend the boundary around them"
    — the link's network (one hidden layer of 4 tanh neurons, the playground's own training
    defaults) on the perceptron's XOR points, labels −1 → 0 and +1 → 1."""
    points, labels = DatasetConfig(name="xor").generate()
    drawn = [[x, y, int(t > 0)] for (x, y), t in zip(points.tolist(), labels.tolist(), strict=True)]
    config = PlaygroundConfig.model_validate(
        {"dataset": {"name": "custom"}, "model": {"hidden": [4], "activation": "tanh"}}
    )
    run = MLPRun(config, points=drawn)
    run.step(3000 * run.steps_per_epoch)
    metrics = run.metrics()
    assert metrics["train_accuracy"] == 1.0
    assert metrics["val_accuracy"] >= 0.9


@pytest.mark.parametrize("order", ["cycle", "restart", "shuffle"])
def test_an_epoch_is_as_many_visits_as_there_are_points_whatever_the_order(order):
    """"Whatever the order, an epoch is as many visits as there are points." (the slide's
    restart order goes back to the first point after an update, and still counts this way)"""
    points, labels = make_dataset("xor", 12, seed=2)
    perceptron = Perceptron(points, labels, LearningConfig(order=order, max_epochs=10))
    for visits in range(1, 50):
        perceptron.step()
        assert perceptron.epoch == visits // 12
