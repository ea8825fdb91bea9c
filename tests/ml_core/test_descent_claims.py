"""Where a descent run ended, every verdict set up and checked, and what the gradient-descent
page tells the learner they will see (templates/descent.html, the surfaces' notes)."""

import math

import pytest
import torch

from ml_core.descent import (
    RACERS,
    SGD_WINDOW,
    DescentConfig,
    GDOptions,
    Run,
    SGDOptions,
    race,
    surface_defaults,
)
from ml_core.endings import GRAD_TOL, Ending, classify, minima, sgd_tolerance
from ml_core.surfaces import Surface, get_surface, gradient


def page_config(surface: str, **fields) -> DescentConfig:
    """What the page holds after clicking a surface (its own rates and step budget), plus
    ``fields`` (optimiser options merge into the surface's)."""
    config = surface_defaults(surface)
    for name, options in fields.pop("optimizers", {}).items():
        config.setdefault("optimizers", {}).setdefault(name, {}).update(options)
    return DescentConfig.model_validate({"surface": surface, **config, **fields})


def finish(config: DescentConfig, only: tuple[str, ...] = RACERS) -> dict[str, Run]:
    """Every run of the race (or the ``only`` ones) to its end."""
    runs = {name: run for name, run in race(config).items() if name in only}
    for run in runs.values():
        run.run(config.max_steps)
    return runs


def leaves(run: Run, radius: float = 0.5) -> int:
    """The first step at which the run is more than ``radius`` from the saddle's ridge (y = 0)."""
    ys = run.path[: run.steps + 1, 1].abs()
    return int((ys > radius).nonzero()[0])


# ---- every verdict, set up ---------------------------------------------------------------------
def test_converged_to_the_global_minimum():
    run = finish(page_config("bowl"), only=("gd",))["gd"]
    assert run.verdict.ending is Ending.GLOBAL_MIN
    assert run.steps < page_config("bowl").max_steps  # it stopped by itself
    assert run.verdict.grad_norm < GRAD_TOL
    assert "below 0.001" in run.verdict.detail


def test_converged_to_a_local_minimum():
    run = finish(page_config("wells"), only=("gd",))["gd"]  # the own start: a side valley
    assert run.verdict.ending is Ending.LOCAL_MIN
    global_min = next(m for m in minima("wells") if m.is_global)
    assert math.dist(run.point, global_min.point) > 1
    assert run.verdict.text == (
        f"converged to a local minimum at ({run.point[0]:.2f}, {run.point[1]:.2f}), "
        "not the deepest one"
    )


def test_stalled_at_a_saddle():
    run = finish(page_config("saddle", start=(-1.8, 0.0)), only=("gd",))["gd"]
    assert run.verdict.ending is Ending.SADDLE
    low, high = run.verdict.eigenvalues
    assert low < 0 < high


def test_diverged():
    config = page_config("valley", optimizers={"gd": {"lr": 0.6}})
    run = finish(config, only=("gd",))["gd"]
    assert run.verdict.ending is Ending.DIVERGED
    assert run.loss != run.loss  # NaN once diverged: nothing to show


def test_near_a_minimum_but_still_moving_ran_out_of_steps():
    """The bug: a run that ran out of steps close to a minimum was called "in" it. A slow GD on
    the bowl ends within 2 % of the window of (0, 0), with |∇f| far from zero."""
    surface = get_surface("bowl")
    run = Run(surface, GDOptions(lr=0.01), (1.0, 0.0), max_steps=450)
    run.run(450)
    assert math.hypot(*run.point) < 0.02 * surface.span  # near enough, by distance alone
    assert run.verdict.ending is Ending.MOVING
    assert run.verdict.grad_norm >= GRAD_TOL
    assert run.verdict.text == "ran out of steps while still moving"
    assert "not below 0.001" in run.verdict.detail


