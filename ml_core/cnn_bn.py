"""Batch norm, properly: one channel of one batch-norm layer, with the live numbers.

In training mode a batch-norm layer standardises each channel with the statistics of the current
mini-batch and then scales and shifts it with two learnt numbers (the course's four lines)::

    mu_B    = mean of the channel's values over the batch (every image, every position)
    sigma2_B = their variance (divided by m, not m - 1)
    x_hat   = (x - mu_B) / sqrt(sigma2_B + eps)
    y       = gamma * x_hat + beta

and it keeps running averages of mu_B and of the (unbiased) variance, which eval mode uses
instead of the batch's: one image is then normalised the same way whatever batch it is in.

``bn_panel`` recomputes the layer's input over the last training batch with the current weights
(earlier batch-norm layers in training mode, as training sees them, but without touching their
running statistics; dropout off, so the training's random masks are left alone), and puts the
probe image through the layer both ways, so train and eval mode can be compared side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_core.cnn_inspect import feature_maps
from ml_core.cnn_shapes import LayerInfo
from ml_core.mlp import SeededDropout

BINS = 32
NORMALISED_RANGE = (-4.0, 4.0)


class PanelError(ValueError):
    """No such batch-norm layer or channel, or nothing to show yet."""


@dataclass
class Histogram:
    lo: float
    hi: float
    counts: list[int]


def _histogram(values: torch.Tensor, lo: float | None = None, hi: float | None = None
               ) -> Histogram:
    lo = float(values.min()) if lo is None else lo
    hi = float(values.max()) if hi is None else hi
    hi = hi if hi > lo else lo + 1e-6
    counts = torch.histc(values.float().clamp(lo, hi), BINS, lo, hi)
    return Histogram(lo, hi, [int(c) for c in counts])


@dataclass
class BNPanel:
    layer: int
    name: str
    channel: int
    channels: int
    batch: int  # images in the batch
    count: int  # values of this channel in the batch (images x positions): m in the formula
    mean: float  # mu_B
    var: float  # sigma^2_B (biased: divided by m)
    eps: float
    gamma: float
    beta: float
    running_mean: float
    running_var: float
    momentum: float
    inputs: Histogram  # x over the batch
    normalised: Histogram  # x_hat, on fixed bins
    outputs: Histogram  # y
    # the probe image through this layer: its input map and both modes' outputs (H, W)
    probe_input: np.ndarray
    probe_train: np.ndarray  # normalised with the batch's mu_B, sigma^2_B
    probe_eval: np.ndarray  # normalised with the running statistics
    batch_values: np.ndarray | None = None  # (count,) x over the batch (for tests)


@torch.no_grad()
def train_mode_input(model: nn.Sequential, x: torch.Tensor, index: int) -> torch.Tensor:
    """The input of row ``index`` for the batch x, as training computes it: batch norm with the
    batch's statistics (running ones untouched), dropout off."""
    for module in list(model)[:index]:
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            x = F.batch_norm(x, None, None, module.weight, module.bias, True, 0.0, module.eps)
        elif not isinstance(module, SeededDropout | nn.Dropout):
            x = module(x)
    return x


@torch.no_grad()
def bn_panel(model: nn.Sequential, layers: list[LayerInfo], index: int, channel: int,
             batch: torch.Tensor | None, probe: torch.Tensor) -> BNPanel:
    """Channel ``channel`` of the batch-norm row ``index``, over the training batch ``batch``
    (B, C, H, W, standardised) and for the probe image (1, C, H, W)."""
    if not 0 <= index < len(layers) or layers[index].kind != "batchnorm":
        raise PanelError(f"layer {index} is not a batch-norm layer of this model")
    layer, bn = layers[index], model[index]
    channels = layer.shape[0]
    if not 0 <= channel < channels:
        raise PanelError(f"{layer.name} has {channels} channels: no channel {channel}")
    if batch is None:
        raise PanelError("no training batch yet: train a step first")
    values = train_mode_input(model, batch, index)[:, channel].flatten().double()  # (B*H*W,)
    mean, var = values.mean(), values.var(unbiased=False)
    std = torch.sqrt(var + bn.eps)
    gamma, beta = float(bn.weight[channel]), float(bn.bias[channel])
    x_hat = (values - mean) / std
    y = gamma * x_hat + beta
    outputs, _ = feature_maps(model, probe)
    before = (outputs[index - 1] if index > 0 else probe)[0, channel].double()  # (H, W)
    running_mean, running_var = float(bn.running_mean[channel]), float(bn.running_var[channel])
    return BNPanel(
        index, layer.name, channel, channels, batch.shape[0], values.numel(), float(mean),
        float(var), bn.eps, gamma, beta, running_mean, running_var, float(bn.momentum or 0.0),
        _histogram(values), _histogram(x_hat, *NORMALISED_RANGE), _histogram(y),
        before.float().cpu().numpy(),
        (gamma * (before - mean) / std + beta).float().cpu().numpy(),
        (gamma * (before - running_mean) / np.sqrt(running_var + bn.eps) + beta)
        .float().cpu().numpy(),
        values.float().cpu().numpy(),
    )
