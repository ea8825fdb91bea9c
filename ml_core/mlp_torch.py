"""The reference engine: the ``nn.Module`` from ml_core/mlp.py and a torch optimizer.

It trains every network the playground offers (dropout, batch norm and RReLU included) on the
run's device, and is what the fast engine (ml_core/fastmlp.py) is tested against. Evaluation on
the CPU goes through numpy (``eval_layers`` + ``fastmlp.eval_forward``: several times faster
than PyTorch's CPU kernels for these narrow matrices); on a GPU it is the module's own forward.
"""

from __future__ import annotations

import numpy as np
import torch

from ml_core.fastmlp import ACTIVATION_OPS, EvalLayer, eval_forward
from ml_core.mlp import (
    MLP,
    build_mlp,
    count_parameters,
    load_parameters,
    loss_fn,
    parameters_of,
)
from ml_core.mlp_config import ModelConfig, TrainConfig
from ml_core.mlp_engine import Engine, Evaluation, Parameters
from ml_core.training import make_optimizer, set_hyperparameters


def eval_layers(model: MLP) -> list[EvalLayer]:
    """The module's eval-mode layers as numpy (CPU) arrays, batch norm folded to scale, shift."""
    layers = []
    ops = ACTIVATION_OPS[model.config.activation]
    prelu = model.prelu_slopes()
    for j, linear in enumerate(model.linears):
        W = linear.weight.detach().cpu().numpy()
        b = linear.bias.detach().cpu().numpy()
        norm = slope = None
        if j < len(model.config.hidden):
            bn = model.norms[j]
            if isinstance(bn, torch.nn.BatchNorm1d):  # eval: (z - mean) / sqrt(var + eps) * g + b
                scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
                shift = (bn.bias - bn.running_mean * scale).detach()
                norm = (scale.cpu().numpy(), shift.cpu().numpy())
            slope = prelu[j] if prelu else ops.slope
        layers.append((W, b, norm, slope))
    return layers


class TorchEngine(Engine):
    """``MLP`` + ``loss_fn`` + ``make_optimizer`` on ``device``: the textbook training step."""

    name = "reference"

    def __init__(
        self,
        config: ModelConfig,
        classes: int,
        train: TrainConfig,
        device: torch.device | str = "cpu",
        numpy_eval: bool = True,
    ) -> None:
        self.config, self.classes, self.train = config, classes, train
        self.device = torch.device(device)
        self.numpy_eval = numpy_eval and self.device.type == "cpu"  # else the module's forward
        self.model: MLP | None = None  # built by reset(seed)
        self.optimizer: torch.optim.Optimizer | None = None
        self._X = self._Y = self._X_epoch = self._Y_epoch = None
        self._last_loss: torch.Tensor | None = None

    def reset(self, seed: int) -> None:
        self.model = build_mlp(self.config, self.classes, seed, self.device)  # training mode
        t = self.train
        self.optimizer = make_optimizer(
            t.optimizer, self.model.parameters(), t.learning_rate, t.weight_decay
        )

    def set_data(self, features: np.ndarray, labels: np.ndarray) -> None:
        self._X = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)  # (N, F)
        self._Y = torch.from_numpy(np.ascontiguousarray(labels)).to(self.device)  # (N,)
        self.permute(np.arange(len(labels)))

    def permute(self, order: np.ndarray) -> None:
        index = torch.from_numpy(order).to(self.device)
        self._X_epoch, self._Y_epoch = self._X[index], self._Y[index]

    def step(self, start: int, stop: int) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        logits = self.model(self._X_epoch[start:stop])
        loss = loss_fn(self.train.loss, logits, self._Y_epoch[start:stop])
        loss.backward()
        self.optimizer.step()
        self._last_loss = loss.detach()  # read only by batch_loss: no sync here

    def finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.model.parameters())

    def set_hyperparameters(self, learning_rate: float, weight_decay: float) -> None:
        self.train = self.train.model_copy(
            update={"learning_rate": learning_rate, "weight_decay": weight_decay}
        )
        set_hyperparameters(self.optimizer, learning_rate, weight_decay)

    @torch.no_grad()
    def evaluate(self, features: np.ndarray) -> Evaluation:
        if self.numpy_eval:
            return eval_forward(eval_layers(self.model), self.config.activation, features)
        self.model.eval()
        try:
            x = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
            logits, hiddens = self.model.forward_hidden(x)
        finally:
            self.model.train()
        return logits.float().cpu().numpy(), [h.float().cpu().numpy() for h in hiddens]

    def parameters(self) -> Parameters:
        return parameters_of(self.model)

    def load(self, params: Parameters) -> None:
        load_parameters(self.model, params)

    def gradients(self, features: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        self.model.zero_grad(set_to_none=True)
        x = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
        y = torch.from_numpy(np.ascontiguousarray(labels)).to(self.device)
        loss = loss_fn(self.train.loss, self.model(x), y)
        loss.backward()
        grads = Parameters(
            weights=[lin.weight.grad.cpu().numpy() for lin in self.model.linears],
            biases=[lin.bias.grad.cpu().numpy() for lin in self.model.linears],
            prelu=[float(a.weight.grad[0]) for a in self.model.acts]
            if self.config.activation == "prelu"
            else None,
        )
        self.model.zero_grad(set_to_none=True)
        return loss.item(), grads.vector()

    def count_parameters(self) -> int:
        return count_parameters(self.model)

    def batch_loss(self) -> float:
        return float("nan") if self._last_loss is None else float(self._last_loss)
