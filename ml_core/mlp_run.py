"""One MLP playground training run, with no I/O: configure, step, play by time, metrics, pictures.

The run owns the data (ml_core/mlp_data.py; features of the train / validation / test points
and of the picture grids, as numpy arrays) and one engine (ml_core/mlp_engine.py) that trains and evaluates the
network, for a classification (class labels) or a regression (a real value a point):
the numpy fast engine when the network allows it, else the PyTorch reference engine. It is
chosen once, here, when the run is built; nothing else asks which it is.

For looking inside, without changing the run: ``gradients`` (the backward view: dL/dw of every
weight and the delta of every neuron, over every training point or the last mini-batch, from
the engine), ``explain`` (one training point walked through forward, loss, backward and update
by hand: ml_core/backprop.py) and ``describe``'s tensor table (ml_core/mlp_tensors.py).

Units: a *step* is one optimizer update on one mini-batch; an *epoch* is one pass over the
shuffled training points (the last batch may be smaller). Everything random comes from the
config's seed, so two runs with the same config produce the same numbers.

Divergence (ml_core/divergence.py): every ``CHECK_EVERY`` steps (further apart while the loss is
calm, see below) the training loss is checked; a
loss five times where it started (or NaN) raises ``Diverged`` at the first step past the limit
(the steps since the last check are replayed one by one to find it), and the weights stay as
they are, for looking at. ``restore_good`` puts back those of the lowest training loss before.

The test points are looked at only on request (``exam``): metrics never include them.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from ml_core import mlp_data
from ml_core.backprop import Explanation, explain
from ml_core.divergence import Checkpoint, DivergenceWatch
from ml_core.fastmlp import FastMLP, unsupported_reason
from ml_core.features import feature_matrix
from ml_core.history import MetricsHistory
from ml_core.mlp import map_probability, mean_loss, point_losses, predicted
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_data import plane_grid
from ml_core.mlp_engine import Backward, Engine, Evaluation
from ml_core.mlp_tensors import layer_table
from ml_core.mlp_torch import TorchEngine
from ml_core.training import DIVERGED_MESSAGE, Diverged, checkpoint


@dataclass
class Snapshot:
    """What the network computes over the plane, plus its parameters (all on the CPU)."""

    output: np.ndarray  # (G, G) float32: P(class 1) for 2 classes, else the top probability;
    # a regression's predicted value
    output_class: np.ndarray | None  # (G, G) int64: predicted class (None for a regression)
    neurons: np.ndarray  # (n_features + sum(hidden), T, T) float32: each unit over the plane
    weights: list[np.ndarray]  # per layer (out, in)
    biases: list[np.ndarray]  # per layer (out,)
    prelu: list[float] | None  # learnt slope per hidden layer (PReLU only)


GRADIENT_SOURCES = ("train", "batch")
CHECK_EVERY = 16  # steps between two looks at the training loss, for a divergence, at first
# A look is a forward pass over every training point (on the circle it costs as much as ~10
# steps), so while the loss stays far below the limit the looks space out, doubling up to this;
# a change of the rate or the weights starts again from CHECK_EVERY. A blow-up comes early (a
# rate of 10 blows up within a few dozen steps) or after a change; the steps since the last
# look are replayed to find the first one past the limit, however far apart the looks are.
CHECK_EVERY_MAX = 512
CALM = 0.5  # a loss below this share of the limit lets the looks space out,
CLOSE_STEPS = 256  # but only this many steps after the start, a change of rate or a restore
EVERY_STEP = 64  # and the first this many of those are looked at one by one: a blow-up there
# may come and go between two looks 16 steps apart (a rate of 10 on the circle peaks at step 4)  # the whole training set, or the last mini-batch


@dataclass
class GradientView:
    """The backward view: every gradient at the current weights, and what it was taken over."""

    over: str  # "train" (every training point) or "batch" (the last step's mini-batch)
    step: int  # the run's step count when it was taken
    result: Backward


def make_engine(
    config: PlaygroundConfig, device: torch.device, fast: bool = True, numpy_eval: bool = True
) -> tuple[Engine, str | None]:
    """The engine for ``config`` and why it is not the fast one (None when it is)."""
    model, classes, task = config.model, config.dataset.classes, config.task
    reason = unsupported_reason(model) if fast else "fast path turned off"
    if reason is None:
        return FastMLP(model, classes, config.training, task), None
    return TorchEngine(model, classes, config.training, device, numpy_eval, task), reason


@dataclass
class Exam:
    """The network's score on the held-out test points at one step (``MLPRun.exam``)."""

    step: int
    epoch: int
    points: int  # test points (0: there is no test set)
    loss: float | None
    accuracy: float | None  # None for a regression, or without test points


