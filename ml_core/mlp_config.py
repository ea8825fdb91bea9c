"""The MLP playground's configuration, defined once: the core runs it, the server validates the
wire with it, and the page starts from its defaults (``Lab.defaults()``, static/js/boot.js).

Four sections and the whole: ``DataConfig`` (which points, which task, how they are split),
``ModelConfig`` (the network's shape), ``TrainConfig`` (how it learns), ``PlayConfig`` (how fast
play mode goes) and ``PlaygroundConfig`` (all four). Every name a field accepts comes from the
core's registries (``DATASETS``, ``ACTIVATIONS``, ``FEATURES``, ``LOSSES``, ``REGRESSION_LOSSES``,
``OPTIMIZERS``), so adding one there adds it here, to the JSON schema and to the page's options.

The task (``dataset.task``: classification or regression) follows the dataset when a config
leaves it out, and a regression config without a loss gets ``mse``; a loss or dataset of the
other task is refused with a message that names the ones that fit.

Every number has a hard bound. Bounds that depend on the server's settings come through the
validation context, ``PlaygroundConfig.model_validate(data, context={"limits": limits})``, where
``limits`` has ``max_points``, ``max_classes``, ``max_hidden_layers`` and ``max_neurons`` (the
server passes ``settings.mlp``); without a context only the hard bounds apply.

The number of classes belongs to the data: the network's output layer follows it
(``ModelConfig.layer_sizes(classes, task)``), and for drawn points it is at least the largest
label + 1. A regression has one output, whatever ``classes`` says.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ml_core.config import limits_of
from ml_core.datasets2d import CUSTOM, DATASETS, task_of
from ml_core.features import FEATURES, canonical
from ml_core.mlp import ACTIVATIONS, ALL_LOSSES, OPTIMIZERS, TASK_LOSSES, TASKS, n_outputs

HARD_MAX_POINTS = 100_000  # a ceiling whatever the settings say (settings.mlp.max_points applies)
MAX_LEARNING_RATE = 10.0  # TensorFlow Playground's top rate; higher only ever diverges
MAX_SEED = 2**31 - 1
MAX_STEPS_PER_FRAME = 10_000  # play's slowed speeds; 0 is full speed (as fast as it goes)
DEFAULT_STEPS_PER_FRAME = 30  # ~1,000 steps a second: the default circle takes a few seconds


def _one_of(names) -> Any:
    """A Literal of a registry's names: validation and the JSON schema's enum in one."""
    return Literal[tuple(names)]


DatasetName = _one_of([*DATASETS, CUSTOM])
Activation = _one_of(ACTIVATIONS)
Feature = _one_of(FEATURES)
Loss = _one_of(ALL_LOSSES)
Task = _one_of(TASKS)
Optimizer = _one_of(OPTIMIZERS)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class DataConfig(_Section):
    """What to train on: a generated dataset (a key of ``DATASETS``) or ``custom`` (drawn), and
    how its points are split into training, validation and test (the rest trains)."""

    name: DatasetName = "circle"
    task: Task = Field("classification", description="classification or regression.")
    samples: int = Field(500, ge=2, le=HARD_MAX_POINTS, description="Points a preset makes.")
    noise: float = Field(0.1, ge=0, le=1, description="Jitter: 0 clean, 1 hopeless.")
    val_fraction: float = Field(0.3, ge=0, le=0.9, description="Share held out for validation.")
    test_fraction: float = Field(
        0.2, ge=0, le=0.5, description="Share held out for the final exam (the test set)."
    )
    classes: int = Field(2, ge=2, le=64, description="Classes (2 to max_classes; classification).")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="Data, split, weights and shuffles.")

    @model_validator(mode="before")
    @classmethod
    def _task_follows_the_dataset(cls, data: Any) -> Any:
        """Without a task, a preset's own ({"name": "plane"} is a regression)."""
        if isinstance(data, dict) and "task" not in data:
            task = task_of(data.get("name", "circle"))
            if task is not None:
                return {**data, "task": task}
        return data

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> DataConfig:
        limits = limits_of(info)
        if limits is not None:
            if self.samples > limits.max_points:
                raise ValueError(f"samples: at most {limits.max_points} points")
            if self.classes > limits.max_classes:
                raise ValueError(f"classes: at most {limits.max_classes} classes")
        if self.val_fraction + self.test_fraction > 0.9:
            raise ValueError("val_fraction + test_fraction: at most 0.9 (some points must train)")
        spec = DATASETS.get(self.name)
        if spec is not None and spec.task != self.task:
            fits = ", ".join(n for n, d in DATASETS.items() if d.task == self.task)
            raise ValueError(
                f"the {self.name} dataset is a {spec.task} dataset; {self.task} takes {fits} "
                f"or {CUSTOM}"
            )
        if self.task == "regression":
            return self  # one real value a point: the class count does not apply
        if spec is not None and not spec.min_classes <= self.classes <= spec.max_classes:
            if spec.min_classes == spec.max_classes:
                raise ValueError(f"the {self.name} dataset has exactly {spec.min_classes} classes")
            raise ValueError(
                f"the {self.name} dataset takes {spec.min_classes} to {spec.max_classes} classes"
            )
        return self


