"""GET /api/<lab>/export: the MLP, perceptron and CNN sessions as a script, a config, their
curves and an ONNX model (run in onnxruntime), through a real server and its workers; refusals
are 4xx with the reason, and nothing about the session changes."""

from __future__ import annotations

import csv
import io
import pickle
import struct
import time

import httpx
import numpy as np
import onnxruntime
import pytest
import torch

from app.config import Settings
from app.labs.cnn import CNNLab
from app.labs.exports import ExportError, export_cnn
from app.main import create_app
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_run import CNNRun
from ml_core.codegen import mlp_script, perceptron_script
from ml_core.codegen_cnn import cnn_script
from ml_core.image_datasets import LoadOptions, load
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.onnx_export import cnn_module, mlp_module
from ml_core.perceptron import PerceptronConfig
from tests.conftest import serve

CPU = torch.device("cpu")
XOR = {
    "dataset": {"name": "xor", "samples": 100, "seed": 3},
    "model": {"hidden": [5], "activation": "relu", "features": ["x1", "x2", "x1x2"]},
    "training": {"batch_size": 8, "optimizer": "adam", "learning_rate": 0.01},
}
NORMED = {
    "dataset": {"name": "blobs", "classes": 3, "samples": 90},
    "model": {"hidden": [6], "batch_norm": True, "dropout": 0.2, "activation": "prelu"},
    "training": {"batch_size": 10},
}
BUMPS = {  # a regression: one real output, Huber loss
    "dataset": {"name": "gaussians", "samples": 120, "seed": 4},
    "model": {"hidden": [6, 4], "activation": "tanh"},
    "training": {"loss": "huber", "batch_size": 10},
}
TINY_CNN = {
    "samples": 200,
    "batch_size": 16,
    "architecture": {"blocks": [{"channels": 4}, {"channels": 8}], "fc": [{"units": 16}]},
}
DRAWN = [[-0.5, -0.5, 0], [-0.6, -0.3, 0], [-0.2, -0.7, 0], [0.5, 0.5, 1], [0.3, 0.6, 1],
         [0.7, 0.2, 1], [0.1, -0.8, 2], [0.4, -0.6, 2], [0.8, -0.3, 2], [-0.1, -0.2, 0]]


def _is(kind):
    return lambda m: isinstance(m, dict) and m.get("type") == kind


def export(base: str, lab: str, session: str, fmt: str) -> httpx.Response:
    return httpx.get(
        f"{base}/api/{lab}/export", params={"format": fmt, "session": session}, timeout=60
    )


def attachment(response: httpx.Response) -> str:
    """The filename of an attachment response."""
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    return disposition.split("filename=")[1].strip('"')


def step(client, steps: int, lab_total: int) -> dict:
    """Step and wait for the metrics of step ``lab_total``."""
    client.send({"type": "step", "steps": steps})
    return client.wait_for(lambda m: _is("metrics")(m) and m["step"] == lab_total)


def csv_rows(response: httpx.Response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.text)))


