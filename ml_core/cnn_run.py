"""One CNN training run: split, pitfalls, training in slices, evaluation and what to look at.

``CNNRun`` does no I/O and knows nothing of the web: the lab (app/labs/cnn.py) calls
``train_for``/``train_steps`` in slices and reads metrics, evaluations, kernels, feature maps and
galleries from it. Images stay uint8 (N, C, H, W) on the device; each batch is scaled to [0, 1],
augmented, then standardised with the training split's per-channel mean and std. Per-step values
stay on the device (no ``.item()``, so a GPU never waits) until someone reads the metrics.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ml_core.checkpoint import CheckpointError, check_weights, load_weights, to_bytes
from ml_core.cnn import PRESETS, Architecture, LayerInfo, build_model, feature_maps, infer_shapes
from ml_core.image_datasets import ImageDataset
from ml_core.pitfalls import AugmentConfig, augment, class_weights, flip_labels, imbalance
from ml_core.training import OPTIMIZERS as ALL_OPTIMIZERS
from ml_core.training import Diverged, finite, make_optimizer

STANDARDISED_CACHE_BYTES = 256 * 2**20  # most memory for the standardised training split

OPTIMIZERS = tuple(ALL_OPTIMIZERS)


@dataclass
class Imbalance:
    classes: list[int] = field(default_factory=list)
    fraction: float = 0.1


@dataclass
class CNNConfig:
    """Everything that defines a run; the wire config of lab ``cnn`` (docs/protocol-cnn.md)."""

    dataset: str = "digits"
    upscale: int = 2
    samples: int | None = None
    val_fraction: float = 0.2
    test_fraction: float = 0.1
    seed: int = 0
    architecture: Architecture = field(default_factory=lambda: copy.deepcopy(PRESETS["default"]))
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 30
    imbalance: Imbalance = field(default_factory=Imbalance)
    label_noise: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    weighted_loss: bool = False

    @classmethod
    def from_dict(cls, data: dict) -> CNNConfig:
        data = dict(data)
        data["architecture"] = Architecture.from_dict(data["architecture"])
        data["imbalance"] = Imbalance(**data["imbalance"])
        data["augment"] = AugmentConfig(**data["augment"])
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


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


def split_indices(
    labels: np.ndarray, val_fraction: float, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (train, val, test) indices: each class is split in the same proportions."""
    parts: tuple[list, list, list] = ([], [], [])
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(test_fraction * len(members))
        n_val = round(val_fraction * len(members))
        n_test, n_val = min(n_test, len(members) - 1), min(n_val, len(members) - 1 - n_test)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, val, test


