"""The MLP playground's network, losses and optimizers: the plain PyTorch reference path.

The network maps features (B, F) to outputs (B, n_out). Classification: one logit (sigmoid
output) for two classes, k logits (softmax output) for k classes. Regression: one real value,
the output itself (no activation), compared with the target by L2, L1 or Huber. Each hidden layer is
``Linear -> [BatchNorm1d] -> activation -> [Dropout]``. Its shape is a ``ModelConfig``
(ml_core/mlp_config.py) plus the number of classes, which comes from the data.

Randomness (initial weights, dropout masks, RReLU slopes) comes from explicit
``torch.Generator``s, never the global RNG, so sessions on different threads stay
deterministic under their own seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml_core.mlp_engine import Parameters
from ml_core.training import OPTIMIZERS as ALL_OPTIMIZERS

if TYPE_CHECKING:
    from ml_core.mlp_config import ModelConfig

TASKS = ("classification", "regression")
LOSSES = ("cross_entropy", "mse", "l1", "hinge")  # classification: on the probabilities / logits
REGRESSION_LOSSES = ("mse", "l1", "huber")  # regression: on the output value itself
TASK_LOSSES = {"classification": LOSSES, "regression": REGRESSION_LOSSES}
ALL_LOSSES = tuple(dict.fromkeys(LOSSES + REGRESSION_LOSSES))  # every name a config may hold
HUBER_DELTA = 1.0  # Huber: squared error inside |error| < delta, absolute error beyond (torch's)
OPTIMIZERS = ("sgd", "momentum", "adam")  # of ALL_OPTIMIZERS: those the fast path implements
assert set(OPTIMIZERS) <= set(ALL_OPTIMIZERS)

RELU_FAMILY = ("relu", "leaky_relu", "prelu", "rrelu")  # start from He initialisation (below)
LEAKY_SLOPE = 0.01  # leaky ReLU's slope for x < 0 (PyTorch's default)
PRELU_INIT = 0.25  # PReLU's learnt slope starts here (PyTorch's default), one per layer
RRELU_LOWER, RRELU_UPPER = 1 / 8, 1 / 3  # RReLU draws its slope in [l, u]; eval uses the mean


def n_outputs(classes: int, task: str = "classification") -> int:
    """Output units: one sigmoid logit for 2 classes, k softmax logits for k, one value for a
    regression (whatever ``classes`` says)."""
    return 1 if classes == 2 or task == "regression" else classes


class SeededDropout(nn.Module):
    """Inverted dropout whose masks come from ``generator`` (F.dropout takes no generator)."""

    def __init__(self, p: float, generator: torch.Generator | None) -> None:
        super().__init__()
        self.p, self.generator = p, generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)


class SeededRReLU(nn.Module):
    """Randomized leaky ReLU: slope ~ U(l, u) per element in training, (l + u) / 2 in eval."""

    def __init__(self, generator: torch.Generator | None) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            slope = torch.empty_like(x).uniform_(RRELU_LOWER, RRELU_UPPER, generator=self.generator)
        else:
            slope = torch.full_like(x, (RRELU_LOWER + RRELU_UPPER) / 2)
        return torch.where(x >= 0, x, x * slope)


# name -> module factory (given the run's noise generator): the activations the playground offers.
ACTIVATIONS: dict[str, Callable[[torch.Generator | None], nn.Module]] = {
    "linear": lambda g: nn.Identity(),
    "sigmoid": lambda g: nn.Sigmoid(),
    "tanh": lambda g: nn.Tanh(),
    "relu": lambda g: nn.ReLU(),
    "leaky_relu": lambda g: nn.LeakyReLU(LEAKY_SLOPE),
    "prelu": lambda g: nn.PReLU(1, init=PRELU_INIT),
    "rrelu": SeededRReLU,
}


def make_activation(name: str, generator: torch.Generator | None = None) -> nn.Module:
    factory = ACTIVATIONS.get(name)
    if factory is None:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return factory(generator)


class MLP(nn.Module):
    """features (B, F) -> logits (B, n_out); ``forward_hidden`` also returns each hidden layer."""

    def __init__(
        self,
        config: ModelConfig,
        classes: int,
        generator: torch.Generator | None = None,
        task: str = "classification",
    ) -> None:
        super().__init__()
        self.config, self.classes, self.task = config, classes, task
        sizes = config.layer_sizes(classes, task)
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(sizes))
        hidden = config.hidden
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(h) if config.batch_norm else nn.Identity() for h in hidden
        )
        self.acts = nn.ModuleList(make_activation(config.activation, generator) for _ in hidden)
        self.drops = nn.ModuleList(SeededDropout(config.dropout, generator) for _ in hidden)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default Linear init, U(-1/sqrt(fan_in), +), drawn from ``generator``; the
        weights of layers that feed a ReLU-like unit get He's U(-sqrt(6/fan_in), +) instead.

        Why: a ReLU passes the backward signal only where it is active (about half the time),
        and PyTorch's default keeps just 1/3 of the variance per layer, so each layer of a ReLU
        stack shrinks it ~0.4x: six layers starve the first one of gradient ~200x and the net
        barely learns (measured on the circle). He's bound (variance 2 / fan_in) keeps it about
        constant, which is what lets the playground show that ReLU, unlike the sigmoid, does not
        make gradients vanish (tests/ml_core/test_backprop.py)."""
        he = self.config.activation in RELU_FAMILY
        with torch.no_grad():
            for j, linear in enumerate(self.linears):
                bound = 1.0 / math.sqrt(linear.in_features)
                gain = math.sqrt(6.0) if he and j < len(self.config.hidden) else 1.0
                linear.weight.uniform_(-gain * bound, gain * bound, generator=generator)
                linear.bias.uniform_(-bound, bound, generator=generator)
            for module in self.modules():
                if isinstance(module, nn.PReLU):
                    module.weight.fill_(PRELU_INIT)
                elif isinstance(module, nn.BatchNorm1d):
                    module.reset_parameters()

    def forward_hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, F) -> (logits (B, n_out), [hidden activations (B, h_l) per hidden layer])."""
        hiddens = []
        for linear, norm, act, drop in zip(
            self.linears, self.norms, self.acts, self.drops, strict=False
        ):
            x = act(norm(linear(x)))
            hiddens.append(x)  # what the neuron outputs, before dropout (eval: no dropout anyway)
            x = drop(x)
        return self.linears[-1](x), hiddens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_hidden(x)[0]

    def prelu_slopes(self) -> list[float] | None:
        if self.config.activation != "prelu":
            return None
        return [float(act.weight.item()) for act in self.acts]


def build_mlp(
    config: ModelConfig,
    classes: int,
    seed: int,
    device: torch.device | str = "cpu",
    task: str = "classification",
) -> MLP:
    """The network with weights drawn on the CPU from ``seed`` (same weights on every device)."""
    model = MLP(config, classes, generator=None, task=task)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    model = model.to(device)
    noise = torch.Generator(device=device).manual_seed(seed + 1)  # dropout / RReLU draws
    for module in model.modules():
        if isinstance(module, (SeededDropout, SeededRReLU)):
            module.generator = noise
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --- the module's parameters as numpy (what engines exchange; batch-norm state stays put) ------
def parameters_of(model: MLP) -> Parameters:
    """Weights (out, in), biases and PReLU slopes of ``model``, copied to the CPU."""
    return Parameters(
        weights=[lin.weight.detach().cpu().numpy().copy() for lin in model.linears],
        biases=[lin.bias.detach().cpu().numpy().copy() for lin in model.linears],
        prelu=model.prelu_slopes(),
    )


@torch.no_grad()
def load_parameters(model: MLP, params: Parameters) -> None:
    """Copy ``params`` into ``model`` (on whatever device it lives)."""
    for linear, w, b in zip(model.linears, params.weights, params.biases, strict=True):
        linear.weight.copy_(torch.from_numpy(w))
        linear.bias.copy_(torch.from_numpy(b))
    for act, slope in zip(model.acts, params.prelu or (), strict=False):
        act.weight.fill_(slope)


def initial_parameters(
    config: ModelConfig, classes: int, seed: int, task: str = "classification"
) -> Parameters:
    """The weights ``build_mlp`` draws from ``seed``: every engine starts from these."""
    return parameters_of(build_mlp(config, classes, seed, task=task))


# --- what the logits mean ------------------------------------------------------------------------
def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """logits (B, 1) -> P(class 1) (B,) for two classes; (B, k) -> softmax (B, k) for k."""
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0])
    return torch.softmax(logits, dim=1)


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class (B,) int64: logit > 0 for two classes, argmax for k."""
    if logits.shape[1] == 1:
        return (logits[:, 0] > 0).long()
    return logits.argmax(dim=1)


