"""The CNN lab's config: the one definition of a run, from the wire to the checkpoint.

``CNNConfig`` is what the page sends in ``configure`` (docs/protocol-cnn.md §1), what a
``CNNRun`` is built from, what ``configured`` sends back and what a saved model carries in its
metadata. Its parts live beside the code they drive: ``Architecture`` (ConvBlock, FCLayer) in
ml_core/cnn.py, ``AugmentConfig`` in ml_core/pitfalls.py. Allowed names come from the core's
registries (datasets: ``image_datasets.DATASETS``, optimizers: ``training.OPTIMIZERS``,
activations and pools: the CNN's layer tables), so adding one there adds it here.

Every number has a hard ceiling. Limits that depend on the server's settings come through the
validation context::

    CNNConfig.model_validate(data, context={"limits": settings.cnn})
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ml_core.cnn import PRESETS, Architecture, one_of
from ml_core.config import Strict, at_most, limits_of
from ml_core.image_datasets import DATASETS
from ml_core.pitfalls import AugmentConfig
from ml_core.training import OPTIMIZERS

MAX_HELD_OUT = 0.7  # most of a dataset that validation and test may take together
DatasetName = one_of(DATASETS)
OptimizerName = one_of(OPTIMIZERS)


class Imbalance(Strict):
    """Shrink the training images of ``classes`` to ``fraction`` of their number."""

    classes: list[int] = Field(default_factory=list, max_length=100)
    fraction: float = Field(0.1, ge=0.01, le=1)

    @field_validator("classes")
    @classmethod
    def _distinct(cls, classes: list[int]) -> list[int]:
        if any(c < 0 or c > 999 for c in classes) or len(set(classes)) != len(classes):
            raise ValueError("classes must be distinct class numbers")
        return classes


def _default_architecture() -> Architecture:
    return PRESETS["default"].model_copy(deep=True)


class CNNConfig(Strict):
    """Everything that defines a run; the wire config of lab ``cnn`` (docs/protocol-cnn.md)."""

    dataset: DatasetName = "digits"
    upscale: int = Field(2, ge=1, le=4, description="Digits only: 8×8 upscaled to 8·upscale.")
    samples: int | None = Field(None, ge=50, le=1_000_000, description="None: all (capped).")
    val_fraction: float = Field(0.2, ge=0.05, le=0.5)
    test_fraction: float = Field(0.1, ge=0.05, le=0.5)
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Split, pitfalls, init, batch order.")
    architecture: Architecture = Field(default_factory=_default_architecture)
    optimizer: OptimizerName = "adam"
    learning_rate: float = Field(0.001, ge=1e-6, le=10)
    weight_decay: float = Field(0.0, ge=0, le=1)
    batch_size: int = Field(64, ge=1, le=65536)
    epochs: int = Field(30, ge=1, le=100_000)
    imbalance: Imbalance = Field(default_factory=Imbalance)
    label_noise: float = Field(0.0, ge=0, le=0.9, description="Share of training labels flipped.")
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    weighted_loss: bool = False
    oversample: bool = Field(
        False, description="Draw each batch so that every class comes up equally often."
    )

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> CNNConfig:
        if self.val_fraction + self.test_fraction > MAX_HELD_OUT + 1e-9:
            raise ValueError(f"val_fraction + test_fraction must be at most {MAX_HELD_OUT}")
        limits = limits_of(info)
        if limits is not None:
            at_most([
                (self.batch_size, limits.max_batch_size, "batch_size"),
                (self.epochs, limits.max_epochs, "epochs"),
                (self.samples or 0, limits.max_samples, "samples"),
            ])
        return self

    @property
    def dataset_upscale(self) -> int:
        """The upscale the dataset is loaded with: digits only, 1 for the others."""
        return self.upscale if self.dataset == "digits" else 1
