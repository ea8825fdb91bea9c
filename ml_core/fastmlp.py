"""The fast engine: hand-written forward/backward and optimizer steps for small MLPs, in numpy.

Why: the playground's networks are tiny (a 2-4-2-1 net has 25 parameters), so an eager
PyTorch step (zero_grad, forward, backward, optimizer.step) spends ~650 µs dispatching
operators and building the autograd graph for a few hundred flops. Here every buffer is
allocated once per batch size, every op writes in place (``out=``), all parameters live in
one flat float32 array (so the optimizer update is a handful of vector ops, not one per
tensor) and numpy's per-call overhead is well under PyTorch's.

It computes exactly what ``ml_core.mlp`` computes (same losses, PyTorch's gradients and its
SGD / momentum / Adam updates, L2 weight decay included), for classification and regression;
tests/ml_core/test_fastmlp.py checks losses, gradients and updates against the reference for
every activation, loss and optimizer of both tasks.
Configs with randomness or batch statistics in training (dropout, batch norm, RReLU) are
not covered: ``unsupported_reason`` names why and the run uses the reference engine.

Each activation is one entry of ``ACTIVATION_OPS``: its forward, its derivative and its slope
for negative inputs; training, backpropagation and evaluation all go through that table.

Matrix products use ``np.matmul``, not ``np.dot``: ``np.dot`` releases the GIL around every
BLAS call, however tiny, so with several sessions training in one process each step turned
into a dozen GIL hand-offs between threads and the total speed fell 4x with four sessions.
``np.matmul`` keeps the GIL for these small products (bench/mlp.py, concurrent sessions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from ml_core.mlp import (
    HUBER_DELTA,
    LEAKY_SLOPE,
    PRELU_INIT,
    RRELU_LOWER,
    RRELU_UPPER,
    initial_parameters,
    loss_fn,
)
from ml_core.mlp_config import ModelConfig, TrainConfig
from ml_core.mlp_engine import Backward, Engine, EvalLayer, Evaluation, OptimizerState, Parameters
from ml_core.training import ADAM_BETAS, ADAM_EPS, MOMENTUM


# --- activations: forward, derivative and negative slope, once each ----------------------------
# forward(z, h, mask, slope): h = f(z) for pre-activations z (B, n); mask (B, n) bool is scratch.
# derivative(dh, z, h, mask, slope, tmp, dz): dz = dh * f'(z), from z or from the output h.
# ``slope`` is the layer's slope for z <= 0: a number, or PReLU's (1,) parameter view.
def _sigmoid(z: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + exp(-z)), in place (exp overflow -> inf -> 0 is the right limit)."""
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


def _linear(z, h, mask, slope) -> None:
    np.copyto(h, z)


def _d_linear(dh, z, h, mask, slope, tmp, dz) -> None:
    np.copyto(dz, dh)


def _tanh(z, h, mask, slope) -> None:
    np.tanh(z, out=h)


def _d_tanh(dh, z, h, mask, slope, tmp, dz) -> None:  # 1 - h²
    np.multiply(h, h, out=tmp)
    np.subtract(1.0, tmp, out=tmp)
    np.multiply(dh, tmp, out=dz)


def _logistic(z, h, mask, slope) -> None:
    _sigmoid(z, h)


def _d_logistic(dh, z, h, mask, slope, tmp, dz) -> None:  # h (1 - h)
    np.subtract(1.0, h, out=tmp)
    tmp *= h
    np.multiply(dh, tmp, out=dz)


def _relu(z, h, mask, slope) -> None:
    np.maximum(z, 0.0, out=h)


def _d_relu(dh, z, h, mask, slope, tmp, dz) -> None:
    np.greater(z, 0.0, out=mask)
    np.multiply(dh, mask, out=dz)


def _sloped(z, h, mask, slope) -> None:  # z if z > 0 else slope * z, for any slope (PReLU's too)
    np.greater(z, 0.0, out=mask)
    np.multiply(z, slope, out=h)
    np.copyto(h, z, where=mask)


def _d_sloped(dh, z, h, mask, slope, tmp, dz) -> None:  # leaves z > 0 in mask
    np.greater(z, 0.0, out=mask)
    np.multiply(dh, slope, out=dz)
    np.copyto(dz, dh, where=mask)


@dataclass(frozen=True)
class ActivationOps:
    """One activation on the numpy path."""

    forward: Callable[..., None]
    derivative: Callable[..., None] | None  # None: the fast path does not train it (RReLU)
    slope: float | None = None  # slope for z <= 0 in eval mode (the start value when learnt)
    learnt: bool = False  # the slope is a parameter, one per hidden layer (PReLU)