@dataclass
class _Position:
    """Where a run is: the engine's state, the shuffle and the counters (for a replay)."""

    engine: object
    shuffle: dict
    batch: int
    order: np.ndarray | None
    last: tuple[int, int] | None
    steps: int
    epochs: int


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
        data = mlp_data.load(config, points)
        self.config = config = data.config  # custom data: the classes come from the points too
        self.task = config.task
        self.train_xy, self.train_y = data.train_xy, data.train_y
        self.val_xy, self.val_y = data.val_xy, data.val_y
        self.test_xy, self.test_y = data.test_xy, data.test_y
        self.n_train, self.n_val, self.n_test = len(data.train_y), len(data.val_y), len(data.test_y)
        self._labels = np.concatenate([self.train_y, self.val_y])  # of the points metrics score

        # Features of every point (train, then val) and of the picture grids: one forward.
        points_xy = torch.from_numpy(np.concatenate([self.train_xy, self.val_xy]))
        planes = torch.cat([points_xy, plane_grid(grid), plane_grid(thumb)])  # (N + G² + T², 2)
        features = config.model.features
        self._X_eval = feature_matrix(planes, features).numpy()  # (N + G² + T², F)
        self._X_test = feature_matrix(torch.from_numpy(self.test_xy), features).numpy()
        self.exams = 0  # how often the test set was looked at since the run was built
        self._owed = 0.0  # slowed play: the fraction of a step carried to the next slice

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
        start = self.train_loss()
        self._watch = DivergenceWatch(start)
        self._look_closely()
        if start is not None:
            self._watch.keep(0, start, self.engine.save_state())

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
        self._look_closely()  # a new rate may blow up

    def set_play(self, steps_per_frame: int) -> None:
        """Change play's speed (it changes nothing a step computes)."""
        play = self.config.play.model_copy(update={"steps_per_frame": steps_per_frame})
        self.config = self.config.model_copy(update={"play": play})
        self._owed = 0.0

    # --- training ---------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return len(self._bounds)

    def _advance(self, steps: int) -> None:
        engine, bounds = self.engine, self._bounds
        with np.errstate(all="ignore"):  # overflow turns into inf, caught by the check
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

    def step(self, steps: int = 1, settle: bool = True) -> int:
        """Exactly ``steps`` optimizer steps (none without training points). ``Diverged`` when
        the training loss blows up (ml_core/divergence.py): the run then stands at the first
        step past the limit, its weights as they are. The loss is looked at every
        ``CHECK_EVERY`` steps or more (a forward pass over the training points each time),
        counted across calls, and (``settle``) after the last of these steps: play passes
        ``settle=False`` for its many small calls, a ``step`` command leaves no step unlooked."""
        if not self._bounds or steps <= 0:
            return 0
        done = 0
        while done < steps:
            if self._since_check == 0:
                self._before = self._position()
            block = min(self._check_every - self._since_check, steps - done)
            self._advance(block)
            self._since_check += block
            done += block
            if self._since_check >= self._check_every or (settle and done == steps):
                self._since_check = 0
                self._check(self._before)
        return steps

    def _check(self, before: _Position) -> None:
        """After the steps since ``before``: raise ``Diverged`` if the loss blew up (standing
        at the first step past the limit, found by replaying them one by one), else keep the
        weights if they are the best so far. Once per run of steps: it costs a forward pass."""
        loss = self._checked_loss()
        if self._watch.blown(loss):
            steps = self.steps - before.steps
            if steps > 1:  # find the first step past the limit, for the curve
                self._load_position(before)
                for _ in range(steps):
                    checkpoint()  # up to CHECK_EVERY_MAX forward passes: let the worker breathe
                    self._advance(1)
                    loss = self._checked_loss()
                    if self._watch.blown(loss):
                        break
            raise Diverged(f"{DIVERGED_MESSAGE}: {self._watch.message(loss)}")
        if self._watch.improves(loss):
            self._watch.keep(self.steps, loss, self.engine.save_state())
        calm = self.steps >= self._close_until and loss < CALM * self._watch.limit
        if self.steps < self._every_step_until:
            self._check_every = 1
        elif calm:
            self._check_every = min(2 * self._check_every, CHECK_EVERY_MAX)
        else:
            self._check_every = CHECK_EVERY

    def _look_closely(self) -> None:
        """Look at the loss after each of the next EVERY_STEP steps, then every CHECK_EVERY
        steps up to CLOSE_STEPS (counted from here: the weights or the rate just changed)."""
        self._check_every, self._close_until = 1, self.steps + CLOSE_STEPS
        self._every_step_until = self.steps + EVERY_STEP
        self._since_check = 0  # steps since the last look (from ``_before``)
        self._before: _Position | None = None

    def _checked_loss(self) -> float | None:
        """The training loss now (None when a weight is not a number)."""
        if not self.engine.finite():
            return None
        return self.train_loss()

    def _position(self) -> _Position:
        return _Position(
            self.engine.save_state(), self._shuffle.bit_generator.state, self._batch,
            self._order, self._last, self.steps, self.epochs,
        )

    def _load_position(self, at: _Position) -> None:
        self.engine.load_state(at.engine)
        self._shuffle.bit_generator.state = at.shuffle
        if at.order is not None and at.order is not self._order:
            self.engine.permute(at.order)  # the epoch's order of then
        self._batch, self._order, self._last = at.batch, at.order, at.last
        self.steps, self.epochs = at.steps, at.epochs

    @property
    def good(self) -> Checkpoint | None:
        """The weights of the lowest training loss so far (step 0's before any step)."""
        return self._watch.best

    def restore_good(self) -> Checkpoint:
        """Put back the weights and the optimizer's memory of the lowest training loss so far
        (after a blow-up: from before it). The step counter goes on: the curve keeps the
        blow-up, and the loss drops back to that value at the next point."""
        good = self._watch.best
        if good is None:
            raise ValueError("there are no weights to restore: no training points yet")
        self.engine.load_state(good.state)
        self._evaluated = self._gradients = None  # the weights changed at the same step
        self._look_closely()
        return good

    def train_loss(self) -> float | None:
        """The mean loss over the training points now, as ``metrics`` reports it (None without
        training points, or when it is not a number)."""
        if not self.n_train:
            return None
        with np.errstate(all="ignore"):
            logits, _ = self.engine.evaluate(self.train_features)
        loss = self._loss(logits, self.train_y)
        return loss if np.isfinite(loss) else None

    def _loss(self, outputs: np.ndarray, targets: np.ndarray) -> float:
        return mean_loss(self.config.training.loss, outputs, targets, self.task)

    def train_for(self, budget_s: float, most: int | None = None) -> int:
        """Play mode: train for about ``budget_s`` seconds (in chunks of whole steps), and
        ``most`` steps at most (None: as many as fit)."""
        if not self._bounds or most == 0:
            return 0
        start = time.perf_counter()
        self._rate_begin(start)
        left = most if most is not None else 1 << 62
        chunk, done = 1, 0
        while True:
            done += self.step(min(chunk, left - done), settle=False)
            now = time.perf_counter()
            if now - start >= budget_s or done >= left:
                break
            per_step = (now - start) / done
            chunk = max(1, min(256, int((budget_s - (now - start)) / per_step / 2)))
        self._rate_end(now)
        return done

    def _rate_begin(self, start: float) -> None:
        """A slice of play starts (for ``epochs_per_s``; ml_core/cohort.py calls it too)."""
        if self._rate and start - self._rate[-1][0] > 0.5:
            self._rate.clear()  # we were paused: start measuring the speed afresh
        if not self._rate:
            self._rate.append((start, self.steps))

    def _rate_end(self, now: float) -> None:
        self._rate.append((now, self.steps))
        while len(self._rate) > 2 and now - self._rate[1][0] > 1.0:
            self._rate.popleft()  # keep about the last second

    def train_paced(self, elapsed_s: float, steps_per_s: float, budget_s: float) -> int:
        """Slowed play: the steps that ``elapsed_s`` seconds at ``steps_per_s`` come to (a
        fraction carries over to the next call), as many of them as fit ``budget_s``; what
        does not fit is dropped, so a slow engine plays slower, never later."""
        self._owed = min(self._owed + elapsed_s * steps_per_s, steps_per_s + 1.0)
        due = int(self._owed)
        done = self.train_for(budget_s, most=due) if due else 0
        self._owed = self._owed - due if done == due else 0.0
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

    def _score(self, logits: np.ndarray, targets: np.ndarray, parts: list[tuple[int, int]]) -> list:
        """(loss, accuracy) of outputs (M, n_out) against targets (M,) over each [lo, hi) of
        ``parts``, each point scored once for them all; (None, None) for a part with no points,
        accuracy None for a regression (its metric is the loss), loss None when not a number."""
        losses = point_losses(self.config.training.loss, logits, targets, self.task)
        right = predicted(logits) == targets if self.task == "classification" else None
        scores = []
        for lo, hi in parts:
            loss = acc = None
            if hi > lo:
                loss = float(losses[lo:hi].sum() / (hi - lo))  # mean_loss's, on this part
                loss = loss if np.isfinite(loss) else None
                acc = None if right is None else float(np.count_nonzero(right[lo:hi]) / (hi - lo))
            scores.append((loss, acc))
        return scores

    def metrics(self) -> dict:
        """Loss and accuracy on the train and validation points (None where there are none;
        a regression has no accuracy). Never the test points: see ``exam``. It runs for every
        frame: one forward (cached) and one scoring for both parts."""
        out = {"step": self.steps, "epoch": self.epochs}
        n = self.n_train + self.n_val
        logits = self._evaluate()[0][:n]
        train, val = self._score(logits, self._labels, [(0, self.n_train), (self.n_train, n)])
        out["train_loss"], out["train_accuracy"] = train
        out["val_loss"], out["val_accuracy"] = val
        self.history.record(out)
        return out

    def exam(self) -> Exam:
        """The final exam: loss and accuracy on the held-out test points, now. Counted, since
        each look at the test set is one more decision it may have leaked into."""
        self.exams += 1
        with np.errstate(all="ignore"):
            logits = self.engine.evaluate(self._X_test)[0]  # (n_test, n_out)
        [(loss, acc)] = self._score(logits, self.test_y, [(0, self.n_test)])
        return Exam(self.steps, self.epochs, self.n_test, loss, acc)

    def snapshot(self) -> Snapshot:
        """The output map (G x G), every unit's map (T x T) and the parameters."""
        with np.errstate(all="ignore"):
            logits, hiddens = self._evaluate()
        n, g2, t = self.n_train + self.n_val, self.grid * self.grid, self.thumb
        plane = logits[n : n + g2]  # (G², n_out)
        if self.task == "regression":
            output, output_class = plane[:, 0], None
        else:  # the predicted class and its probability (``probabilities``, in NumPy)
            with np.errstate(all="ignore"):
                output, output_class = map_probability(plane), predicted(plane)
        thumbs = [self._X_eval[n + g2 :], *(h[n + g2 :] for h in hiddens)]  # (T², ·) each
        units = np.concatenate(thumbs, axis=1)  # (T², n_features + sum(hidden))
        shape = (self.grid, self.grid)
        params = self.engine.parameters()
        return Snapshot(
            output=output.reshape(shape).astype(np.float32),
            output_class=None if output_class is None else output_class.reshape(shape),
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
            self.train_y[index].item(),
            self.engine.eval_layers(),
            self.config.model.activation,
            self.config.training,
            self.engine.optimizer_state(),
            self.task,
        )

    def describe(self) -> dict:
        """Size and placement of the network, for the page."""
        return {
            "parameters": self.engine.count_parameters(),
            "layers": list(self.config.model.layer_sizes(self.classes, self.task)),
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