class CNNRun:
    def __init__(
        self,
        config: CNNConfig,
        dataset: ImageDataset,
        device: torch.device,
        max_parameters: int | None = None,
    ) -> None:
        self.config, self.dataset, self.device = config, dataset, device
        self.classes = dataset.classes
        self.input_shape = dataset.input_shape
        self.layers: list[LayerInfo] = infer_shapes(
            config.architecture, self.input_shape, len(self.classes), max_parameters
        )
        rng = np.random.default_rng(config.seed)
        labels = dataset.labels
        train, self.val_ids, self.test_ids = split_indices(
            labels, config.val_fraction, config.test_fraction, rng
        )
        if config.imbalance.classes:  # pitfalls touch the training split only
            train = train[
                imbalance(labels[train], config.imbalance.classes, config.imbalance.fraction, rng)
            ]
        self.train_ids = train  # dataset indices: the stable ids that "drop" refers to
        noisy, self.flipped = flip_labels(labels[train], config.label_noise, len(self.classes), rng)
        self.train_labels = noisy
        self.dropped = np.zeros(len(train), dtype=bool)

        images = torch.from_numpy(dataset.images).permute(0, 3, 1, 2)  # (N, C, H, W) uint8
        self.x_train = images[train].contiguous().to(device)
        self.y_train = torch.from_numpy(noisy).to(device)
        self.x_val = images[self.val_ids].contiguous().to(device)
        self.y_val = torch.from_numpy(labels[self.val_ids]).to(device)
        self.x_test = images[self.test_ids].contiguous().to(device)
        self.y_test = torch.from_numpy(labels[self.test_ids]).to(device)
        scaled = self.x_train.float() / 255
        self.mean = scaled.mean((0, 2, 3), keepdim=True)  # (1, C, 1, 1)
        self.std = scaled.std((0, 2, 3), keepdim=True).clamp_min(1e-3)
        self._standardised: torch.Tensor | None = None  # x_train standardised once (see below)
        self.probe_index: int | None = 0  # the val image whose feature maps are shown
        self.probe_image: np.ndarray | None = None  # or a user's image (H, W, C) uint8
        self.reset()

    # ---- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Fresh weights, optimizer, counters and curves (same data, same seed)."""
        torch.manual_seed(self.config.seed)
        self.model, _ = build_model(self.config.architecture, self.input_shape, len(self.classes))
        self.model.to(self.device).train()
        self.optimizer = self._make_optimizer()
        active = ~self.dropped
        weights = class_weights(self.train_labels[active], len(self.classes))
        self.loss_weights = (
            torch.from_numpy(weights).to(self.device) if self.config.weighted_loss else None
        )
        self.batches = torch.Generator().manual_seed(self.config.seed)
        self.augment_rng = torch.Generator(self.device).manual_seed(self.config.seed)
        self.active = torch.from_numpy(np.flatnonzero(active)).to(self.device)
        self.order: torch.Tensor | None = None
        self.position = 0
        self.steps = self.epochs_done = self.samples_seen = 0
        self.train_time = 0.0
        self.sample_loss = torch.full((len(self.train_ids),), float("nan"), device=self.device)
        self.sample_pred = torch.zeros(len(self.train_ids), dtype=torch.long, device=self.device)
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
        self.history: list[dict] = []

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        return make_optimizer(c.optimizer, self.model.parameters(), c.learning_rate, c.weight_decay)

    @property
    def epoch(self) -> float:
        total = len(self.order) if self.order is not None else max(len(self.active), 1)
        return self.epochs_done + self.position / total

    def finished(self) -> bool:
        return self.epochs_done >= self.config.epochs

    # ---- training --------------------------------------------------------------------------
    def normalise(self, x: torch.Tensor, augmented: bool = False) -> torch.Tensor:
        """uint8 (B, C, H, W) -> standardised float, augmented first if asked."""
        x = x.float() / 255
        if augmented:
            x = augment(x, self.config.augment, self.augment_rng)
        return (x - self.mean) / self.std

    def _train_inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """The standardised training batch. Without augmentation every epoch feeds the same
        values, so the split is standardised once (when that fits in STANDARDISED_CACHE_BYTES)
        and each batch is a gather: the per-batch conversion was ~5% of a small net's step."""
        if self.config.augment.active:
            return self.normalise(self.x_train[idx], augmented=True)
        if self._standardised is None:
            if self.x_train.numel() * 4 > STANDARDISED_CACHE_BYTES:
                return self.normalise(self.x_train[idx])
            self._standardised = self.normalise(self.x_train)  # (N, C, H, W) float32
        return self._standardised[idx]

    def train_step(self) -> bool:
        """One minibatch; True when it completed an epoch."""
        if self.order is None:
            perm = torch.randperm(len(self.active), generator=self.batches).to(self.device)
            self.order, self.position = self.active[perm], 0
        idx = self.order[self.position : self.position + self.config.batch_size]
        self.position += len(idx)
        x = self._train_inputs(idx)
        y = self.y_train[idx]
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

    def train_steps(self, steps: int) -> None:
        """Exactly ``steps`` minibatches (step mode), then a validation pass."""
        start = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        self._check_finite()
        self.train_time += time.perf_counter() - start
        self.evaluate_val()

    # ---- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> Evaluation:
        x, y = (self.x_val, self.y_val) if split == "val" else (self.x_test, self.y_test)
        self.model.eval()
        probs = []
        for start in range(0, len(x), 1024):
            probs.append(torch.softmax(self.model(self.normalise(x[start : start + 1024])), 1))
        self.model.train()
        k = len(self.classes)
        p = torch.cat(probs) if probs else torch.zeros(0, k, device=self.device)
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

    def evaluate_val(self) -> Evaluation:
        start = time.thread_time()
        self.evaluation = self.evaluate("val")
        self.eval_version += 1
        self.eval_cost = time.thread_time() - start
        self.last_eval_cpu = time.thread_time()
        self.last_eval_time = time.perf_counter()
        train_loss, train_acc = self.read_train_metrics(consume=False)
        self.history.append(
            {
                "step": self.steps,
                "epoch": round(self.epoch, 3),
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": self.evaluation.loss,
                "val_acc": self.evaluation.accuracy,
            }
        )
        if len(self.history) > 1000:  # thin the older half: long runs keep their shape
            self.history = self.history[:500:2] + self.history[500:]
        return self.evaluation

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

    # ---- what to look at -------------------------------------------------------------------
    def display(self, x: torch.Tensor) -> np.ndarray:
        """uint8 (B, C, H, W) -> (B, H, W, C) numpy, for galleries."""
        return x.permute(0, 2, 3, 1).cpu().numpy()

    def misclassified(self, limit: int) -> dict | None:
        """The most confident mistakes of the last validation pass."""
        ev = self.evaluation
        if ev is None:
            return None
        preds = ev.preds
        wrong = np.flatnonzero(preds != ev.labels)
        confidence = ev.probs[wrong, preds[wrong]]
        order = wrong[np.argsort(-confidence, kind="stable")][:limit]
        return {
            "indices": order,
            "true": ev.labels[order],
            "pred": preds[order],
            "confidence": ev.probs[order, preds[order]],
            "total_wrong": len(wrong),
            "images": self.display(self.x_val[torch.from_numpy(order).to(self.device)]),
        }

    def hardest(self, limit: int) -> dict | None:
        """The active training images with the highest loss the last time they were seen."""
        losses = self.sample_loss.clone()
        losses[torch.from_numpy(self.dropped).to(self.device)] = float("nan")
        seen = torch.nonzero(~torch.isnan(losses)).flatten()
        if len(seen) == 0:
            return None
        top = seen[torch.argsort(losses[seen], descending=True)[:limit]]
        positions = top.cpu().numpy()
        with torch.no_grad():
            self.model.eval()
            probs = torch.softmax(self.model(self.normalise(self.x_train[top])), 1)
            self.model.train()
        return {
            "ids": self.train_ids[positions],
            "labels": self.train_labels[positions],
            "preds": self.sample_pred[top].cpu().numpy(),
            "losses": losses[top].cpu().numpy(),
            "confidence": probs.max(1).values.cpu().numpy(),
            "flipped": self.flipped[positions],
            "images": self.display(self.x_train[top]),
        }

    def drop(self, ids: list[int]) -> int:
        """Leave these training images (dataset ids) out and restart training; returns count."""
        position = {int(i): p for p, i in enumerate(self.train_ids)}
        unknown = [i for i in ids if i not in position]
        if unknown:
            raise ValueError(f"not training images: {unknown[:5]}")
        chosen = np.array([position[i] for i in ids], dtype=np.int64)
        newly = int((~self.dropped[chosen]).sum())
        self.dropped[chosen] = True
        if self.dropped.all():
            self.dropped[chosen] = False
            raise ValueError("that would leave no training images")
        self.reset()
        return newly

    def restore(self) -> None:
        self.dropped[:] = False
        self.reset()

    def train_counts(self) -> list[int]:
        active = self.train_labels[~self.dropped]
        return np.bincount(active, minlength=len(self.classes)).tolist()

    def select_val(self, index: int) -> None:
        if not 0 <= index < len(self.val_ids):
            raise ValueError(f"index must be 0..{len(self.val_ids) - 1}")
        self.probe_index, self.probe_image = index, None

    def set_probe(self, image: np.ndarray) -> None:
        """A prepared user image (H, W, C) uint8 becomes the one whose maps are shown."""
        if image.shape != (self.input_shape[1], self.input_shape[2], self.input_shape[0]):
            raise ValueError(f"expected a prepared image of shape {self.input_shape}")
        self.probe_index, self.probe_image = None, np.array(image, dtype=np.uint8)  # own copy

    def probe(self) -> tuple[np.ndarray, list[torch.Tensor], np.ndarray]:
        """The chosen image (H, W, C) uint8, every layer's output for it, class probabilities."""
        if self.probe_image is not None:
            image = torch.from_numpy(self.probe_image).permute(2, 0, 1)[None].to(self.device)
        else:
            image = self.x_val[self.probe_index : self.probe_index + 1]
        outputs, logits = feature_maps(self.model, self.normalise(image))
        probs = torch.softmax(logits, 1)[0].cpu().numpy()
        return self.display(image)[0], [o[0] for o in outputs], probs

    def augment_preview(self, count: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(originals, augmented, labels) for ``count`` random training images."""
        pick = self.active[
            torch.randperm(len(self.active), generator=self.batches)[:count].to(self.device)
        ]
        x = self.x_train[pick]
        out = augment(x.float() / 255, self.config.augment, self.augment_rng)
        out = (out * 255).round().clamp(0, 255).to(torch.uint8)
        return self.display(x), self.display(out), self.y_train[pick].cpu().numpy()

    # ---- save / load -----------------------------------------------------------------------
    def checkpoint(self) -> bytes:
        """The model as safetensors bytes, with its config and normalisation in the metadata."""
        extra = {
            "classes": self.classes,
            "input_shape": list(self.input_shape),
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "step": self.steps,
        }
        return to_bytes(self.model, "cnn", self.config.to_dict(), extra)

    def load_checkpoint(self, tensors: dict[str, torch.Tensor], extra: dict) -> None:
        """Weights and normalisation from a checkpoint made for this config; then validate."""
        if extra.get("classes") != self.classes or extra.get("input_shape") != list(
            self.input_shape
        ):
            raise CheckpointError(
                f"the model was made for classes {extra.get('classes')} and input "
                f"{extra.get('input_shape')}; this dataset has {self.classes} and "
                f"{list(self.input_shape)}"
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
            stats.append(torch.tensor(values, dtype=torch.float32, device=self.device))
        if (stats[1] <= 0).any():
            raise CheckpointError("the model file's std must be positive")
        check_weights(self.model, tensors)  # before reset: a bad file leaves the run as it was
        self.reset()
        load_weights(self.model, {k: v.to(self.device) for k, v in tensors.items()})
        self.mean, self.std = (t.reshape(1, channels, 1, 1) for t in stats)
        self._standardised = None
        self.evaluate_val()

