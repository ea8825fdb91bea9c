"""The one interface an MLP playground run trains and looks through, whatever does the work.

Two engines implement it:

- ``ml_core.fastmlp.FastMLP``: hand-written numpy forward, backward and optimizer steps, many
  times faster than eager PyTorch for these tiny networks (networks without dropout, batch
  norm or RReLU);
- ``ml_core.mlp_torch.TorchEngine``: the reference, an ``nn.Module`` and a torch optimizer on
  the run's device, for everything (it is what the fast one is tested against).

``ml_core.mlp_run.MLPRun`` picks one when it is built and never asks which it has. Values cross
the interface as numpy arrays on the CPU: training features and targets in (int64 class labels,
or float32 values for a regression), logits (a regression's output values) and hidden outputs
out, parameters both ways; gradients (``backward``) and the optimizer's memory
(``optimizer_state``) come out laid out as the parameters, so the backward view and the
step-by-step walk-through (ml_core/backprop.py) work the same on either engine.

Looking never changes the run: ``evaluate`` and ``backward`` run in eval mode (no dropout
masks or RReLU slopes drawn, batch-norm statistics left alone) and leave the weights, the
optimizer state and the training order as they were.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

Evaluation = tuple[np.ndarray, list[np.ndarray]]  # logits (M, n_out), [hidden outputs (M, h_j)]
# One Linear layer in eval mode: W (out, in), b (out,), batch norm folded to (scale, shift) per
# unit or None, and the activation's slope for z <= 0 (None where it has none, and for the output).
EvalLayer = tuple[np.ndarray, np.ndarray, tuple | None, float | None]


@dataclass
class Parameters:
    """A network's parameters as numpy arrays (batch-norm statistics are not among them)."""

    weights: list[np.ndarray]  # per layer (out, in) float32
    biases: list[np.ndarray]  # per layer (out,) float32
    prelu: list[float] | None  # learnt slope per hidden layer (PReLU only)

    def vector(self) -> np.ndarray:
        """Everything in one flat vector, in PyTorch's order: W, b per layer, then the slopes."""
        parts = [p.ravel() for w, b in zip(self.weights, self.biases, strict=True) for p in (w, b)]
        return np.concatenate([*parts, np.asarray(self.prelu or [], np.float32)])


@dataclass
class Backward:
    """The gradient of the mean loss over some examples at the current weights (eval mode).

    ``grads`` is laid out as the parameters: dL/dW (out, in) and dL/db (out,) per layer, dL/da
    per PReLU layer. A neuron's delta dL/dz, summed over the examples, is its bias gradient
    (b enters z with weight 1), so ``deltas`` are ``grads.biases``.
    """

    loss: float  # mean loss over the examples (without the weight-decay term)
    grads: Parameters
    rows: int  # how many examples

    @property
    def deltas(self) -> list[np.ndarray]:
        """Per layer (out,): dL/dz of each neuron, summed over the examples."""
        return self.grads.biases

    def norms(self) -> list[float]:
        """||dL/dW|| (Frobenius) of each layer's weights, first layer first."""
        return [float(np.linalg.norm(g)) for g in self.grads.weights]


@dataclass
class OptimizerState:
    """What the optimizer carries from step to step, laid out as the parameters (copies).

    SGD carries nothing; momentum its velocity v (the momentum buffer); Adam its first and
    second moment estimates m, v and its step count t. Zeros before the first step (that is
    what PyTorch's first step amounts to)."""

    steps: int  # Adam's t: steps taken so far (0 for SGD and momentum, which do not count)
    velocity: Parameters | None  # momentum's buffer or Adam's m; None for SGD
    second: Parameters | None  # Adam's v; None otherwise


class Engine(abc.ABC):
    """Trains one network on one training set and evaluates it.

    The training rows live in the engine (``set_data``) in an order set once per epoch
    (``permute``); a step trains on a contiguous slice of that order. Everything is in eval
    mode for ``evaluate`` and in training mode otherwise.
    """

    name: ClassVar[str]  # "fast" or "reference", for the page
    library: ClassVar[str]  # what holds the tensors: "numpy" or "torch"
    dtype: ClassVar[str] = "float32"  # of every parameter and activation

    @property
    @abc.abstractmethod
    def device_name(self) -> str:
        """Where the tensors live ("cpu", "cuda:0"...)."""

    @abc.abstractmethod
    def reset(self, seed: int) -> None:
        """The initial weights drawn from ``seed`` (the same on every engine); fresh optimizer
        state. The training data stays."""

    @abc.abstractmethod
    def set_data(self, features: np.ndarray, labels: np.ndarray) -> None:
        """Training features (N, F) float32 and labels (N,) int64 (a regression's targets:
        float32 values), in this order until ``permute``."""

    @abc.abstractmethod
    def permute(self, order: np.ndarray) -> None:
        """Put the training rows in ``order`` (N,): one epoch's shuffle."""

    @abc.abstractmethod
    def step(self, start: int, stop: int) -> None:
        """One optimizer step on the rows start:stop of the current order."""

    @abc.abstractmethod
    def finite(self) -> bool:
        """Are all parameters still finite numbers?"""

    @abc.abstractmethod
    def set_hyperparameters(self, learning_rate: float, weight_decay: float) -> None:
        """Change them on the fly; weights and optimizer state are kept."""

    @abc.abstractmethod
    def evaluate(self, features: np.ndarray) -> Evaluation:
        """Eval-mode forward of features (M, F) float32: (logits (M, n_out), [hidden (M, h_j)])."""

    @abc.abstractmethod
    def parameters(self) -> Parameters:
        """A copy of the parameters."""

    @abc.abstractmethod
    def load(self, params: Parameters) -> None:
        """Set the parameters (optimizer state is kept)."""

    @abc.abstractmethod
    def save_state(self) -> object:
        """A copy of everything a step reads and changes (parameters, optimizer memory,
        batch-norm statistics, the random draws to come), for ``load_state``."""

    @abc.abstractmethod
    def load_state(self, state: object) -> None:
        """Put back what ``save_state`` copied; the learning rate and weight decay stay as
        they are now (they may have changed on the fly since)."""

    @abc.abstractmethod
    def eval_layers(self) -> list[EvalLayer]:
        """Each Linear layer as it computes in eval mode (numpy on the CPU; read them, do not
        keep them across a step)."""

    @abc.abstractmethod
    def backward(self, features: np.ndarray, labels: np.ndarray) -> Backward:
        """The mean loss of features (M, F) float32 with labels (M,) (as ``set_data``) and its gradient at
        the current weights, in eval mode; no update, nothing about the run changes."""

    @abc.abstractmethod
    def optimizer_state(self) -> OptimizerState:
        """A copy of the optimizer's memory (velocity, moments, step count)."""

    def gradients(self, features: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss of one batch and its gradient laid out as ``Parameters.vector`` (``backward``)."""
        result = self.backward(features, labels)
        return result.loss, result.grads.vector()

    @abc.abstractmethod
    def count_parameters(self) -> int:
        """Trainable numbers in the network (batch norm's scale and shift included)."""

    @abc.abstractmethod
    def batch_loss(self) -> float:
        """The loss of the last step's mini-batch, before its update (what a training loop
        prints as ``loss.item()``); NaN before the first step."""