def test_sgd_is_judged_at_the_average_of_its_last_points_against_its_noise():
    """The newcomer's case: on the local-minima surface SGD's card showed |∇f| ≈ 0.7 at its last
    (noisy) point. Its verdict is taken where it rests, the average of its last 50 points, and
    says so, with the threshold its noise sets."""
    config = page_config("wells")
    run = finish(config, only=("sgd",))["sgd"]
    assert run.steps == config.max_steps  # SGD runs all its steps
    assert run.grad_norm > 0.3  # the jittering last point: far from a zero gradient
    verdict = run.verdict
    assert verdict.averaged == SGD_WINDOW
    rest = run.path[run.steps + 1 - SGD_WINDOW : run.steps + 1].mean(dim=0)  # by hand
    _, grad = gradient(get_surface("wells"), rest)
    assert verdict.grad_norm == pytest.approx(float(grad.norm()))
    sigma = config.optimizers.sgd.noise / math.sqrt(config.optimizers.sgd.batch)
    assert verdict.grad_tol == pytest.approx(3 * sigma / math.sqrt(SGD_WINDOW))
    assert verdict.grad_norm < verdict.grad_tol
    assert verdict.ending is Ending.GLOBAL_MIN
    assert f"at the average of its last {SGD_WINDOW} points" in verdict.detail


def test_sgd_that_is_still_travelling_ran_out_of_steps():
    config = page_config("bowl", max_steps=15, start=(-2.5, 2.0))
    run = finish(config, only=("sgd",))["sgd"]
    assert run.verdict.ending is Ending.MOVING
    assert run.verdict.grad_norm >= run.verdict.grad_tol


def test_sgd_tolerance_is_three_times_the_noise_left_in_the_average():
    assert sgd_tolerance(0.5, 50) == pytest.approx(3 * 0.5 / math.sqrt(50))
    assert sgd_tolerance(0.0, 50) == GRAD_TOL  # noiseless SGD is GD: the same threshold
    # A settled SGD on a quadratic is below it nearly always (a check of the 3σ rule).
    surface = get_surface("bowl")
    below = 0
    for seed in range(30):
        run = Run(surface, SGDOptions(lr=0.3, noise=1.0, batch=4), (0.0, 0.0), 150, seed)
        run.run(150)
        below += run.verdict.ending is Ending.GLOBAL_MIN
    assert below >= 28


def _surface(name: str, fn) -> Surface:
    return Surface(name, name, fn, (-1, 1, -1, 1), (0.5, 0.5), False, "")


@pytest.mark.parametrize(
    ("fn", "ending"),
    [
        (lambda p: -(p[..., 0] ** 2) - p[..., 1] ** 2, Ending.MAXIMUM),
        (lambda p: 0 * p[..., 0] + p[..., 1] ** 4, Ending.FLAT),
    ],
    ids=["maximum", "flat"],
)
def test_a_maximum_and_a_flat_region(fn, ending, monkeypatch):
    """No surface of the page has these, so a made-up one: a run that stops at a hilltop, and
    one on a plateau (the minima search needs a bowl: its list is given)."""
    surface = _surface(ending.value, fn)
    monkeypatch.setattr("ml_core.endings.minima", lambda name: ())
    verdict = classify(surface, torch.tensor([0.0, 0.0]))
    assert verdict.ending is ending


# ---- the page's claims -------------------------------------------------------------------------
@pytest.mark.parametrize("start", [(-2.9, -2.9), (2.9, 2.9), (-2.9, 2.5), (0.3, -2.8)])
def test_every_path_down_the_bowl_reaches_its_minimum(start):
    """Bowl: "One minimum and every path leads to it: gradient descent works here." """
    runs = finish(page_config("bowl", start=start))
    assert {name: run.verdict.ending for name, run in runs.items()} == dict.fromkeys(
        runs, Ending.GLOBAL_MIN
    )


def test_the_valley_gd_zig_zags_then_crawls_momentum_and_adam_run_along_it():
    """Elongated valley: "GD zig-zags across the steep walls (it crosses the floor at every step),
    then crawls along the floor; momentum and Adam get along it faster." """
    runs = finish(page_config("valley"))
    ys = runs["gd"].path[:21, 1]
    assert bool((ys[1:] * ys[:-1] < 0).all())  # across the floor at every step
    x_at_50 = {name: abs(float(run.path[50, 0])) for name, run in runs.items()}
    assert x_at_50["momentum"] < x_at_50["gd"] / 3
    assert x_at_50["adam"] < x_at_50["gd"] / 3


