"""The CNN lab over a real websocket: configure, train, frames, inspection, errors stay harmless."""

from __future__ import annotations

import numpy as np
import pytest

from tests.wsclient import Frame

TINY = {"architecture": {"blocks": [{"channels": 4}, {"channels": 8}], "fc": [{"units": 16}]}}


def is_frame(kind: str):
    return lambda m: isinstance(m, Frame) and m.kind == kind


def test_the_default_session_is_digits_with_the_layer_table(ws_connect):
    client = ws_connect("cnn")
    configured = client.initial
    assert configured["config"]["dataset"] == "digits"
    assert configured["dataset"]["input_shape"] == [1, 16, 16]
    assert configured["dataset"]["classes"] == [str(d) for d in range(10)]
    names = [layer["name"] for layer in configured["layers"]]
    assert names[:4] == ["conv1", "bn1", "act1", "pool1"] and names[-1] == "output"
    assert configured["total_params"] == sum(layer["params"] for layer in configured["layers"])
    assert set(configured["presets"]) == {"default", "lenet5", "vgg_small"}
    assert {d["name"]: d["available"] for d in configured["datasets"]}["mnist"] is False


def test_stepping_trains_and_streams_kernels_maps_and_evaluation(ws_connect):
    client = ws_connect("cnn")
    configured = client.configure(TINY)
    kernels0 = client.frame("cnn.kernels")
    client.send({"type": "step", "steps": 25})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 25)
    assert metrics["val_acc"] is not None and metrics["train_loss"] is not None
    assert metrics["samples_seen"] == 25 * 64 - (64 - configured["dataset"]["train"] % 64)
    assert metrics["epoch"] == pytest.approx(
        metrics["samples_seen"] / configured["dataset"]["train"], abs=1e-3
    )
    kernels = client.frame("cnn.kernels")
    assert kernels.meta["step"] == 25
    assert kernels.arrays["L0"].shape == (4, 1, 3, 3) and kernels.arrays["L0"].dtype == np.uint8
    assert not np.array_equal(kernels.arrays["L0"], kernels0.arrays["L0"])  # the kernels learned
    maps = client.frame("cnn.maps")
    assert maps.meta["source"] == "val" and maps.arrays["input"].shape == (16, 16, 1)
    assert maps.arrays["L0"].shape == (4, 16, 16) and maps.arrays["probs"].sum() == pytest.approx(1)
    layers = {m["name"]: m for m in maps.meta["layers"]}
    assert set(layers) == {"conv1", "bn1", "act1", "pool1", "conv2", "bn2", "act2", "pool2"}
    evaluation = client.wait_for("evaluation")
    confusion = np.array(evaluation["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == sum(evaluation["counts"])
    gallery = client.frame("cnn.gallery")
    assert len(gallery.meta["true"]) == gallery.arrays["images"].shape[0] <= 24
    assert all(t != p for t, p in zip(gallery.meta["true"], gallery.meta["pred"], strict=True))
    hardest = client.frame("cnn.hardest")
    assert hardest.meta["losses"] == sorted(hardest.meta["losses"], reverse=True)


def test_play_reaches_high_accuracy_then_pause(ws_connect):
    client = ws_connect("cnn")
    client.configure({"epochs": 8})
    client.send({"type": "play"})
    client.wait_for(lambda m: m.get("type") == "state" and m["state"] == "playing")
    # Pictures stream while playing, from a model that is learning.
    first = client.wait_for(
        lambda m: isinstance(m, Frame) and m.kind == "cnn.kernels" and m.meta["step"] > 0
    )
    later = client.wait_for(
        lambda m: (
            isinstance(m, Frame) and m.kind == "cnn.kernels" and m.meta["step"] > first.meta["step"]
        )
    )
    assert not np.array_equal(first.arrays["L0"], later.arrays["L0"])
    finished = client.wait_for(
        lambda m: m.get("type") == "state" and m["state"] == "finished", timeout=120
    )
    assert finished["state"] == "finished"
    client.send({"type": "test"})
    result = client.wait_for("test_result")
    assert result["split"] == "test" and result["accuracy"] > 0.9
    assert len(result["per_class_accuracy"]) == 10


def test_inspect_reports_shapes_and_impossible_layers_without_changing_anything(ws_connect):
    client = ws_connect("cnn")
    before = client.initial["config"]
    client.send(
        {
            "type": "inspect",
            "config": {
                "upscale": 1,
                "architecture": {
                    "blocks": [
                        {"channels": 6, "kernel_size": 5, "padding": 0},
                        {"channels": 16, "kernel_size": 5, "padding": 0},
                    ]
                },
            },
        }
    )
    shapes = client.wait_for("shapes")
    assert shapes["ok"] is False and shapes["error"].startswith("conv2:")
    assert "kernel is 5×5" in shapes["error"] and shapes["error_layer"] == 4
    assert [layer["shape"] for layer in shapes["layers"]][-1] == [6, 2, 2]
    client.send(
        {
            "type": "inspect",
            "config": {
                "dataset": "shapes",
                "architecture": {"blocks": [{"channels": 8, "pool": "none"}]},
            },
        }
    )
    ok = client.wait_for("shapes")
    assert ok["ok"] and ok["input_shape"] == [3, 32, 32] and ok["layers"][0]["shape"] == [8, 32, 32]
    client.send({"type": "describe"})
    assert client.wait_for("configured")["config"] == before


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"upscale": 1, "architecture": {"blocks": [{"kernel_size": 5, "padding": 0}] * 2}},
            "conv2: its input is 2×2 but the kernel is 5×5",
        ),
        (
            {"architecture": {"blocks": [{"channels": 4, "pool_size": 2}] * 5}},
            "pool5: its input is 1×1",
        ),
        (
            {
                "architecture": {
                    "blocks": [{"channels": 128, "pool": "none"}] * 2,
                    "fc": [{"units": 1024}],
                }
            },
            "parameters; the limit is 2,000,000",
        ),
        ({"architecture": {"blocks": [{"channels": 999}]}}, "at most 128 channels"),
        ({"architecture": {"blocks": []}}, "blocks"),
        ({"dataset": "mnist"}, "mnist files not found"),
        ({"dataset": "imagenet"}, "dataset"),
        ({"learning_rate": -1}, "learning_rate"),
        ({"batch_size": 100000}, "batch_size"),
        ({"imbalance": {"classes": [12]}}, "imbalance: digits has classes 0..9"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "at most 0.7"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_configs_get_a_clear_error_and_the_session_goes_on(ws_connect, config, message):
    client = ws_connect("cnn")
    client.configure(TINY)
    with pytest.raises(ValueError, match=message):
        client.configure(config)
    client.send({"type": "step", "steps": 2})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 2)
    assert metrics["step"] == 2  # still the tiny net, still training