ACTIVATION_OPS: dict[str, ActivationOps] = {
    "linear": ActivationOps(_linear, _d_linear),
    "sigmoid": ActivationOps(_logistic, _d_logistic),
    "tanh": ActivationOps(_tanh, _d_tanh),
    "relu": ActivationOps(_relu, _d_relu),
    "leaky_relu": ActivationOps(_sloped, _d_sloped, LEAKY_SLOPE),
    "prelu": ActivationOps(_sloped, _d_sloped, PRELU_INIT, learnt=True),
    "rrelu": ActivationOps(_sloped, None, (RRELU_LOWER + RRELU_UPPER) / 2),  # eval: mean slope
}


def unsupported_reason(config: ModelConfig) -> str | None:
    """Why the fast engine cannot train ``config`` (None when it can)."""
    if config.dropout > 0:
        return "dropout draws random masks"
    if config.batch_norm:
        return "batch norm uses batch statistics"
    if ACTIVATION_OPS[config.activation].derivative is None:
        return "RReLU draws random slopes"
    return None


# --- evaluation: one numpy forward in eval mode, for metrics and pictures on the CPU -----------
# For the narrow matrices of these nets (thousands of rows, 8 columns) numpy's matmul and tanh
# are several times faster than PyTorch's CPU kernels, so runs on the CPU evaluate here.

def eval_forward(layers: list[EvalLayer], activation: str, x: np.ndarray) -> Evaluation:
    """x (B, F) float32 -> (logits (B, n_out), [hidden outputs (B, h_j)]) in eval mode.

    ``norm`` is batch norm folded to (scale, shift) per unit, or None; ``slope`` the layer's
    slope for z <= 0 (ReLU-like units)."""
    forward = ACTIVATION_OPS[activation].forward
    hiddens = []
    with np.errstate(all="ignore"):
        for j, (W, b, norm, slope) in enumerate(layers):
            z = np.matmul(x, W.T)
            z += b
            if j == len(layers) - 1:
                return z, hiddens
            if norm is not None:
                z *= norm[0]
                z += norm[1]
            h = np.empty_like(z)
            forward(z, h, np.empty(z.shape, bool), slope)
            hiddens.append(h)
            x = h
    return x, hiddens


class _Buffers:
    """Work arrays for one batch size B: per layer pre-activations z, outputs h, gradients.

    Hidden outputs live in ``ha`` (B, n + 1) whose last column is all ones, so that one matmul
    with a layer's augmented weights [W | b] (n_out, n_in + 1) adds the bias too, and one matmul
    ``dz.T @ ha`` gives [dW | db]. ``h`` and ``dh`` are the (B, n) views without that column.
    """

    def __init__(self, sizes: tuple[int, ...], batch: int) -> None:
        f32 = np.float32
        layers = sizes[1:]
        self.z = [np.empty((batch, n), f32) for n in layers]  # (B, n_j) pre-activation
        self.ha = [np.ones((batch, n + 1), f32) for n in layers[:-1]]  # (B, n_j + 1) outputs, 1
        self.h = [ha[:, :-1] for ha in self.ha]  # (B, n_j) views
        self.dz = [np.empty((batch, n), f32) for n in layers]  # dLoss/dz
        self.dha = [np.empty((batch, n + 1), f32) for n in layers[:-1]]  # dLoss/d[h, 1]
        self.dh = [dha[:, :-1] for dha in self.dha]  # (B, n_j) views
        self.tmp = [np.empty((batch, n), f32) for n in layers]
        self.mask = [np.empty((batch, n), bool) for n in layers]
        self.count = np.empty((batch, 1), f32)