@pytest.mark.parametrize(("lr", "ending"), [(0.45, Ending.GLOBAL_MIN), (0.51, Ending.DIVERGED)])
def test_past_half_the_valley_diverges(lr, ending):
    """"Push GD's learning rate past 0.5 and it diverges." (the walls curve by 4: 2/4 = 0.5)"""
    run = finish(page_config("valley", optimizers={"gd": {"lr": lr}}), only=("gd",))["gd"]
    assert run.verdict.ending is ending


def test_on_the_ridge_only_sgd_escapes_the_saddle():
    """"start exactly on the ridge. GD, momentum and Adam stop dead at the saddle; SGD's noise
    escapes." (the page's "Start exactly on the ridge" button: (−1.8, 0))"""
    runs = finish(page_config("saddle", start=(-1.8, 0.0)))
    endings = {name: run.verdict.ending for name, run in runs.items()}
    assert endings == {"gd": Ending.SADDLE, "sgd": Ending.GLOBAL_MIN,
                       "momentum": Ending.SADDLE, "adam": Ending.SADDLE}


def test_a_hair_off_the_ridge_momentum_and_adam_leave_well_before_gd():
    """"Then start a hair off it: everyone leaves, momentum and Adam well before GD." (the
    page's "…or a hair off it" button: (−1.8, 0.001))"""
    runs = finish(page_config("saddle", start=(-1.8, 0.001)))
    assert all(run.verdict.ending is Ending.GLOBAL_MIN for run in runs.values())
    gd = leaves(runs["gd"])
    assert leaves(runs["momentum"]) < 0.6 * gd
    assert leaves(runs["adam"]) < 0.6 * gd


def test_each_valley_keeps_what_falls_in():
    """Local minima: "click different starts; each valley keeps what falls in." """
    for m in minima("wells"):
        start = (m.point[0] + 0.4, m.point[1] - 0.3)
        runs = finish(page_config("wells", start=start), only=("gd", "momentum", "adam"))
        for name in runs:
            assert math.dist(runs[name].point, m.point) < 0.05, (m.point, name)


def test_sgd_noise_kicks_it_out_of_the_shallowest_valley_gd_stays():
    """"Start in the shallowest valley (bottom right) and raise SGD's noise to 1.5: its noise
    kicks it out, while GD stays." — and "It does not promise the global minimum": at the
    default noise it stays there too."""
    shallow = minima("wells")[-1]  # sorted by depth: the last is the shallowest
    assert shallow.point[0] > 0 > shallow.point[1]  # bottom right
    for seed in range(3):
        config = page_config("wells", start=shallow.point, seed=seed,
                             optimizers={"sgd": {"noise": 1.5}})
        noisy = finish(config, only=("gd", "sgd"))
        assert math.dist(noisy["sgd"].resting_point().tolist(), shallow.point) > 1, seed
        assert noisy["gd"].verdict.ending is Ending.LOCAL_MIN
        assert math.dist(noisy["gd"].point, shallow.point) < 1e-3
    calm = finish(page_config("wells", start=shallow.point), only=("sgd",))["sgd"]
    assert calm.verdict.ending is Ending.LOCAL_MIN


def test_rosenbrock_is_easy_to_find_slow_to_follow():
    """Rosenbrock: "the valley is easy to find (every run is in it within a few steps), slow to
    follow: GD runs out of steps half way to (1, 1), Adam gets there." """
    config = page_config("rosenbrock")
    for name, run in race(config).items():
        run.run(5)
        x, y = run.path[:6, 0], run.path[:6, 1]
        assert bool(((y - x**2).abs() < 0.1).any()), name
    runs = finish(config, only=("gd", "adam"))
    gd, adam = runs["gd"], runs["adam"]
    assert gd.verdict.ending is Ending.MOVING
    assert gd.steps == config.max_steps
    start_distance = math.dist(config.start_point, (1, 1))
    assert 0.2 * start_distance < math.dist(gd.point, (1, 1)) < 0.8 * start_distance
    assert adam.verdict.ending is Ending.GLOBAL_MIN
