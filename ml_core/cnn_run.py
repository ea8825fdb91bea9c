"""One CNN training run: the model, training in slices, when to validate, the curves, save/load.

``CNNRun`` does no I/O and knows nothing of the web: the lab (app/labs/cnn.py) calls
``train_for`` / ``train_steps`` in slices and reads metrics and evaluations from it. Around it:
the config is ml_core/cnn_config.py, the split and its tensors ml_core/cnn_data.py (``run.data``),
and what there is to look at (galleries, feature maps, the augmentation preview)
ml_core/cnn_inspect.py.

Every random draw comes from a generator seeded by the config (weights and dropout: see
``build_model``; batch order and augmentation: below), never the global RNG, so runs on other
threads (other sessions) cannot change this one. Per-step values stay on the device (no
``.item()``, so a GPU never waits) until someone reads the metrics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ml_core.checkpoint import CheckpointError, check_weights, load_weights, to_bytes
from ml_core.cnn import LayerInfo, build_model, infer_shapes
from ml_core.cnn_channels import ChannelTops, ChannelWatch
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_data import RunData
from ml_core.cnn_shapes import ComputeLimits, check_compute, forward_work, step_cost
from ml_core.image_datasets import ImageDataset
from ml_core.pitfalls import class_weights
from ml_core.training import Diverged, checkpoint, finite, make_optimizer

HISTORY_POINTS = 1000  # beyond this the older half of the curves is thinned
HISTOGRAM_POINTS = 120  # activation histograms kept over time (older ones thinned)
EVAL_BATCH = 1024
EVAL_CHUNK_WORK = 1e9  # forward FLOPs of one evaluation chunk: cancellable every ~50 ms
FINE_CANCEL_WORK = 1e9  # a step costlier than this is cancellable layer by layer, too


def _checked(grad: torch.Tensor) -> None:
    checkpoint()


def _check_backward(_module, _inputs, output: torch.Tensor) -> None:
    """A forward hook: check again when this output's gradient is computed (returns None, so
    the output stays as it is)."""
    if output.requires_grad:
        output.register_hook(_checked)


def _cancellable(model: torch.nn.Module) -> None:
    """Let a closed session stop a long step between two layers, forward or backward, not only
    between steps: a conv or dense layer checks the cancel token before it runs and before its
    gradient is computed (hooks cost microseconds; only long steps get them)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            module.register_forward_pre_hook(lambda _m, _i: checkpoint())
            module.register_forward_hook(_check_backward)


def _thin(points: list, most: int) -> list:
    """Keep every other point of the older half once there are more than ``most``."""
    if len(points) <= most:
        return points
    half = most // 2
    return points[:half:2] + points[half:]


