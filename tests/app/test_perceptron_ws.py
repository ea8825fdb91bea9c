"""The perceptron lab over a real websocket: configure, step, play to convergence, bad input."""

import pytest

from ml_core.perceptron import PerceptronConfig
from ml_core.perceptron_data import DATASETS


def _is(kind):
    return lambda m: isinstance(m, dict) and m.get("type") == kind


def _frame(client, test=lambda f: True, timeout=20.0):
    return client.wait_for(lambda m: _is("perceptron")(m) and test(m), timeout)


def _configure(client, config):
    client.send({"type": "configure", "lab": "perceptron", "config": config})
    return client.wait_for("configured")


def _configure_with_points(client, config, points):
    client.send({"type": "configure", "lab": "perceptron", "config": config, "points": points})
    return client.wait_for("configured")


def test_configure_reports_data_and_separability(ws_connect):
    client = ws_connect("perceptron")
    assert client.initial["data"]["points"]  # a preset is ready before any configure
    assert client.initial["options"]["datasets"] == [*DATASETS, "custom"]
    assert client.initial["config"] == PerceptronConfig().model_dump(mode="json")
    configured = _configure(client, {"dataset": {"name": "margin", "samples": 24, "seed": 2}})
    points = configured["data"]["points"]
    assert len(points) == 24
    assert {p[2] for p in points} == {-1, 1}
    assert configured["analysis"]["separable"]
    assert configured["analysis"]["bound"] > 0
    assert "(R/γ)²" in configured["notes"][0]
    xor = _configure(client, {"dataset": {"name": "xor", "samples": 20}})
    assert not xor["analysis"]["separable"]
    assert "No straight line" in xor["notes"][0]


def test_step_walks_one_point_and_updates_by_the_rule(ws_connect):
    client = ws_connect("perceptron")
    _configure(
        client,
        {"dataset": {"name": "separable", "samples": 20}, "perceptron": {"learning_rate": 0.5}},
    )
    client.send({"type": "step", "steps": 1})
    metrics = client.wait_for(lambda m: _is("metrics")(m) and m["step"] > 0)
    assert (metrics["step"], metrics["epoch"]) == (1, 0)
    frame = _frame(client, lambda f: f["visits"] == 1)
    last = frame["last"]
    assert (last["index"], frame["next_index"]) == (0, 1)
    # zero weights: wᵀx + b = 0, sign(0) = +1; a −1 target makes the first update.
    assert (last["activation"], last["output"]) == (0, 1)
    if last["target"] == -1:
        assert not last["correct"]
        assert last["w_after"] == pytest.approx([0.5 * -2 * v for v in last["x"]])
        assert last["b_after"] == pytest.approx(-1.0)
    else:
        assert last["correct"]
        assert last["w_after"] == [0, 0]
    client.send({"type": "step", "steps": 5})
    frame = _frame(client, lambda f: f["visits"] == 6)
    assert frame["last"]["index"] == 5


def test_play_until_converged(ws_connect):
    client = ws_connect("perceptron")
    _configure(
        client, {"dataset": {"name": "margin", "samples": 30}, "perceptron": {"speed": 2000}}
    )
    client.send({"type": "play"})
    client.wait_for(lambda m: _is("state")(m) and m["state"] == "playing")
    client.wait_for(lambda m: _is("state")(m) and m["state"] == "finished")
    frame = _frame(client, lambda f: f["status"] == "converged")
    assert frame["wrong"] == []
    assert frame["streak"] >= 30
    assert sum(frame["epoch_mistakes"]) == frame["mistakes"]
    line = frame["line"]
    w, b = frame["w"], frame["b"]
    for p in line:  # the drawn line is where wᵀx + b = 0
        assert w[0] * p[0] + w[1] * p[1] + b == pytest.approx(0, abs=1e-9)


def test_xor_stops_at_the_epoch_limit(ws_connect):
    client = ws_connect("perceptron")
    _configure(
        client,
        {
            "dataset": {"name": "xor", "samples": 20},
            "perceptron": {"speed": 2000, "max_epochs": 15},
        },
    )
    client.send({"type": "play"})
    client.wait_for(lambda m: _is("state")(m) and m["state"] == "finished")
    frame = _frame(client, lambda f: f["status"] == "gave_up")
    assert frame["epoch"] == 15
    assert len(frame["wrong"]) > 0


