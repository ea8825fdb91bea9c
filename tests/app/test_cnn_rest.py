"""CNN lab REST: predict on an uploaded image, save the model, load it back; bad files get 4xx."""

from __future__ import annotations

import io
import json
import struct

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from tests.wsclient import Frame

TINY = {"architecture": {"blocks": [{"channels": 4}, {"channels": 8}], "fc": [{"units": 16}]}}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def digit_photo() -> np.ndarray:
    """A big dark '1' drawn on light paper, like a phone photo of a written digit."""
    photo = np.full((200, 160), 235, np.uint8)
    photo[30:170, 72:88] = 20
    photo[30:50, 55:80] = 20
    return photo


def predict(base: str, session: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{base}/api/cnn/predict", params={"session": session}, timeout=30, **kwargs)


@pytest.fixture
def trained(ws_connect):
    client = ws_connect("cnn")
    client.configure(TINY)
    client.send({"type": "step", "steps": 40})
    client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 40)
    return client


def uploaded_maps(client) -> Frame:
    return client.wait_for(
        lambda m: isinstance(m, Frame) and m.kind == "cnn.maps" and m.meta["source"] == "upload"
    )


def test_predict_answers_the_classes_and_the_socket_brings_the_maps(live_server, trained):
    reply = predict(
        live_server, trained.session, files={"file": ("digit.png", png(digit_photo()), "image/png")}
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    # Sent once: the picture and its feature maps come only in the cnn.maps frame.
    assert set(body) == {"classes", "probabilities", "predicted", "label"}
    assert len(body["probabilities"]) == 10
    assert sum(body["probabilities"]) == pytest.approx(1)
    assert body["label"] == body["classes"][body["predicted"]]
    frame = uploaded_maps(trained)  # the one that follows the call
    assert frame.meta["index"] is None
    assert frame.meta["label"] is None
    assert frame.meta["pred"] == body["predicted"]
    np.testing.assert_allclose(frame.arrays["probs"], body["probabilities"], atol=1e-6)
    assert frame.arrays["input"].shape == (16, 16, 1)
    shown = frame.arrays["input"][..., 0]
    # Inverted (light ink on dark), cropped to the ink (it spans the full height), centred.
    assert shown.max() > 200
    assert shown[:, :3].mean() < 20
    assert shown[:, -3:].mean() < 20
    assert shown[0].max() > 100
    assert shown[-1].max() > 100
    first = frame.meta["layers"][0]
    assert first["name"] == "conv1"
    assert frame.arrays["L0"].shape == (first["shown"], 16, 16)
    # The uploaded image keeps driving the streamed maps until another image is chosen.
    trained.send({"type": "step", "steps": 1})
    later = trained.wait_for(
        lambda m: isinstance(m, Frame) and m.kind == "cnn.maps" and m.meta["step"] == 41
    )
    assert later.meta["source"] == "upload"
    assert np.array_equal(later.arrays["input"], frame.arrays["input"])
    trained.send({"type": "select_image", "index": 0})
    assert (
        trained.wait_for(lambda m: isinstance(m, Frame) and m.kind == "cnn.maps").meta["source"]
        == "val"
    )


def test_a_bundled_sample_and_an_rgb_dataset(live_server, ws_connect):
    client = ws_connect("cnn")
    client.configure({**TINY, "dataset": "shapes", "samples": 200})
    reply = predict(live_server, client.session, data={"sample": "coffee"})
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["classes"]) == 4
    assert uploaded_maps(client).arrays["input"].shape == (32, 32, 3)


def _bomb() -> bytes:
    """A tiny PNG that claims 30000 x 30000 pixels."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("empty.png", b"", 400, "empty"),
        ("notes.png", b"these are my notes, not a picture" * 10, 415, "not a PNG"),
        (
            "cut.png",
            png(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))[:2000],
            400,
            "truncated",
        ),
        ("huge.png", b"\x89PNG" + b"\0" * 10_100_000, 413, "limit"),
        ("bomb.png", _bomb(), 413, "too many pixels"),
    ],
)
def test_bad_uploads_get_a_clear_4xx_and_the_session_goes_on(
    live_server, trained, name, data, status, message
):
    reply = predict(live_server, trained.session, files={"file": (name, data, "image/png")})
    assert reply.status_code == status, reply.text
    assert message in reply.json()["detail"]
    trained.send({"type": "step", "steps": 1})
    maps = trained.wait_for(
        lambda m: isinstance(m, Frame) and m.kind == "cnn.maps" and m.meta["step"] == 41
    )
    assert maps.meta["source"] == "val"  # the refused picture did not replace the shown one


def test_predict_needs_exactly_one_input_and_a_live_session(live_server, trained):
    both = predict(
        live_server,
        trained.session,
        data={"sample": "coins"},
        files={"file": ("a.png", png(digit_photo()), "image/png")},
    )
    assert both.status_code == 400
    assert "either" in both.json()["detail"]
    neither = predict(live_server, trained.session)
    assert neither.status_code == 400
    unknown = predict(live_server, trained.session, data={"sample": "mona_lisa"})
    assert unknown.status_code == 400
    assert "unknown sample image" in unknown.json()["detail"]
    gone = predict(live_server, "no-such-session-123", data={"sample": "coins"})
    assert gone.status_code == 404


def test_save_and_load_a_model_into_another_session(live_server, trained, ws_connect):
    saved = httpx.get(f"{live_server}/api/cnn/model", params={"session": trained.session})
    assert saved.status_code == 200
    assert "attachment" in saved.headers["content-disposition"]
    assert saved.headers["content-disposition"].endswith('step40.safetensors"')
    (length,) = struct.unpack("<Q", saved.content[:8])
    metadata = json.loads(saved.content[8 : 8 + length])["__metadata__"]
    assert metadata["torchplay"] == "cnn"
    assert json.loads(metadata["config"])["architecture"]["blocks"][1]["channels"] == 8

    other = ws_connect("cnn")  # a fresh default session: a different architecture
    loaded = httpx.post(
        f"{live_server}/api/cnn/model",
        params={"session": other.session},
        files={"file": ("model.safetensors", saved.content)},
    )
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["config"]["architecture"]["blocks"][0]["channels"] == 4
    pushed = other.wait_for(lambda m: m.get("type") == "configured")
    assert pushed["total_params"] == loaded.json()["total_params"]
    image = {"file": ("digit.png", png(digit_photo()), "image/png")}
    a = predict(live_server, trained.session, files=image).json()["probabilities"]
    b = predict(live_server, other.session, files=image).json()["probabilities"]
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_model_files_are_refused_without_unpickling(live_server, trained):
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    cases = [
        (buffer.getvalue(), "not a safetensors model file"),
        (b"", "too short"),
        (b"random bytes " * 100, "not a safetensors model file"),
    ]
    for data, message in cases:
        reply = httpx.post(
            f"{live_server}/api/cnn/model",
            params={"session": trained.session},
            files={"file": ("model.safetensors", data)},
        )
        assert reply.status_code == 400, reply.text
        assert message in reply.json()["detail"]
    trained.send({"type": "step", "steps": 1})
    metrics = trained.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 41)
    assert metrics["val_acc"] is not None
