"""The gradient-descent lab over a real websocket: surface frames, runs, endings, bad input."""

import numpy as np
import pytest

from ml_core.descent import SURFACE_PRESETS, DescentConfig
from ml_core.surfaces import SURFACES


def _metrics(client, test=lambda m: True, timeout=20.0):
    return client.wait_for(lambda m: isinstance(m, dict) and m.get("type") == "metrics" and test(m),
                           timeout)


def test_configure_sends_the_surface_and_its_minima(ws_connect, settings):
    client = ws_connect("descent")
    assert client.initial["config"] == DescentConfig().model_dump(mode="json")
    assert [s["name"] for s in client.initial["options"]["surfaces"]] == list(SURFACES)
    configured = client.configure({"surface": "wells"})
    surface = configured["surface"]
    assert surface["name"] == "wells"
    assert surface["bounds"] == list(SURFACES["wells"].bounds)
    assert len(surface["minima"]) == 4
    assert sum(m["global"] for m in surface["minima"]) == 1
    # A surface brings its own learning rates unless the client says otherwise.
    assert configured["config"]["optimizers"]["gd"]["lr"] == SURFACE_PRESETS["wells"].lr["gd"]
    assert configured["presets"]["wells"]["lr"] == SURFACE_PRESETS["wells"].lr
    rosen = client.configure({"surface": "rosenbrock", "optimizers": {"gd": {"lr": 0.002}}})
    assert rosen["config"]["optimizers"]["gd"]["lr"] == 0.002
    assert rosen["config"]["optimizers"]["adam"]["lr"] == SURFACE_PRESETS["rosenbrock"].lr["adam"]
    client.send({"type": "surface"})
    frame = client.frame("surface")
    grid = frame.arrays["grid"]
    size = settings.descent.grid_size
    assert grid.dtype == np.uint8
    assert grid.shape == (size, size)
    assert frame.meta["log_scale"]
    assert frame.meta["min"] == pytest.approx(0, abs=1e-3)


def test_click_a_start_and_step_every_optimizer(ws_connect):
    client = ws_connect("descent")
    client.configure({"surface": "bowl", "max_steps": 300})
    client.send({"type": "start", "x": 1.5, "y": -2.0})
    configured = client.wait_for("configured")
    assert configured["start"] == [1.5, -2.0]
    client.send({"type": "step", "steps": 10})
    metrics = _metrics(client, lambda m: m["runs"]["gd"]["steps"] == 10)
    assert set(metrics["runs"]) == {"gd", "sgd", "momentum", "adam"}
    assert metrics["step"] == 10
    frame = client.frame("descent")
    path = frame.arrays["gd"]
    assert path.dtype == np.float32
    assert path.shape == (11, 2)
    assert path[0].tolist() == [1.5, -2.0]
    # GD with lr 0.1 on 0.5·|p|² shrinks the point by 0.9 each step.
    assert path[10] == pytest.approx(np.array([1.5, -2.0]) * 0.9**10, rel=1e-5)
    assert metrics["runs"]["gd"]["loss"] == pytest.approx(0.5 * 6.25 * 0.81**10, rel=1e-5)


def test_play_runs_to_the_end_and_names_it(ws_connect):
    client = ws_connect("descent")
    client.configure({"surface": "saddle", "start": [2.0, 0.0], "speed": 2000, "max_steps": 400,
                      "optimizers": {"sgd": {"noise": 0.3, "batch": 4, "lr": 0.05}}})
    client.send({"type": "play"})
    client.wait_for(lambda m: isinstance(m, dict) and m.get("state") == "finished", timeout=30)
    runs = _metrics(client, lambda m: m["finished"])["runs"]
    assert runs["gd"]["ending"] == "saddle"
    assert "saddle" in runs["gd"]["text"]
    eig = runs["gd"]["eigenvalues"]
    assert eig[0] < 0 < eig[1]
    assert runs["sgd"]["ending"] == "global_minimum"


def test_disabled_optimizers_do_not_run_and_divergence_is_reported(ws_connect):
    client = ws_connect("descent")
    off = {"enabled": False}
    client.configure({"surface": "bowl", "optimizers": {"gd": {"lr": 3.0}, "sgd": off,
                                                        "momentum": off, "adam": off}})
    client.send({"type": "step", "steps": 200})
    metrics = _metrics(client, lambda m: m["finished"])
    assert list(metrics["runs"]) == ["gd"]
    assert metrics["runs"]["gd"]["ending"] == "diverged"
    assert metrics["runs"]["gd"]["loss"] is None
    frame = client.frame("descent")
    assert set(frame.arrays) == {"gd"}
    assert np.isfinite(frame.arrays["gd"]).all()


def test_bad_input_gets_a_clear_error_and_the_session_goes_on(ws_connect, settings):
    client = ws_connect("descent")
    client.configure({"surface": "valley", "start": [1.0, 1.0]})
    limits = settings.descent
    bad = [
        ({"type": "start", "x": 9.0, "y": 0.0}, "inside the surface"),
        ({"type": "start", "x": "left", "y": 0.0}, "x"),
        ({"type": "configure", "config": {"surface": "moon"}}, "surface"),
        ({"type": "configure", "config": {"start": [99, 0]}}, "inside the surface"),
        ({"type": "configure", "config": {"max_steps": limits.max_steps + 1}}, "max_steps"),
        ({"type": "configure", "config": {"optimizers": {"adam": {"lr": -1}}}}, "lr"),
        ({"type": "configure", "config": {"optimizers": {"gd": {"momentum": 0.5}}}}, "momentum"),
        ({"type": "configure", "config": {"speed": limits.max_speed + 1}}, "speed"),
    ]
    for message, needle in bad:
        client.send(message)
        assert needle in client.wait_for("error")["message"]
    # Nothing changed: the valley race goes on from (1, 1).
    client.send({"type": "step", "steps": 1})
    _metrics(client, lambda m: m["runs"]["gd"]["steps"] == 1)
    assert client.frame("descent").meta["start"] == [1.0, 1.0]
