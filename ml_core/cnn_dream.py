"""Activation maximisation: the input a channel likes best, found by gradient ascent from noise.

Start from faint noise and repeatedly nudge the *input* (the weights stay as they are) in the
direction that raises the channel's mean pre-activation (the conv's or the batch norm's output,
before the activation: a ReLU would stop the gradient wherever it is zero). Left alone, gradient
ascent produces high-frequency noise the net happens to respond to; the usual regularisers keep
the picture image-like:

- jitter: the image is shifted by a random pixel or two at every step, so the pattern must work
  wherever it sits (as a conv's feature does);
- an L2 penalty keeps the values small, a total-variation penalty keeps neighbours alike;
- every few steps a slight blur removes what is left of the pixel-level noise;
- values stay within what real pixels can be (0..1 before the dataset's standardisation).

Each step moves the input by LEARNING_RATE along the gradient divided by its mean size (plain
normalised gradient ascent: steady steps whatever the layer's scale).

``Dream`` is a resumable job: ``advance(budget_s)`` runs steps for about that long and returns,
so the lab can run it in slices between other sessions' turns (and the page can show the picture
as it forms); every step calls ``ml_core.training.checkpoint()``. It ends after ``steps`` steps or
MAX_SECONDS of work, whichever comes first. It runs in eval mode (batch
norm on its running statistics, which it never updates) and draws its noise and jitter from its
own generator: the training's random streams are left alone.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_core.cnn_channels import block_of
from ml_core.cnn_shapes import LayerInfo
from ml_core.mlp import SeededDropout
from ml_core.training import checkpoint

STEPS = 200
MAX_SECONDS = 2.0  # the whole job, however slow the machine: then it stops where it got
LEARNING_RATE = 0.05  # standardised units per step, along the normalised gradient
JITTER = 2  # pixels
L2 = 1e-3
TV = 5e-2
BLUR_EVERY = 8
NOISE = 0.1  # initial noise, in standardised units


class DreamError(ValueError):
    """A layer or channel this model does not have (or a model with no conv layer)."""


def _blur(x: torch.Tensor) -> torch.Tensor:
    """A slight 3x3 blur, per channel (weights 1-2-1 in each direction)."""
    c = x.shape[1]
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device)
    kernel = (k[:, None] * k[None, :] / 16).expand(c, 1, 3, 3)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean()


class Dream:
    """Gradient ascent on the input for channel ``channel`` of the conv block holding row
    ``index``; ``mean`` and ``std`` (C,) are the dataset's standardisation."""

    def __init__(self, model: nn.Sequential, layers: list[LayerInfo], index: int, channel: int,
                 input_shape: tuple[int, int, int], mean: torch.Tensor, std: torch.Tensor,
                 seed: int = 0, steps: int = STEPS) -> None:
        if not any(layer.kind == "conv" for layer in layers):
            raise DreamError("this model has no conv layer: there is no channel to visualise")
        block = block_of(layers, index) if 0 <= index < len(layers) else None
        if block is None:
            raise DreamError(f"layer {index} is not part of a conv block of this model")
        self.target = block.pre_activation
        channels = self.target.shape[0]
        if not 0 <= channel < channels:
            raise DreamError(f"{block.conv.name} has {channels} channels: no channel {channel}")
        self.model, self.layer, self.channel, self.steps = model, block.conv, channel, steps
        self.head = model[: self.target.index + 1]  # the modules up to the target
        device = next(model.parameters()).device
        self.mean = mean.reshape(1, -1, 1, 1).to(device)
        self.std = std.reshape(1, -1, 1, 1).to(device)
        self.low, self.high = (0 - self.mean) / self.std, (1 - self.mean) / self.std
        self.rng = torch.Generator().manual_seed(seed)
        noise = torch.randn((1, *input_shape), generator=self.rng) * NOISE
        self.x = noise.to(device).requires_grad_(True)
        self.done_steps = 0
        self.activation: float | None = None  # the channel's mean pre-activation, last step
        self.seconds = 0.0

    @property
    def done(self) -> bool:
        return self.done_steps >= self.steps or self.seconds >= MAX_SECONDS

    def _eval_mode(self) -> list[tuple[nn.Module, bool]]:
        modal = [m for m in self.head
                 if isinstance(m, nn.modules.batchnorm._BatchNorm | SeededDropout | nn.Dropout)]
        saved = [(m, m.training) for m in modal]
        for m in modal:
            m.training = False
        return saved

    def advance(self, budget_s: float) -> bool:
        """Steps for about ``budget_s`` seconds (at least one); True once all are done."""
        start = time.perf_counter()
        saved = self._eval_mode()
        try:
            while not self.done:
                checkpoint()
                self._step()
                elapsed = time.perf_counter() - start
                if elapsed >= budget_s or self.seconds + elapsed >= MAX_SECONDS:
                    break
        finally:
            for module, mode in saved:
                module.training = mode
            self.seconds += time.perf_counter() - start
        return self.done

    def _step(self) -> None:
        dy, dx = torch.randint(-JITTER, JITTER + 1, (2,), generator=self.rng).tolist()
        shifted = torch.roll(self.x, shifts=(dy, dx), dims=(2, 3))
        out = self.head(shifted)[0, self.channel]  # (h, w)
        activation = out.mean()
        loss = -activation + L2 * (self.x ** 2).mean() + TV * _total_variation(self.x)
        (grad,) = torch.autograd.grad(loss, self.x)  # the weights get no gradient
        with torch.no_grad():
            self.x -= LEARNING_RATE * grad / (grad.abs().mean() + 1e-12)
            self.done_steps += 1
            if self.done_steps % BLUR_EVERY == 0:
                self.x.copy_(_blur(self.x))
            self.x.copy_(torch.maximum(torch.minimum(self.x, self.high), self.low))
        self.activation = float(activation.detach())

    @torch.no_grad()
    def image(self) -> np.ndarray:
        """The picture so far, as pixels: (H, W, C) float in 0..1."""
        pixels = (self.x * self.std + self.mean).clamp(0, 1)[0]
        return pixels.permute(1, 2, 0).cpu().numpy()
