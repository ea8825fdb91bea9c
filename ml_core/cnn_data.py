"""The data of one CNN run: the stratified split, the pitfalls, tensors on the device, drops.

``RunData`` splits a dataset into train / validation / test (stratified, from the config's seed),
applies the pitfalls (class imbalance, label noise) to the training split only, and keeps every
split as uint8 (N, C, H, W) on the device. ``normalise`` scales a batch to [0, 1], augments it if
asked, then standardises it with the training split's per-channel mean and std. Training images
the user drops stay in the split, marked in ``dropped``: their dataset ids (``train_ids``) are
what ``drop`` refers to, so they can be put back.
"""

from __future__ import annotations

import numpy as np
import torch

from ml_core.cnn_config import CNNConfig
from ml_core.image_datasets import ImageDataset
from ml_core.pitfalls import augment, flip_labels, imbalance

STANDARDISED_CACHE_BYTES = 256 * 2**20  # most memory for the standardised training split


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


def split_sizes(labels: np.ndarray, val_fraction: float, test_fraction: float
                ) -> tuple[int, int, int]:
    """(train, val, test) sizes of ``split_indices`` without drawing it (the same rounding)."""
    sizes = [0, 0, 0]
    for n in np.unique(labels, return_counts=True)[1]:
        n_test = min(round(test_fraction * n), n - 1)
        n_val = min(round(val_fraction * n), n - 1 - n_test)
        sizes[0] += int(n - n_test - n_val)
        sizes[1] += int(n_val)
        sizes[2] += int(n_test)
    return sizes[0], sizes[1], sizes[2]


class RunData:
    """The splits of ``dataset`` for ``config``, on ``device``."""

    def __init__(self, config: CNNConfig, dataset: ImageDataset, device: torch.device) -> None:
        self.config, self.dataset, self.device = config, dataset, device
        self.classes = dataset.classes
        self.input_shape = dataset.input_shape
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
        self.train_labels = noisy  # what the net is trained on (after label noise)
        self.dropped = np.zeros(len(train), dtype=bool)

        images = torch.from_numpy(dataset.images).permute(0, 3, 1, 2)  # (N, C, H, W) uint8
        self.x_train = images[train].contiguous().to(device)
        self.y_train = torch.from_numpy(noisy).to(device)
        self.x_val = images[self.val_ids].contiguous().to(device)
        self.y_val = torch.from_numpy(labels[self.val_ids]).to(device)
        self.x_test = images[self.test_ids].contiguous().to(device)
        self.y_test = torch.from_numpy(labels[self.test_ids]).to(device)
        scaled = self.x_train.float() / 255
        self.set_statistics(
            scaled.mean((0, 2, 3)), scaled.std((0, 2, 3)).clamp_min(1e-3)
        )  # per channel (C,)

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The per-channel (C,) mean and std that ``normalise`` standardises with."""
        channels = self.input_shape[0]
        self.mean = mean.to(self.device).reshape(1, channels, 1, 1)
        self.std = std.to(self.device).reshape(1, channels, 1, 1)
        self._standardised: torch.Tensor | None = None  # x_train standardised once (see below)

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(images uint8 (N, C, H, W), labels (N,)) of ``val`` or ``test``."""
        return (self.x_val, self.y_val) if name == "val" else (self.x_test, self.y_test)

    # ---- inputs ----------------------------------------------------------------------------
    def normalise(
        self, x: torch.Tensor, generator: torch.Generator | None = None, augmented: bool = False
    ) -> torch.Tensor:
        """uint8 (B, C, H, W) -> standardised float, augmented first if asked."""
        x = x.float() / 255
        if augmented:
            x = augment(x, self.config.augment, generator)
        return (x - self.mean) / self.std

    def train_inputs(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The standardised training batch of positions ``idx``. Without augmentation every epoch
        feeds the same values, so the split is standardised once (when that fits in
        STANDARDISED_CACHE_BYTES) and each batch is a gather: the per-batch conversion was ~5% of
        a small net's step."""
        if self.config.augment.active:
            return self.normalise(self.x_train[idx], generator, augmented=True)
        if self._standardised is None:
            if self.x_train.numel() * 4 > STANDARDISED_CACHE_BYTES:
                return self.normalise(self.x_train[idx])
            self._standardised = self.normalise(self.x_train)  # (N, C, H, W) float32
        return self._standardised[idx]

    @staticmethod
    def display(x: torch.Tensor) -> np.ndarray:
        """uint8 (B, C, H, W) -> (B, H, W, C) numpy, for galleries."""
        return x.permute(0, 2, 3, 1).cpu().numpy()

    # ---- dropped training images -----------------------------------------------------------
    def active(self) -> np.ndarray:
        """Positions in the training split of the images still trained on."""
        return np.flatnonzero(~self.dropped)

    def drop(self, ids: list[int]) -> int:
        """Mark these training images (dataset ids) dropped; returns how many were not yet."""
        position = {int(i): p for p, i in enumerate(self.train_ids)}
        unknown = [i for i in ids if i not in position]
        if unknown:
            raise ValueError(f"not training images: {unknown[:5]}")
        chosen = np.array([position[i] for i in ids], dtype=np.int64)
        newly = int((~self.dropped[chosen]).sum())
        before = self.dropped[chosen].copy()
        self.dropped[chosen] = True
        if self.dropped.all():
            self.dropped[chosen] = before
            raise ValueError("that would leave no training images")
        return newly

    def flipped_among(self, ids: list[int]) -> int:
        """How many of these training images (dataset ids) had their label flipped by noise."""
        position = {int(i): p for p, i in enumerate(self.train_ids)}
        return int(sum(self.flipped[position[i]] for i in ids if i in position))

    def restore(self) -> None:
        self.dropped[:] = False

    def train_counts(self) -> list[int]:
        """Training images per class, as trained on (noisy labels, dropped ones left out)."""
        active = self.train_labels[~self.dropped]
        return np.bincount(active, minlength=len(self.classes)).tolist()
