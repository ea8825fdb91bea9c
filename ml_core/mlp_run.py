"""One MLP playground training run, with no I/O: configure, step, play by time, metrics, pictures.

The run owns the data (features of the train / validation points and of the picture grids, as
numpy arrays) and one engine (ml_core/mlp_engine.py) that trains and evaluates the network:
the numpy fast engine when the network allows it, else the PyTorch reference engine. It is
chosen once, here, when the run is built; nothing else asks which it is.

For looking inside, without changing the run: ``gradients`` (the backward view: dL/dw of every
weight and the delta of every neuron, over every training point or the last mini-batch, from
the engine), ``explain`` (one training point walked through forward, loss, backward and update
by hand: ml_core/backprop.py) and ``describe``'s tensor table (ml_core/mlp_tensors.py).

Units: a *step* is one optimizer update on one mini-batch; an *epoch* is one pass over the
shuffled training points (the last batch may be smaller). Everything random comes from the
config's seed, so two runs with the same config produce the same numbers.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from ml_core import datasets2d
from ml_core.backprop import Explanation, explain
from ml_core.fastmlp import FastMLP, unsupported_reason
from ml_core.features import feature_matrix
from ml_core.history import MetricsHistory
from ml_core.mlp import loss_fn, predictions, probabilities
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_engine import Backward, Engine, Evaluation
from ml_core.mlp_tensors import layer_table
from ml_core.mlp_torch import TorchEngine
from ml_core.training import Diverged


@dataclass
class Snapshot:
    """What the network computes over the plane, plus its parameters (all on the CPU)."""

    output: np.ndarray  # (G, G) float32: P(class 1) for 2 classes, else the top probability
    output_class: np.ndarray  # (G, G) int64: predicted class
    neurons: np.ndarray  # (n_features + sum(hidden), T, T) float32: each unit over the plane
    weights: list[np.ndarray]  # per layer (out, in)
    biases: list[np.ndarray]  # per layer (out,)
    prelu: list[float] | None  # learnt slope per hidden layer (PReLU only)


GRADIENT_SOURCES = ("train", "batch")  # the whole training set, or the last mini-batch


@dataclass
class GradientView:
    """The backward view: every gradient at the current weights, and what it was taken over."""

    over: str  # "train" (every training point) or "batch" (the last step's mini-batch)
    step: int  # the run's step count when it was taken
    result: Backward


def plane_grid(size: int) -> torch.Tensor:
    """Cell centres (size*size, 2), row-major; row 0 is y = +1, column 0 is x = -1."""
    xs = torch.linspace(-1.0, 1.0, size)
    ys = torch.linspace(1.0, -1.0, size)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def make_engine(
    config: PlaygroundConfig, device: torch.device, fast: bool = True, numpy_eval: bool = True
) -> tuple[Engine, str | None]:
    """The engine for ``config`` and why it is not the fast one (None when it is)."""
    model, classes = config.model, config.dataset.classes
    reason = unsupported_reason(model) if fast else "fast path turned off"
    if reason is None:
        return FastMLP(model, classes, config.training), None
    return TorchEngine(model, classes, config.training, device, numpy_eval), reason


class MLPRun:
    """A configured network, its data and its training state."""

    def __init__(
        self,
        config: PlaygroundConfig,
        device: torch.device | str = "cpu",
        points=None,
        grid: int = 64,
        thumb: int = 24,
        fast: bool = True,
        numpy_eval: bool = True,
    ) -> None:
        self.device = torch.device(device)
        self.grid, self.thumb = grid, thumb
        data = config.dataset
        if data.name == datasets2d.CUSTOM:
            xy, labels = datasets2d.from_points(points if points is not None else [])
            classes = max(data.classes, int(labels.max()) + 1 if len(labels) else 2)
            config = config.model_copy(
                update={"dataset": data.model_copy(update={"classes": classes})}
            )
        else:
            xy, labels = datasets2d.generate(
                data.name, data.samples, data.noise, data.classes, data.seed
            )
        train_idx, val_idx = datasets2d.split(len(labels), data.val_fraction, data.seed)
        self.config = config  # custom data: the classes come from the points too
        if config.model.batch_norm and 0 < len(train_idx) < 2:
            raise ValueError("batch norm needs at least 2 training points")
        self.train_xy, self.train_y = xy[train_idx], labels[train_idx]
        self.val_xy, self.val_y = xy[val_idx], labels[val_idx]
        self.n_train, self.n_val = len(train_idx), len(val_idx)

        # Features of every point (train, then val) and of the picture grids: one forward.
        points_xy = torch.from_numpy(np.concatenate([self.train_xy, self.val_xy]))
        planes = torch.cat([points_xy, plane_grid(grid), plane_grid(thumb)])  # (N + G² + T², 2)
        self._X_eval = feature_matrix(planes, config.model.features).numpy()  # (N + G² + T², F)

        self.engine, self.fast_reason = make_engine(config, self.device, fast, numpy_eval)
        self.engine.set_data(self._X_eval[: self.n_train], self.train_y)
        self._bounds = self._batch_bounds()
        self._rate: deque[tuple[float, int]] = deque()
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

    @property
    def batches(self) -> list[tuple[int, int]]:
        """(start, stop) rows of each step of an epoch, in the epoch's shuffled order."""
        return list(self._bounds)

    @property
    def classes(self) -> int:
        return self.config.dataset.classes

    @property
    def train_features(self) -> np.ndarray:
        """The training points' features (n_train, F) float32, as the engine trains on them."""
        return self._X_eval[: self.n_train]

    def reset(self) -> None:
        """Fresh weights and optimizer from the seed; the data stays. Same seed, same run."""
        seed = self.config.dataset.seed
        self.engine.reset(seed)
        self._shuffle = np.random.default_rng(seed + 2)
        self.steps, self.epochs = 0, 0
        self._batch = len(self._bounds)  # past the end: the first step starts an epoch
        self._rate.clear()
        self._evaluated: tuple[int, Evaluation] | None = None  # (steps, evaluation) cache
        self._order: np.ndarray | None = None  # this epoch's shuffle of the training rows
        self._last: tuple[int, int] | None = None  # rows of the last step's batch in that order
        self._gradients: GradientView | None = None  # cache, one per (step, source)
        self.history = MetricsHistory()  # what metrics() reported, for the CSV export

    def set_training(self, learning_rate: float | None = None, weight_decay: float | None = None):
        """Change the learning rate / weight decay on the fly; weights and momentum are kept."""
        train = self.config.training
        train = train.model_copy(
            update={
                "learning_rate": train.learning_rate if learning_rate is None else learning_rate,
                "weight_decay": train.weight_decay if weight_decay is None else weight_decay,
            }
        )
        self.config = self.config.model_copy(update={"training": train})
        self.engine.set_hyperparameters(train.learning_rate, train.weight_decay)

    # --- training ---------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return len(self._bounds)

    def step(self, steps: int = 1) -> int:
        """Exactly ``steps`` optimizer steps (none without training points); Diverged on NaN/inf."""
        if not self._bounds or steps <= 0:
            return 0
        engine, bounds = self.engine, self._bounds
        with np.errstate(all="ignore"):  # overflow turns into inf, caught just below
            for _ in range(steps):
                if self._batch == len(bounds):
                    self._order = self._shuffle.permutation(self.n_train)
                    engine.permute(self._order)
                    self._batch = 0
                self._last = bounds[self._batch]
                engine.step(*self._last)
                self._batch += 1
                self.steps += 1
                if self._batch == len(bounds):
                    self.epochs += 1
        if not engine.finite():
            raise Diverged()
        return steps

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
    def _evaluate(self) -> Evaluation:
        """One eval-mode forward of every data point and every picture cell, cached until the
        weights change: (logits (N + G² + T², n_out), [hidden outputs (.., h_j)]) on the CPU."""
        if self._evaluated is None or self._evaluated[0] != self.steps:
            self._evaluated = (self.steps, self.engine.evaluate(self._X_eval))
        return self._evaluated[1]

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
        self.history.record(out)
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
        thumbs = [self._X_eval[n + g2 :], *(h[n + g2 :] for h in hiddens)]  # (T², ·) each
        units = np.concatenate(thumbs, axis=1)  # (T², n_features + sum(hidden))
        shape = (self.grid, self.grid)
        params = self.engine.parameters()
        return Snapshot(
            output=output.reshape(shape).float().numpy(),
            output_class=output_class.reshape(shape).numpy(),
            neurons=np.ascontiguousarray(units.T).reshape(-1, t, t),
            weights=params.weights,
            biases=params.biases,
            prelu=params.prelu,
        )

    # --- backpropagation, for looking (nothing here changes the run) ---------------------------
    def last_batch(self) -> np.ndarray | None:
        """Indices (into the training points) of the last step's mini-batch; None before one."""
        if self._last is None or self._order is None:
            return None
        return self._order[self._last[0] : self._last[1]]

    def gradients(self, over: str = "train") -> GradientView | None:
        """dL/dw of every weight and the delta of every neuron at the current weights, over
        every training point (``over="train"``) or the last mini-batch (``"batch"``; every
        point before the first step). None without training points. Cached until a step."""
        if over not in GRADIENT_SOURCES:
            raise ValueError(f"gradients over {over!r}? choose from {', '.join(GRADIENT_SOURCES)}")
        if self.n_train == 0:
            return None
        rows = self.last_batch() if over == "batch" else None
        source = "train" if rows is None else "batch"
        cached = self._gradients
        if cached is not None and cached.step == self.steps and cached.over == source:
            return cached
        features, labels = self.train_features, self.train_y
        if rows is not None:
            features, labels = features[rows], labels[rows]
        with np.errstate(all="ignore"):
            result = self.engine.backward(features, labels)
        self._gradients = GradientView(source, self.steps, result)
        return self._gradients

    def explain(self, index: int) -> Explanation:
        """Training point ``index`` walked through the network by hand: forward, loss,
        backward and the optimizer's update (ml_core/backprop.py), at the current weights."""
        if self.n_train == 0:
            raise ValueError("there are no training points yet: draw some or pick a dataset")
        if not 0 <= index < self.n_train:
            raise IndexError(
                f"there is no training point {index}: there are {self.n_train} "
                f"(0 to {self.n_train - 1})"
            )
        return explain(
            self.train_features[index],
            int(self.train_y[index]),
            self.engine.eval_layers(),
            self.config.model.activation,
            self.config.training,
            self.engine.optimizer_state(),
        )

    def describe(self) -> dict:
        """Size and placement of the network, for the page."""
        return {
            "parameters": self.engine.count_parameters(),
            "layers": list(self.config.model.layer_sizes(self.classes)),
            "features": list(self.config.model.features),
            "engine": self.engine.name,
            "steps_per_epoch": self.steps_per_epoch,
            "tensors": layer_table(self.config, self.classes, self.engine),
        }

    def step_losses(self, steps: int) -> list[float]:
        """``steps`` steps as ``step`` makes them, with each one's mini-batch loss (before its
        update): the numbers an exported script's training loop prints."""
        losses = []
        for _ in range(steps):
            self.step(1)
            losses.append(self.engine.batch_loss())
        return losses
