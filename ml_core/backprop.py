"""One training example, step by step: the forward pass, the loss, backpropagation and the update.

This is the computation the MLP playground's walk-through shows, written out the way the
lecture states it (the chain rule, one layer at a time), in float64 numpy from the current
weights of a run. For one example x with label y and a network of Linear layers l = 1..L:

- forward: z_l = W_l a_{l-1} + b_l (a_0 = x), a_l = f(z_l) for hidden layers (batch norm, when
  the network has it, sits between: a_l = f(s * z_l + t) with its eval-mode scale and shift);
  the output layer's z_L are the logits.
- loss: sigmoid (2 classes) or softmax (k classes) probabilities against the target, by the
  run's loss; its gradient with respect to the logits is the output delta
  (softmax - one-hot for cross-entropy). A regression's output is the prediction itself, and
  its delta the loss's slope at the error e = y - t: 2e (L2), sign(e) (L1), e clipped to
  [-1, 1] (Huber).
- backward: delta_l = dL/dz_l = f'(z_l) * (W_{l+1}^T delta_{l+1}), then dL/dW_l = delta_l a_{l-1}^T
  and dL/db_l = delta_l; PReLU's slope gets dL/da = sum over z <= 0 of z * dL/da_l.
- update: what the run's optimizer would do with this gradient alone, from its current memory:
  g = dL/dw + lambda w (L2 weight decay), then SGD w - lr g, momentum v' = mu v + g and
  w - lr v', or Adam's moments m', v', their bias-corrected m^, v^ and w - lr m^ / (sqrt(v^) + eps).

The network is taken in eval mode (no dropout; batch norm with its running averages; RReLU at
its mean slope), so the numbers are what the network computes when it is looked at. Every
number here is tested against ``torch.autograd`` and the torch optimizers on the same weights
(tests/ml_core/test_backprop.py). Nothing here does I/O or changes the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_core.mlp import HUBER_DELTA
from ml_core.mlp_config import TrainConfig
from ml_core.mlp_engine import EvalLayer, OptimizerState, Parameters
from ml_core.training import ADAM_BETAS, ADAM_EPS, MOMENTUM

F64 = np.float64


# --- activations in float64: f(u) and f'(u), matching PyTorch's choices at u = 0 ---------------
def activate(name: str, u: np.ndarray, slope: float | None) -> np.ndarray:
    """f(u) for a hidden layer's activation ``name`` (``slope``: its slope for u < 0)."""
    if name == "linear":
        return u.copy()
    if name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-u))
    if name == "tanh":
        return np.tanh(u)
    if name == "relu":
        return np.maximum(u, 0.0)
    if name in ("leaky_relu", "prelu"):
        return np.where(u > 0, u, slope * u)
    if name == "rrelu":  # eval mode: the mean slope; u = 0 takes the identity branch
        return np.where(u >= 0, u, slope * u)
    raise ValueError(f"unknown activation {name!r}")


def derivative(name: str, u: np.ndarray, a: np.ndarray, slope: float | None) -> np.ndarray:
    """f'(u), from u or from the output a = f(u)."""
    if name == "linear":
        return np.ones_like(u)
    if name == "sigmoid":
        return a * (1.0 - a)
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (u > 0).astype(F64)
    if name in ("leaky_relu", "prelu"):
        return np.where(u > 0, 1.0, slope)
    if name == "rrelu":
        return np.where(u >= 0, 1.0, slope)
    raise ValueError(f"unknown activation {name!r}")


