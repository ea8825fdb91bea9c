"""What there is to look at in a CNN run: feature maps, kernels, galleries, augmentation.

Read-only views of a ``CNNRun`` (ml_core/cnn_run.py) for the lab to turn into pictures:
``feature_maps`` (every layer's output, by forward hooks) and ``conv_kernels`` of any net built
by ``ml_core.cnn.build_model``; a ``Probe`` (which image's feature maps are shown: a validation
image or the user's own); the ``mistakes`` gallery (most confident wrong validation answers); the
``hardest`` training images (highest loss, where flipped labels show up); and the
``augment_preview``. None of them trains or changes the run's random streams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ml_core.cnn import LayerInfo
from ml_core.cnn_run import CNNRun
from ml_core.mlp import SeededDropout
from ml_core.pitfalls import augment


@torch.no_grad()
def feature_maps(model: nn.Sequential, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every layer's output for input x (B, C, H, W), caught by forward hooks, and the logits.

    Returns ([output of model[0], output of model[1], ...], logits (B, classes)). Runs in eval mode
    (batch norm on running statistics, dropout off) and restores the previous mode.
    """
    outputs: list[torch.Tensor] = []
    handles = [
        module.register_forward_hook(lambda _m, _i, out: outputs.append(out.detach()))
        for module in model
    ]
    # Only batch norm and dropout behave differently in eval mode: flipping just their flags is
    # much cheaper than model.eval()/model.train(), and this runs at the display rate.
    modal = [m for m in model if isinstance(m, nn.modules.batchnorm._BatchNorm | SeededDropout)]
    was_training = [m.training for m in modal]
    for m in modal:
        m.training = False
    try:
        logits = model(x)
    finally:
        for m, mode in zip(modal, was_training, strict=True):
            m.training = mode
        for handle in handles:
            handle.remove()
    return outputs, logits


def conv_kernels(
    model: nn.Sequential, layers: list[LayerInfo]
) -> list[tuple[LayerInfo, np.ndarray]]:
    """(layer, weights (out, in, k, k) float32) for every conv layer, first to last."""
    return [
        (layer, model[layer.index].weight.detach().float().cpu().numpy())
        for layer in layers
        if layer.kind == "conv"
    ]


@dataclass
class Probe:
    """The image whose feature maps are shown: validation image ``index``, or ``image``, a
    user's picture prepared like the dataset's (H, W, C) uint8 (``index`` is then None)."""

    index: int | None = 0
    image: np.ndarray | None = None

    def select_val(self, run: CNNRun, index: int) -> None:
        n = len(run.data.val_ids)
        if not 0 <= index < n:
            raise ValueError(f"index must be 0..{n - 1}")
        self.index, self.image = index, None

    def set_image(self, run: CNNRun, image: np.ndarray) -> None:
        c, h, w = run.input_shape
        if image.shape != (h, w, c):
            raise ValueError(f"expected a prepared image of shape {(h, w, c)}")
        self.index, self.image = None, np.array(image, dtype=np.uint8)  # own copy

    @property
    def source(self) -> str:
        return "val" if self.index is not None else "upload"

    def label(self, run: CNNRun) -> int | None:
        """The true class of a validation image (None for a user's)."""
        return int(run.data.y_val[self.index]) if self.index is not None else None

    def pixels(self, run: CNNRun) -> torch.Tensor:
        """The image as uint8 (1, C, H, W) on the run's device."""
        if self.image is not None:
            return torch.from_numpy(self.image).permute(2, 0, 1)[None].to(run.device)
        return run.data.x_val[self.index : self.index + 1]

    def look(self, run: CNNRun) -> tuple[np.ndarray, list[torch.Tensor], np.ndarray]:
        """The image (H, W, C) uint8, every layer's output for it, its class probabilities."""
        image = self.pixels(run)
        outputs, logits = feature_maps(run.model, run.data.normalise(image))
        probs = torch.softmax(logits, 1)[0].cpu().numpy()
        return run.data.display(image)[0], [o[0] for o in outputs], probs


