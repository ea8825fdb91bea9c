"""What the MLP, perceptron and CNN labs export: the script, the config, the curves, the model.

Each ``export_<lab>(lab, fmt)`` runs on the session's worker (``session.call`` from
app/labs/export_rest.py) and only reads the lab: an export never changes the run.

- ``py``: a runnable PyTorch script of the run (ml_core/codegen.py, ml_core/codegen_cnn.py);
- ``json``: the config (with the drawn points, or the images left out), the one a ``configure``
  takes;
- ``csv``: the metrics history, one row per metrics report (bounded: ml_core/history.py);
- ``onnx``: the trained network (ml_core/onnx_export.py; MLP and CNN).

A request that cannot be answered raises ``ExportError`` with an HTTP status and the reason: a
format the lab does not export (400), a session with no model or data yet (409), a setup a
script cannot express (422).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

from app.labs.base import LabError
from ml_core.cnn_run import HistoryPoint
from ml_core.codegen import ScriptError, mlp_script, perceptron_script
from ml_core.codegen_cnn import cnn_script
from ml_core.history import to_csv
from ml_core.onnx_export import cnn_onnx, mlp_onnx

MEDIA_TYPES = {
    "py": "text/x-python; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "onnx": "application/octet-stream",
}
FORMATS = tuple(MEDIA_TYPES)


class ExportError(LabError):
    """An export that cannot be made; ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self):  # it crosses from the worker process with its status
        return ExportError, (str(self), self.status)


@dataclass
class Export:
    data: bytes
    filename: str
    media_type: str


def _text(text: str, filename: str, fmt: str) -> Export:
    return Export(text.encode(), filename, MEDIA_TYPES[fmt])


def _json(payload: dict, filename: str) -> Export:
    return _text(json.dumps(payload, indent=2) + "\n", filename, "json")


def _script(make: Callable[[], str], filename: str) -> Export:
    try:
        return _text(make(), filename, "py")
    except ScriptError as exc:
        raise ExportError(f"no script for this setup: {exc}", 422) from None


# Why a lab does not make a format, where there is more to say than that it does not.
WHY_NOT = {
    ("perceptron", "onnx"): "the perceptron is one sign of a dot product, not a network: "
    "its script is the whole model",
}


def check_format(lab: str, fmt: str) -> None:
    """ExportError (400) unless the lab ``lab`` exports ``fmt``."""
    formats = EXPORTERS[lab][1]
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(formats)}", 400)
    if fmt not in formats:
        why = WHY_NOT.get((lab, fmt))
        raise ExportError(
            f"the {lab} lab has no {fmt} export{f' ({why})' if why else ''}; "
            f"it exports {', '.join(formats)}",
            400,
        )


# ---- MLP ----------------------------------------------------------------------------------------
MLP_FORMATS = ("py", "json", "csv", "onnx")
MLP_COLUMNS = ("step", "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


def export_mlp(lab, fmt: str) -> Export:
    check_format("mlp", fmt)
    run = lab.run
    if run is None or run.n_train == 0:
        raise ExportError(
            "nothing to export yet: no training points (draw some or pick a dataset)", 409
        )
    config = run.config
    custom = config.dataset.name == "custom"
    name = f"mlp-{config.dataset.name}-seed{config.dataset.seed}"
    if fmt == "py":
        points = lab.points if custom else None
        return _script(lambda: mlp_script(config, points, run.epochs), f"{name}.py")
    if fmt == "json":
        payload = {"lab": "mlp", "config": config.model_dump(mode="json")}
        if custom:
            payload["points"] = lab.points
        return _json(payload, f"{name}.json")
    if fmt == "csv":
        return _text(to_csv(run.history.rows(), MLP_COLUMNS), f"{name}-metrics.csv", "csv")
    return Export(mlp_onnx(run), f"{name}-step{run.steps}.onnx", MEDIA_TYPES["onnx"])


# ---- perceptron ---------------------------------------------------------------------------------
PERCEPTRON_FORMATS = ("py", "json", "csv")
PERCEPTRON_COLUMNS = ("step", "epoch", "mistakes", "accuracy", "converged")


def export_perceptron(lab, fmt: str) -> Export:
    check_format("perceptron", fmt)
    model = lab.model
    if model is None:
        raise ExportError(
            "nothing to export yet: no points (pick a preset or click to add some)", 409
        )
    config = lab.config
    custom = config.dataset.name == "custom"
    name = f"perceptron-{config.dataset.name}-seed{config.dataset.seed}"
    if fmt == "py":
        return _script(
            lambda: perceptron_script(config, lab.points.numpy(), lab.labels.numpy()),
            f"{name}.py",
        )
    if fmt == "json":
        payload = {"lab": "perceptron", "config": config.model_dump(mode="json")}
        if custom:
            rows = zip(lab.points.tolist(), lab.labels.tolist(), strict=True)
            payload["points"] = [[x, y, c] for (x, y), c in rows]
        return _json(payload, f"{name}.json")
    return _text(to_csv(model.history.rows(), PERCEPTRON_COLUMNS), f"{name}-metrics.csv", "csv")


# ---- CNN ----------------------------------------------------------------------------------------
CNN_FORMATS = ("py", "json", "csv", "onnx")
CNN_COLUMNS = tuple(f.name for f in dataclasses.fields(HistoryPoint))


def export_cnn(lab, fmt: str) -> Export:
    check_format("cnn", fmt)
    run = lab.run
    if run is None:
        raise ExportError("nothing to export yet: the lab has no model (configure it first)", 409)
    config = run.config
    name = f"cnn-{config.dataset}-seed{config.seed}"
    dropped = [int(i) for i in run.data.train_ids[run.data.dropped]]
    if fmt == "py":
        return _script(
            lambda: cnn_script(
                config, run.input_shape, run.classes, dropped, lab.limits.max_samples
            ),
            f"{name}.py",
        )
    if fmt == "json":
        payload = {"lab": "cnn", "config": config.model_dump(mode="json"), "dropped": dropped}
        return _json(payload, f"{name}.json")
    if fmt == "csv":
        rows = [dataclasses.asdict(point) for point in run.history]
        return _text(to_csv(rows, CNN_COLUMNS), f"{name}-metrics.csv", "csv")
    return Export(cnn_onnx(run), f"{name}-step{run.steps}.onnx", MEDIA_TYPES["onnx"])


# lab name -> (its exporter, the formats it makes)
EXPORTERS: dict[str, tuple[Callable[..., Export], tuple[str, ...]]] = {
    "mlp": (export_mlp, MLP_FORMATS),
    "perceptron": (export_perceptron, PERCEPTRON_FORMATS),
    "cnn": (export_cnn, CNN_FORMATS),
}