def test_one_configure_carries_a_drawing_and_set_changes_the_rate(ws_connect):
    client = ws_connect("perceptron")
    drawn = [[-0.5, 0.2, -1], [0.6, 0.1, 1], [0.3, -0.7, 1]]
    configured = _configure_with_points(client, {"perceptron": {"order": "restart"}}, drawn)
    assert configured["config"]["dataset"]["name"] == "custom"  # points make the data custom
    assert configured["config"]["perceptron"]["order"] == "restart"
    assert configured["data"]["points"] == drawn
    # A configure without points keeps the drawing.
    kept = _configure(client, {"dataset": {"name": "custom"}})
    assert kept["data"]["points"] == drawn
    assert kept["config"]["perceptron"]["order"] == "cycle"  # partial: defaults fill the rest

    client.send({"type": "set", "learning_rate": 0.25})
    updated = client.wait_for("updated")
    assert updated["config"]["perceptron"]["learning_rate"] == 0.25
    client.send({"type": "step", "steps": 1})
    frame = _frame(client, lambda f: f["visits"] == 1)
    assert frame["n"] == 3
    assert frame["learning_rate"] == 0.25
    # Zero weights give +1 to the first point, a −1: the update uses the new λ = 0.25.
    last = frame["last"]
    assert last["x"] == pytest.approx([-0.5, 0.2])
    assert not last["correct"]
    assert last["delta_w"] == pytest.approx([0.25 * -2 * -0.5, 0.25 * -2 * 0.2])
    assert last["delta_b"] == pytest.approx(-0.5)
    assert frame["b"] == pytest.approx(-0.5)

    empty = _configure_with_points(client, {}, [])
    assert empty["data"]["points"] == []
    assert "No points yet" in empty["notes"][0]
    assert _frame(client, lambda f: f["status"] == "empty")["n"] == 0


def test_bad_input_gets_a_clear_error_and_the_session_goes_on(ws_connect, settings):
    client = ws_connect("perceptron")
    drawn = [[-0.5, 0.2, -1], [0.6, 0.1, 1]]
    _configure_with_points(client, {}, drawn)
    limits = settings.perceptron
    configure = {"type": "configure", "lab": "perceptron", "config": {}}
    bad = [
        ({**configure, "points": [[0.1, 0.2, 0]]}, "points"),  # label must be ±1
        ({**configure, "points": [[3, 0, 1]]}, "points"),  # outside the plot
        ({**configure, "points": [[0, 0, 1]] * (limits.max_points + 1)}, "at most"),
        ({**configure, "config": {"perceptron": {"learning_rate": -1}}}, "learning_rate"),
        ({**configure, "config": {"dataset": {"name": "spiral"}}}, "dataset.name"),
        ({**configure, "config": {"dataset": {"samples": limits.max_points + 1}}}, "at most"),
        ({**configure, "config": {"perceptron": {"speed": limits.max_speed * 2}}}, "a second"),
        ({**configure, "config": {"perceptron": {"init": "line", "line": [{"x": 0, "y": 0}] * 2}}},
         "apart"),
        ({"type": "set", "max_epochs": limits.max_epochs + 1}, "epochs"),
        ({"type": "points", "points": drawn}, "unknown message type"),  # one configure does it
        ({"type": "teleport"}, "unknown message type"),
    ]
    for message, needle in bad:
        client.send(message)
        assert needle in client.wait_for("error")["message"]
    # The session still has the drawn points and steps through them.
    client.send({"type": "step", "steps": 1})
    frame = _frame(client, lambda f: f["visits"] == 1)
    assert frame["n"] == 2
    assert frame["last"]["x"] == pytest.approx([-0.5, 0.2])


def test_line_init_and_reconnect_resumes(ws_connect):
    client = ws_connect("perceptron")
    line = [{"x": -0.8, "y": -0.4}, {"x": 0.8, "y": 0.4}]
    _configure(
        client, {"dataset": {"name": "margin"}, "perceptron": {"init": "line", "line": line}}
    )
    frame = _frame(client)
    w, b = frame["w"], frame["b"]
    for h in line:  # the initial line passes through the two handles
        assert w[0] * h["x"] + w[1] * h["y"] + b == pytest.approx(0, abs=1e-9)
    client.send({"type": "step", "steps": 4})
    _frame(client, lambda f: f["visits"] == 4)
    session = client.session
    client.close()
    again = ws_connect("perceptron", session=session)
    assert again.hello["resumed"]
    configured = again.initial
    assert configured["config"]["perceptron"]["init"] == "line"
    assert _frame(again)["visits"] == 4