# --- what one example goes through ---------------------------------------------------------------
@dataclass
class LayerPass:
    """One Linear layer (and, for a hidden one, its activation) on the example."""

    inputs: np.ndarray  # a_{l-1} (n_in,): the features for the first layer
    weights: np.ndarray  # W_l (n_out, n_in)
    biases: np.ndarray  # b_l (n_out,)
    z: np.ndarray  # W_l a_{l-1} + b_l (n_out,); the logits for the output layer
    norm_scale: np.ndarray | None  # eval batch norm: u = scale * z + shift (hidden, with batch norm)
    norm_shift: np.ndarray | None
    outputs: np.ndarray  # a_l = f(u) (hidden) or the logits (output)
    slope: float | None  # the activation's slope for negative inputs (leaky / PReLU / RReLU)
    derivative: np.ndarray | None  # f'(u) (hidden)
    upstream: np.ndarray | None  # dL/da_l = W_{l+1}^T delta_{l+1} (hidden)
    delta: np.ndarray  # dL/dz_l (n_out,)
    grad_weights: np.ndarray  # delta_l a_{l-1}^T (n_out, n_in)
    grad_biases: np.ndarray  # delta_l
    grad_slope: float | None  # dL/d(PReLU slope) (PReLU hidden layers)

    @property
    def activation_input(self) -> np.ndarray:
        """u: what the activation gets (z, or batch norm's output)."""
        if self.norm_scale is None:
            return self.z
        return self.norm_scale * self.z + self.norm_shift


@dataclass
class LossPass:
    name: str  # the run's loss (ml_core.mlp.LOSSES, or REGRESSION_LOSSES)
    logits: np.ndarray  # (n_out,)
    probabilities: np.ndarray  # (n_out,): sigmoid (P(class 2)) for one logit, else softmax;
    # a regression's prediction (the output itself)
    target: np.ndarray  # (n_out,): the label 0/1 for one logit, else one-hot; a regression's value
    value: float  # the loss of this example
    grad_probabilities: np.ndarray | None  # dL/dp (mse and l1, which act on p)
    delta: np.ndarray  # dL/dlogits: the output layer's delta


@dataclass
class ParamUpdate:
    """One parameter tensor's update (arrays shaped like the tensor; a PReLU slope is (1,))."""

    value: np.ndarray  # w now
    grad: np.ndarray  # dL/dw from backpropagation
    decay: np.ndarray  # lambda * w, added to the gradient (L2 weight decay)
    velocity_before: np.ndarray | None  # momentum's v / Adam's m before this step
    velocity: np.ndarray | None  # after: mu v + g, or beta1 m + (1 - beta1) g
    second_before: np.ndarray | None  # Adam's v before
    second: np.ndarray | None  # after: beta2 v + (1 - beta2) g^2
    velocity_hat: np.ndarray | None  # Adam's bias-corrected m^ = m / (1 - beta1^t)
    second_hat: np.ndarray | None  # v^ = v / (1 - beta2^t)
    step: np.ndarray  # what is subtracted: lr g, lr v, or lr m^ / (sqrt(v^) + eps)
    new: np.ndarray  # w - step


@dataclass
class LayerUpdate:
    weight: ParamUpdate
    bias: ParamUpdate
    slope: ParamUpdate | None  # PReLU's slope of this (hidden) layer


@dataclass
class UpdatePass:
    optimizer: str
    learning_rate: float
    weight_decay: float
    momentum: float | None  # mu (momentum)
    betas: tuple[float, float] | None  # Adam
    eps: float | None  # Adam
    t: int | None  # Adam's step number for this update (steps so far + 1)
    layers: list[LayerUpdate]


@dataclass
class Explanation:
    x: np.ndarray  # the example's features (F,)
    label: int | float  # the class, or a regression's target value
    activation: str
    layers: list[LayerPass]  # first layer first; the last is the output layer
    loss: LossPass
    update: UpdatePass
    task: str = "classification"


# --- the loss and its gradient at the logits ------------------------------------------------------
def _sigmoid(z: np.ndarray) -> np.ndarray:
    return activate("sigmoid", z, None)


def regression_pass(name: str, output: np.ndarray, target: float) -> LossPass:
    """One regression example: the loss of the prediction y against the target t and its
    slope dL/dy, the output layer's delta (``ml_core.mlp.regression_loss``)."""
    t = np.array([float(target)])
    error = output - t
    e = float(error[0])
    if name == "mse":  # e^2, slope 2e
        value, delta = e * e, 2.0 * error
    elif name == "l1":  # |e|, slope sign(e)
        value, delta = abs(e), np.sign(error)
    elif name == "huber":  # e^2 / 2 inside |e| < delta, delta (|e| - delta / 2) beyond
        d = HUBER_DELTA
        value = 0.5 * e * e if abs(e) < d else d * (abs(e) - 0.5 * d)
        delta = np.clip(error, -d, d)
    else:
        raise ValueError(f"unknown regression loss {name!r}")
    return LossPass(name, output.copy(), output.copy(), t, float(value), None, delta)


