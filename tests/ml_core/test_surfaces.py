"""Loss surfaces, where runs on them end, and the optimiser race: autograd gradients, the Hessian
verdicts, the race's config, and the classic lessons."""

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from ml_core.descent import (
    RACERS,
    AdamOptions,
    DescentConfig,
    GDOptions,
    MomentumOptions,
    Optimizers,
    Run,
    SGDOptions,
    presets,
    race,
    surface_defaults,
)
from ml_core.endings import Ending, classify, minima
from ml_core.surfaces import SURFACES, get_surface, gradient, grid, hessian
from ml_core.training import OPTIMIZERS, make_optimizer


def finite_difference(surface, point, h=1e-6):
    grad = []
    for k in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[k] = h
        grad.append((surface.fn(point + e) - surface.fn(point - e)) / (2 * h))
    return torch.stack(grad)


@pytest.mark.parametrize("name", SURFACES)
def test_autograd_gradient_equals_finite_difference(name):
    surface = get_surface(name)
    gen = torch.Generator().manual_seed(1)
    xmin, xmax, ymin, ymax = surface.bounds
    for _ in range(5):
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        point = torch.stack([xmin + u[0] * (xmax - xmin), ymin + u[1] * (ymax - ymin)])
        _, grad = gradient(surface, point)
        torch.testing.assert_close(grad, finite_difference(surface, point), rtol=1e-5, atol=1e-5)


def test_hessian_matches_finite_difference_of_gradient():
    surface = get_surface("wells")
    point = torch.tensor([0.7, -1.1], dtype=torch.float64)
    h = 1e-5
    columns = []
    for k in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[k] = h
        columns.append((gradient(surface, point + e)[1] - gradient(surface, point - e)[1]) / (2 * h))
    torch.testing.assert_close(hessian(surface, point), torch.stack(columns, 1), rtol=1e-5, atol=1e-6)


def test_known_minima_are_found():
    assert [m.point for m in minima("bowl")] == [pytest.approx((0, 0), abs=1e-6)]
    (rosen,) = minima("rosenbrock")
    assert rosen.point == pytest.approx((1, 1), abs=1e-5)
    assert rosen.is_global
    saddle = minima("saddle")
    assert sorted(round(m.point[1]) for m in saddle) == [-1, 1]
    wells = minima("wells")
    assert len(wells) == 4
    assert sum(m.is_global for m in wells) == 1
    # The global one is the deepest well, and no other minimum is lower.
    best = min(wells, key=lambda m: m.value)
    assert best.is_global
    assert best.point == pytest.approx((2.0, 1.8), abs=0.3)


def test_grid_is_uint8_with_top_row_at_ymax():
    surface = get_surface("valley")
    image, values = grid(surface, 32)
    assert image.dtype == np.uint8
    assert image.shape == (32, 32)
    assert image.min() == 0
    assert image.max() == 255
    # valley = 0.05 x² + 2 y²: the centre row (y≈0) is lowest, the top and bottom rows highest.
    assert values[0].mean() > values[16].mean() < values[-1].mean()
    assert values[0, 0] == pytest.approx(float(surface.fn(torch.tensor([-6.0, 6.0]))))


def test_gd_on_the_bowl_reaches_the_minimum():
    run = Run(get_surface("bowl"), GDOptions(lr=0.1), (-2.5, 2.0), max_steps=2000)
    run.run(2000)
    assert run.done
    assert run.steps < 2000  # stopped because it converged, not out of steps
    assert math.hypot(*run.point) < 1e-5
    assert run.verdict.ending is Ending.GLOBAL_MIN


def test_gd_follows_the_update_rule():
    surface = get_surface("rosenbrock")
    run = Run(surface, GDOptions(lr=1e-3), (-1.5, 2.5), max_steps=10)
    before = torch.tensor(run.point, dtype=torch.float64)
    run.step()
    _, grad = gradient(surface, before)
    torch.testing.assert_close(torch.tensor(run.point, dtype=torch.float64), before - 1e-3 * grad)


def test_momentum_escapes_the_saddle_where_gd_stalls():
    surface = get_surface("saddle")
    start = (2.0, 1e-10)  # on (a hair off) the saddle's stable manifold, the x-axis
    gd = Run(surface, GDOptions(lr=0.05), start, max_steps=300)
    momentum = Run(surface, MomentumOptions(lr=0.05, momentum=0.9), start, 300)
    gd.run(300)
    momentum.run(300)
    assert gd.verdict.ending is Ending.SADDLE
    assert math.hypot(*gd.point) < 1e-3
    assert momentum.verdict.ending is Ending.GLOBAL_MIN
    assert abs(momentum.point[1]) == pytest.approx(1.0, abs=1e-2)


def test_start_exactly_on_the_ridge_stalls_gd_but_sgd_noise_escapes():
    surface = get_surface("saddle")
    gd = Run(surface, GDOptions(lr=0.1), (2.0, 0.0), max_steps=1000)
    sgd = Run(surface, SGDOptions(lr=0.05, noise=0.3, batch=4), (2.0, 0.0), 1000)
    gd.run(1000)
    sgd.run(1000)
    assert gd.verdict.ending is Ending.SADDLE
    assert sgd.verdict.ending is Ending.GLOBAL_MIN


def test_where_you_start_decides_which_well_you_end_in():
    surface = get_surface("wells")
    endings = {}
    for m in minima("wells"):
        start = (m.point[0] + 0.3, m.point[1] - 0.3)
        run = Run(surface, GDOptions(lr=0.2), start, max_steps=3000)
        run.run(3000)
        endings[m.is_global] = run.verdict.ending
        assert math.dist(run.point, m.point) < 1e-2
    assert endings == {True: Ending.GLOBAL_MIN, False: Ending.LOCAL_MIN}