@dataclass
class Mistakes:
    """The most confident mistakes of a validation pass, most confident first."""

    indices: np.ndarray  # (n,) validation indices
    true: np.ndarray
    pred: np.ndarray
    confidence: np.ndarray  # (n,) probability of the wrong answer
    total_wrong: int
    images: np.ndarray  # (n, H, W, C) uint8


def mistakes(run: CNNRun, limit: int) -> Mistakes | None:
    """The most confident mistakes of the last validation pass (None before the first)."""
    ev = run.evaluation
    if ev is None:
        return None
    preds = ev.preds
    wrong = np.flatnonzero(preds != ev.labels)
    confidence = ev.probs[wrong, preds[wrong]]
    order = wrong[np.argsort(-confidence, kind="stable")][:limit]
    return Mistakes(
        indices=order,
        true=ev.labels[order],
        pred=preds[order],
        confidence=ev.probs[order, preds[order]],
        total_wrong=len(wrong),
        images=run.data.display(run.data.x_val[torch.from_numpy(order).to(run.device)]),
    )


@dataclass
class Hardest:
    """The training images with the highest loss, highest first."""

    ids: np.ndarray  # (n,) dataset ids: what ``drop`` takes
    labels: np.ndarray  # the labels trained on (after label noise)
    preds: np.ndarray  # the prediction the last time each was trained on
    losses: np.ndarray  # the loss then
    confidence: np.ndarray  # the model's confidence now
    flipped: np.ndarray  # (n,) bool: label noise changed this label
    images: np.ndarray  # (n, H, W, C) uint8


def hardest(run: CNNRun, limit: int) -> Hardest | None:
    """The active training images with the highest loss the last time they were seen."""
    data = run.data
    losses = run.sample_loss.clone()
    losses[torch.from_numpy(data.dropped).to(run.device)] = float("nan")
    seen = torch.nonzero(~torch.isnan(losses)).flatten()
    if len(seen) == 0:
        return None
    top = seen[torch.argsort(losses[seen], descending=True)[:limit]]
    positions = top.cpu().numpy()
    return Hardest(
        ids=data.train_ids[positions],
        labels=data.train_labels[positions],
        preds=run.sample_pred[top].cpu().numpy(),
        losses=losses[top].cpu().numpy(),
        confidence=run.predict(data.x_train[top]).max(1).values.cpu().numpy(),
        flipped=data.flipped[positions],
        images=data.display(data.x_train[top]),
    )


def suspects(run: CNNRun, count: int) -> np.ndarray:
    """Dataset ids of the ``count`` active training images with the highest loss the last time
    they were trained on, ranked over the whole training split (not only the gallery's few): the
    likeliest mislabelled ones. Raises ValueError until every one of them has a loss."""
    active = torch.from_numpy(run.data.active()).to(run.device)
    losses = run.sample_loss[active]
    if torch.isnan(losses).any():
        raise ValueError("train a whole epoch first: every training image needs its loss")
    top = active[torch.argsort(losses, descending=True)[:count]]
    return run.data.train_ids[top.cpu().numpy()]


def augment_preview(
    run: CNNRun, count: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(originals, augmented, labels) for ``count`` random training images still in use, drawn
    and augmented on the CPU with ``generator`` (not the run's: a preview leaves training as is).
    """
    active = run.data.active()
    pick = torch.from_numpy(active)[torch.randperm(len(active), generator=generator)[:count]]
    x = run.data.x_train[pick.to(run.device)].cpu()  # (n, C, H, W) uint8
    out = augment(x.float() / 255, run.config.augment, generator)
    out = (out * 255).round().clamp(0, 255).to(torch.uint8)
    labels = run.data.train_labels[pick.numpy()]
    return run.data.display(x), run.data.display(out), labels