def regression_loss(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean loss of outputs (B, 1) against real targets (B,): squared error (``mse``, the L2
    loss), absolute error (``l1``) or Huber (squared inside |error| < 1, absolute beyond)."""
    y, target = outputs[:, 0], targets.to(outputs.dtype)
    if name == "mse":
        return F.mse_loss(y, target)
    if name == "l1":
        return F.l1_loss(y, target)
    if name == "huber":
        return F.huber_loss(y, target, delta=HUBER_DELTA)
    raise ValueError(f"unknown regression loss {name!r}; choose from {', '.join(REGRESSION_LOSSES)}")


def mean_loss(
    name: str, logits: np.ndarray, labels: np.ndarray, task: str = "classification"
) -> float:
    """``loss_fn`` in NumPy (float64) for looking, not training: the mean loss of outputs
    (M, n_out) against labels or targets (M,), the same value to float precision. The metrics
    and the divergence watch take it for every frame: on a few hundred points it costs about
    two thirds of a torch call on one thread, and a torch call with several threads on a busy
    machine costs milliseconds. NaN when the outputs are."""
    losses = point_losses(name, logits, labels, task)
    return float(losses.sum() / losses.size) if losses.size else float("nan")


def point_losses(
    name: str, logits: np.ndarray, labels: np.ndarray, task: str = "classification"
) -> np.ndarray:
    """Each point's share of ``mean_loss`` (M,) float64: its mean over any slice of the points
    is that slice's loss, so one call scores the training and the validation points."""
    z = np.asarray(logits, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if task == "regression":
            e = z[:, 0] - np.asarray(labels, np.float64)
            if name == "mse":
                return e * e
            if name == "l1":
                return np.abs(e)
            if name == "huber":
                a, d = np.abs(e), HUBER_DELTA
                return np.where(a < d, 0.5 * e * e, d * (a - 0.5 * d))
            raise ValueError(
                f"unknown regression loss {name!r}; choose from {', '.join(REGRESSION_LOSSES)}"
            )
        labels = np.asarray(labels)
        if z.shape[1] == 1:
            z, t = z[:, 0], labels.astype(np.float64)
            if name == "cross_entropy":  # stably from the logit
                return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
            if name in ("mse", "l1"):
                error = 0.5 * (1.0 + np.tanh(0.5 * z)) - t  # sigmoid(z) - t, without overflow
                return error * error if name == "mse" else np.abs(error)
            if name == "hinge":
                return np.maximum(1.0 - (2.0 * t - 1.0) * z, 0.0)
        else:
            rows = np.arange(len(z))
            shifted = z - z.max(axis=1, keepdims=True)
            if name == "cross_entropy":  # logsumexp(z) - z_y
                return np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, labels]
            if name in ("mse", "l1"):  # the mean over the k outputs of each point
                p = np.exp(shifted)
                p /= p.sum(axis=1, keepdims=True)
                p[rows, labels] -= 1.0  # softmax - one-hot
                return (p * p if name == "mse" else np.abs(p)).mean(axis=1)
            if name == "hinge":  # sum over i != y of max(0, 1 - z_y + z_i), over k
                margins = np.maximum(1.0 - z[rows, labels][:, None] + z, 0.0)
                margins[rows, labels] = 0.0
                return margins.sum(axis=1) / z.shape[1]
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")


def map_probability(logits: np.ndarray) -> np.ndarray:
    """What the output map shows of outputs (M, n_out) (``probabilities`` in NumPy): for one
    logit P(class 2), its colour scale running from class 1 to class 2; for k logits the
    probability of the predicted class, how sure the network is where it is."""
    if logits.shape[1] == 1:
        return 0.5 * (1.0 + np.tanh(0.5 * logits[:, 0]))  # sigmoid, without overflow
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    return p.max(axis=1) / p.sum(axis=1)


def predicted(logits: np.ndarray) -> np.ndarray:
    """``predictions`` in NumPy: the predicted class (M,) of outputs (M, n_out)."""
    return (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else logits.argmax(axis=1)


def loss_fn(
    name: str, logits: torch.Tensor, labels: torch.Tensor, task: str = "classification"
) -> torch.Tensor:
    """Mean loss of logits (B, n_out) against labels (B,) int64 (a regression: outputs (B, 1)
    against real targets (B,), ``regression_loss``).

    cross_entropy: binary cross-entropy on the sigmoid (2 classes) or softmax cross-entropy.
    mse / l1: squared / absolute error between the output probabilities and the one-hot
    target (for 2 classes: P(class 1) against the 0/1 label), averaged over every element.
    hinge: max(0, 1 - s·z) with s = ±1 on the logit for 2 classes; the multi-class margin
    loss sum_{i != y} max(0, 1 - z_y + z_i) / k for k classes.
    """
    if task == "regression":
        return regression_loss(name, logits, labels)
    if logits.shape[1] == 1:
        z, target = logits[:, 0], labels.to(logits.dtype)
        if name == "cross_entropy":
            return F.binary_cross_entropy_with_logits(z, target)
        if name == "mse":
            return F.mse_loss(torch.sigmoid(z), target)
        if name == "l1":
            return F.l1_loss(torch.sigmoid(z), target)
        if name == "hinge":
            return F.relu(1.0 - (2.0 * target - 1.0) * z).mean()
    else:
        if name == "cross_entropy":
            return F.cross_entropy(logits, labels)
        if name in ("mse", "l1"):
            onehot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
            error = F.mse_loss if name == "mse" else F.l1_loss
            return error(torch.softmax(logits, dim=1), onehot)
        if name == "hinge":
            return F.multi_margin_loss(logits, labels)
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