def test_bad_lab_messages_are_errors_not_crashes(ws_connect):
    client = ws_connect("cnn")
    for bad, expected in [
        ({"type": "select_image", "index": 99999}, "select_image: index must be"),
        ({"type": "select_image"}, "index"),
        ({"type": "drop", "ids": []}, "ids"),
        ({"type": "drop", "ids": list(range(2000))}, "ids"),
        ({"type": "drop", "ids": [10**9]}, "not training images"),
        ({"type": "fly"}, "unknown message type 'fly'"),
        ({"type": "step", "steps": 20000}, "at most 10000 steps"),
    ]:
        client.send(bad)
        error = client.wait_for("error")
        assert expected in error["message"], (bad, error)
    client.send({"type": "describe"})
    assert client.wait_for("configured")["lab"] == "cnn"


def test_label_noise_shows_in_the_hardest_images_and_they_can_be_dropped(ws_connect):
    client = ws_connect("cnn")
    configured = client.configure({**TINY, "label_noise": 0.2})
    assert configured["dataset"]["flipped"] == round(0.2 * configured["dataset"]["train"])
    client.send({"type": "step", "steps": 60})
    client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 60)
    hardest = client.frame("cnn.hardest")
    assert sum(hardest.meta["flipped"]) > len(hardest.meta["flipped"]) / 2  # far above 20%
    client.send({"type": "drop", "ids": hardest.meta["ids"][:10]})
    dropped = client.wait_for("dropped")
    assert dropped["dropped"] == 10 and dropped["train"] == configured["dataset"]["train"] - 10
    client.send({"type": "restore"})
    assert client.wait_for("dropped")["total_dropped"] == 0


def test_select_image_augment_preview_and_refresh(ws_connect):
    client = ws_connect("cnn")
    client.configure({**TINY, "augment": {"flip": True, "shift": 2}})
    client.send({"type": "select_image", "index": 7})
    maps = client.wait_for(
        lambda m: isinstance(m, Frame) and m.kind == "cnn.maps" and m.meta["index"] == 7
    )
    assert maps.meta["label"] in range(10)
    client.send({"type": "augment_preview"})
    preview = client.frame("cnn.augment")
    assert preview.arrays["original"].shape == preview.arrays["augmented"].shape == (16, 16, 16, 1)
    assert preview.meta["augment"]["shift"] == 2
    client.send({"type": "step", "steps": 3})
    client.send({"type": "refresh"})
    history = client.wait_for("history")
    assert history["points"] and history["points"][-1]["step"] == 3
    for kind in ("cnn.kernels", "cnn.maps", "cnn.gallery", "cnn.hardest"):
        client.frame(kind)


def test_a_reconnect_resumes_the_trained_session(ws_connect):
    client = ws_connect("cnn")
    client.configure(TINY)
    client.send({"type": "step", "steps": 5})
    client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 5)
    session = client.session
    client.close()
    again = ws_connect("cnn", session=session)
    assert again.hello["resumed"] is True
    assert again.initial["config"]["architecture"]["blocks"][0]["channels"] == 4
    metrics = again.wait_for("metrics")
    assert metrics["step"] == 5


def test_a_diverged_run_pauses_with_a_message_and_reset_recovers(ws_connect):
    client = ws_connect("cnn")
    linear = {"channels": 4, "batch_norm": False, "activation": "none"}
    no_norm = {"blocks": [linear] * 2, "fc": []}
    client.configure({"architecture": no_norm, "optimizer": "sgd", "learning_rate": 10})
    client.send({"type": "step", "steps": 40})
    state = client.wait_for(lambda m: m.get("type") == "state" and m["state"] == "diverged")
    assert "lower the learning rate" in state["message"]
    # The frames of the broken model still go out (JSON has no NaN: they carry nulls).
    maps = client.frame("cnn.maps")
    assert maps.meta["step"] == 40 and maps.meta["confidence"] is None
    assert maps.arrays["input"].shape == (16, 16, 1)
    client.send({"type": "reset"})
    client.send({"type": "step", "steps": 1})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 1)
    assert metrics["train_loss"] is not None
