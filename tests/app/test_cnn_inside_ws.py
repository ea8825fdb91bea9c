"""The CNN lab's inside views over a real websocket: traces, top images, activation maximisation,
heat maps, the batch-norm panel, with vs without batch norm, tensors, the classic nets; stale or
impossible requests are errors and the session trains on."""

from __future__ import annotations

import numpy as np
import pytest

from tests.wsclient import Frame

TINY = {"architecture": {"blocks": [{"channels": 4}, {"channels": 8}], "fc": [{"units": 16}]}}


def is_frame(kind: str, **meta):
    return lambda m: isinstance(m, Frame) and m.kind == kind and all(
        m.meta.get(k) == v for k, v in meta.items())


@pytest.fixture
def stepped(ws_connect):
    client = ws_connect("cnn")
    client.configured = client.configure(TINY)
    client.send({"type": "step", "steps": 20})
    client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 20)
    client.maps = client.wait_for(is_frame("cnn.maps", step=20))
    return client


def still_trains(client, steps: int = 1) -> None:
    client.send({"type": "step", "steps": steps})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] > 0)
    assert metrics["train_loss"] is not None


def test_a_traced_pixel_is_the_value_the_feature_map_shows(stepped):
    maps = stepped.maps
    conv2 = next(m for m in maps.meta["layers"] if m["name"] == "conv2")
    stepped.send({"type": "trace", "model": maps.meta["model"], "layer": conv2["index"],
                  "channel": 5, "y": 3, "x": 6})
    trace = stepped.wait_for("trace")
    pixel = trace["pixel"]
    assert trace["step"] == 20
    assert pixel["name"] == "conv2"
    lo, hi = conv2["min"], conv2["max"]
    shown = maps.arrays[f"L{conv2['index']}"][5, 3, 6]  # the uint8 the page drew
    assert round((pixel["value"] - lo) / (hi - lo) * 255) == pytest.approx(int(shown), abs=1)
    conv = pixel["conv"]
    assert len(conv["terms"]) == 4  # one per input channel
    assert sum(t["total"] for t in conv["terms"]) + conv["bias"] == pytest.approx(conv["value"],
                                                                                  abs=1e-5)
    assert pixel["norm"]["value"] == pytest.approx(pixel["act"]["x"], abs=1e-6)
    # its 8×8 field: rows 3..10, columns 9..16, the last one past the 16×16 image
    assert pixel["field"] == [3, 9, 10, 15]
    output = len(stepped.initial["layers"]) - 1
    stepped.send({"type": "trace", "model": maps.meta["model"], "layer": output, "channel": 2})
    unit = stepped.wait_for("trace")["unit"]
    assert unit["name"] == "output"
    assert sum(unit["probabilities"]) == pytest.approx(1)
    assert unit["probabilities"][2] == pytest.approx(float(maps.arrays["probs"][2]), abs=1e-5)


def test_stale_and_impossible_requests_are_errors_and_training_goes_on(stepped):
    old = stepped.maps.meta["model"]
    stepped.send({"type": "reset"})
    fresh = stepped.wait_for(lambda m: isinstance(m, Frame) and m.kind == "cnn.maps"
                             and m.meta["model"] != old)
    stepped.send({"type": "trace", "model": old, "layer": 0})
    assert "rebuilt or reset" in stepped.wait_for("error")["message"]
    stepped.configure({"architecture": {"blocks": [{"channels": 3}]}})  # one block left
    rebuilt = stepped.wait_for(is_frame("cnn.maps"))
    model = rebuilt.meta["model"]
    assert model != fresh.meta["model"]
    for request, expected in [
        ({"type": "trace", "layer": 6}, "not a feature map"),  # conv2 is gone
        ({"type": "trace", "layer": 0, "channel": 5}, "3 channels of 16×16"),
        ({"type": "trace", "layer": 0, "y": 40}, "no channel 0 at (40, 0)"),
        ({"type": "dream", "layer": 4}, "not part of a conv block"),  # the flatten row
        ({"type": "dream", "layer": 0, "channel": 9}, "no channel 9"),
        ({"type": "batchnorm", "layer": 0}, "not a batch-norm layer"),
        ({"type": "batchnorm", "layer": 1, "channel": 3}, "no channel 3"),
        ({"type": "channels", "layer": 99}, "not part of a conv block"),
        ({"type": "tensor", "layer": 99}, "layers 0..5"),
        ({"type": "tensor", "layer": 0, "out": 7}, "out must be 0..2"),
        ({"type": "explain", "target": 10}, "classes 0..9"),
    ]:
        stepped.send({"model": model, **request})
        error = stepped.wait_for("error")
        assert expected in error["message"], (request, error)
    still_trains(stepped)


