"""The CNN lab over a real websocket: configure, train, frames, inspection, errors stay harmless."""

from __future__ import annotations

import numpy as np
import pytest

from app.labs.cnn import CNNLab
from ml_core.cnn import ACTIVATIONS, POOLS, ConvBlock, FCLayer
from ml_core.training import OPTIMIZERS
from tests.wsclient import Frame

TINY = {"architecture": {"blocks": [{"channels": 4}, {"channels": 8}], "fc": [{"units": 16}]}}


def is_frame(kind: str):
    return lambda m: isinstance(m, Frame) and m.kind == kind


def test_the_default_session_is_digits_with_the_layer_table(ws_connect):
    client = ws_connect("cnn")
    configured = client.initial
    assert configured["config"] == CNNLab.defaults()  # the page's boot defaults, built
    assert configured["dataset"]["input_shape"] == [1, 16, 16]
    assert configured["dataset"]["classes"] == [str(d) for d in range(10)]
    names = [layer["name"] for layer in configured["layers"]]
    assert names[:4] == ["conv1", "bn1", "act1", "pool1"]
    assert names[-1] == "output"
    assert configured["total_params"] == sum(layer["params"] for layer in configured["layers"])
    assert set(configured["presets"]) == {"default", "lenet5", "vgg_small", "tiny_vgg"}
    assert {d["name"]: d["available"] for d in configured["datasets"]}["mnist"] is False


def test_configured_offers_what_the_core_registries_hold(ws_connect):
    choices = ws_connect("cnn").initial["choices"]
    assert [o["name"] for o in choices["optimizers"]] == list(OPTIMIZERS)
    assert choices["activations"] == list(ACTIVATIONS)
    assert choices["pools"] == list(POOLS)
    assert choices["block"] == ConvBlock().model_dump()
    assert choices["fc"] == FCLayer().model_dump()


def test_stepping_trains_and_streams_kernels_maps_and_evaluation(ws_connect, settings):
    client = ws_connect("cnn")
    configured = client.configure(TINY)
    kernels0 = client.frame("cnn.kernels")
    client.send({"type": "step", "steps": 25})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 25)
    assert metrics["val_acc"] is not None
    assert metrics["train_loss"] is not None
    assert metrics["samples_seen"] == 25 * 64 - (64 - configured["dataset"]["train"] % 64)
    assert metrics["epoch"] == pytest.approx(
        metrics["samples_seen"] / configured["dataset"]["train"], abs=1e-3
    )
    kernels = client.frame("cnn.kernels")
    assert kernels.meta["step"] == 25
    assert kernels.arrays["L0"].shape == (4, 1, 3, 3)
    assert kernels.arrays["L0"].dtype == np.uint8
    assert not np.array_equal(kernels.arrays["L0"], kernels0.arrays["L0"])  # the kernels learned
    maps = client.frame("cnn.maps")
    assert maps.meta["source"] == "val"
    assert maps.arrays["input"].shape == (16, 16, 1)
    assert maps.arrays["L0"].shape == (4, 16, 16)
    assert maps.arrays["probs"].sum() == pytest.approx(1)
    layers = {m["name"]: m for m in maps.meta["layers"]}
    assert set(layers) == {"conv1", "bn1", "act1", "pool1", "conv2", "bn2", "act2", "pool2"}
    evaluation = client.wait_for("evaluation")
    confusion = np.array(evaluation["confusion"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == sum(evaluation["counts"])
    gallery = client.frame("cnn.gallery")
    assert len(gallery.meta["true"]) == gallery.arrays["images"].shape[0]
    assert len(gallery.meta["true"]) <= settings.cnn.gallery_size
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
    client.wait_for(lambda m: m.get("type") == "state" and m["state"] == "finished", timeout=120)
    last = client.wait_for("metrics")  # the complete frame that closes the run
    assert last["epoch"] == pytest.approx(8)
    client.send({"type": "test"})
    result = client.wait_for("test_result")
    assert result["split"] == "test"
    assert result["accuracy"] > 0.9
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
    assert shapes["ok"] is False
    assert shapes["error"].startswith("conv2:")
    assert "kernel is 5×5" in shapes["error"]
    assert shapes["error_layer"] == 4
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
    assert ok["ok"] is True
    assert ok["input_shape"] == [3, 32, 32]
    assert ok["layers"][0]["shape"] == [8, 32, 32]
    client.send({"type": "describe"})
    assert client.wait_for("configured")["config"] == before


BAD_CONFIGS = [  # (config, message), each from the settings' cnn section
    lambda cnn: (
        {"upscale": 1, "architecture": {"blocks": [{"kernel_size": 5, "padding": 0}] * 2}},
        "conv2: its input is 2×2 but the kernel is 5×5",
    ),
    lambda cnn: (
        {"architecture": {"blocks": [{"channels": 4, "pool_size": 2}] * 5}},
        "pool5: its input is 1×1",
    ),
    lambda cnn: (
        {
            "architecture": {
                "blocks": [{"channels": cnn.max_channels, "pool": "none"}] * 2,
                "fc": [{"units": cnn.max_fc_units}],
            }
        },
        f"parameters; the limit is {cnn.max_parameters:,}",
    ),
    lambda cnn: (
        {"architecture": {"blocks": [{"channels": cnn.max_channels + 1}]}},
        f"conv1 channels: at most {cnn.max_channels}",
    ),
    lambda cnn: ({"architecture": {"blocks": []}}, "blocks"),
    lambda cnn: ({"dataset": "mnist"}, "mnist files not found"),
    lambda cnn: ({"dataset": "imagenet"}, "dataset"),
    lambda cnn: ({"learning_rate": -1}, "learning_rate"),
    lambda cnn: ({"batch_size": cnn.max_batch_size + 1}, f"batch_size: at most {cnn.max_batch_size}"),
    lambda cnn: ({"imbalance": {"classes": [12]}}, "imbalance: digits has classes 0..9"),
    lambda cnn: ({"val_fraction": 0.5, "test_fraction": 0.5}, "at most 0.7"),
    lambda cnn: ({"bogus": 1}, "bogus"),
]


@pytest.mark.parametrize("bad", BAD_CONFIGS)
def test_bad_configs_get_a_clear_error_and_the_session_goes_on(ws_connect, settings, bad):
    config, message = bad(settings.cnn)
    client = ws_connect("cnn")
    tiny = client.configure(TINY)["config"]
    with pytest.raises(ValueError, match=message):
        client.configure(config)
    client.send({"type": "describe"})
    assert client.wait_for("configured")["config"] == tiny  # the previous config stays live
    client.send({"type": "step", "steps": 2})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 2)
    assert metrics["train_loss"] is not None  # and it still trains


def test_bad_lab_messages_are_errors_not_crashes(ws_connect, settings):
    client = ws_connect("cnn")
    max_steps = settings.cnn.max_steps
    for bad, expected in [
        ({"type": "select_image", "index": 99999}, "select_image: index must be"),
        ({"type": "select_image"}, "index"),
        ({"type": "drop", "ids": []}, "ids"),
        ({"type": "drop", "ids": list(range(2000))}, "ids"),
        ({"type": "drop", "ids": [10**9]}, "not training images"),
        ({"type": "fly"}, "unknown message type 'fly'"),
        ({"type": "step", "steps": max_steps + 1}, f"at most {max_steps} steps"),
    ]:
        client.send(bad)
        error = client.wait_for("error")
        assert expected in error["message"], (bad, error)
    client.send({"type": "step", "steps": 1})  # none of them changed or stopped the session
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] > 0)
    assert metrics["step"] == 1
    assert metrics["train_loss"] is not None


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
    assert dropped["dropped"] == 10
    assert dropped["train"] == configured["dataset"]["train"] - 10
    assert sum(dropped["train_counts"]) == dropped["train"]
    restarted = client.wait_for("metrics")
    assert restarted["step"] == 0  # training starts again without them
    client.send({"type": "restore"})
    restored = client.wait_for("dropped")
    assert restored["total_dropped"] == 0
    assert restored["train"] == configured["dataset"]["train"]


