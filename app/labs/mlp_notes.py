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
    regression = config.task == "regression"
    if regression and run.n_train == 0:
        out.append("Draw points (click on the plot; the value slider sets their value) to train.")
    elif not regression and (run.n_train == 0 or len(np.unique(run.train_y)) < 2):
        out.append("Draw points of at least two classes (click on the plot) to train.")
    if regression:
        out.extend(_regression_notes(config, linear_net, nonlinear))
    elif linear_net:
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
    if training.loss in ("mse", "l1") and not regression:
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
    if run.n_test == 0 and run.n_train:
        out.append("No test set: the final exam has nothing to mark. Hold some points out.")
    if run.engine.name == "reference":
        out.append(
            f"Trained on the plain PyTorch path ({run.fast_reason}); the fast path "
            "covers networks without dropout, batch norm or RReLU."
        )
    return out


def _regression_notes(config: PlaygroundConfig, linear_net: bool, nonlinear: list[str]) -> list[str]:
    """What a regression setup will show: the output is a number, and how each loss treats a
    point far from the rest."""
    out = []
    if linear_net:
        bent = f", or {', '.join(nonlinear)} among the inputs" if nonlinear else ""
        out.append(
            "No hidden layer or a linear activation: the output is a flat plane over the inputs "
            f"(a linear function). The plane dataset fits; the Gaussian bumps need a hidden "
            f"layer{bent}."
        )
    loss = config.training.loss
    if loss == "mse":
        out.append(
            "L2 (squared error): a point twice as far off pulls twice as hard, so one point "
            "dragged far off bends the whole fit towards it. Try it, then switch to L1."
        )
    elif loss == "l1":
        out.append(
            "L1 (absolute error): every point pulls with the same strength however far off it "
            "is, so one outlier barely moves the fit."
        )
    else:
        out.append(
            "Huber: squared error for errors under 1, absolute error beyond: it fits like L2 "
            "near the data and shrugs off outliers like L1."
        )
    return out
