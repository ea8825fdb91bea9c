"""The points of one MLP playground run: generated or drawn, split three ways, as features.

``load(config, points)`` makes them from a ``PlaygroundConfig``: a preset of ``DATASETS`` from
the seed, or the drawn ``points`` (the ``custom`` dataset: a drawing's classes set the class count
too, so the config comes back with them), split into training, validation and test points
(``datasets2d.split``). Targets are int64 class labels, or float32 values for a regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ml_core import datasets2d
from ml_core.mlp_config import PlaygroundConfig


@dataclass
class PlaygroundData:
    config: PlaygroundConfig  # as given, less a drawing's classes
    train_xy: np.ndarray  # (n_train, 2) float32
    train_y: np.ndarray  # (n_train,) int64 labels or float32 values
    val_xy: np.ndarray
    val_y: np.ndarray
    test_xy: np.ndarray  # held out for the final exam
    test_y: np.ndarray


def plane_grid(size: int) -> torch.Tensor:
    """Cell centres (size*size, 2), row-major; row 0 is y = +1, column 0 is x = -1."""
    xs = torch.linspace(-1.0, 1.0, size)
    ys = torch.linspace(1.0, -1.0, size)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def load(config: PlaygroundConfig, points=None) -> PlaygroundData:
    """The run's points (ValueError for a bad drawing, or batch norm with one training point)."""
    data, task = config.dataset, config.task
    if data.name == datasets2d.CUSTOM:
        xy, targets = datasets2d.from_points(points if points is not None else [], task)
        if task == "classification":
            classes = max(data.classes, int(targets.max()) + 1 if len(targets) else 2)
            config = config.model_copy(
                update={"dataset": data.model_copy(update={"classes": classes})}
            )
    else:
        xy, targets = datasets2d.generate(
            data.name, data.samples, data.noise, data.classes, data.seed
        )
    train, val, test = datasets2d.split(len(targets), data.val_fraction, data.seed,
                                        data.test_fraction)
    if config.model.batch_norm and 0 < len(train) < 2:
        raise ValueError("batch norm needs at least 2 training points")
    return PlaygroundData(
        config, xy[train], targets[train], xy[val], targets[val], xy[test], targets[test]
    )