class ModelConfig(_Section):
    """The network's shape, less its output layer (that follows the data's classes)."""

    hidden: tuple[Annotated[int, Field(ge=1, le=1024)], ...] = Field((4, 2), max_length=64)
    activation: Activation = "tanh"
    features: tuple[Feature, ...] = Field(
        ("x1", "x2"), min_length=1, max_length=len(FEATURES), description="Input features."
    )
    dropout: float = Field(
        0.0, ge=0, le=0.9, description="Drop probability after each hidden layer."
    )
    batch_norm: bool = False

    @field_validator("features")
    @classmethod
    def _ordered(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("each feature at most once")
        return canonical(value)  # the diagram's fixed order

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ModelConfig:
        limits = limits_of(info)
        if limits is not None:
            if len(self.hidden) > limits.max_hidden_layers:
                raise ValueError(f"hidden: at most {limits.max_hidden_layers} hidden layers")
            if self.hidden and max(self.hidden) > limits.max_neurons:
                raise ValueError(f"hidden: at most {limits.max_neurons} neurons in a layer")
        return self

    def layer_sizes(self, classes: int, task: str = "classification") -> tuple[int, ...]:
        """(n_features, h1, ..., n_out), e.g. (2, 4, 2, 1) for two classes or a regression."""
        return (len(self.features), *self.hidden, n_outputs(classes, task))


class TrainConfig(_Section):
    optimizer: Optimizer = "sgd"
    learning_rate: float = Field(0.03, gt=0, le=MAX_LEARNING_RATE)
    batch_size: int = Field(
        10, ge=1, le=HARD_MAX_POINTS, description="1: pure SGD; all points: GD."
    )
    loss: Loss = "cross_entropy"
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 penalty on every parameter.")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> TrainConfig:
        limits = limits_of(info)
        if limits is not None and self.batch_size > limits.max_points:
            raise ValueError(f"batch_size: at most {limits.max_points}")
        return self


class PlayConfig(_Section):
    """How fast play mode trains: like a video's playback speed. It changes nothing a step
    computes, so it changes on the fly (``set``) without a reset."""

    steps_per_frame: int = Field(
        DEFAULT_STEPS_PER_FRAME,
        ge=0,
        le=MAX_STEPS_PER_FRAME,
        description="Optimizer steps per frame of play (frames come settings.fps a second); "
        "0: full speed, as fast as the server trains.",
    )


class PlaygroundConfig(_Section):
    """The whole configuration; a ``configure`` message may send any part of it."""

    dataset: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainConfig = TrainConfig()
    play: PlayConfig = PlayConfig()

    @model_validator(mode="before")
    @classmethod
    def _regression_loss(cls, data: Any) -> Any:
        """A regression config without a loss gets the squared error, so that
        ``{"dataset": {"name": "plane"}}`` is a whole regression config."""
        if not isinstance(data, dict):
            return data
        dataset, training = data.get("dataset"), data.get("training")
        if isinstance(dataset, DataConfig):
            task = dataset.task
        elif isinstance(dataset, dict):
            task = dataset.get("task") or task_of(dataset.get("name", "circle"))
        else:
            task = None
        given = None
        if isinstance(training, TrainConfig) and "loss" in training.model_fields_set:
            given = training.loss
        elif isinstance(training, dict):
            given = training.get("loss")
        if task == "regression" and given is None:
            rest = training.model_dump() if isinstance(training, TrainConfig) else training or {}
            data = {**data, "training": {**rest, "loss": "mse"}}
        return data

    @model_validator(mode="after")
    def _check(self) -> PlaygroundConfig:
        if self.model.batch_norm and self.training.batch_size < 2:
            raise ValueError("batch norm needs batches of at least 2 points (batch_size >= 2)")
        task, loss = self.dataset.task, self.training.loss
        if loss not in TASK_LOSSES[task]:
            raise ValueError(
                f"training.loss: {loss} does not fit a {task}; choose from "
                f"{', '.join(TASK_LOSSES[task])}"
            )
        return self

    @property
    def task(self) -> str:
        return self.dataset.task
