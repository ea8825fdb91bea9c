"""One MLP playground training run, with no I/O: configure, step, play by time, metrics, pictures.

The run owns the data (features of the train / validation points and of the picture
grids), the reference ``MLP`` on the chosen device and, when the network allows it, the
numpy fast path (``ml_core.fastmlp``) that does the training steps. With the fast path the
module is only a mirror: parameters are copied into it before metrics and snapshots, which
both run as one batched no-grad forward on the device.

Units: a *step* is one optimizer update on one mini-batch; an *epoch* is one pass over the
shuffled training points (the last batch may be smaller). Everything random comes from the
config's seed, so two runs with the same config produce the same numbers.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ml_core import datasets2d
from ml_core.datasets2d import DataConfig
from ml_core.fastmlp import (
    FastMLP,
    engine_layers,
    eval_forward,
    eval_layers,
    unsupported_reason,
)
from ml_core.features import feature_matrix
from ml_core.mlp import (
    MLPConfig,
    TrainConfig,
    build_mlp,
    count_parameters,
    loss_fn,
    predictions,
    probabilities,
)
from ml_core.training import Diverged, make_optimizer, set_hyperparameters


@dataclass(frozen=True)
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: MLPConfig = field(default_factory=MLPConfig)
    training: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class Snapshot:
    """What the network computes over the plane, plus its parameters (all on the CPU)."""

    output: np.ndarray  # (G, G) float32: P(class 1) for 2 classes, else the top probability
    output_class: np.ndarray  # (G, G) int64: predicted class
    neurons: np.ndarray  # (n_features + sum(hidden), T, T) float32: each unit over the plane
    weights: list[np.ndarray]  # per layer (out, in)
    biases: list[np.ndarray]  # per layer (out,)
    prelu: list[float] | None  # learnt slope per hidden layer (PReLU only)


def plane_grid(size: int) -> torch.Tensor:
    """Cell centres (size*size, 2), row-major; row 0 is y = +1, column 0 is x = -1."""
    xs = torch.linspace(-1.0, 1.0, size)
    ys = torch.linspace(1.0, -1.0, size)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


class MLPRun:
    """A configured network, its data and its training state."""

    def __init__(
        self,
        config: RunConfig,
        device: torch.device | str = "cpu",
        points=None,
        grid: int = 64,
        thumb: int = 24,
        fast: bool = True,
        numpy_eval: bool = True,
    ) -> None:
        self.device = torch.device(device)
        self.grid, self.thumb = grid, thumb
        data = config.data
        if data.name == "custom":
            xy, labels = datasets2d.from_points(points if points is not None else [])
            classes = max(data.classes, int(labels.max()) + 1 if len(labels) else 2)
            data = replace(data, classes=classes, samples=len(labels))
        else:
            xy, labels = datasets2d.generate(
                data.name, data.samples, data.noise, data.classes, data.seed
            )
        train_idx, val_idx = datasets2d.split(len(labels), data.val_fraction, data.seed)
        self.config = replace(config, data=data, model=replace(config.model, classes=data.classes))
        model_cfg = self.config.model
        if model_cfg.batch_norm and 0 < len(train_idx) < 2:
            raise ValueError("batch norm needs at least 2 training points")
        self.train_xy, self.train_y = xy[train_idx], labels[train_idx]
        self.val_xy, self.val_y = xy[val_idx], labels[val_idx]
        self.n_train, self.n_val = len(train_idx), len(val_idx)

        # Features of every point (train then val) and of the picture grids, on the device.
        features = model_cfg.features
        all_xy = torch.from_numpy(np.concatenate([self.train_xy, self.val_xy]))
        self._X_all = feature_matrix(all_xy, features).to(self.device)  # (N, F)
        self._Y_all = torch.from_numpy(np.concatenate([self.train_y, self.val_y])).to(self.device)
        planes = torch.cat([plane_grid(grid), plane_grid(thumb)])  # (G² + T², 2)
        self._X_plane = feature_matrix(planes, features).to(self.device)
        self._X_train_np = self._X_all[: self.n_train].cpu().numpy()
        self._X_eval = torch.cat([self._X_all, self._X_plane])  # (N + G² + T², F): one forward
        self._X_eval_np = self._X_eval.cpu().numpy()

        self.fast_reason = unsupported_reason(model_cfg) if fast else "fast path turned off"
        self.numpy_eval = numpy_eval and self.device.type == "cpu"  # else the module's forward
        self._bounds = self._batch_bounds()
        self.reset()

    # --- set-up -----------------------------------------------------------------------------
    def _batch_bounds(self) -> list[tuple[int, int]]:
        """(start, stop) of each batch in an epoch; a lone last point joins the batch before it
        under batch norm (BatchNorm1d cannot normalise a batch of one)."""
        n, size = self.n_train, self.config.training.batch_size
        bounds = [(i, min(i + size, n)) for i in range(0, n, size)]
        if self.config.model.batch_norm and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < 2:
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds

    def reset(self) -> None:
        """Fresh weights and optimizer from the seed; the data stays. Same seed, same run."""
        seed, train = self.config.data.seed, self.config.training
        self.model = build_mlp(self.config.model, seed, self.device)
        self.fast = None if self.fast_reason else FastMLP(self.config.model, train)
        if self.fast is not None:
            self.fast.load(self.model)
            self.fast.set_data(self._X_train_np, self.train_y)
            self.optimizer = None
        else:
            self.optimizer = make_optimizer(
                train.optimizer, self.model.parameters(), train.learning_rate, train.weight_decay
            )
        self._shuffle = np.random.default_rng(seed + 2)
        self.steps, self.epochs = 0, 0
        self._batch = len(self._bounds)  # past the end: the first step starts an epoch
        self._stale = False  # module behind the fast path's parameters
        self._rate: deque[tuple[float, int]] = deque()
        self._evaluated = None  # (steps, forward result) of the last _evaluate

    def set_training(self, learning_rate: float | None = None, weight_decay: float | None = None):
        """Change the learning rate / weight decay on the fly; weights and momentum are kept."""
        train = self.config.training
        train = replace(
            train,
            learning_rate=train.learning_rate if learning_rate is None else learning_rate,
            weight_decay=train.weight_decay if weight_decay is None else weight_decay,
        )
        self.config = replace(self.config, training=train)
        if self.fast is not None:
            self.fast.set_hyperparameters(train.learning_rate, train.weight_decay)
        else:
            set_hyperparameters(self.optimizer, train.learning_rate, train.weight_decay)

    # --- training ---------------------------------------------------------------------------
    @property
    def engine(self) -> str:
        return "fast" if self.fast is not None else "reference"

    @property
    def steps_per_epoch(self) -> int:
        return len(self._bounds)

    def _new_epoch(self) -> None:
        order = self._shuffle.permutation(self.n_train)
        if self.fast is not None:
            self.fast.permute(order)
        else:
            index = torch.from_numpy(order).to(self.device)
            self._X_epoch = self._X_all[: self.n_train][index]
            self._Y_epoch = self._Y_all[: self.n_train][index]
        self._batch = 0

    def step(self, steps: int = 1) -> int:
        """Exactly ``steps`` optimizer steps (none without training points); Diverged on NaN/inf."""
        if not self._bounds or steps <= 0:
            return 0
        if self.fast is not None:
            with np.errstate(all="ignore"):  # overflow turns into inf, caught just below
                for _ in range(steps):
                    if self._batch == len(self._bounds):
                        self._new_epoch()
                    self.fast.step(*self._bounds[self._batch])
                    self._advance()
            self._stale = True
            finite = self.fast.finite()
        else:
            self.model.train()
            loss_name = self.config.training.loss
            for _ in range(steps):
                if self._batch == len(self._bounds):
                    self._new_epoch()
                i0, i1 = self._bounds[self._batch]
                self.optimizer.zero_grad(set_to_none=True)
                loss_fn(
                    loss_name, self.model(self._X_epoch[i0:i1]), self._Y_epoch[i0:i1]
                ).backward()
                self.optimizer.step()
                self._advance()
            finite = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        if not finite:
            raise Diverged()
        return steps

    def _advance(self) -> None:
        self._batch += 1
        self.steps += 1
        if self._batch == len(self._bounds):
            self.epochs += 1

    def train_for(self, budget_s: float) -> int:
        """Play mode: train for about ``budget_s`` seconds (in chunks of whole steps)."""
        if not self._bounds:
            return 0
        start = time.perf_counter()
        if self._rate and start - self._rate[-1][0] > 0.5:
            self._rate.clear()  # we were paused: start measuring the speed afresh
        if not self._rate:
            self._rate.append((start, self.steps))
        chunk, done = 1, 0
        while True:
            done += self.step(chunk)
            now = time.perf_counter()
            if now - start >= budget_s:
                break
            per_step = (now - start) / done
            chunk = max(1, min(256, int((budget_s - (now - start)) / per_step / 2)))
        self._rate.append((now, self.steps))
        while len(self._rate) > 2 and now - self._rate[1][0] > 1.0:
            self._rate.popleft()  # keep about the last second
        return done

    @property
    def epochs_per_s(self) -> float | None:
        """Training speed over about the last second of play (None before any)."""
        if len(self._rate) < 2 or not self._bounds:
            return None
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) / len(self._bounds) if t1 > t0 else None

    # --- looking at it ----------------------------------------------------------------------
    def _sync(self) -> None:
        """Bring the module up to the fast path's parameters; eval mode for looking."""
        if self._stale:
            self.fast.store(self.model)
            self._stale = False
        self.model.eval()

    def _evaluate(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """One eval-mode forward of every data point and every picture cell, cached until the
        weights change: (logits (N + G² + T², n_out), [hidden outputs (.., h_j)]) on the CPU.

        On the CPU it runs in numpy (fastmlp.eval_forward: several times faster than PyTorch's
        CPU kernels for these narrow matrices); on a GPU it is the module's own forward."""
        if self._evaluated is not None and self._evaluated[0] == self.steps:
            return self._evaluated[1]
        activation = self.config.model.activation
        if self.numpy_eval:
            layers = engine_layers(self.fast) if self.fast else eval_layers(self.model)
            result = eval_forward(layers, activation, self._X_eval_np)
        else:
            self._sync()
            with torch.no_grad():
                logits, hiddens = self.model.forward_hidden(self._X_eval)
            result = (logits.float().cpu().numpy(), [h.float().cpu().numpy() for h in hiddens])
        self._evaluated = (self.steps, result)
        return result

    def metrics(self) -> dict:
        """Loss and accuracy on the train and validation points (None where there are none)."""
        out = {"step": self.steps, "epoch": self.epochs}
        logits = torch.from_numpy(self._evaluate()[0][: self.n_train + self.n_val])  # (N, n_out)
        labels = torch.from_numpy(np.concatenate([self.train_y, self.val_y]))
        for part, sl in (("train", slice(0, self.n_train)), ("val", slice(self.n_train, None))):
            loss = acc = None
            if logits[sl].shape[0]:
                loss = float(loss_fn(self.config.training.loss, logits[sl], labels[sl]))
                acc = float((predictions(logits[sl]) == labels[sl]).float().mean())
                loss = loss if np.isfinite(loss) else None
            out[f"{part}_loss"], out[f"{part}_accuracy"] = loss, acc
        return out

    def snapshot(self) -> Snapshot:
        """The output map (G x G), every unit's map (T x T) and the parameters."""
        logits, hiddens = self._evaluate()
        n, g2, t = self.n_train + self.n_val, self.grid * self.grid, self.thumb
        plane = torch.from_numpy(logits[n : n + g2])  # (G², n_out)
        probs = probabilities(plane)
        if probs.dim() == 1:
            output, output_class = probs, (plane[:, 0] > 0).long()
        else:
            output, output_class = probs.max(dim=1)
        thumbs = [self._X_eval_np[n + g2 :], *(h[n + g2 :] for h in hiddens)]  # (T², ·) each
        units = np.concatenate(thumbs, axis=1)  # (T², n_features + sum(hidden))
        shape = (self.grid, self.grid)
        if self.fast is not None:
            weights = [w.copy() for w in self.fast.W]
            biases = [b.copy() for b in self.fast.b]
            prelu = [float(a[0]) for a in self.fast.a] or None
        else:
            weights = [lin.weight.detach().cpu().numpy() for lin in self.model.linears]
            biases = [lin.bias.detach().cpu().numpy() for lin in self.model.linears]
            prelu = self.model.prelu_slopes()
        return Snapshot(
            output=output.reshape(shape).float().numpy(),
            output_class=output_class.reshape(shape).numpy(),
            neurons=np.ascontiguousarray(units.T).reshape(-1, t, t),
            weights=weights,
            biases=biases,
            prelu=prelu,
        )

    def describe(self) -> dict:
        """Size and placement of the network, for the page."""
        return {
            "parameters": count_parameters(self.model),
            "layers": list(self.config.model.layer_sizes),
            "features": list(self.config.model.features),
            "engine": self.engine,
            "steps_per_epoch": self.steps_per_epoch,
        }
