"""The one interface an MLP playground run trains and looks through, whatever does the work.

Two engines implement it:

- ``ml_core.fastmlp.FastMLP``: hand-written numpy forward, backward and optimizer steps, many
  times faster than eager PyTorch for these tiny networks (networks without dropout, batch
  norm or RReLU);
- ``ml_core.mlp_torch.TorchEngine``: the reference, an ``nn.Module`` and a torch optimizer on
  the run's device, for everything (it is what the fast one is tested against).

``ml_core.mlp_run.MLPRun`` picks one when it is built and never asks which it has. Values cross
the interface as numpy arrays on the CPU: training features and labels in, logits and hidden
outputs out, parameters both ways.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

Evaluation = tuple[np.ndarray, list[np.ndarray]]  # logits (M, n_out), [hidden outputs (M, h_j)]


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


class Engine(abc.ABC):
    """Trains one network on one training set and evaluates it.

    The training rows live in the engine (``set_data``) in an order set once per epoch
    (``permute``); a step trains on a contiguous slice of that order. Everything is in eval
    mode for ``evaluate`` and in training mode otherwise.
    """

    name: ClassVar[str]  # "fast" or "reference", for the page

    @abc.abstractmethod
    def reset(self, seed: int) -> None:
        """The initial weights drawn from ``seed`` (the same on every engine); fresh optimizer
        state. The training data stays."""

    @abc.abstractmethod
    def set_data(self, features: np.ndarray, labels: np.ndarray) -> None:
        """Training features (N, F) float32 and labels (N,) int64, in this order until
        ``permute``."""

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
    def gradients(self, features: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss of one batch and its gradient, laid out as ``Parameters.vector``; no update,
        the training data and its order are left alone."""

    @abc.abstractmethod
    def count_parameters(self) -> int:
        """Trainable numbers in the network (batch norm's scale and shift included)."""

    @abc.abstractmethod
    def batch_loss(self) -> float:
        """The loss of the last step's mini-batch, before its update (what a training loop
        prints as ``loss.item()``); NaN before the first step."""
