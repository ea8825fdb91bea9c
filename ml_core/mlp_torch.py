"""The reference engine: the ``nn.Module`` from ml_core/mlp.py and a torch optimizer.

It trains every network the playground offers (dropout, batch norm and RReLU included) on the
run's device, and is what the fast engine (ml_core/fastmlp.py) is tested against. Evaluation on
the CPU goes through numpy (``eval_layers`` + ``fastmlp.eval_forward``: several times faster
than PyTorch's CPU kernels for these narrow matrices); on a GPU it is the module's own forward.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from ml_core.fastmlp import ACTIVATION_OPS, eval_forward
from ml_core.mlp import (
    MLP,
    SeededDropout,
    SeededRReLU,
    build_mlp,
    count_parameters,
    load_parameters,
    loss_fn,
    parameters_of,
)
from ml_core.mlp_config import ModelConfig, TrainConfig
from ml_core.mlp_engine import Backward, Engine, EvalLayer, Evaluation, OptimizerState, Parameters
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
                # Folded in float64, so the walk-through (ml_core/backprop.py) gets it exactly.
                weight, bias = bn.weight.detach().double(), bn.bias.detach().double()
                mean, var = bn.running_mean.double(), bn.running_var.double()
                scale = weight / torch.sqrt(var + bn.eps)
                shift = bias - mean * scale
                norm = (scale.cpu().numpy(), shift.cpu().numpy())
            slope = prelu[j] if prelu else ops.slope
        layers.append((W, b, norm, slope))
    return layers


class TorchEngine(Engine):
    """``MLP`` + ``loss_fn`` + ``make_optimizer`` on ``device``: the textbook training step."""

    name = "reference"
    library = "torch"

    def __init__(
        self,
        config: ModelConfig,
        classes: int,
        train: TrainConfig,
        device: torch.device | str = "cpu",
        numpy_eval: bool = True,
        task: str = "classification",
    ) -> None:
        self.config, self.classes, self.train, self.task = config, classes, train, task
        self.device = torch.device(device)
        self.numpy_eval = numpy_eval and self.device.type == "cpu"  # else the module's forward
        self.model: MLP | None = None  # built by reset(seed)
        self.optimizer: torch.optim.Optimizer | None = None
        self._X = self._Y = self._X_epoch = self._Y_epoch = None
        self._last_loss: torch.Tensor | None = None

    def reset(self, seed: int) -> None:
        self.model = build_mlp(self.config, self.classes, seed, self.device, self.task)  # training
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
        loss = loss_fn(self.train.loss, logits, self._Y_epoch[start:stop], self.task)
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

    def _noise(self) -> torch.Generator | None:
        """The generator of the dropout masks and RReLU slopes (None without them)."""
        for module in self.model.modules():
            if isinstance(module, (SeededDropout, SeededRReLU)):
                return module.generator
        return None

    def save_state(self) -> tuple:
        noise = self._noise()
        return (
            copy.deepcopy(self.model.state_dict()),  # weights and batch-norm statistics
            copy.deepcopy(self.optimizer.state_dict()),
            None if noise is None else noise.get_state(),
        )

    def load_state(self, state: tuple) -> None:
        model, optimizer, noise = state
        self.model.load_state_dict(model)
        self.optimizer.load_state_dict(optimizer)
        t = self.train  # the saved param groups carry the rates of then: today's apply
        set_hyperparameters(self.optimizer, t.learning_rate, t.weight_decay)
        if noise is not None:
            self._noise().set_state(noise)

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

    @property
    def device_name(self) -> str:
        return str(self.device)

    def eval_layers(self) -> list[EvalLayer]:
        return eval_layers(self.model)

    def _tensors(self) -> list[torch.Tensor]:
        """The parameters of ``Parameters`` in its order: W, b per layer, then PReLU slopes."""
        model = self.model
        tensors = [p for lin in model.linears for p in (lin.weight, lin.bias)]
        if self.config.activation == "prelu":
            tensors += [act.weight for act in model.acts]
        return tensors

    def _as_parameters(self, arrays: list[np.ndarray]) -> Parameters:
        """Arrays in ``_tensors`` order -> Parameters."""
        n = len(self.model.linears)
        pairs = arrays[: 2 * n]
        prelu = [float(a.reshape(-1)[0]) for a in arrays[2 * n :]]
        return Parameters(list(pairs[0::2]), list(pairs[1::2]), prelu or None)

    def backward(self, features: np.ndarray, labels: np.ndarray) -> Backward:
        x = torch.from_numpy(np.ascontiguousarray(features)).to(self.device)
        y = torch.from_numpy(np.ascontiguousarray(labels)).to(self.device)
        tensors = self._tensors()
        self.model.eval()  # no dropout masks or RReLU draws, batch-norm statistics untouched
        try:
            with torch.enable_grad():
                loss = loss_fn(self.train.loss, self.model(x), y, self.task)
                grads = torch.autograd.grad(loss, tensors)  # leaves every .grad alone
        finally:
            self.model.train()
        arrays = [g.detach().cpu().numpy().copy() for g in grads]
        return Backward(loss.item(), self._as_parameters(arrays), len(labels))

    def optimizer_state(self) -> OptimizerState:
        name = self.train.optimizer
        if name == "sgd":
            return OptimizerState(0, None, None)
        tensors = self._tensors()

        def gather(key: str) -> Parameters:
            arrays = []
            for p in tensors:
                value = self.optimizer.state.get(p, {}).get(key)
                value = torch.zeros_like(p) if value is None else value
                arrays.append(value.detach().cpu().numpy().copy())
            return self._as_parameters(arrays)

        if name == "momentum":
            return OptimizerState(0, gather("momentum_buffer"), None)
        step = self.optimizer.state.get(tensors[0], {}).get("step", 0)
        return OptimizerState(int(step), gather("exp_avg"), gather("exp_avg_sq"))

    def count_parameters(self) -> int:
        return count_parameters(self.model)

    def batch_loss(self) -> float:
        return float("nan") if self._last_loss is None else float(self._last_loss)