def test_select_image_augment_preview_and_refresh(ws_connect):
    client = ws_connect("cnn")
    client.configure({**TINY, "augment": {"flip": True, "shift": 2}})
    client.send({"type": "select_image", "index": 7})
    maps = client.wait_for(
        lambda m: isinstance(m, Frame) and m.kind == "cnn.maps" and m.meta["index"] == 7
    )
    assert maps.meta["source"] == "val"
    assert maps.meta["label"] in range(10)
    client.send({"type": "augment_preview"})
    preview = client.frame("cnn.augment")
    assert preview.arrays["original"].shape == (16, 16, 16, 1)
    assert preview.arrays["augmented"].shape == (16, 16, 16, 1)
    assert preview.meta["augment"]["shift"] == 2
    client.send({"type": "step", "steps": 3})
    # (messages sent while steps are pending run between their slices: wait for the last one)
    client.wait_for(lambda m: isinstance(m, dict) and m.get("type") == "metrics" and m["step"] == 3)
    client.send({"type": "refresh"})
    history = client.wait_for("history")
    steps = [p["step"] for p in history["points"]]
    # the curve's points so far: the last at step 3 (a frame between the step's slices may
    # have added one at an earlier step; no point comes from before the steps)
    assert steps[-1] == 3
    assert steps == sorted(set(steps))
    assert steps[0] >= 1
    # then everything a fresh page draws, the last evaluation included
    wanted = {"evaluation", "cnn.kernels", "cnn.maps", "cnn.gallery", "cnn.hardest"}
    got: dict = {}

    def collect(message) -> bool:
        got.setdefault(message.kind if isinstance(message, Frame) else message["type"], message)
        return wanted <= got.keys()

    client.wait_for(collect)
    assert got["evaluation"]["step"] == 3
    assert {got[kind].meta["step"] for kind in wanted - {"evaluation"}} == {3}
    assert got["cnn.maps"].meta["index"] == 7  # the chosen image is kept


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
    # The frames of the broken model still go out (JSON has no NaN: they carry nulls); the
    # steps stopped where the loss stopped being a number.
    metrics = client.wait_for("metrics")
    maps = client.frame("cnn.maps")
    assert 0 < maps.meta["step"] == metrics["step"] <= 40
    assert maps.meta["confidence"] is None
    assert maps.arrays["input"].shape == (16, 16, 1)
    client.send({"type": "reset"})
    client.send({"type": "step", "steps": 1})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 1)
    assert metrics["train_loss"] is not None


def test_a_pause_validates_the_weights_as_they_are(ws_connect):
    client = ws_connect("cnn")
    client.configure(TINY)
    client.send({"type": "play"})
    client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] > 30)
    client.send({"type": "pause"})
    client.wait_for(lambda m: m.get("type") == "state" and m["state"] == "paused")
    # the complete frame after the pause: metrics of a validation pass of the paused weights
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["val_step"] == m["step"])
    assert metrics["val_epoch"] == metrics["epoch"]
    client.send({"type": "refresh"})  # the evaluation shown is that pass
    evaluation = client.wait_for("evaluation")
    assert evaluation["step"] == metrics["step"]
    assert evaluation["epoch"] == metrics["epoch"]