def loss_pass(
    name: str, logits: np.ndarray, label: int | float, task: str = "classification"
) -> LossPass:
    """The loss of one example and dL/dlogits, as ``ml_core.mlp.loss_fn`` computes them."""
    if task == "regression":
        return regression_pass(name, logits, float(label))
    z = logits
    k = z.size
    grad_p = None
    if k == 1:  # one logit: p = P(class 2), the target is the label 0 / 1
        t = np.array([float(label)])
        p = _sigmoid(z)
        if name == "cross_entropy":  # -[t log p + (1 - t) log(1 - p)], stably from the logit
            value = max(z[0], 0.0) - z[0] * t[0] + np.log1p(np.exp(-abs(z[0])))
            delta = p - t
        elif name in ("mse", "l1"):
            value = (p[0] - t[0]) ** 2 if name == "mse" else abs(p[0] - t[0])
            grad_p = 2.0 * (p - t) if name == "mse" else np.sign(p - t)
            delta = grad_p * p * (1.0 - p)
        elif name == "hinge":  # max(0, 1 - s z) with s = +1 for class 2, -1 for class 1
            s = 2.0 * t[0] - 1.0
            margin = 1.0 - s * z[0]
            value = max(margin, 0.0)
            delta = np.array([-s if margin > 0 else 0.0])
        else:
            raise ValueError(f"unknown loss {name!r}")
        return LossPass(name, z.copy(), p, t, float(value), grad_p, delta)
    t = np.zeros(k)
    t[label] = 1.0
    shifted = z - z.max()
    p = np.exp(shifted) / np.exp(shifted).sum()
    if name == "cross_entropy":  # -log p_y = logsumexp(z) - z_y
        value = np.log(np.exp(shifted).sum()) - shifted[label]
        delta = p - t  # softmax - one-hot
    elif name in ("mse", "l1"):  # mean over the k outputs, then back through the softmax
        value = np.mean((p - t) ** 2) if name == "mse" else np.mean(np.abs(p - t))
        grad_p = 2.0 * (p - t) / k if name == "mse" else np.sign(p - t) / k
        delta = p * (grad_p - np.dot(grad_p, p))
    elif name == "hinge":  # sum over i != y of max(0, 1 - z_y + z_i), divided by k
        margins = 1.0 - z[label] + z
        margins[label] = 0.0
        active = (margins > 0).astype(F64)
        value = np.sum(np.maximum(margins, 0.0)) / k
        delta = active / k
        delta[label] = -active.sum() / k
    else:
        raise ValueError(f"unknown loss {name!r}")
    return LossPass(name, z.copy(), p, t, float(value), grad_p, delta)


# --- the optimizer's step -------------------------------------------------------------------------
def _vector(params: Parameters | None, layer: int, kind: str) -> np.ndarray | None:
    """One tensor of a Parameters (float64), or None."""
    if params is None:
        return None
    if kind == "weight":
        return params.weights[layer].astype(F64)
    if kind == "bias":
        return params.biases[layer].astype(F64)
    return np.array([params.prelu[layer]], F64)


def param_update(
    train: TrainConfig, state: OptimizerState, value, grad, velocity, second
) -> ParamUpdate:
    """PyTorch's SGD / momentum / Adam step for one tensor (L2 decay added to the gradient)."""
    lr, wd = train.learning_rate, train.weight_decay
    decay = wd * value
    g = grad + decay
    velocity_after = second_after = m_hat = v_hat = None
    if train.optimizer == "sgd":
        velocity = second = None
        step = lr * g
    elif train.optimizer == "momentum":
        velocity_after = MOMENTUM * velocity + g
        step = lr * velocity_after
    else:  # adam, in PyTorch's order of operations
        beta1, beta2 = ADAM_BETAS
        t = state.steps + 1
        velocity_after = velocity + (1.0 - beta1) * (g - velocity)  # = beta1 m + (1 - beta1) g
        second_after = beta2 * second + (1.0 - beta2) * g * g
        correction1, correction2 = 1.0 - beta1**t, 1.0 - beta2**t
        m_hat, v_hat = velocity_after / correction1, second_after / correction2
        denominator = np.sqrt(second_after) / np.sqrt(correction2) + ADAM_EPS  # sqrt(v^) + eps
        step = (lr / correction1) * velocity_after / denominator  # lr m^ / (sqrt(v^) + eps)
    return ParamUpdate(
        value, grad, decay, velocity, velocity_after, second, second_after, m_hat, v_hat, step,
        value - step,
    )


