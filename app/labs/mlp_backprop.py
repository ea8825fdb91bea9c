"""The MLP playground's backpropagation messages: the backward view in frames, and ``explain``.

Both only look: they read the run (``MLPRun.gradients``, ``MLPRun.explain``) and never change
its weights, optimizer state or data. The numbers come from ml_core (the engine's gradients, and
ml_core/backprop.py for the walk-through); here they become wire messages (docs/protocol-mlp.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from app.labs.base import LabError
from app.schemas.mlp import ExplainMessage, Explanation
from ml_core.mlp_run import MLPRun
from ml_core.training import finite

POINT_TOLERANCE = 6e-5  # points travel rounded to 4 decimals (half a unit of that, and some)


def gradient_part(run: MLPRun, over: str) -> tuple[dict | None, dict[str, np.ndarray]]:
    """The backward view for an ``mlp`` frame: (meta["gradients"], arrays), or (None, {}) when
    there is nothing to differentiate (no training points)."""
    view = run.gradients(over)
    if view is None:
        return None, {}
    result = view.result
    prelu = result.grads.prelu
    meta = {
        "over": view.over,  # what they were taken over: "batch" only once a step was taken
        "rows": result.rows,
        "step": view.step,
        "loss": finite(result.loss),
        "norms": [finite(n) for n in result.norms()],  # ||dL/dW|| per layer
        "prelu": None if prelu is None else [finite(g) for g in prelu],
    }
    arrays = {
        "grad_weights": np.concatenate([g.ravel() for g in result.grads.weights]).astype(np.float32),
        "deltas": np.concatenate(result.deltas).astype(np.float32),
    }
    return meta, arrays


def _plain(value):
    """Dataclasses, numpy arrays and tuples as JSON-ready dicts, lists and numbers."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def explanation(run: MLPRun | None, request: ExplainMessage) -> Explanation:
    """The walk-through of the training point the request names; LabError (nothing changes)
    for a point that does not exist or is not the one the client saw."""
    if run is None or run.n_train == 0:
        raise LabError("explain: there are no training points yet: draw some or pick a dataset")
    index = request.index
    try:
        walk = run.explain(index)
    except (IndexError, ValueError) as exc:
        raise LabError(f"explain: {exc}") from None
    (x, y), label = run.train_xy[index].tolist(), run.train_y[index].item()
    sent_x, sent_y, sent_label = request.point
    moved = abs(x - sent_x) > POINT_TOLERANCE or abs(y - sent_y) > POINT_TOLERANCE
    if run.task == "regression":
        label = round(label, 4)
        changed, what = abs(label - sent_label) > POINT_TOLERANCE, f"of value {label:g}"
    else:
        changed, what = label != sent_label, f"of class {label + 1}"
    if moved or changed:
        raise LabError(
            f"explain: the data changed since that point was picked (training point {index} "
            f"is now ({x:.4f}, {y:.4f}) {what}): pick it again"
        )
    body = _plain(walk)
    for layer, data in zip(walk.layers, body["layers"], strict=True):
        data["activation_input"] = layer.activation_input.tolist()
    return Explanation(
        index=index,
        point=(round(x, 4), round(y, 4), label),
        step=run.steps,
        features=list(run.config.model.features),
        classes=run.classes,
        **body,
    )