def test_too_large_a_learning_rate_diverges():
    run = Run(get_surface("bowl"), GDOptions(lr=2.5), (1.0, 1.0), max_steps=500)
    run.run(500)
    assert run.verdict.ending is Ending.DIVERGED
    assert run.steps < 500


def test_classify_names_critical_points_by_the_hessian():
    saddle = get_surface("saddle")
    assert classify(saddle, torch.tensor([0.0, 0.0])).ending is Ending.SADDLE
    assert classify(saddle, torch.tensor([0.0, 1.0])).ending is Ending.GLOBAL_MIN
    assert classify(saddle, torch.tensor([1.5, 1.0])).ending is Ending.MOVING
    assert classify(saddle, torch.tensor([math.nan, 0.0])).ending is Ending.DIVERGED
    wells = get_surface("wells")
    local = next(m for m in minima("wells") if not m.is_global)
    assert classify(wells, torch.tensor(local.point)).ending is Ending.LOCAL_MIN
    verdict = classify(saddle, torch.tensor([0.0, 0.0]))
    assert verdict.eigenvalues[0] < 0 < verdict.eigenvalues[1]


@pytest.mark.parametrize("kind", RACERS)
def test_every_optimiser_reaches_the_bowl_minimum(kind):
    noise = {"noise": 0.1, "batch": 16} if kind == "sgd" else {}
    options = Optimizers.model_validate({kind: {"lr": 0.05, **noise}})
    run = Run(get_surface("bowl"), getattr(options, kind), (2.0, -2.0), max_steps=1500, seed=3)
    run.run(1500)
    assert run.verdict.ending is Ending.GLOBAL_MIN


def test_sgd_noise_shrinks_with_the_batch():
    def spread(batch):
        run = Run(get_surface("bowl"), SGDOptions(lr=0.05, noise=1.0, batch=batch),
                  (0.0, 0.0), max_steps=400, seed=0)
        run.run(400)
        return float(run.path[100:].norm(dim=1).mean())

    assert spread(64) < spread(1) / 4


def test_trajectory_is_thinned_but_keeps_its_ends():
    run = Run(get_surface("rosenbrock"), AdamOptions(lr=0.01), (-1.5, 2.5), 3000)
    run.run(2500)
    path = run.trajectory(max_points=100)
    assert path.dtype == np.float32
    assert len(path) <= 101
    assert tuple(path[0]) == pytest.approx((-1.5, 2.5))
    assert tuple(path[-1]) == pytest.approx(run.point, abs=1e-6)


def test_every_racer_runs_an_optimizer_of_the_shared_registry():
    assert RACERS == ("gd", "sgd", "momentum", "adam")
    for name in RACERS:
        options = getattr(Optimizers(), name)
        assert options.optimizer in OPTIMIZERS
        param = torch.zeros(2, requires_grad=True)
        expected = make_optimizer(options.optimizer, [param], options.lr)
        assert type(options.make([param])) is type(expected)


def test_the_config_offers_the_cores_surfaces_and_refuses_a_start_outside():
    schema = DescentConfig.model_json_schema()
    assert schema["properties"]["surface"]["enum"] == list(SURFACES)
    xmin, xmax, ymin, ymax = SURFACES["rosenbrock"].bounds
    inside = DescentConfig(surface="rosenbrock", start=(xmax, ymin))
    assert inside.start_point == (xmax, ymin)
    assert DescentConfig(surface="rosenbrock").start_point == SURFACES["rosenbrock"].start
    with pytest.raises(ValidationError, match="inside the surface"):
        DescentConfig(surface="rosenbrock", start=(xmax + 0.1, ymin))
    with pytest.raises(ValidationError, match="surface"):
        DescentConfig(surface="moon")


def test_a_surface_brings_its_own_rates_unless_told_otherwise():
    config = DescentConfig.model_validate({"surface": "rosenbrock", **surface_defaults("rosenbrock")})
    assert config.max_steps == 3000
    assert config.optimizers.adam.lr == 0.05
    assert surface_defaults("bowl") == {}  # the bowl's lesson needs the defaults
    table = presets()
    assert set(table) == set(SURFACES)
    assert table["bowl"].lr == {name: getattr(Optimizers(), name).lr for name in RACERS}
    assert table["rosenbrock"].lr["gd"] == config.optimizers.gd.lr


def test_the_race_is_built_from_the_config():
    config = DescentConfig.model_validate(
        {"surface": "valley", "start": (1.0, 2.0), "max_steps": 40, "seed": 2,
         "optimizers": {"momentum": {"enabled": False}, "sgd": {"noise": 0.5, "batch": 4}}}
    )
    runs = race(config)
    assert list(runs) == ["gd", "sgd", "adam"]
    for run in runs.values():
        assert tuple(run.path[0].tolist()) == (1.0, 2.0)
        assert run.max_steps == 40
    assert runs["sgd"].options.noise_std == pytest.approx(0.25)
    # GD is SGD without noise: one step is p − lr·∇f exactly.
    runs["gd"].step()
    _, grad = gradient(get_surface("valley"), torch.tensor([1.0, 2.0], dtype=torch.float64))
    expected = torch.tensor([1.0, 2.0], dtype=torch.float64) - config.optimizers.gd.lr * grad
    torch.testing.assert_close(torch.tensor(runs["gd"].point, dtype=torch.float64), expected)