class FastMLP(Engine):
    """Numpy twin of ``MLP`` + loss + optimizer; parameters in one flat float32 vector."""

    name = "fast"
    library = "numpy"

    def __init__(
        self,
        config: ModelConfig,
        classes: int,
        train: TrainConfig,
        task: str = "classification",
    ) -> None:
        reason = unsupported_reason(config)
        if reason:
            raise ValueError(f"the fast path cannot train this network: {reason}")
        self.config, self.classes, self.task = config, classes, task
        self.loss, self.optimizer = train.loss, train.optimizer
        self.lr, self.wd = train.learning_rate, train.weight_decay
        self.sizes = config.layer_sizes(classes, task)
        self.ops = ACTIVATION_OPS[config.activation]
        shapes = [(o, i) for i, o in pairwise(self.sizes)]
        n_prelu = len(config.hidden) if self.ops.learnt else 0
        total = sum(o * (i + 1) for o, i in shapes) + n_prelu
        self.flat = np.zeros(total, np.float32)  # every parameter, viewed below
        self.grad = np.zeros(total, np.float32)  # their gradients, same layout
        self.Wa, self.gWa = [], []  # per layer [W | b] (n_out, n_in + 1)
        self.a, self.ga = [], []  # PReLU slopes (1,) per hidden layer
        offset = 0
        for o, i in shapes:
            n = o * (i + 1)
            self.Wa.append(self.flat[offset : offset + n].reshape(o, i + 1))
            self.gWa.append(self.grad[offset : offset + n].reshape(o, i + 1))
            offset += n
        self.W, self.b = [w[:, :-1] for w in self.Wa], [w[:, -1] for w in self.Wa]
        self.gW, self.gb = [g[:, :-1] for g in self.gWa], [g[:, -1] for g in self.gWa]
        for _ in range(n_prelu):
            self.a.append(self.flat[offset : offset + 1])
            self.ga.append(self.grad[offset : offset + 1])
            offset += 1
        # Each hidden layer's slope for z <= 0: PReLU's live parameter view, else the constant.
        self.slopes = self.a if self.ops.learnt else [self.ops.slope] * len(config.hidden)
        self.tmp = np.zeros(total, np.float32)
        self.buf = np.zeros(total, np.float32)  # momentum buffer / Adam's first moment
        self.sq = np.zeros(total, np.float32)  # Adam's second moment
        self.t = 0  # optimizer steps taken (Adam's bias correction)
        self._buffers: dict[int, _Buffers] = {}
        self.X = self.T = self.S = self.notT = None
        self._last_batch: tuple[int, int] | None = None

    # --- parameters -------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        self.load(initial_parameters(self.config, self.classes, seed, self.task))
        self.buf[:] = 0
        self.sq[:] = 0
        self.t = 0

    def save_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        return self.flat.copy(), self.buf.copy(), self.sq.copy(), self.t

    def load_state(self, state: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
        flat, buf, sq, self.t = state
        self.flat[:], self.buf[:], self.sq[:] = flat, buf, sq  # in place: the views stay valid

    def load(self, params: Parameters) -> None:
        for j in range(len(self.W)):
            self.W[j][...] = params.weights[j]
            self.b[j][...] = params.biases[j]
        for slope, value in zip(self.a, params.prelu or (), strict=True):
            slope[0] = value

    def parameters(self) -> Parameters:
        return Parameters(
            weights=[w.copy() for w in self.W],
            biases=[b.copy() for b in self.b],
            prelu=[float(a[0]) for a in self.a] or None,
        )

    def count_parameters(self) -> int:
        return self.flat.size

    @property
    def device_name(self) -> str:
        return "cpu"

    def _split(self, flat: np.ndarray) -> Parameters:
        """A flat vector of this engine's layout ([W | b] per layer, then the slopes) as copies
        laid out as the parameters."""
        weights, biases, offset = [], [], 0
        for Wa in self.Wa:
            rows = flat[offset : offset + Wa.size].reshape(Wa.shape)
            weights.append(rows[:, :-1].copy())
            biases.append(rows[:, -1].copy())
            offset += Wa.size
        prelu = [float(v) for v in flat[offset:]] if self.ops.learnt else None
        return Parameters(weights, biases, prelu)

    def optimizer_state(self) -> OptimizerState:
        if self.optimizer == "sgd":
            return OptimizerState(0, None, None)
        if self.optimizer == "momentum":
            return OptimizerState(0, self._split(self.buf), None)
        return OptimizerState(self.t, self._split(self.buf), self._split(self.sq))

    def set_hyperparameters(self, learning_rate: float, weight_decay: float) -> None:
        self.lr, self.wd = learning_rate, weight_decay

    def finite(self) -> bool:
        return bool(np.isfinite(self.flat).all())

    # --- data and steps ---------------------------------------------------------------------
    def _targets(self, features: np.ndarray, labels: np.ndarray):
        """Features with a ones column (N, F + 1), targets T (N, n_out): 0/1 or one-hot."""
        ones = np.ones((len(features), 1), np.float32)
        X = np.concatenate([np.asarray(features, np.float32), ones], axis=1)
        n_out = self.sizes[-1]
        if n_out == 1:
            T = labels.astype(np.float32)[:, None]  # (N, 1) 0/1, or a regression's values
        else:
            T = np.eye(n_out, dtype=np.float32)[labels]  # (N, k) one-hot
        return X, T

    def set_data(self, features: np.ndarray, labels: np.ndarray) -> None:
        self._X0, self._T0 = self._targets(features, labels)
        self.permute(np.arange(len(labels)))

    def permute(self, order: np.ndarray) -> None:
        """Reorder the training rows so batches are contiguous slices."""
        self.X, self.T = self._X0[order], self._T0[order]  # (N, F + 1), (N, n_out)
        self.S = 2.0 * self.T - 1.0  # (N, 1) hinge signs ±1
        self.notT = self.T == 0  # (N, k) the non-target logits of the margin loss

    def step(self, start: int, stop: int) -> None:
        sl = slice(start, stop)
        self._last_batch = (start, stop)  # for batch_loss
        if self.loss == "hinge":
            self._backward(self.X[sl], self.T[sl], self.S[sl], self.notT[sl])
        else:
            self._backward(self.X[sl], self.T[sl], None, None)
        self._update()

    def backward(self, features: np.ndarray, labels: np.ndarray) -> Backward:
        X, T = self._targets(features, labels)
        with np.errstate(all="ignore"):
            buf = self._backward(X, T, 2.0 * T - 1.0, T == 0)
        logits = torch.from_numpy(buf.z[-1].copy())
        loss = float(loss_fn(self.loss, logits, torch.from_numpy(labels), self.task))
        grads = Parameters(  # copies: the next step overwrites self.grad
            [g.copy() for g in self.gW],
            [g.copy() for g in self.gb],
            [float(g[0]) for g in self.ga] or None,
        )
        return Backward(loss, grads, len(labels))

    def eval_layers(self) -> list[EvalLayer]:
        slopes = [float(a[0]) for a in self.a] if self.ops.learnt else self.slopes
        return [(W, b, None, s) for W, b, s in zip(self.W, self.b, [*slopes, None], strict=True)]

    def evaluate(self, features: np.ndarray) -> Evaluation:
        return eval_forward(self.eval_layers(), self.config.activation, features)

    # --- forward / backward -----------------------------------------------------------------
    def _buffers_for(self, batch: int) -> _Buffers:
        buffers = self._buffers.get(batch)
        if buffers is None:
            buffers = _Buffers(self.sizes, batch)
            self._buffers[batch] = buffers
        return buffers

    def _forward(self, x: np.ndarray, buf: _Buffers) -> np.ndarray:
        """x (B, F + 1) with a ones column -> logits (B, n_out) in buf.z[-1]; outputs in buf.h."""
        forward, slopes, last = self.ops.forward, self.slopes, len(self.W) - 1
        ha = x
        for j, Wa in enumerate(self.Wa):
            z = buf.z[j]
            np.matmul(ha, Wa.T, out=z)  # (B, n_j) = [h, 1] @ [W | b].T
            if j == last:
                break
            forward(z, buf.h[j], buf.mask[j], slopes[j])
            ha = buf.ha[j]
        return buf.z[-1]

    def _backward(self, x, T, S, notT) -> _Buffers:
        """Fill self.grad with dLoss/dparameters for the batch x (B, F), targets T (B, n_out)."""
        buf = self._buffers_for(x.shape[0])
        z = self._forward(x, buf)
        self._dlogits(z, T, S, notT, buf)
        derivative, slopes, learnt = self.ops.derivative, self.slopes, self.ops.learnt
        for j in range(len(self.W) - 1, -1, -1):
            dz = buf.dz[j]
            ha_prev = x if j == 0 else buf.ha[j - 1]
            np.matmul(dz.T, ha_prev, out=self.gWa[j])  # [dW | db] (n_j, n_{j-1} + 1)
            if j == 0:
                break
            k = j - 1  # hidden layer below
            dh, zk, tmp = buf.dh[k], buf.z[k], buf.tmp[k]
            np.matmul(dz, self.Wa[j], out=buf.dha[k])  # (B, n_k + 1); the last column is unused
            derivative(dh, zk, buf.h[k], buf.mask[k], slopes[k], tmp, buf.dz[k])
            if learnt:  # dL/da = sum over z <= 0 of dh * z (the derivative left z > 0 in mask)
                np.multiply(dh, zk, out=tmp)
                np.copyto(tmp, 0.0, where=buf.mask[k])
                self.ga[k][0] = tmp.sum()
        return buf

    def _dlogits(self, z, T, S, notT, buf: _Buffers) -> None:
        """dLoss/dlogits (B, n_out) into buf.dz[-1], for the mean-reduced loss."""
        loss, dz, tmp = self.loss, buf.dz[-1], buf.tmp[-1]
        batch, n_out = z.shape
        if self.task == "regression":  # on the output value itself: z (B, 1) against T (B, 1)
            np.subtract(z, T, out=dz)  # the error
            if loss == "mse":  # mean (z - t)^2: 2 (z - t) / B
                dz *= 2.0 / batch
            elif loss == "l1":  # mean |z - t|: sign(z - t) / B
                np.sign(dz, out=dz)
                dz *= 1.0 / batch
            else:  # huber: the error clipped to [-delta, delta], / B
                np.clip(dz, -HUBER_DELTA, HUBER_DELTA, out=dz)
                dz *= 1.0 / batch
            return
        if loss == "hinge" and n_out == 1:  # mean(relu(1 - s z)): -s / B where the margin is > 0
            np.multiply(S, z, out=tmp)
            np.less(tmp, 1.0, out=buf.mask[-1])
            np.multiply(S, buf.mask[-1], out=dz)
            dz *= -1.0 / batch
            return
        if loss == "hinge":  # sum_{i != y} relu(1 - z_y + z_i) / k, mean over the batch
            zy = np.sum(np.multiply(z, T, out=tmp), axis=1, keepdims=True)  # (B, 1)
            np.subtract(z, zy, out=tmp)
            mask = buf.mask[-1]
            np.greater(tmp, -1.0, out=mask)
            mask &= notT
            np.multiply(mask, 1.0 / (n_out * batch), out=dz)
            np.sum(dz, axis=1, keepdims=True, out=buf.count)
            np.multiply(T, buf.count, out=tmp)
            dz -= tmp
            return
        p = tmp  # (B, n_out) probabilities: sigmoid or softmax
        if n_out == 1:
            _sigmoid(z, p)
        else:
            np.subtract(z, z.max(axis=1, keepdims=True), out=p)
            np.exp(p, out=p)
            p /= p.sum(axis=1, keepdims=True)
        if loss == "cross_entropy":  # both cases: (p - t) / B
            np.subtract(p, T, out=dz)
            dz *= 1.0 / batch
            return
        # mse / l1 on the probabilities, averaged over B * n_out elements
        np.subtract(p, T, out=dz)
        if loss == "mse":
            dz *= 2.0 / dz.size
        else:
            np.sign(dz, out=dz)
            dz *= 1.0 / dz.size
        if n_out == 1:  # through the sigmoid: p (1 - p)
            dz *= p
            dz -= dz * p
        else:  # through the softmax: p * (dp - sum(dp * p))
            dot = np.sum(dz * p, axis=1, keepdims=True)
            dz -= dot
            dz *= p

    def _update(self) -> None:
        """PyTorch's SGD / SGD+momentum / Adam step on the flat vector (L2 decay in the grad)."""
        g = self.grad
        if self.wd:
            np.multiply(self.flat, self.wd, out=self.tmp)
            self.tmp += self.grad
            g = self.tmp
        if self.optimizer == "sgd":
            if g is self.grad:
                np.multiply(g, self.lr, out=self.tmp)
            else:
                self.tmp *= self.lr
            self.flat -= self.tmp
        elif self.optimizer == "momentum":
            self.buf *= MOMENTUM
            self.buf += g
            np.multiply(self.buf, self.lr, out=self.tmp)
            self.flat -= self.tmp
        else:  # adam
            beta1, beta2 = ADAM_BETAS
            self.t += 1
            self.buf += (1.0 - beta1) * (g - self.buf)  # lerp, as torch does
            self.sq *= beta2
            self.sq += (1.0 - beta2) * g * g
            step_size = self.lr / (1.0 - beta1**self.t)
            denom = np.sqrt(self.sq) / math.sqrt(1.0 - beta2**self.t) + ADAM_EPS
            np.divide(self.buf, denom, out=self.tmp)
            self.tmp *= step_size
            self.flat -= self.tmp

    def batch_loss(self) -> float:
        """The last step's loss, from the logits its forward left in the batch's buffers."""
        if self._last_batch is None:
            return math.nan
        start, stop = self._last_batch
        logits = self._buffers[stop - start].z[-1]  # (B, n_out), before the update
        T = self.T[start:stop]
        if self.task == "regression":
            targets = torch.from_numpy(T[:, 0].copy())  # (B,) the values
        else:
            labels = T[:, 0] if T.shape[1] == 1 else T.argmax(axis=1)
            targets = torch.from_numpy(labels.astype(np.int64))
        return float(loss_fn(self.loss, torch.from_numpy(logits.copy()), targets, self.task))
