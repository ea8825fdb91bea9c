"""Tensors with named dimensions: a layer's weights and its activation for one image, in numbers.

Every tensor of the CNN has dimensions with meanings: images are N x C x H x W (batch, channels,
rows, columns), a conv's weight is out x in x kH x kW (one in x kH x kW kernel per output
channel), a dense layer's weight is out x in, and after flatten an activation is N x features.
``weight_view`` and ``activation_view`` show one of them as a page can: its shape with those
names, dtype, device, summary statistics, and one 2-D slice (at most ``GRID`` x ``GRID``) as a
grid of numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ml_core.cnn_shapes import LayerInfo

GRID = 12  # most rows and columns of a slice sent as numbers


class TensorError(ValueError):
    """No such layer or slice."""


@dataclass
class TensorView:
    name: str  # e.g. "conv2.weight"
    dims: list[str]  # one name per dimension
    shape: list[int]
    dtype: str
    device: str
    min: float
    max: float
    mean: float
    std: float
    slice: str  # e.g. "[3, 0, :, :]"
    rows: int  # the slice's full size (the grid may show fewer)
    cols: int
    grid: list[list[float]]


def _view(name: str, dims: list[str], t: torch.Tensor, index: tuple[int, ...],
          label: str) -> TensorView:
    data = t.detach()
    part = data[index] if index else data
    if part.dim() == 1:
        part = part[None]
    rows, cols = part.shape
    flat = data.float()
    return TensorView(
        name, dims, list(data.shape), str(data.dtype).removeprefix("torch."), str(data.device),
        float(flat.min()), float(flat.max()), float(flat.mean()),
        float(flat.std()) if flat.numel() > 1 else 0.0, label, rows, cols,
        [[float(v) for v in row[:GRID]] for row in part[:GRID]],
    )


def _check(value: int, size: int, what: str) -> int:
    if not 0 <= value < size:
        raise TensorError(f"{what} must be 0..{size - 1}")
    return value


def weight_view(model: nn.Sequential, layer: LayerInfo, out: int = 0, in_: int = 0
                ) -> TensorView | None:
    """The weight of a conv, dense or batch-norm row (None for rows without parameters)."""
    module = model[layer.index]
    if isinstance(module, nn.Conv2d):
        w = module.weight
        o, i = _check(out, w.shape[0], "out"), _check(in_, w.shape[1], "in")
        return _view(f"{layer.name}.weight", ["out", "in", "kH", "kW"], w, (o, i),
                     f"[{o}, {i}, :, :]")
    if isinstance(module, nn.Linear):
        w = module.weight
        o = _check(out, w.shape[0], "out")
        rows = slice(o, o + GRID)
        view = _view(f"{layer.name}.weight", ["out", "in"], w, (rows,),
                     f"[{o}:{min(o + GRID, w.shape[0])}, :]")
        return view
    if isinstance(module, nn.BatchNorm2d):
        w = torch.stack([module.weight, module.bias, module.running_mean, module.running_var])
        return _view(f"{layer.name} γ, β, running mean, running var", ["row", "C"], w, (),
                     "[γ; β; μ; σ²]")
    return None


def activation_view(output: torch.Tensor, layer: LayerInfo, channel: int = 0) -> TensorView:
    """Row ``layer``'s output for one image, ``output`` (1, C, H, W) or (1, N)."""
    if output.dim() == 4:
        c = _check(channel, output.shape[1], "channel")
        return _view(f"{layer.name} output", ["N", "C", "H", "W"], output, (0, c),
                     f"[0, {c}, :, :]")
    features = output.shape[1]
    width = min(GRID, features)
    rows = -(-features // width)
    padded = torch.full((rows * width,), float("nan"), device=output.device)
    padded[:features] = output[0]
    view = _view(f"{layer.name} output", ["N", "features"], output, (), f"[0, :] in rows of {width}")
    view.rows, view.cols = rows, width
    view.grid = [[float(v) for v in row] for row in padded.reshape(rows, width)[:GRID]]
    return view