@dataclass
class Evaluation:
    split: str
    step: int
    epoch: float
    loss: float | None
    accuracy: float
    confusion: np.ndarray  # (k, k) int64, rows = true class, columns = prediction
    probs: np.ndarray  # (n, k) float32
    labels: np.ndarray  # (n,) int64

    @property
    def preds(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def counts(self) -> np.ndarray:
        return self.confusion.sum(1)

    @property
    def per_class_accuracy(self) -> list[float | None]:
        counts = self.counts
        return [
            float(self.confusion[c, c] / counts[c]) if counts[c] else None
            for c in range(len(counts))
        ]


@dataclass
class HistoryPoint:
    """One point of the curves: training metrics since the last read, and a validation pass."""

    step: int
    epoch: float
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_acc: float


@dataclass
class HistogramPoint:
    """Each conv block's pre-activation histogram (bins of ``cnn_channels.HIST_RANGE``) at a
    validation pass."""

    step: int
    counts: dict[int, np.ndarray]  # block number -> (HIST_BINS,) int64


class CNNRun:
    def __init__(
        self,
        config: CNNConfig,
        dataset: ImageDataset,
        device: torch.device,
        limits: ComputeLimits | None = None,
        data: RunData | None = None,
    ) -> None:
        """``data``: another run's split of the same dataset and config, to share."""
        self.config, self.device = config, device
        self.data = data if data is not None else RunData(config, dataset, device)
        self.classes = dataset.classes
        self.input_shape = dataset.input_shape
        limits = limits or ComputeLimits()
        self.layers: list[LayerInfo] = infer_shapes(
            config.architecture, self.input_shape, len(self.classes), limits.max_parameters
        )
        # what validation passes also record (each costs a share of the pass): each channel's
        # strongest images, each block's pre-activation histograms (ml_core/cnn_channels.py)
        self.watch_peaks = self.watch_histograms = False
        held_out = max(len(self.data.val_ids), len(self.data.test_ids))
        check_compute(self.layers, config.batch_size, held_out, limits)
        # evaluation goes in chunks of about EVAL_CHUNK_WORK, cancellable between them
        self.eval_batch = int(min(EVAL_BATCH, max(1, EVAL_CHUNK_WORK // forward_work(self.layers))))
        self.reset()

    # ---- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh weights, optimizer, counters and curves (same data, same seed)."""
        c, data = self.config, self.data
        self.model, _ = build_model(
            c.architecture, self.input_shape, len(self.classes), c.seed, self.device
        )
        self.model.train()
        if step_cost(self.layers, c.batch_size, charged=True)[0] > FINE_CANCEL_WORK:
            _cancellable(self.model)
        self.optimizer = make_optimizer(
            c.optimizer, self.model.parameters(), c.learning_rate, c.weight_decay
        )
        active = data.active()
        weights = class_weights(data.train_labels[active], len(self.classes))
        self.loss_weights = torch.from_numpy(weights).to(self.device) if c.weighted_loss else None
        # oversampling: each image drawn with its class's weight, so every class equally often
        labels = torch.from_numpy(data.train_labels[active])
        self.draw_weights = torch.from_numpy(weights)[labels] if c.oversample else None
        self.batches = torch.Generator().manual_seed(c.seed)  # batch order
        self.augment_rng = torch.Generator(self.device).manual_seed(c.seed)
        self.active = torch.from_numpy(active).to(self.device)
        self.order: torch.Tensor | None = None
        self.position = 0
        self.steps = self.epochs_done = self.samples_seen = 0
        self.train_time = 0.0
        n = len(data.train_ids)
        self.sample_loss = torch.full((n,), float("nan"), device=self.device)
        self.sample_pred = torch.zeros(n, dtype=torch.long, device=self.device)
        # Since the last read: summed loss and correct count stay on the device (no sync).
        self._loss_sum = torch.zeros((), device=self.device)
        self._correct = torch.zeros((), dtype=torch.long, device=self.device)
        self._count = 0
        self.last_train: tuple[float | None, float | None] = (None, None)
        self.evaluation: Evaluation | None = None
        self.eval_version = 0
        # CPU seconds of this thread (not wall time: on a crowded machine a thread gets a slice
        # of a core, and the budget must be a share of the work actually done).
        self.eval_cost = 0.0
        self.last_eval_cpu = -1e9
        self.last_eval_time = -1e9
        self.history: list[HistoryPoint] = []
        self.histograms: list[HistogramPoint] = []
        self.channel_tops: list[ChannelTops] = []  # of the last validation pass
        self.last_batch: torch.Tensor | None = None  # the last training batch's inputs
        self.last_loss: torch.Tensor | None = None  # the last step's mini-batch loss

    @property
    def epoch(self) -> float:
        total = len(self.order) if self.order is not None else max(len(self.active), 1)
        return self.epochs_done + self.position / total

    def finished(self) -> bool:
        return self.epochs_done >= self.config.epochs

    def drop(self, ids: list[int]) -> int:
        """Leave these training images (dataset ids) out and restart training; returns count."""
        newly = self.data.drop(ids)
        self.reset()
        return newly

    def restore(self) -> None:
        self.data.restore()
        self.reset()

    # ---- training --------------------------------------------------------------------------
    def train_step(self) -> bool:
        """One minibatch; True when it completed an epoch."""
        checkpoint()  # a closed session stops here, within one step
        if self.order is None:
            n = len(self.active)
            if self.draw_weights is None:
                perm = torch.randperm(n, generator=self.batches).to(self.device)
            else:  # an epoch is as many draws as images, with replacement
                perm = torch.multinomial(self.draw_weights, n, True, generator=self.batches)
                perm = perm.to(self.device)
            self.order, self.position = self.active[perm], 0
        idx = self.order[self.position : self.position + self.config.batch_size]
        self.position += len(idx)
        x = self.data.train_inputs(idx, self.augment_rng)
        self.last_batch = x  # kept for the batch-norm panel (one batch; no copy)
        y = self.data.y_train[idx]
        logits = self.model(x)
        losses = F.cross_entropy(logits, y, reduction="none")  # (B,)
        if self.loss_weights is None:
            loss = losses.mean()
        else:  # the same normalisation as F.cross_entropy(weight=...)
            w = self.loss_weights[y]
            loss = (losses * w).sum() / w.sum().clamp_min(1e-12)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.last_loss = loss.detach()  # read only by step_losses: no sync here
        with torch.no_grad():
            pred = logits.argmax(1)
            self.sample_loss[idx] = losses.detach()
            self.sample_pred[idx] = pred
            self._loss_sum += losses.detach().sum()
            self._correct += (pred == y).sum()
            self._count += len(idx)
        self.steps += 1
        self.samples_seen += len(idx)
        if self.position >= len(self.order):
            self.order, self.position = None, 0
            self.epochs_done += 1
            return True
        return False

    def _check_finite(self) -> None:
        if not torch.isfinite(self._loss_sum):
            raise Diverged()

    def train_for(self, budget_s: float) -> None:
        """Train for about ``budget_s`` seconds (play mode). Validate at epoch ends and at least
        every second, but never more than ~2% of the time, and always at the very end. The first
        epochs always end with a validation pass: that is where the curves change fastest."""
        start = time.perf_counter()
        while not self.finished() and time.perf_counter() - start < budget_s:
            epoch_end = self.train_step()
            affordable = (
                time.thread_time() - self.last_eval_cpu > 49 * self.eval_cost  # < 2%
                or (epoch_end and self.epochs_done <= 5)
            )
            due = epoch_end or time.perf_counter() - self.last_eval_time > 1.0
            if affordable and due or self.finished():
                self.evaluate_val()
        self._check_finite()
        self.train_time += time.perf_counter() - start

    def train_steps(self, steps: int, validate: bool = True) -> None:
        """Exactly ``steps`` minibatches (step mode), then a validation pass (unless not
        ``validate``: a command split into slices validates after its last one)."""
        start = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        self._check_finite()
        self.train_time += time.perf_counter() - start
        if validate:
            self.evaluate_val()

    def read_train_metrics(self, consume: bool = True) -> tuple[float | None, float | None]:
        """Mean training loss and accuracy since the last read (the last values if none)."""
        n = self._count
        if n > 0:
            self.last_train = (finite(self._loss_sum.item() / n), self._correct.item() / n)
            if consume:
                self._loss_sum.zero_()
                self._correct.zero_()
                self._count = 0
        return self.last_train

    # ---- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, x: torch.Tensor, watch: ChannelWatch | None = None) -> torch.Tensor:
        """Class probabilities (B, k) of uint8 images (B, C, H, W), in eval mode, in chunks
        (cancellable between them); ``watch``: hooks that ride along the forward passes."""
        self.model.eval()
        try:
            probs = []
            for i in range(0, len(x), self.eval_batch):
                checkpoint()
                chunk = x[i : i + self.eval_batch]
                probs.append(torch.softmax(self.model(self.data.normalise(chunk)), 1))
                if watch is not None:
                    watch.advance(len(chunk))
        finally:
            self.model.train()
        return torch.cat(probs) if probs else torch.zeros(0, len(self.classes), device=self.device)

    def evaluate(self, split: str, watch: ChannelWatch | None = None) -> Evaluation:
        """Loss, accuracy and confusion matrix on the ``val`` or ``test`` split."""
        x, y = self.data.split(split)
        if watch is None:
            p = self.predict(x)
        else:
            with watch:
                p = self.predict(x, watch)
        k = len(self.classes)
        loss = finite(F.nll_loss(torch.log(p.clamp_min(1e-12)), y).item()) if len(y) else None
        confusion = torch.bincount(y * k + p.argmax(1), minlength=k * k).reshape(k, k)
        accuracy = float(confusion.trace() / max(len(y), 1))
        return Evaluation(
            split,
            self.steps,
            self.epoch,
            loss,
            accuracy,
            confusion.cpu().numpy(),
            p.cpu().numpy().astype(np.float32),
            y.cpu().numpy(),
        )

    def evaluate_if_stale(self) -> bool:
        """A validation pass unless the last one saw these very weights (or none was trained):
        paused or finished, the figures then describe the model as it is. True if it ran."""
        if self.steps == 0 or (self.evaluation is not None and self.evaluation.step == self.steps):
            return False
        self.evaluate_val()
        return True

    def evaluate_val(self) -> Evaluation:
        """A validation pass: the new ``evaluation``, timed for the budget, a point of history."""
        start = time.thread_time()
        watch = None
        if self.watch_peaks or self.watch_histograms:
            watch = ChannelWatch(self.model, self.layers, peaks=self.watch_peaks,
                                 histograms=self.watch_histograms)
        self.evaluation = self.evaluate("val", watch)
        if self.watch_peaks:
            self.channel_tops = watch.tops()
        if self.watch_histograms:
            point = HistogramPoint(self.steps, watch.histograms)
            self.histograms = _thin([*self.histograms, point], HISTOGRAM_POINTS)
        self.eval_version += 1
        self.eval_cost = time.thread_time() - start
        self.last_eval_cpu = time.thread_time()
        self.last_eval_time = time.perf_counter()
        train_loss, train_acc = self.read_train_metrics(consume=False)
        point = HistoryPoint(
            self.steps,
            round(self.epoch, 3),
            train_loss,
            train_acc,
            self.evaluation.loss,
            self.evaluation.accuracy,
        )
        # beyond HISTORY_POINTS the older half is thinned: long runs keep their shape
        self.history = _thin([*self.history, point], HISTORY_POINTS)
        return self.evaluation

    # ---- save / load -----------------------------------------------------------------------
    def checkpoint(self) -> bytes:
        """The model as safetensors bytes, with its config and normalisation in the metadata."""
        extra = {
            "classes": self.classes,
            "input_shape": list(self.input_shape),
            "mean": self.data.mean.flatten().tolist(),
            "std": self.data.std.flatten().tolist(),
            "step": self.steps,
            "epoch": self.epoch,
            "samples_seen": self.samples_seen,
        }
        return to_bytes(self.model, "cnn", self.config.model_dump(mode="json"), extra)

    def load_checkpoint(self, tensors: dict[str, torch.Tensor], extra: dict) -> None:
        """Weights and normalisation from a checkpoint made for this config; then validate."""
        if extra.get("classes") != self.classes or extra.get("input_shape") != list(
            self.input_shape
        ):
            raise CheckpointError(
                "the model was made for other data: its classes or input size differ from this "
                f"dataset's ({len(self.classes)} classes, input {list(self.input_shape)})"
            )
        channels = self.input_shape[0]
        stats = []
        for key in ("mean", "std"):
            values = extra.get(key)
            if (
                not isinstance(values, list)
                or len(values) != channels
                or not all(isinstance(v, int | float) and np.isfinite(v) for v in values)
            ):
                raise CheckpointError(f"the model file's {key} must be {channels} numbers")
            stats.append(torch.tensor(values, dtype=torch.float32))
        if (stats[1] <= 0).any():
            raise CheckpointError("the model file's std must be positive")
        check_weights(self.model, tensors)  # before reset: a bad file leaves the run as it was
        self.reset()
        load_weights(self.model, {k: v.to(self.device) for k, v in tensors.items()})
        self.data.set_statistics(*stats)
        self._restore_counters(extra)
        self.last_train = self.evaluate_train()
        self.evaluate_val()

    def _restore_counters(self, extra: dict) -> None:
        """Where the saved run had got to: its step and epoch (0 in files without them)."""
        def count(key: str) -> int | float:
            value = extra.get(key, 0)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return value if ok and np.isfinite(value) and 0 <= value <= 2**53 else 0

        self.steps, self.samples_seen = int(count("step")), int(count("samples_seen"))
        self.epochs_done = int(count("epoch"))

    def evaluate_train(self) -> tuple[float | None, float | None]:
        """(loss, accuracy) on the training images trained on (their labels as trained, after
        noise), in eval mode: what a loaded model, which has no running training figures, shows."""
        idx = self.active
        if len(idx) == 0:
            return None, None
        p = self.predict(self.data.x_train[idx])
        y = self.data.y_train[idx]
        loss = finite(F.nll_loss(torch.log(p.clamp_min(1e-12)), y).item())
        return loss, float((p.argmax(1) == y).float().mean())

    def step_losses(self, steps: int) -> list[float]:
        """``steps`` minibatches as ``train_step`` makes them, with each one's loss (before its
        update): the numbers an exported script's training loop prints."""
        losses = []
        for _ in range(steps):
            self.train_step()
            losses.append(float(self.last_loss))
        return losses
