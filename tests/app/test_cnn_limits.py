"""The CNN lab's limits: the work and memory of a step are bounded, the largest net a client may
send stops within a second when its session goes; malformed model files get a 4xx; no message
carries a server path or an exception's internals."""

from __future__ import annotations

import ctypes
import gc
import io
import json
import os
import struct
import time

import httpx
import numpy as np
import pytest
import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from app.config import Settings
from app.main import create_app
from tests.conftest import serve
from tests.wsclient import WSClient, wait_until

TINY = {"architecture": {"blocks": [{"channels": 4}, {"channels": 8}], "fc": [{"units": 16}]}}


def widest(settings: Settings, batch: int = 1) -> dict:
    """The largest net the limits let through: every block as wide as allowed, no pooling, on
    the 32×32 colour shapes (50 images: the evaluation bound is per validation image)."""
    cnn = settings.cnn
    block = {"channels": cnn.max_channels, "kernel_size": 3, "pool": "none"}
    return {"dataset": "shapes", "samples": 50, "batch_size": batch,
            "architecture": {"blocks": [block] * cnn.max_blocks}}


def test_the_shape_table_bounds_the_work_and_memory_of_a_step(ws_connect, settings):
    client = ws_connect("cnn")
    costly = widest(settings, batch=settings.cnn.max_batch_size)
    client.send({"type": "inspect", "config": costly})
    shapes = client.wait_for("shapes")
    assert shapes["ok"] is False
    assert shapes["error"].startswith("conv2: too big")
    assert "the limit is 8 GFLOP" in shapes["error"]
    assert shapes["error_layer"] == 3
    assert shapes["cost"]["step_flops"] > 3e12  # the issue's ~3 TFLOP a step
    with pytest.raises(ValueError, match="conv2: too big"):
        client.configure(costly)
    many = {**TINY, "batch_size": settings.cnn.max_batch_size, "dataset": "shapes"}
    many["architecture"] = {"blocks": [{"channels": 64, "pool": "none"}] * 3}
    client.send({"type": "inspect", "config": many})
    refused = client.wait_for("shapes")["error"]
    assert "too big" in refused
    client.send({"type": "inspect", "config": widest(settings)})
    ok = client.wait_for("shapes")
    assert ok["ok"] is True
    cost = ok["cost"]
    assert cost["step_work"] <= settings.cnn.max_step_flops
    assert cost["activation_bytes"] <= settings.cnn.max_activation_mb * 1e6
    assert cost["eval_work"] <= settings.cnn.max_eval_flops
    assert all("flops" in layer and "rf" in layer and "in_shape" in layer
               for layer in ok["layers"])


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def trim() -> None:
    """Give freed heap pages back to the system, so RSS shows what is still held."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


@pytest.fixture(scope="module")
def in_process():
    """A server whose sessions run on a scheduler thread of this process (its memory is ours),
    closing sessions as soon as their socket is gone."""
    settings = Settings(device="cpu", workers=0, session_ttl_s=0.0, max_sessions_per_client=100)
    app = create_app(settings)
    with serve(app) as url:
        yield app, url, settings


def test_the_largest_net_stops_within_a_second_when_its_session_goes(in_process):
    app, url, settings = in_process
    manager = app.state.sessions
    with WSClient(url, "cnn") as warm:  # first use fills caches (code, oneDNN): not a leak
        warm.configure(widest(settings))
        warm.send({"type": "step", "steps": 1})
        warm.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 1, timeout=60)
    wait_until(lambda: not manager.get(warm.session, "cnn").connected, every=0.01)
    manager.reap()
    wait_until(lambda: manager.key(warm.session, "cnn") not in manager.sessions, every=0.01)
    trim()
    baseline = rss_mb()
    client = WSClient(url, "cnn")
    configured = client.configure(widest(settings))
    assert configured["total_params"] > 1_000_000
    client.send({"type": "step", "steps": 10_000})
    host = manager.host(client.session, "cnn")
    scheduler = manager.links[0].scheduler
    wait_until(lambda: host.lab.run.steps >= 2, timeout=60, every=0.01)  # no frames mid-command
    assert host.pending_steps > 9000
    client.close()
    wait_until(lambda: not manager.get(client.session, "cnn").connected, every=0.01)
    wait_until(lambda: scheduler._current is not None, timeout=5, every=0.005)  # a step runs
    began = time.monotonic()
    manager.reap()  # what the server's reaper does for a socket gone past the time to live
    key = manager.key(client.session, "cnn")
    while key in manager.sessions and time.monotonic() - began < 5:
        time.sleep(0.01)
    stopped = time.monotonic() - began
    assert host.token.cancelled, "the work in progress was cancelled, not left to finish"
    assert stopped < 1.0, f"the session took {stopped:.2f} s to stop"
    assert host.lab is None or host.sid not in scheduler.hosts
    host = None
    trim()
    assert rss_mb() - baseline < 25, "the model, its optimizer and activations were freed"


# ---- model files -------------------------------------------------------------------------------
def raw_safetensors(metadata: object, tensors: dict[str, torch.Tensor]) -> bytes:
    """A safetensors file written by hand, so its metadata can be anything JSON can hold."""
    header: dict = {"__metadata__": metadata}
    data, offset = b"", 0
    for name, tensor in tensors.items():
        raw = tensor.contiguous().numpy().tobytes()
        dtype = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}[tensor.dtype]
        header[name] = {"dtype": dtype, "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        data, offset = data + raw, offset + len(raw)
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def saved(live_server, session) -> bytes:
    return httpx.get(f"{live_server}/api/cnn/model", params={"session": session}).content


def parts(data: bytes) -> tuple[dict, dict]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length])["__metadata__"], load_tensors(data)


def recast(data: bytes, name: str, dtype: torch.dtype) -> bytes:
    metadata, tensors = parts(data)
    tensors[name] = tensors[name].to(dtype)
    return save_tensors(tensors, metadata=metadata)


def reshaped(data: bytes, name: str) -> bytes:
    metadata, tensors = parts(data)
    tensors[name] = torch.zeros(tensors[name].shape[0] + 1, *tensors[name].shape[1:])
    return save_tensors(tensors, metadata=metadata)


def meta_changed(data: bytes, **changes) -> bytes:
    metadata, tensors = parts(data)
    metadata.update(changes)
    metadata = {k: v for k, v in metadata.items() if v is not None}
    return save_tensors(tensors, metadata=metadata)


def pickle_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(3)}, buffer)
    return buffer.getvalue()


BAD_FILES = [  # (name, make(good file) -> bad file, words of the message)
    ("metadata that is not text", lambda good: raw_safetensors(
        {"torchplay": "cnn", "format_version": "1", "config": {"epochs": 3}}, {}),
     "metadata must be text"),
    ("metadata that is not an object", lambda good: raw_safetensors(["cnn"], {}),
     "not one saved by torchplay"),
    ("no config", lambda good: meta_changed(good, config=None), "has no config"),
    ("a config that is not an object", lambda good: meta_changed(good, config="[1, 2]"),
     "config is not an object"),
    ("a config that is not JSON", lambda good: meta_changed(good, config="{epochs: 3"),
     "'config' is not valid JSON"),
    ("JSON nested too deeply", lambda good: meta_changed(good, config="[" * 50_000 + "]" * 50_000),
     "nested too deeply"),
    ("a config the lab refuses", lambda good: meta_changed(
        good, config=json.dumps({"architecture": {"blocks": [{"channels": 10**6}]}})),
     "channels"),
    ("weights stored as float64", lambda good: recast(good, "conv1.weight", torch.float64),
     "conv1.weight holds float64 numbers; the architecture needs float32"),
    ("weights of the wrong shape", lambda good: reshaped(good, "conv2.weight"),
     "conv2.weight has shape (9, 4, 3, 3)"),
    ("another lab's file", lambda good: meta_changed(good, torchplay="mlp"), "not a torchplay cnn"),
    ("a truncated file", lambda good: good[: len(good) // 2], "corrupt or truncated"),
    ("a pickle", lambda good: pickle_bytes(), "not a safetensors model file"),
    ("a picture", lambda good: b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "not a safetensors model"),
]


@pytest.mark.parametrize(("what", "make", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_malformed_model_files_get_a_clear_4xx(live_server, ws_connect, what, make, message):
    client = ws_connect("cnn")
    client.configure(TINY)
    bad = make(saved(live_server, client.session))
    reply = httpx.post(f"{live_server}/api/cnn/model", params={"session": client.session},
                       files={"file": ("model.safetensors", bad)}, timeout=30)
    assert reply.status_code == 400, reply.text
    detail = reply.json()["detail"]
    assert message in detail
    assert "Error" not in detail  # no exception class names, no internals
    assert "internal" not in detail
    client.send({"type": "step", "steps": 1})
    metrics = client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 1)
    assert metrics["train_loss"] is not None


def test_no_message_carries_the_servers_data_path(live_server, ws_connect, settings):
    data_dir = settings.cnn.data_dir
    client = ws_connect("cnn")
    hints = [d.get("hint") or "" for d in client.initial["datasets"]]
    assert any("download mnist" in hint for hint in hints)
    assert not any(data_dir in hint for hint in hints)
    with pytest.raises(ValueError) as refused:
        client.configure({"dataset": "mnist"})
    assert "mnist files not found" in str(refused.value)
    assert data_dir not in str(refused.value)
    assert os.path.basename(data_dir) not in str(refused.value)
    client.send({"type": "inspect", "config": {"dataset": "cifar10"}})
    shapes = client.wait_for("shapes")
    assert "CIFAR-10 files not found" in shapes["error"]
    assert data_dir not in shapes["error"]
    good = saved(live_server, client.session)
    elsewhere = meta_changed(good, config=json.dumps({"dataset": "fashion_mnist"}))
    reply = httpx.post(f"{live_server}/api/cnn/model", params={"session": client.session},
                       files={"file": ("model.safetensors", elsewhere)})
    assert reply.status_code == 400
    assert "fashion_mnist files not found" in reply.json()["detail"]
    assert data_dir not in reply.json()["detail"]
    assert np.isfinite(len(good))
