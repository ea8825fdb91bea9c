"""Where the net looks: saliency and Grad-CAM heat maps over an image, computed with Captum.

- Saliency (Simonyan et al. 2013): |d score / d pixel|, the largest over the colour channels. It
  says which pixels, changed a little, would change the class score most: sharp but noisy.
- Grad-CAM (Selvaraju et al. 2017): weigh each channel of the last conv block's output by the
  mean gradient of the class score over that channel's map, sum, keep the positive part, and
  scale the coarse map up to the image. It says which *regions* speak for the class.

Both run in eval mode for the chosen class (the predicted one, or any other), so the page can
ask "why 7?" and "why not 1?". Tests check both against a case small enough to do by hand.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam, Saliency
from torch import nn

from ml_core.cnn_channels import blocks
from ml_core.cnn_shapes import LayerInfo
from ml_core.mlp import SeededDropout

METHODS = ("gradcam", "saliency")


@contextmanager
def eval_mode(model: nn.Module):
    """Batch norm on running statistics and dropout off, restored afterwards (only their flags
    are flipped: the rest of the model keeps its mode)."""
    modal = [m for m in model.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm | SeededDropout | nn.Dropout)]
    saved = [m.training for m in modal]
    for m in modal:
        m.training = False
    try:
        yield
    finally:
        for m, mode in zip(modal, saved, strict=True):
            m.training = mode


def saliency(model: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """|d logit[target] / d x|, the largest over the input channels: (H, W) float32."""
    with eval_mode(model):
        grads = Saliency(model).attribute(x.clone().requires_grad_(True), target=target, abs=True)
    return grads[0].amax(0).detach().cpu().numpy().astype(np.float32)


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: int) -> np.ndarray:
    """Grad-CAM of ``target`` at ``layer``'s output, scaled up to the input's size (bilinear):
    (H, W) float32, >= 0."""
    with eval_mode(model):
        cam = LayerGradCam(model, layer).attribute(
            x.clone().requires_grad_(True), target=target, relu_attributions=True
        )
    up = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), interpolate_mode="bilinear")
    return up[0, 0].detach().cpu().numpy().astype(np.float32)


def explain(model: nn.Sequential, layers: list[LayerInfo], x: torch.Tensor, target: int,
            method: str) -> tuple[np.ndarray, str]:
    """(heat map (H, W) >= 0, the layer it was taken at) for class ``target`` and image x
    (1, C, H, W), standardised. Grad-CAM uses the last conv block's output before pooling."""
    if method == "saliency":
        return saliency(model, x, target), "input"
    if method != "gradcam":
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    last = blocks(layers)[-1].response
    return grad_cam(model, model[last.index], x, target), last.name
