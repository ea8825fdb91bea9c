"""The MLP playground's hints: plain-language notes about a setup, shown beside the controls.

Each note names something the learner will see happen (or not happen) with this setup, and why.
"""

from __future__ import annotations

import numpy as np

from ml_core.features import LABELS
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun

RELU_LIKE = ("relu", "leaky_relu", "prelu", "rrelu")
HIGH_LEARNING_RATE = 0.3  # from here ReLU-like units die often enough to see


def notes(config: PlaygroundConfig, run: MLPRun) -> list[str]:
    """Plain-language hints about this setup, in the order the page lists them."""
    model, training, out = config.model, config.training, []
    nonlinear = [LABELS[f] for f in model.features if f not in ("x1", "x2")]
    linear_net = not model.hidden or model.activation == "linear"
    if run.n_train == 0 or len(np.unique(run.train_y)) < 2:
        out.append("Draw points of at least two classes (click on the plot) to train.")
    if linear_net:
        why = (
            "No hidden layer: the network can only draw a straight line"
            if not model.hidden
            else "Linear activation: stacked linear layers are still one linear map, so the "
            "network can only draw a straight line however deep it is"
        )
        if nonlinear:
            out.append(
                f"{why} in its inputs — but {', '.join(nonlinear)} are curved over the plane, "
                "so the boundary can still bend (x₁·x₂ alone separates XOR)."
            )
        else:
            out.append(f"{why}, so XOR, the circle or the spiral cannot be separated.")
    if model.activation == "sigmoid" and model.hidden:
        out.append(
            "Sigmoid units saturate and their slope is at most 0.25, so the signal fades "
            "layer by layer: deep sigmoid stacks learn slowly. Prefer ReLU or tanh."
        )
    if model.activation in RELU_LIKE and training.learning_rate >= HIGH_LEARNING_RATE:
        out.append(
            "ReLU-like units with a high learning rate can die: a neuron whose map is flat "
            "everywhere outputs 0 and stops learning. Lower the rate if you see several."
        )
    if training.loss in ("mse", "l1"):
        out.append(
            f"{'L2' if training.loss == 'mse' else 'L1'} loss on probabilities: its gradient fades "
            "when the output saturates, even on wrong answers. Cross-entropy is the usual choice."
        )
    if training.loss == "hinge":
        out.append(
            "Hinge loss: only points inside the margin or on the wrong side push the boundary."
        )
    if training.batch_size == 1:
        out.append("Batch size 1 is pure stochastic gradient descent: cheap, noisy steps.")
    elif run.n_train and training.batch_size >= run.n_train:
        out.append(
            "The batch holds every training point: this is plain (full-batch) gradient descent."
        )
    if run.n_val == 0 and run.n_train:
        out.append("No validation set: you cannot see overfitting. Hold some points out.")
    if run.engine.name == "reference":
        out.append(
            f"Trained on the plain PyTorch path ({run.fast_reason}); the fast path "
            "covers networks without dropout, batch norm or RReLU."
        )
    return out
