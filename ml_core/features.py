"""Input feature maps of the MLP playground: what the network sees of a point (x1, x2).

TensorFlow Playground feeds x1, x2, x1², x2², x1·x2, sin(x1), sin(x2) of points in [-6, 6].
Our points live in [-1, 1], where sin(x) would be almost a straight line, so the sine features
use ``sin(pi * x)``: one full period across the plane, a wave the network can really use.
The squares and the product stay as they are: on [-1, 1] they already span [0, 1] and [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

FeatureFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

SINE_FREQUENCY = math.pi  # sin(pi * x): one period over [-1, 1]

FEATURES: dict[str, FeatureFn] = {
    "x1": lambda x1, x2: x1,
    "x2": lambda x1, x2: x2,
    "x1sq": lambda x1, x2: x1 * x1,
    "x2sq": lambda x1, x2: x2 * x2,
    "x1x2": lambda x1, x2: x1 * x2,
    "sin_x1": lambda x1, x2: torch.sin(SINE_FREQUENCY * x1),
    "sin_x2": lambda x1, x2: torch.sin(SINE_FREQUENCY * x2),
}

LABELS: dict[str, str] = {
    "x1": "x₁",
    "x2": "x₂",
    "x1sq": "x₁²",
    "x2sq": "x₂²",
    "x1x2": "x₁·x₂",
    "sin_x1": "sin(πx₁)",
    "sin_x2": "sin(πx₂)",
}


def canonical(names) -> tuple[str, ...]:
    """Known, distinct feature names in the fixed order of ``FEATURES``; ValueError otherwise."""
    names = list(names)
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature {unknown[0]!r}; choose from {', '.join(FEATURES)}")
    if not names:
        raise ValueError("choose at least one input feature")
    return tuple(n for n in FEATURES if n in names)


def feature_matrix(xy: torch.Tensor, names) -> torch.Tensor:
    """Points (N, 2) -> features (N, F), one column per name, in the order given."""
    x1, x2 = xy[:, 0], xy[:, 1]
    return torch.stack([FEATURES[n](x1, x2) for n in names], dim=1)
