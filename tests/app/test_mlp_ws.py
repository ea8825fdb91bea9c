"""The MLP playground over a real websocket (real uvicorn): configure, play, frames, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ml_core.datasets2d import DATASETS
from ml_core.features import FEATURES
from ml_core.mlp import ACTIVATIONS, LOSSES, OPTIMIZERS, REGRESSION_LOSSES


def _is(kind):
    return lambda m: isinstance(m, dict) and m.get("type") == kind


def _metrics(client, test=lambda m: True, timeout=20.0):
    return client.wait_for(lambda m: _is("metrics")(m) and test(m), timeout)


def _error(client, message):
    client.send(message)
    return client.wait_for(lambda m: _is("error")(m) or _is("configured")(m) or _is("updated")(m))


def _play_until(client, test, timeout=30.0):
    client.send({"type": "play"})
    client.wait_for(lambda m: _is("state")(m) and m["state"] == "playing")
    try:
        return _metrics(client, test, timeout)
    finally:
        client.send({"type": "pause"})


def test_configure_reports_full_config_model_and_data(ws_connect, settings):
    client = ws_connect("mlp")
    assert settings.mlp.max_neurons >= 8
    assert client.initial["config"]["dataset"]["name"] == "circle"  # ready before any configure
    reply = client.configure(
        {
            "dataset": {"name": "spiral", "classes": 3, "samples": 300, "val_fraction": 0.2},
            "model": {"hidden": [8, 8], "features": ["x1x2", "x1", "x2"]},
        },
        lab="mlp",
    )
    config = reply["config"]
    assert config["training"] == {
        "optimizer": "sgd",
        "learning_rate": 0.03,
        "batch_size": 10,
        "loss": "cross_entropy",
        "weight_decay": 0.0,
    }  # defaults
    assert config["model"]["features"] == ["x1", "x2", "x1x2"]  # the diagram's fixed order
    model = reply["model"]
    assert model["layers"] == [3, 8, 8, 3] and model["device"] == "cpu"
    assert model["parameters"] == (3 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
    assert len(reply["data"]["train"]) == 180 and len(reply["data"]["val"]) == 60
    assert len(reply["data"]["test"]) == 60  # the default test share, 0.2
    assert {p[2] for p in reply["data"]["train"]} == {0, 1, 2}
    assert all(abs(p[0]) <= 1 and abs(p[1]) <= 1 for p in reply["data"]["train"])


def test_play_learns_the_circle_then_pauses(ws_connect):
    client = ws_connect("mlp")
    client.configure({"training": {"learning_rate": 0.1}})
    first = _metrics(client)
    assert first["step"] == 0 and first["val_accuracy"] < 0.9
    m = _play_until(client, lambda m: (m["val_accuracy"] or 0) > 0.9)
    assert m["step"] > 0 and m["epoch"] > 0 and m["train_loss"] < first["train_loss"]
    client.wait_for(lambda m: _is("state")(m) and m["state"] == "paused")
    frame = client.frame("mlp")
    meta = frame.meta
    assert meta["layers"] == [2, 4, 2, 1] and meta["classes"] == 2
    assert frame.arrays["output"].shape == (meta["grid"], meta["grid"])
    assert frame.arrays["neurons"].shape == (2 + 4 + 2, meta["thumb"], meta["thumb"])
    assert frame.arrays["output"].dtype == np.uint8
    # learnt circle: the centre is class 0 (inner disc), the corners class 1
    g = meta["grid"]
    assert frame.arrays["output_class"][g // 2, g // 2] == 0
    assert frame.arrays["output_class"][0, 0] == 1
    assert [len(w) for w in meta["weights"]] == [4, 2, 1] and len(meta["weights"][0][0]) == 2
    x1 = frame.arrays["neurons"][0]  # the x1 input map: -1 (0) on the left, +1 (255) on the right
    assert (x1[:, 0] == 0).all() and (x1[:, -1] == 255).all()
    assert abs(int(x1[0, meta["thumb"] // 2]) - 128) <= 6  # 128 means 0


def test_notes_explain_why_a_linear_network_fails(ws_connect):
    client = ws_connect("mlp")
    flat = client.configure({"dataset": {"name": "xor"}, "model": {"hidden": []}})
    assert flat["model"]["layers"] == [2, 1]
    assert any(n.startswith("No hidden layer") and "XOR" in n for n in flat["notes"])
    linear = client.configure({"dataset": {"name": "xor"}, "model": {"activation": "linear"}})
    assert any(n.startswith("Linear activation") for n in linear["notes"])
    bent = client.configure({"model": {"hidden": [], "features": ["x1", "x2", "x1x2"]}})
    assert any("x₁·x₂" in n for n in bent["notes"])
    ok = client.configure({"dataset": {"name": "xor"}})
    assert not any("straight line" in n for n in ok["notes"])


def test_step_reports_metrics_and_a_frame(ws_connect):
    client = ws_connect("mlp")
    client.configure({"dataset": {"samples": 100}})  # 50 training points, 5 steps an epoch
    client.send({"type": "step", "steps": 7})
    m = _metrics(client, lambda m: m["step"] > 0)
    assert (m["step"], m["epoch"]) == (7, 1)
    frame = client.frame("mlp")
    assert frame.meta["step"] == 7
    client.send({"type": "reset"})
    assert _metrics(client, lambda m: m["step"] == 0)["epoch"] == 0


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (
            {"type": "configure", "config": {"model": {"hidden": [4] * 7}}},
            "at most 6 hidden layers",
        ),
        ({"type": "configure", "config": {"model": {"hidden": [17]}}}, "at most 16 neurons"),
        ({"type": "configure", "config": {"dataset": {"samples": 5000}}}, "at most 2000 points"),
        ({"type": "configure", "config": {"dataset": {"name": "xor", "classes": 3}}}, "exactly 2"),
        ({"type": "configure", "config": {"model": {"activation": "swish"}}}, "activation"),
        ({"type": "configure", "config": {"training": {"learning_rate": 50}}}, "learning_rate"),
        ({"type": "configure", "config": {"training": {"learning_rate": "NaN"}}}, "learning_rate"),
        ({"type": "configure", "config": {"model": {"features": []}}}, "features"),
        ({"type": "configure", "config": {"model": {"features": ["x1", "x1"]}}}, "at most once"),
        (
            {
                "type": "configure",
                "config": {"model": {"batch_norm": True}, "training": {"batch_size": 1}},
            },
            "batch norm",
        ),
        ({"type": "configure", "config": {"dataset": {"nope": 1}}}, "nope"),
        ({"type": "points", "points": [[0, 0, 0], [2, 0, 1]]}, "points"),
        ({"type": "points", "points": [[0, 0, 9]]}, "labels go from 0 to 7"),
        ({"type": "points", "points": "all of them"}, "points"),
        ({"type": "set", "training": {"optimizer": "adam"}}, "optimizer"),
        ({"type": "set", "training": {"learning_rate": -1}}, "learning_rate"),
        ({"type": "set"}, "nothing to change"),
        ({"type": "set", "play": {"steps_per_frame": 10**6}}, "steps_per_frame"),
        (
            {"type": "configure", "config": {"dataset": {"name": "plane"},
                                             "training": {"loss": "hinge"}}},
            "choose from mse, l1, huber",
        ),
        ({"type": "points", "points": [[0, 0, 0.5]]}, "labels are 0, 1, 2"),
        ({"type": "points", "points": [[0, 0, 11]]}, "points"),
        ({"type": "exam", "now": True}, "now"),
        ({"type": "step", "steps": 20_000}, "at most 10000 steps"),
        ({"type": "warp"}, "unknown message type"),
    ],
)
def test_bad_messages_get_a_clear_error_and_the_session_goes_on(ws_connect, message, says):
    client = ws_connect("mlp")
    client.configure({"dataset": {"name": "gauss"}})
    reply = _error(client, message)
    assert reply["type"] == "error" and says in reply["message"], reply
    assert client.configure({"dataset": {"name": "moons"}})["config"]["dataset"]["name"] == "moons"
    client.send({"type": "step", "steps": 2})
    m = _metrics(client, lambda m: m["step"] > 0)
    assert m["step"] == 2
    assert m["train_loss"] > 0


def test_garbage_text_is_an_error_not_a_crash(ws_connect):
    client = ws_connect("mlp")
    client.send("{not json")
    assert "JSON" in client.wait_for("error")["message"]
    client.send({"type": "step", "steps": 1})
    assert _metrics(client, lambda m: m["step"] > 0)["step"] == 1


def test_points_make_a_custom_dataset(ws_connect):
    client = ws_connect("mlp")
    client.configure({"dataset": {"name": "custom", "val_fraction": 0.0, "test_fraction": 0.0}})
    points = [[-0.5, -0.5, 0], [-0.6, -0.4, 0], [0.5, 0.5, 1], [0.6, 0.4, 2]]
    client.send({"type": "points", "points": points})
    reply = client.wait_for("configured")
    assert reply["config"]["dataset"]["name"] == "custom"
    assert reply["config"]["dataset"]["classes"] == 3 and reply["model"]["layers"][-1] == 3
    assert sorted(map(tuple, reply["data"]["train"])) == sorted(map(tuple, points))
    # the drawing survives a change of the network
    again = client.configure(
        {"dataset": {"name": "custom", "val_fraction": 0.0, "test_fraction": 0.0}, "model": {"hidden": [3]}}
    )
    assert len(again["data"]["train"]) == 4
    client.send({"type": "points", "points": []})
    empty = client.wait_for("configured")
    assert empty["data"]["train"] == [] and any("Draw points" in n for n in empty["notes"])


def test_one_configure_carries_the_drawn_points(ws_connect, settings):
    client = ws_connect("mlp")
    points = [[-0.5, -0.5, 0], [-0.6, -0.4, 0], [0.5, 0.5, 1], [0.6, 0.4, 1]]
    client.send(
        {
            "type": "configure",
            "config": {
                "dataset": {"name": "custom", "val_fraction": 0.0, "test_fraction": 0.0},
                "model": {"hidden": [3]},
            },
            "points": points,
            "request": 7,
        }
    )
    reply = client.wait_for("configured")
    assert reply["request"] == 7  # the answer to this request, not to an older one
    assert sorted(map(tuple, reply["data"]["train"])) == sorted(map(tuple, points))
    assert reply["model"]["layers"] == [2, 3, 1]
    frame = client.frame("mlp")  # the forced frame after the configure: built on that data
    assert frame.meta["layers"] == [2, 3, 1]
    replies = [m for m in client.seen if isinstance(m, dict) and m["type"] == "configured"]
    assert len(replies) == 2  # the state sent after hello, then one reply for config + points
    too_many = [[0.0, 0.0, 0]] * (settings.mlp.max_points + 1)
    for bad, says in [
        (too_many, f"at most {settings.mlp.max_points} points"),
        ([[0, 0, settings.mlp.max_classes]], f"labels go from 0 to {settings.mlp.max_classes - 1}"),
        ([[0, 0, 0], [0, 1.5, 1]], "points"),
    ]:
        config = {"dataset": {"name": "custom"}}
        client.send({"type": "configure", "config": config, "points": bad, "request": 8})
        error = client.wait_for(lambda m: _is("error")(m) or _is("configured")(m))
        assert error["type"] == "error"
        assert says in error["message"]
    kept = client.configure({"dataset": {"name": "custom", "val_fraction": 0.0, "test_fraction": 0.0}})
    assert len(kept["data"]["train"]) == 4  # refused drawings left the old one in place
    assert kept["request"] is None


def test_configured_lists_the_options_of_the_core(ws_connect, settings):
    options = ws_connect("mlp").initial["options"]
    assert options["activations"] == list(ACTIVATIONS)
    assert options["losses"] == list(LOSSES)
    assert options["regression_losses"] == list(REGRESSION_LOSSES)
    assert options["tasks"] == ["classification", "regression"]
    assert options["frames_per_s"] == settings.fps
    assert options["optimizers"] == list(OPTIMIZERS)
    assert options["features"] == list(FEATURES)
    datasets = {d["name"]: d for d in options["datasets"]}
    assert list(datasets) == [*DATASETS, "custom"]
    assert (datasets["xor"]["min_classes"], datasets["xor"]["max_classes"]) == (2, 2)
    assert datasets["spiral"]["max_classes"] == min(
        DATASETS["spiral"].max_classes, settings.mlp.max_classes
    )
    assert datasets["custom"]["max_classes"] == settings.mlp.max_classes
    assert datasets["plane"]["task"] == "regression"
    assert datasets["circle"]["task"] == "classification"
    assert datasets["custom"]["task"] is None  # either


def test_metrics_report_every_number(ws_connect):
    client = ws_connect("mlp")
    client.configure({"dataset": {"val_fraction": 0.0, "test_fraction": 0.0}})
    client.send({"type": "step", "steps": 3})
    m = _metrics(client, lambda m: m["step"] > 0)
    assert set(m) == {
        "type",
        "step",
        "epoch",
        "train_loss",
        "val_loss",
        "train_accuracy",
        "val_accuracy",
        "epochs_per_s",
    }
    assert 0 <= m["train_accuracy"] <= 1
    assert m["val_loss"] is None  # no validation points
    assert m["val_accuracy"] is None


def test_learning_rate_changes_without_a_reset(ws_connect):
    client = ws_connect("mlp")
    client.configure({})
    client.send({"type": "step", "steps": 30})
    _metrics(client, lambda m: m["step"] == 30)
    client.send({"type": "set", "training": {"learning_rate": 0.3, "weight_decay": 0.001}})
    updated = client.wait_for("updated")
    assert updated["config"]["training"]["learning_rate"] == 0.3
    assert updated["config"]["training"]["weight_decay"] == 0.001
    client.send({"type": "step", "steps": 5})
    assert _metrics(client, lambda m: m["step"] > 30)["step"] == 35  # kept going, no reset


def test_a_huge_learning_rate_reports_diverged_as_valid_json(ws_connect):
    client = ws_connect("mlp")
    client.configure(
        {"model": {"hidden": [8] * 6, "activation": "linear"}, "training": {"learning_rate": 10}}
    )
    start = _metrics(client)["train_loss"]
    client.send({"type": "play"})
    state = client.wait_for(lambda m: _is("state")(m) and m["state"] == "diverged")
    assert state["message"].startswith("diverged — lower the learning rate: the training loss")
    json.dumps(client.seen, default=lambda f: None, allow_nan=False)  # nothing NaN came through
    metrics = _metrics(client)
    assert all(v is None or np.isfinite(v) for k, v in metrics.items() if k != "type")
    assert metrics["step"] > 0  # the run stands where it blew up: nothing was reset
    assert metrics["train_loss"] is None or metrics["train_loss"] > 5 * start
    # the last good weights back, a lower rate, and on
    client.send({"type": "restore"})
    restored = client.wait_for("restored")
    assert restored["step"] == 0 and restored["now"] == metrics["step"]
    assert client.wait_for("state")["state"] == "paused"
    back = _metrics(client)
    assert back["step"] == metrics["step"]
    assert back["train_loss"] == pytest.approx(start)
    client.send({"type": "set", "training": {"learning_rate": 0.01}})
    assert client.wait_for("updated")["config"]["training"]["learning_rate"] == 0.01
    client.send({"type": "step", "steps": 3})
    m = _metrics(client, lambda m: m["step"] > metrics["step"])
    assert m["step"] == metrics["step"] + 3
    assert np.isfinite(m["train_loss"])


def test_reconnect_with_the_same_session_resumes(ws_connect):
    first = ws_connect("mlp")
    first.configure({"dataset": {"name": "moons", "seed": 5}, "model": {"hidden": [6]}})
    first.send({"type": "step", "steps": 12})
    _metrics(first, lambda m: m["step"] == 12)
    first.close()
    second = ws_connect("mlp", session=first.session)
    assert second.hello["resumed"] is True
    assert second.initial["config"]["dataset"]["name"] == "moons"
    assert second.initial["model"]["layers"] == [2, 6, 1]
    assert _metrics(second)["step"] == 12
    assert second.frame("mlp").meta["step"] == 12


def test_prelu_slopes_are_learned_and_streamed(ws_connect):
    client = ws_connect("mlp")
    client.configure(
        {
            "dataset": {"name": "xor", "samples": 200},
            "model": {"hidden": [4, 4], "activation": "prelu"},
            "training": {"optimizer": "adam", "learning_rate": 0.03},
        }
    )
    before = client.frame("mlp").meta["prelu"]
    assert len(before) == 2 and all(isinstance(a, float) for a in before)  # one slope a layer
    client.send({"type": "step", "steps": 300})
    _metrics(client, lambda m: m["step"] == 300)
    after = client.frame("mlp").meta["prelu"]
    assert after != before, "PReLU's slope is a parameter: training moves it"


# ---- backpropagation: the backward view, the walk-through, the tensors ---------------------------
def _frame_with(client, test, timeout=20.0):
    return client.wait_for(lambda m: getattr(m, "kind", None) == "mlp" and test(m.meta), timeout)


def test_the_backward_view_streams_gradients_while_playing(ws_connect):
    client = ws_connect("mlp")
    client.configure({"model": {"hidden": [4, 3]}, "training": {"batch_size": 10}})
    assert "gradients" not in client.frame("mlp").meta  # off until asked for
    client.send({"type": "gradients", "over": "train"})
    frame = _frame_with(client, lambda meta: meta.get("gradients") is not None)
    grads = frame.meta["gradients"]
    assert (grads["over"], grads["rows"], grads["step"]) == ("train", 250, 0)
    assert frame.arrays["grad_weights"].shape == (2 * 4 + 4 * 3 + 3 * 1,)
    assert frame.arrays["grad_weights"].dtype == np.float32
    assert frame.arrays["deltas"].shape == (4 + 3 + 1,)
    assert len(grads["norms"]) == 3
    client.send({"type": "gradients", "over": "batch"})
    client.send({"type": "play"})
    steps = set()
    while len(steps) < 3:  # several streamed frames, each with the gradients of its own step
        meta = _frame_with(client, lambda meta: meta["step"] > 0).meta
        assert meta["gradients"]["step"] == meta["step"]
        assert (meta["gradients"]["over"], meta["gradients"]["rows"]) == ("batch", 10)
        steps.add(meta["step"])
    client.send({"type": "gradients", "over": "off"})
    _frame_with(client, lambda meta: "gradients" not in meta)
    client.send({"type": "pause"})


def test_configured_lists_the_tensors_of_every_layer(ws_connect):
    client = ws_connect("mlp")
    reply = client.configure({"model": {"hidden": [5], "batch_norm": True}})
    rows = reply["model"]["tensors"]
    assert [r["kind"] for r in rows] == ["linear", "batch_norm", "activation", "linear", "output"]
    first = rows[0]
    assert first["input"] == [{"name": "N", "size": None}, {"name": "features", "size": 2}]
    assert first["output"] == [{"name": "N", "size": None}, {"name": "h1", "size": 5}]
    assert first["params"]["weight"] == [{"name": "h1", "size": 5}, {"name": "features", "size": 2}]
    assert (first["dtype"], first["device"], first["library"]) == ("float32", "cpu", "torch")
    assert rows[-1]["output"][1] == {"name": "probabilities", "size": 1}


def test_explain_walks_a_training_point_through_the_network(ws_connect):
    client = ws_connect("mlp")
    reply = client.configure(
        {"model": {"hidden": [4, 2]}, "training": {"optimizer": "momentum", "weight_decay": 0.01}}
    )
    client.send({"type": "step", "steps": 12})
    frame = _frame_with(client, lambda meta: meta["step"] == 12)
    point = reply["data"]["train"][7]
    client.send({"type": "explain", "index": 7, "point": point})
    walk = client.wait_for("explanation")
    assert (walk["index"], walk["step"], walk["label"]) == (7, 12, point[2])
    assert walk["point"] == point
    assert walk["x"] == pytest.approx(point[:2], abs=1e-4)  # features x1, x2 of the point
    assert [len(layer["z"]) for layer in walk["layers"]] == [4, 2, 1]
    for layer, weights in zip(walk["layers"], frame.meta["weights"], strict=True):
        assert np.allclose(layer["weights"], weights, atol=1e-4)  # the run's current weights
    update = walk["update"]
    assert (update["optimizer"], update["learning_rate"], update["momentum"]) == ("momentum", 0.03, 0.9)
    assert update["layers"][0]["weight"]["velocity"] is not None
    assert walk["loss"]["name"] == "cross_entropy"
    client.send({"type": "step", "steps": 1})
    assert _metrics(client, lambda m: m["step"] > 12)["step"] == 13  # the walk took no step


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ({"type": "explain", "index": 250, "point": [0, 0, 0]}, "no training point 250"),
        ({"type": "explain", "index": -1, "point": [0, 0, 0]}, "index"),
        ({"type": "explain", "index": 3}, "point"),
        ({"type": "explain", "index": 3, "point": [0.5, 2, 0]}, "point"),
        ({"type": "gradients", "over": "everything"}, "over"),
    ],
)
def test_bad_backprop_requests_get_a_clear_error_and_change_nothing(ws_connect, message, says):
    client = ws_connect("mlp")
    client.configure({})
    client.send({"type": "step", "steps": 5})
    before = _frame_with(client, lambda meta: meta["step"] == 5)
    client.send(message)
    error = client.wait_for(lambda m: _is("error")(m) or _is("explanation")(m))
    assert error["type"] == "error"
    assert says in error["message"]
    after = client.frame("mlp")
    assert after.meta["step"] == 5
    assert after.meta["weights"] == before.meta["weights"]
    client.send({"type": "step", "steps": 1})
    assert _metrics(client, lambda m: m["step"] > 5)["step"] == 6


def test_a_stale_point_after_the_data_changed_is_refused(ws_connect):
    client = ws_connect("mlp")
    old = client.configure({"dataset": {"seed": 1}})
    client.configure({"dataset": {"seed": 2}})  # new data: index 4 is another point now
    client.send({"type": "explain", "index": 4, "point": old["data"]["train"][4]})
    error = client.wait_for(lambda m: _is("error")(m) or _is("explanation")(m))
    assert error["type"] == "error"
    assert "the data changed" in error["message"]
    assert "pick it again" in error["message"]


def test_explain_before_any_data_is_refused_while_playing_goes_on(ws_connect):
    client = ws_connect("mlp")
    client.configure({"dataset": {"name": "custom"}})  # no drawing yet: no training points
    client.send({"type": "explain", "index": 0, "point": [0, 0, 0]})
    error = client.wait_for(lambda m: _is("error")(m) or _is("explanation")(m))
    assert "no training points yet" in error["message"]
    reply = client.configure({"dataset": {"name": "moons"}})
    client.send({"type": "play"})
    playing = client.wait_for(lambda m: _is("state")(m) and m["state"] == "playing")
    client.send({"type": "explain", "index": 10**5 - 1, "point": reply["data"]["train"][0]})
    assert "no training point" in client.wait_for("error")["message"]
    first = _metrics(client, lambda m: m["step"] > 0)["step"]
    assert _metrics(client, lambda m: m["step"] > first)["step"] > first  # still training
    since = client.seen[next(i for i, m in enumerate(client.seen) if m is playing) + 1 :]
    assert not any(_is("state")(m) for m in since)  # never paused
    client.send({"type": "pause"})


# ---- play's speed, reconnecting after on-the-fly changes, the exam, regression -------------------
def _state(client, state):
    return client.wait_for(lambda m: _is("state")(m) and m["state"] == state)


def test_play_keeps_to_the_speed_it_is_set_to(ws_connect, settings):
    client = ws_connect("mlp")
    client.configure({"play": {"steps_per_frame": 2}})
    client.send({"type": "play"})
    _state(client, "playing")
    first = _metrics(client, lambda m: m["step"] > 0)
    last = _metrics(client, lambda m: m["step"] >= first["step"] + 2 * settings.fps)  # ~1 s
    client.send({"type": "pause"})
    _state(client, "paused")
    took = [m for m in client.seen if _is("metrics")(m)]
    per_frame = [b["step"] - a["step"] for a, b in zip(took, took[1:], strict=False)]
    assert max(per_frame) <= 6  # a couple of steps a frame, never a burst
    assert last["step"] - first["step"] < 10 * settings.fps
    # Full speed, on the fly: far more steps a frame, and no reset.
    client.send({"type": "set", "play": {"steps_per_frame": 0}})
    assert client.wait_for("updated")["config"]["play"]["steps_per_frame"] == 0
    client.send({"type": "play"})
    fast = _metrics(client, lambda m: m["step"] > last["step"] + 2000, timeout=30)
    client.send({"type": "pause"})
    assert fast["step"] > last["step"]


@pytest.mark.parametrize("playing", [True, False], ids=["playing", "paused"])
@pytest.mark.parametrize(
    "change",
    [
        {"training": {"learning_rate": 0.1}},
        {"training": {"weight_decay": 0.001}},
        {"play": {"steps_per_frame": 3}},
    ],
    ids=["learning_rate", "weight_decay", "speed"],
)
def test_a_reconnect_gets_the_config_as_set_on_the_fly(ws_connect, change, playing):
    first = ws_connect("mlp")
    first.configure({"dataset": {"name": "moons"}})
    first.send({"type": "play"})
    _metrics(first, lambda m: m["step"] > 20)
    first.send({"type": "set", **change})
    updated = first.wait_for("updated")["config"]
    if not playing:
        first.send({"type": "pause"})
        _state(first, "paused")
    step = _metrics(first)["step"]
    first.close()
    second = ws_connect("mlp", session=first.session)
    assert second.initial["config"] == updated  # what a reload compares its own setup with
    section, values = next(iter(change.items()))
    for key, value in values.items():
        assert second.initial["config"][section][key] == value
    assert _metrics(second)["step"] >= step  # the same run, not a new one
    if playing:
        second.send({"type": "pause"})


def test_the_exam_marks_the_test_points_only_when_asked(ws_connect):
    client = ws_connect("mlp")
    reply = client.configure({"training": {"learning_rate": 0.3}, "play": {"steps_per_frame": 0}})
    assert len(reply["data"]["test"]) == 100
    client.send({"type": "step", "steps": 2000})
    _metrics(client, lambda m: m["step"] == 2000)
    assert not any(_is("exam_result")(m) for m in client.seen)
    client.send({"type": "exam"})
    exam = client.wait_for("exam_result")
    assert (exam["step"], exam["points"], exam["exams"]) == (2000, 100, 1)
    assert exam["accuracy"] > 0.8
    assert 0 < exam["loss"] < 0.7
    client.send({"type": "exam"})
    assert client.wait_for("exam_result")["exams"] == 2  # every look is counted
    again = client.configure({"dataset": {"test_fraction": 0.0}})
    assert again["data"]["test"] == []
    assert any("No test set" in n for n in again["notes"])
    client.send({"type": "exam"})
    empty = client.wait_for("exam_result")
    assert (empty["points"], empty["accuracy"], empty["exams"]) == (0, None, 1)


def test_a_regression_streams_its_values_and_takes_drawn_values(ws_connect):
    client = ws_connect("mlp")
    reply = client.configure({"dataset": {"name": "plane"}, "play": {"steps_per_frame": 0}})
    assert reply["config"]["dataset"]["task"] == "regression"
    assert reply["config"]["training"]["loss"] == "mse"
    assert reply["model"]["layers"] == [2, 4, 2, 1]
    assert reply["model"]["tensors"][-1]["name"] == "identity"
    assert any(isinstance(p[2], float) for p in reply["data"]["train"])
    assert any("L2" in n for n in reply["notes"])
    client.send({"type": "step", "steps": 1000})
    m = _metrics(client, lambda m: m["step"] == 1000)
    assert m["train_loss"] < 0.01
    assert m["train_accuracy"] is None
    frame = client.frame("mlp")
    assert frame.meta["task"] == "regression"
    lo, hi = frame.meta["output_range"]
    assert (lo, hi) == (-1.0, 1.0)
    assert "output_class" not in frame.arrays
    g = frame.meta["grid"]
    value = lambda r, c: lo + frame.arrays["output"][r, c] / 255 * (hi - lo)  # noqa: E731
    assert value(g // 4, 3 * g // 4) == pytest.approx(0.5, abs=0.1)  # (0.5, 0.5): (x + y) / 2
    assert value(3 * g // 4, g // 4) == pytest.approx(-0.5, abs=0.1)
    # Drawn points with values; one far off widens the colour scale to reach it.
    points = [[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5], [0.5, -0.5, 0.0], [-0.5, 0.5, 4.0]]
    drawn = client.configure(
        {"dataset": {"name": "custom", "task": "regression", "val_fraction": 0, "test_fraction": 0}}
        | {"play": {"steps_per_frame": 0}},
    )
    assert drawn["data"]["train"] == []
    client.send({"type": "points", "points": points})
    reply = client.wait_for("configured")
    assert sorted(map(tuple, reply["data"]["train"])) == sorted(map(tuple, points))
    assert client.frame("mlp").meta["output_range"] == [-4.0, 4.0]
    client.send({"type": "explain", "index": 0, "point": reply["data"]["train"][0]})
    walk = client.wait_for("explanation")
    assert walk["task"] == "regression"
    assert walk["loss"]["target"] == [pytest.approx(reply["data"]["train"][0][2])]
