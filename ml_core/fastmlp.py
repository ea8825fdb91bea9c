"""The fast path: hand-written forward/backward and optimizer steps for small MLPs, in numpy.

Why: the playground's networks are tiny (a 2-4-2-1 net has 25 parameters), so an eager
PyTorch step (zero_grad, forward, backward, optimizer.step) spends ~650 µs dispatching
operators and building the autograd graph for a few hundred flops. Here every buffer is
allocated once per batch size, every op writes in place (``out=``), all parameters live in
one flat float32 array (so the optimizer update is a handful of vector ops, not one per
tensor) and numpy's per-call overhead is well under PyTorch's.

It computes exactly what ``ml_core.mlp`` computes (same losses, PyTorch's gradients and its
SGD / momentum / Adam updates, L2 weight decay included); tests/ml_core/test_fastmlp.py checks
losses, gradients and updates against the reference for every activation, loss and optimizer.
Configs with randomness or batch statistics in training (dropout, batch norm, RReLU) are
not covered: ``unsupported_reason`` names why and the session uses the reference path.

Matrix products use ``np.matmul``, not ``np.dot``: ``np.dot`` releases the GIL around every
BLAS call, however tiny, so with several sessions training in one process each step turned
into a dozen GIL hand-offs between threads and the total speed fell 4x with four sessions.
``np.matmul`` keeps the GIL for these small products (bench/mlp.py, concurrent sessions).
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import torch

from ml_core.mlp import (
    LEAKY_SLOPE,
    MLP,
    RRELU_LOWER,
    RRELU_UPPER,
    MLPConfig,
    TrainConfig,
    loss_fn,
)
from ml_core.training import ADAM_BETAS, ADAM_EPS, MOMENTUM


def unsupported_reason(config: MLPConfig) -> str | None:
    """Why the fast path cannot train ``config`` (None when it can)."""
    if config.dropout > 0:
        return "dropout draws random masks"
    if config.batch_norm:
        return "batch norm uses batch statistics"
    if config.activation == "rrelu":
        return "RReLU draws random slopes"
    return None


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


class FastMLP:
    """Numpy twin of ``MLP`` + loss + optimizer; parameters in one flat float32 vector."""

    def __init__(self, config: MLPConfig, train: TrainConfig) -> None:
        reason = unsupported_reason(config)
        if reason:
            raise ValueError(f"the fast path cannot train this network: {reason}")
        self.config, self.loss, self.optimizer = config, train.loss, train.optimizer
        self.lr, self.wd = train.learning_rate, train.weight_decay
        self.sizes = config.layer_sizes
        self.activation = config.activation
        shapes = [(o, i) for i, o in pairwise(self.sizes)]
        n_prelu = len(config.hidden) if self.activation == "prelu" else 0
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
        self.tmp = np.zeros(total, np.float32)
        self.buf = np.zeros(total, np.float32)  # momentum buffer / Adam's first moment
        self.sq = np.zeros(total, np.float32)  # Adam's second moment
        self.t = 0  # optimizer steps taken (Adam's bias correction)
        self._buffers: dict[int, _Buffers] = {}
        self.X = self.T = self.S = self.notT = None

    # --- parameters -------------------------------------------------------------------------
    def load(self, model: MLP) -> None:
        """Copy the module's parameters in (and forget optimizer state)."""
        for j, linear in enumerate(model.linears):
            self.W[j][...] = linear.weight.detach().cpu().numpy()
            self.b[j][...] = linear.bias.detach().cpu().numpy()
        for j, slope in enumerate(self.a):
            slope[...] = model.acts[j].weight.detach().cpu().numpy()
        self.buf[:] = 0
        self.sq[:] = 0
        self.t = 0

    @torch.no_grad()
    def store(self, model: MLP) -> None:
        """Copy the parameters out into the module (on whatever device it lives)."""
        for j, linear in enumerate(model.linears):
            linear.weight.copy_(torch.from_numpy(self.W[j]))
            linear.bias.copy_(torch.from_numpy(self.b[j]))
        for j, slope in enumerate(self.a):
            model.acts[j].weight.copy_(torch.from_numpy(slope))

    def set_hyperparameters(self, learning_rate: float, weight_decay: float) -> None:
        self.lr, self.wd = learning_rate, weight_decay

    def finite(self) -> bool:
        return bool(np.isfinite(self.flat).all())

    def vector(self, grad: bool = False) -> np.ndarray:
        """Parameters (or gradients) in PyTorch's order: W, b per layer, then PReLU slopes."""
        W, b, a = (self.gW, self.gb, self.ga) if grad else (self.W, self.b, self.a)
        parts = [p.ravel() for j in range(len(W)) for p in (W[j], b[j])] + list(a)
        return np.concatenate(parts)

    # --- data -------------------------------------------------------------------------------
    def set_data(self, X: np.ndarray, labels: np.ndarray) -> None:
        """Training features X (N, F) float32 and labels (N,) int64, kept as targets."""
        n_out = self.sizes[-1]
        ones = np.ones((len(X), 1), np.float32)
        self._X0 = np.concatenate([np.asarray(X, np.float32), ones], axis=1)  # (N, F + 1)
        if n_out == 1:
            T = labels.astype(np.float32)[:, None]  # (N, 1) 0/1
        else:
            T = np.eye(n_out, dtype=np.float32)[labels]  # (N, k) one-hot
        self._T0 = T
        self.permute(np.arange(len(labels)))

    def permute(self, order: np.ndarray) -> None:
        """Reorder the training rows (one epoch's shuffle) so batches are contiguous slices."""
        self.X, self.T = self._X0[order], self._T0[order]  # (N, F + 1), (N, n_out)
        self.S = 2.0 * self.T - 1.0  # (N, 1) hinge signs ±1
        self.notT = self.T == 0  # (N, k) the non-target logits of the margin loss

    def step(self, i0: int, i1: int) -> None:
        """One optimizer step on training rows i0:i1 of the current order."""
        if self.loss == "hinge":
            self._backward(self.X[i0:i1], self.T[i0:i1], self.S[i0:i1], self.notT[i0:i1])
        else:
            self._backward(self.X[i0:i1], self.T[i0:i1], None, None)
        self._update()

    # --- forward / backward -----------------------------------------------------------------
    def _buffers_for(self, batch: int) -> _Buffers:
        buffers = self._buffers.get(batch)
        if buffers is None:
            buffers = _Buffers(self.sizes, batch)
            self._buffers[batch] = buffers
        return buffers

    def _forward(self, x: np.ndarray, buf: _Buffers) -> np.ndarray:
        """x (B, F + 1) with a ones column -> logits (B, n_out) in buf.z[-1]; outputs in buf.h."""
        act, L = self.activation, len(self.W)
        ha = x
        for j in range(L):
            z = buf.z[j]
            np.matmul(ha, self.Wa[j].T, out=z)  # (B, n_j) = [h, 1] @ [W | b].T
            if j == L - 1:
                break
            h, ha = buf.h[j], buf.ha[j]
            if act == "linear":
                np.copyto(h, z)
            elif act == "tanh":
                np.tanh(z, out=h)
            elif act == "sigmoid":
                _sigmoid(z, h)
            elif act == "relu":
                np.maximum(z, 0.0, out=h)
            elif act == "leaky_relu":
                np.multiply(z, LEAKY_SLOPE, out=h)
                np.maximum(z, h, out=h)
            elif act == "prelu":
                mask = buf.mask[j]
                np.greater(z, 0.0, out=mask)
                np.multiply(z, self.a[j], out=h)
                np.copyto(h, z, where=mask)
        return buf.z[-1]

    def _backward(self, x, T, S, notT) -> _Buffers:
        """Fill self.grad with dLoss/dparameters for the batch x (B, F), targets T (B, n_out)."""
        batch = x.shape[0]
        buf = self._buffers_for(batch)
        z = self._forward(x, buf)
        self._dlogits(z, T, S, notT, buf)
        act, L = self.activation, len(self.W)
        for j in range(L - 1, -1, -1):
            dz = buf.dz[j]
            ha_prev = x if j == 0 else buf.ha[j - 1]
            np.matmul(dz.T, ha_prev, out=self.gWa[j])  # [dW | db] (n_j, n_{j-1} + 1)
            if j == 0:
                break
            k = j - 1  # hidden layer below
            dh, dzk, hk, tmp = buf.dh[k], buf.dz[k], buf.h[k], buf.tmp[k]
            np.matmul(dz, self.Wa[j], out=buf.dha[k])  # (B, n_k + 1); the last column is unused
            if act == "linear":
                np.copyto(dzk, dh)
            elif act == "tanh":  # 1 - h^2
                np.multiply(hk, hk, out=tmp)
                np.subtract(1.0, tmp, out=tmp)
                np.multiply(dh, tmp, out=dzk)
            elif act == "sigmoid":  # h (1 - h)
                np.subtract(1.0, hk, out=tmp)
                tmp *= hk
                np.multiply(dh, tmp, out=dzk)
            elif act == "relu":
                mask = buf.mask[k]
                np.greater(buf.z[k], 0.0, out=mask)
                np.multiply(dh, mask, out=dzk)
            elif act in ("leaky_relu", "prelu"):
                mask = buf.mask[k]
                if act == "leaky_relu":
                    np.greater(buf.z[k], 0.0, out=mask)
                    np.multiply(dh, LEAKY_SLOPE, out=dzk)
                else:  # mask still holds z > 0 from the forward pass
                    np.multiply(dh, buf.z[k], out=tmp)
                    np.copyto(tmp, 0.0, where=mask)
                    self.ga[k][0] = tmp.sum()  # dL/da = sum over z <= 0 of dh * z
                    np.multiply(dh, self.a[k], out=dzk)
                np.copyto(dzk, dh, where=mask)
        return buf

    def _dlogits(self, z, T, S, notT, buf: _Buffers) -> None:
        """dLoss/dlogits (B, n_out) into buf.dz[-1], for the mean-reduced loss."""
        loss, dz, tmp = self.loss, buf.dz[-1], buf.tmp[-1]
        batch, n_out = z.shape
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

    # --- for tests and evaluation -----------------------------------------------------------
    def gradients(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Loss of one batch and its gradients (in self.grad views), without updating."""
        self.set_data(x, labels)
        with np.errstate(all="ignore"):
            buf = self._backward(self.X, self.T, self.S, self.notT)
        return self.loss_value(buf.z[-1].copy(), labels)

    def loss_value(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """The loss of fast-path logits (B, n_out), by the reference loss function."""
        return float(loss_fn(self.loss, torch.from_numpy(logits), torch.from_numpy(labels)))


def _sigmoid(z: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + exp(-z)), in place (exp overflow -> inf -> 0 is the right limit)."""
    np.negative(z, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


# --- evaluation: one numpy forward in eval mode, for metrics and pictures on the CPU ---------
# For the narrow matrices of these nets (thousands of rows, 8 columns) numpy's matmul and tanh
# are several times faster than PyTorch's CPU kernels, so the session evaluates here on the CPU.

EvalLayer = tuple[np.ndarray, np.ndarray, tuple | None, float | None]  # W, b, norm, slope


def eval_layers(model: MLP) -> list[EvalLayer]:
    """The module's parameters as numpy (CPU) arrays, batch norm folded to scale and shift."""
    layers = []
    cfg = model.config
    for j, linear in enumerate(model.linears):
        W = linear.weight.detach().cpu().numpy()
        b = linear.bias.detach().cpu().numpy()
        norm = slope = None
        if j < len(cfg.hidden):
            bn = model.norms[j]
            if isinstance(bn, torch.nn.BatchNorm1d):  # eval: (z - mean) / sqrt(var + eps) * g + b
                scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
                shift = (bn.bias - bn.running_mean * scale).detach()
                norm = (scale.cpu().numpy(), shift.cpu().numpy())
            slope = _eval_slope(cfg.activation, model.acts[j])
        layers.append((W, b, norm, slope))
    return layers


def _eval_slope(activation: str, module) -> float | None:
    """The negative-side slope of ReLU-like activations in eval mode."""
    if activation == "leaky_relu":
        return LEAKY_SLOPE
    if activation == "prelu":
        return float(module.weight.detach().cpu()[0])
    if activation == "rrelu":
        return (RRELU_LOWER + RRELU_UPPER) / 2
    return None


def engine_layers(fast: FastMLP) -> list[EvalLayer]:
    """The fast path's own parameters in the same form (no copy into the module needed)."""
    hidden = len(fast.W) - 1
    layers = []
    for j in range(len(fast.W)):
        slope = None
        if j < hidden:
            slope = float(fast.a[j][0]) if fast.a else _eval_slope(fast.activation, None)
        layers.append((fast.W[j], fast.b[j], None, slope))
    return layers


def eval_forward(layers: list[EvalLayer], activation: str, x: np.ndarray):
    """x (B, F) float32 -> (logits (B, n_out), [hidden outputs (B, h_j)]) as the module's eval."""
    hiddens = []
    with np.errstate(all="ignore"):
        for j, (W, b, norm, slope) in enumerate(layers):
            z = x @ W.T
            z += b
            if j == len(layers) - 1:
                return z, hiddens
            if norm is not None:
                z *= norm[0]
                z += norm[1]
            if activation == "tanh":
                np.tanh(z, out=z)
            elif activation == "sigmoid":
                _sigmoid(z, z)
            elif activation == "relu":
                np.maximum(z, 0.0, out=z)
            elif slope is not None:  # leaky / prelu / rrelu (eval): x if x > 0 else slope x
                np.copyto(z, z * slope, where=z < 0)
            hiddens.append(z)
            x = z
    return x, hiddens
