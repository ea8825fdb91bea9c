"""The MLP playground's network as tensors with named dimensions: what flows through each layer.

The lecture calls tensors "a representation of data AND linear transformations": here both are
listed, layer by layer, in the order the forward pass runs them (Linear, [BatchNorm], activation,
[Dropout], ..., the output Linear and its sigmoid / softmax, or, for a regression, the output
value as it is). Each row names the shapes of what
goes in and out with the batch dimension N first (N is whatever is pushed through at once: a
mini-batch when training, every training point for the metrics, one point in the walk-through),
the shapes of the layer's parameters, and the dtype and device the engine keeps them in.

A dimension is ``{"name": ..., "size": ...}``; the batch dimension is ``{"name": "N", "size":
None}``. Feature dimensions are named after what they count: ``features``, ``h1``, ``h2``...
(the hidden layers' neurons), ``logits`` and ``probabilities`` (a regression: ``value`` out).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from ml_core.mlp_config import PlaygroundConfig
    from ml_core.mlp_engine import Engine


class Dim(TypedDict):
    name: str
    size: int | None  # None: the batch dimension N, whatever is pushed through at once


class TensorRow(TypedDict):
    name: str  # "Linear 1", "tanh", "BatchNorm 2", "Dropout", "sigmoid"...
    kind: str  # linear, batch_norm, activation, dropout, output
    layer: int  # the Linear layer (0-based) the row belongs to
    input: list[Dim]
    output: list[Dim]
    params: dict[str, list[Dim]]  # parameter name -> shape (weight (out, in), bias (out,)...)
    dtype: str
    device: str
    library: str  # numpy (the fast engine) or torch


BATCH: Dim = {"name": "N", "size": None}


def layer_table(config: PlaygroundConfig, classes: int, engine: Engine) -> list[TensorRow]:
    """Every step of the forward pass as a row of tensor shapes (see the module docstring)."""
    model, regression = config.model, config.dataset.task == "regression"
    sizes = model.layer_sizes(classes, config.dataset.task)
    last_name = "value" if regression else "logits"
    names = ["features", *(f"h{j + 1}" for j in range(len(model.hidden))), last_name]
    dims = [{"name": n, "size": s} for n, s in zip(names, sizes, strict=True)]
    where = {"dtype": engine.dtype, "device": engine.device_name, "library": engine.library}
    rows: list[TensorRow] = []

    def row(name: str, kind: str, layer: int, into: Dim, out: Dim, params=None) -> None:
        rows.append(
            TensorRow(
                name=name,
                kind=kind,
                layer=layer,
                input=[BATCH, into],
                output=[BATCH, out],
                params=params or {},
                **where,
            )
        )

    last = len(sizes) - 2
    for j in range(last + 1):
        into, out = dims[j], dims[j + 1]
        weights = {"weight": [out, into], "bias": [out]}
        row(f"Linear {j + 1}", "linear", j, into, out, weights)
        if j == last:
            break
        if model.batch_norm:
            row(f"BatchNorm {j + 1}", "batch_norm", j, out, out, {"weight": [out], "bias": [out]})
        slope = {"weight": [{"name": "slope", "size": 1}]} if model.activation == "prelu" else None
        row(model.activation, "activation", j, out, out, slope)
        if model.dropout > 0:
            row("Dropout", "dropout", j, out, out)
    if regression:  # the output is the prediction: no activation
        row("identity", "output", last, dims[-1], {"name": "prediction", "size": 1})
        return rows
    probabilities: Dim = {"name": "probabilities", "size": sizes[-1]}
    row("sigmoid" if sizes[-1] == 1 else "softmax", "output", last, dims[-1], probabilities)
    return rows