def test_each_channel_s_top_images_follow_the_validation_passes(stepped):
    model = stepped.maps.meta["model"]
    stepped.send({"type": "channels", "model": model, "layer": 5})  # bn2: block 2
    first = stepped.wait_for(is_frame("cnn.channels"))
    assert first.meta["name"] == "act2"
    assert first.meta["field"] == 8
    crops = first.arrays["crops"]
    assert crops.shape == (8, 9, 8, 8, 1)
    assert crops.dtype == np.uint8
    values = np.array(first.meta["values"])
    assert np.all(np.diff(values, axis=1) <= 0)  # strongest first
    stepped.send({"type": "step", "steps": 10})  # a validation pass: new top images
    later = stepped.wait_for(is_frame("cnn.channels", step=30))
    assert later.meta["block"] == 2
    stepped.send({"type": "channels", "model": model, "layer": None})
    stepped.send({"type": "step", "steps": 5})
    stepped.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 35)
    stepped.wait_for(is_frame("cnn.hardest", step=35))
    assert not any(isinstance(m, Frame) and m.kind == "cnn.channels" and m.meta["step"] == 35
                   for m in stepped.seen)


def test_activation_maximisation_runs_in_slices_until_done(stepped):
    stepped.send({"type": "dream", "model": stepped.maps.meta["model"], "layer": 4,
                  "channel": 2})
    frame = stepped.wait_for(is_frame("cnn.dream"))
    slices = 1
    assert frame.arrays["image"].shape == (16, 16, 1)
    while not frame.meta["done"]:
        stepped.send({"type": "dream_step", "job": frame.meta["job"]})
        frame = stepped.wait_for(is_frame("cnn.dream"))
        slices += 1
    assert slices > 1  # it came in slices, the scheduler free in between
    assert frame.meta["name"] == "conv2"
    assert frame.meta["seconds"] <= 2.2
    assert len(set(frame.arrays["image"].ravel().tolist())) > 10  # a picture, not a flat grey
    still_trains(stepped)


def test_grad_cam_and_saliency_of_the_probe_for_any_class(stepped):
    model = stepped.maps.meta["model"]
    stepped.send({"type": "explain", "model": model})
    cam = stepped.wait_for(is_frame("cnn.explain"))
    assert cam.meta["target"] == cam.meta["predicted"]
    assert cam.meta["layer"] == "act2"
    assert cam.arrays["heat"].shape == (16, 16)
    assert cam.arrays["heat"].max() == 255  # scaled to its largest value
    assert cam.arrays["input"].shape == (16, 16, 1)
    stepped.send({"type": "explain", "model": model, "method": "saliency", "target": 7})
    grads = stepped.wait_for(is_frame("cnn.explain", method="saliency"))
    assert grads.meta["target"] == 7
    assert grads.meta["layer"] == "input"


def test_the_batch_norm_panel_shows_the_batch_and_both_modes(stepped):
    stepped.send({"type": "batchnorm", "model": stepped.maps.meta["model"], "layer": 1,
                  "channel": 2})
    panel = stepped.wait_for(is_frame("cnn.bn"))
    meta = panel.meta
    assert meta["name"] == "bn1"
    train = stepped.configured["dataset"]["train"]
    assert meta["batch"] == train - 19 * 64  # step 20 took the epoch's last, smaller batch
    assert meta["count"] == meta["batch"] * 16 * 16
    assert sum(meta["inputs"]["counts"]) == meta["count"]
    assert meta["var"] > 0
    for name in ("input", "train", "eval"):
        assert panel.arrays[name].shape == (16, 16)


def test_with_and_without_batch_norm_train_side_by_side(stepped):
    stepped.send({"type": "compare", "on": True})
    started = stepped.wait_for("compare")
    assert [r["batch_norm"] for r in started["runs"]] == [True, False]
    assert {r["step"] for r in started["runs"]} == {0}
    stepped.send({"type": "play"})
    both = stepped.wait_for(lambda m: m.get("type") == "compare"
                            and min(r["step"] for r in m["runs"]) >= 20, timeout=60)
    steps = [r["step"] for r in both["runs"]]
    assert abs(steps[0] - steps[1]) <= max(steps) // 2  # they share the worker
    histograms = stepped.wait_for(is_frame("cnn.histograms"))
    assert [r["batch_norm"] for r in histograms.meta["runs"]] == [True, False]
    assert histograms.arrays["on2"].shape[1] == histograms.meta["bins"]
    stepped.send({"type": "pause"})
    stepped.send({"type": "compare", "on": False})
    assert stepped.wait_for(lambda m: m.get("type") == "compare" and not m["on"])


def test_the_classic_nets_and_tensors(stepped):
    stepped.send({"type": "reference", "name": "vgg16"})
    vgg = stepped.wait_for("reference")
    assert vgg["total_params"] == 138_357_544
    assert vgg["input_shape"] == [3, 224, 224]
    assert sum(layer["kind"] == "conv" for layer in vgg["layers"]) == 13
    two, one = vgg["stacks"][0], vgg["stacks"][1]
    assert two["receptive_field"] == one["receptive_field"] == 5
    assert two["weights"] < one["weights"]
    stepped.send({"type": "tensor", "model": stepped.maps.meta["model"], "layer": 4, "out": 1,
                  "in_channel": 2, "channel": 3})
    tensor = stepped.wait_for("tensor")
    assert tensor["weight"]["dims"] == ["out", "in", "kH", "kW"]
    assert tensor["weight"]["shape"] == [8, 4, 3, 3]
    assert tensor["weight"]["slice"] == "[1, 2, :, :]"
    assert tensor["activation"]["shape"] == [1, 8, 8, 8]
    assert tensor["activation"]["dtype"] == "float32"