# ---- MLP ----------------------------------------------------------------------------------------
def test_mlp_exports_its_script_config_and_curves(ws_connect, live_server):
    client = ws_connect("mlp")
    configured = client.configure(XOR, lab="mlp")
    metrics = step(client, 9, 9)
    config = PlaygroundConfig.model_validate(configured["config"])

    script = export(live_server, "mlp", client.session, "py")
    assert script.status_code == 200, script.text
    assert attachment(script) == "mlp-xor-seed3.py"
    assert script.headers["content-type"].startswith("text/x-python")
    assert script.text == mlp_script(config, None, metrics["epoch"])

    saved = export(live_server, "mlp", client.session, "json")
    assert attachment(saved) == "mlp-xor-seed3.json"
    body = saved.json()
    assert body["lab"] == "mlp"
    assert body["config"] == configured["config"]
    again = ws_connect("mlp").configure(body["config"], lab="mlp")  # it configures a session
    assert again["config"] == configured["config"]

    curves = export(live_server, "mlp", client.session, "csv")
    assert attachment(curves) == "mlp-xor-seed3-metrics.csv"
    rows = csv_rows(curves)
    assert list(rows[0]) == ["step", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    assert rows[-1]["step"] == "9"
    assert float(rows[-1]["train_loss"]) == pytest.approx(metrics["train_loss"])


def test_drawn_points_travel_in_the_script_and_the_config(ws_connect, live_server):
    client = ws_connect("mlp")
    client.send({"type": "configure", "lab": "mlp", "config": {"dataset": {"name": "custom"}},
                 "points": DRAWN})
    configured = client.wait_for("configured")
    script = export(live_server, "mlp", client.session, "py").text
    assert script == mlp_script(PlaygroundConfig.model_validate(configured["config"]), DRAWN)
    assert "POINTS = [" in script
    assert "(0.4, -0.6, 2)," in script
    saved = export(live_server, "mlp", client.session, "json").json()
    assert saved["points"] == DRAWN
    assert saved["config"]["dataset"]["classes"] == 3


@pytest.mark.parametrize(
    "raw", [XOR, NORMED, BUMPS], ids=["fast-engine", "batch-norm-dropout-prelu", "regression"]
)
def test_mlp_onnx_computes_what_the_torch_model_computes(ws_connect, live_server, settings, raw):
    client = ws_connect("mlp")
    configured = client.configure(raw, lab="mlp")
    step(client, 12, 12)
    start = time.perf_counter()
    response = export(live_server, "mlp", client.session, "onnx")
    seconds = time.perf_counter() - start
    assert response.status_code == 200, response.text
    assert attachment(response).endswith("-step12.onnx")
    assert seconds < settings.max_op_s  # the watchdog would stop the session
    # The same run here (runs are deterministic): its network after the same 12 steps.
    run = MLPRun(PlaygroundConfig.model_validate(configured["config"]))
    run.step(12)
    points = np.random.default_rng(1).uniform(-1, 1, (33, 2)).astype(np.float32)
    (logits,) = onnxruntime.InferenceSession(response.content).run(None, {"points": points})
    with torch.no_grad():
        expected = mlp_module(run)(torch.from_numpy(points)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5)
    assert logits.shape == (33, run.config.model.layer_sizes(run.classes)[-1])


def test_a_regressions_curves_have_losses_and_no_accuracy(ws_connect, live_server):
    client = ws_connect("mlp")
    client.configure(BUMPS, lab="mlp")
    metrics = step(client, 7, 7)
    rows = csv_rows(export(live_server, "mlp", client.session, "csv"))
    assert rows[-1]["step"] == "7"
    assert float(rows[-1]["train_loss"]) == pytest.approx(metrics["train_loss"])
    assert float(rows[-1]["val_loss"]) == pytest.approx(metrics["val_loss"])
    assert {row["train_accuracy"] for row in rows} == {""}  # a regression has no accuracy
    assert {row["val_accuracy"] for row in rows} == {""}


def test_exports_leave_the_run_as_it_was(ws_connect, live_server):
    client = ws_connect("mlp")
    configured = client.configure(NORMED, lab="mlp")
    step(client, 6, 6)
    for fmt in ("py", "json", "csv", "onnx", "pdf"):
        export(live_server, "mlp", client.session, fmt)
    metrics = step(client, 6, 12)
    untouched = MLPRun(PlaygroundConfig.model_validate(configured["config"]))
    untouched.step(12)
    expected = untouched.metrics()
    assert metrics["train_loss"] == pytest.approx(expected["train_loss"], abs=1e-6)
    assert metrics["val_loss"] == pytest.approx(expected["val_loss"], abs=1e-6)


# ---- perceptron ---------------------------------------------------------------------------------
def test_perceptron_exports_its_script_config_and_curves(ws_connect, live_server):
    client = ws_connect("perceptron")
    client.send({"type": "configure", "lab": "perceptron",
                 "config": {"dataset": {"name": "margin", "seed": 2}, "perceptron": {"order": "shuffle"}}})
    configured = client.wait_for("configured")
    step(client, 7, 7)
    script = export(live_server, "perceptron", client.session, "py")
    assert attachment(script) == "perceptron-margin-seed2.py"
    assert script.text == perceptron_script(PerceptronConfig.model_validate(configured["config"]))
    saved = export(live_server, "perceptron", client.session, "json").json()
    assert saved == {"lab": "perceptron", "config": configured["config"]}
    rows = csv_rows(export(live_server, "perceptron", client.session, "csv"))
    assert list(rows[0]) == ["step", "epoch", "mistakes", "accuracy", "converged"]
    assert rows[-1]["step"] == "7"


def test_perceptron_drawn_points_are_in_the_script(ws_connect, live_server):
    client = ws_connect("perceptron")
    points = [[0.25, 0.5, 1], [-0.3, -0.1, -1], [0.7, -0.9, 1]]
    client.send({"type": "configure", "lab": "perceptron", "config": {}, "points": points})
    client.wait_for("configured")
    script = export(live_server, "perceptron", client.session, "py").text
    assert "(0.25, 0.5, 1)," in script
    assert "(-0.3, -0.1, -1)," in script  # float32 -0.3, written so that it reads back exactly
    saved = export(live_server, "perceptron", client.session, "json").json()
    np.testing.assert_allclose(saved["points"], points, rtol=1e-7)


# ---- CNN ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return load("digits", LoadOptions(samples=200, upscale=2))


def test_cnn_exports_its_script_config_curves_and_onnx(ws_connect, live_server, settings, digits):
    client = ws_connect("cnn")
    configured = client.configure(TINY_CNN)
    step(client, 8, 8)
    config = CNNConfig.model_validate(configured["config"])
    script = export(live_server, "cnn", client.session, "py")
    assert attachment(script) == "cnn-digits-seed0.py"
    assert script.text == cnn_script(
        config, digits.input_shape, digits.classes, [], settings.cnn.max_samples
    )
    saved = export(live_server, "cnn", client.session, "json").json()
    assert saved == {"lab": "cnn", "config": configured["config"], "dropped": []}
    rows = csv_rows(export(live_server, "cnn", client.session, "csv"))
    assert list(rows[0]) == ["step", "epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert rows[-1]["step"] == "8"

    start = time.perf_counter()
    model = export(live_server, "cnn", client.session, "onnx")
    seconds = time.perf_counter() - start
    assert model.status_code == 200, model.text
    assert attachment(model) == "cnn-digits-seed0-step8.onnx"
    assert seconds < settings.max_op_s
    client.close()  # unread frames would hold its closing handshake while the checks below run
    run = CNNRun(config, digits, CPU)
    run.train_steps(8)
    images = run.data.x_val[:20].float() / 255  # (20, 1, 16, 16) in [0, 1]
    (logits,) = onnxruntime.InferenceSession(model.content).run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected = cnn_module(run)(images).numpy()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5)
    probabilities = torch.softmax(torch.from_numpy(logits), 1).numpy()
    np.testing.assert_allclose(probabilities, run.predict(run.data.x_val[:20]).numpy(), atol=1e-5)


def test_a_cnn_without_a_model_has_nothing_to_export(settings):
    lab = CNNLab(settings, CPU)  # never configured
    with pytest.raises(ExportError, match="nothing to export yet") as refused:
        export_cnn(lab, "py")
    assert refused.value.status == 409
    back = pickle.loads(pickle.dumps(refused.value))  # as it crosses from a worker
    assert (back.status, str(back)) == (409, str(refused.value))


# ---- refusals ----------------------------------------------------------------------------------
def _drawn(points):
    return lambda client: client.send(
        {"type": "configure", "lab": client.lab, "config": {"dataset": {"name": "custom"}},
         "points": points}
    )


REFUSALS = [
    ("mlp", "pdf", None, 400, "unknown format 'pdf'; choose one of py, json, csv, onnx"),
    ("perceptron", "onnx", None, 400, "no onnx export (the perceptron is one sign of a dot product"),
    ("mlp", "py", _drawn([]), 409, "no training points"),
    ("perceptron", "csv", _drawn([]), 409, "no points"),
]


@pytest.mark.parametrize(("lab", "fmt", "setup", "status", "says"), REFUSALS,
                         ids=["unknown-format", "perceptron-onnx", "mlp-no-points", "perceptron-no-points"])
def test_refusals_name_the_reason_and_the_session_goes_on(ws_connect, live_server, lab, fmt,
                                                          setup, status, says):
    client = ws_connect(lab)
    client.lab = lab
    if setup is not None:
        setup(client)
        client.wait_for("configured")
    before = client.configure({}, lab=lab) if setup is None else None
    response = export(live_server, lab, client.session, fmt)
    assert response.status_code == status
    assert says in response.json()["detail"]
    if before is not None:  # the session still trains
        step(client, 2, 2)
        assert export(live_server, lab, client.session, "json").json()["config"] == before["config"]


def test_unknown_labs_and_sessions_are_404(ws_connect, live_server):
    client = ws_connect("mlp")
    lab = export(live_server, "descent", client.session, "py")
    assert lab.status_code == 404
    assert "no exports for lab 'descent'" in lab.json()["detail"]
    assert export(live_server, "mlp", "0" * 32, "py").status_code == 404
    assert export(live_server, "cnn", client.session, "py").status_code == 404  # an mlp session


# ---- a CNN on data files: no script ------------------------------------------------------------
def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_a_dataset_from_data_files_has_no_script_and_says_why(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("t10k", 20)):
        (folder / f"{part}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (folder / f"{part}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))
    settings = Settings(device="cpu", workers=0, cnn={"data_dir": str(tmp_path)})
    from tests.wsclient import WSClient

    with serve(create_app(settings)) as base, WSClient(base, "cnn") as client:
        client.configure({**TINY_CNN, "samples": None, "dataset": "mnist"})
        response = export(base, "cnn", client.session, "py")
        assert response.status_code == 422
        assert "mnist dataset is read from the server's data files" in response.json()["detail"]
        assert export(base, "cnn", client.session, "json").json()["config"]["dataset"] == "mnist"
        step(client, 1, 1)  # the session goes on
