"""The activation and loss explorer over a real websocket: curves, softmax, fits, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml_core.functions import ACTIVATIONS, LOSSES, FunctionsConfig


def _frame(client, test=lambda f: True):
    return client.wait_for(lambda m: getattr(m, "kind", None) == "functions" and test(m))


def test_first_frame_has_every_curve(ws_connect, settings):
    client = ws_connect("functions")
    frame = _frame(client)
    n = settings.functions.curve_points
    for name in ("act_x", "act_y", "act_dy", "loss_x", "loss_y", "loss_grad"):
        assert frame.arrays[name].shape == (n,)
        assert frame.arrays[name].dtype == np.float32
    x = torch.tensor(frame.arrays["act_x"])
    np.testing.assert_allclose(frame.arrays["act_y"], F.relu(x).numpy())
    assert frame.meta["fit"]["l1"]["slope"] == pytest.approx(0.6, abs=0.15)
    assert client.initial["config"] == FunctionsConfig().model_dump(mode="json")
    assert client.initial["options"] == {"activations": list(ACTIVATIONS), "losses": list(LOSSES)}
    np.testing.assert_allclose(frame.arrays["points"], client.initial["config"]["fit"]["points"])


def test_update_switches_activation_and_keeps_the_rest(ws_connect):
    client = ws_connect("functions")
    client.send({"type": "update", "config": {"activation": {"name": "sigmoid"}}})
    frame = _frame(client, lambda f: f.meta["activation"]["name"] == "sigmoid")
    x = torch.tensor(frame.arrays["act_x"])
    s = torch.sigmoid(x)
    np.testing.assert_allclose(frame.arrays["act_dy"], (s * (1 - s)).numpy(), atol=1e-6)
    assert frame.meta["activation"]["saturated"] > 0.4
    client.send({"type": "update", "config": {"loss": {"name": "huber", "target": 1.0}}})
    frame = _frame(client, lambda f: f.meta["loss"]["name"] == "huber")
    assert frame.meta["activation"]["name"] == "sigmoid"  # untouched
    assert frame.meta["loss"]["target"] == 1.0
    assert frame.arrays["loss_y"].min() == pytest.approx(0, abs=1e-3)


def test_softmax_with_temperature(ws_connect):
    client = ws_connect("functions")
    logits = [3.0, 1.0, 0.0]
    client.send({"type": "update", "config": {"softmax": {"logits": logits, "temperature": 0.5}}})
    frame = _frame(client, lambda f: len(f.arrays["probs"]) == 3)
    expected = F.softmax(torch.tensor(logits) / 0.5, dim=0).numpy()
    np.testing.assert_allclose(frame.arrays["probs"], expected, rtol=1e-6)
    assert frame.arrays["jacobian"].shape == (3, 3)


def test_dragging_the_outlier_moves_l2_more_than_l1(ws_connect):
    client = ws_connect("functions")
    points = client.initial["config"]["fit"]["points"]
    before = _frame(client).meta["fit"]
    points[-1] = [8.0, 9.8]
    client.send({"type": "update", "config": {"fit": {"points": points}}})
    after = _frame(client, lambda f: f.arrays["points"][-1][1] > 9).meta["fit"]
    moved = {k: abs(after[k]["slope"] - before[k]["slope"]) for k in ("l1", "l2")}
    assert moved["l2"] > 3 * moved["l1"]
    assert abs(after["l2"]["outlier_residual"]) < abs(after["l1"]["outlier_residual"])


def test_bad_input_gets_a_clear_error_and_the_state_stays(ws_connect, settings):
    client = ws_connect("functions")
    limits = settings.functions
    bad = [
        ({"activation": {"name": "swish"}}, "activation.name"),
        ({"activation": {"name": "rrelu", "lower": 0.5, "upper": 0.2}}, "lower"),
        ({"loss": {"name": "bce", "target": 3}}, "probability"),
        ({"softmax": {"logits": [1.0] * (limits.max_logits + 1)}},
         f"at most {limits.max_logits} logits"),
        ({"softmax": {"temperature": 0}}, "temperature"),
        ({"fit": {"points": [[1, 1], [1, 2], [1, 3]]}}, "different x"),
        ({"fit": {"points": [[1, 1]] * (limits.max_points + 1)}},
         f"at most {limits.max_points} points"),
        ({"fit": {"points": [[1, 1]]}}, "fit.points"),
        ({"fit": {"points": [[1, 11], [2, 2]]}}, "fit.points"),
    ]
    for config, needle in bad:
        client.send({"type": "update", "config": config})
        assert needle in client.wait_for("error")["message"]
    client.send({"type": "update", "config": {"activation": {"name": "tanh"}}})
    frame = _frame(client, lambda f: f.meta["activation"]["name"] == "tanh")
    assert frame.meta["loss"]["name"] == "l2"
    assert len(frame.arrays["probs"]) == 4
    np.testing.assert_allclose(frame.arrays["points"], client.initial["config"]["fit"]["points"])