def update_pass(
    train: TrainConfig, state: OptimizerState, layers: list[LayerPass], prelu: bool
) -> UpdatePass:
    """What one step of the run's optimizer on this example's gradient would do."""
    updates = []
    for j, layer in enumerate(layers):
        parts = {}
        for kind, value, grad in (
            ("weight", layer.weights, layer.grad_weights),
            ("bias", layer.biases, layer.grad_biases),
            ("slope", np.array([layer.slope or 0.0]), np.array([layer.grad_slope or 0.0])),
        ):
            if kind == "slope" and not (prelu and j < len(layers) - 1):
                parts[kind] = None
                continue
            parts[kind] = param_update(
                train,
                state,
                value,
                grad,
                _vector(state.velocity, j, kind),
                _vector(state.second, j, kind),
            )
        updates.append(LayerUpdate(**parts))
    adam = train.optimizer == "adam"
    return UpdatePass(
        optimizer=train.optimizer,
        learning_rate=train.learning_rate,
        weight_decay=train.weight_decay,
        momentum=MOMENTUM if train.optimizer == "momentum" else None,
        betas=ADAM_BETAS if adam else None,
        eps=ADAM_EPS if adam else None,
        t=state.steps + 1 if adam else None,
        layers=updates,
    )


# --- the whole walk ---------------------------------------------------------------------------------
def explain(
    x: np.ndarray,
    label: int | float,
    layers: list[EvalLayer],
    activation: str,
    train: TrainConfig,
    state: OptimizerState,
    task: str = "classification",
) -> Explanation:
    """Forward, loss, backward and update for one example ``x`` (F,) with ``label`` (a
    regression: its target value), through
    the eval-mode ``layers`` of a network (``Engine.eval_layers``) and the optimizer's
    ``state``. The parameters are taken as float64 from whatever they are."""
    a = np.asarray(x, F64)
    passes: list[LayerPass] = []
    last = len(layers) - 1
    for j, (W, b, norm, slope) in enumerate(layers):
        W, b = np.asarray(W, F64), np.asarray(b, F64)
        z = W @ a + b
        scale = shift = None
        slope = None if slope is None else float(slope)
        outputs, fprime = z.copy(), None
        if j < last:
            if norm is not None:
                scale, shift = np.asarray(norm[0], F64), np.asarray(norm[1], F64)
            u = z if scale is None else scale * z + shift
            outputs = activate(activation, u, slope)
            fprime = derivative(activation, u, outputs, slope)
        else:
            slope = None
        empty = np.zeros(0)
        passes.append(
            LayerPass(a, W, b, z, scale, shift, outputs, slope, fprime, None, empty, empty, empty,
                      None)
        )
        a = outputs

    target = float(label) if task == "regression" else int(label)
    loss = loss_pass(train.loss, passes[-1].z, target, task)
    delta = loss.delta
    for j in range(last, -1, -1):
        layer = passes[j]
        layer.delta = delta
        layer.grad_weights = np.outer(delta, layer.inputs)  # delta_l a_{l-1}^T
        layer.grad_biases = delta.copy()
        if j == 0:
            break
        below = passes[j - 1]
        below.upstream = layer.weights.T @ delta  # dL/da_{l-1}: the error sent back down
        dl_du = below.derivative * below.upstream
        if activation == "prelu":  # dL/d slope: sum over u <= 0 of u * dL/da
            u = below.activation_input
            below.grad_slope = float(np.sum(np.where(u > 0, 0.0, u * below.upstream)))
        delta = dl_du if below.norm_scale is None else dl_du * below.norm_scale

    update = update_pass(train, state, passes, activation == "prelu")
    return Explanation(np.asarray(x, F64), target, activation, passes, loss, update, task)
