"""Wire messages of the CNN lab (docs/protocol-cnn.md), both ways.

The config itself is not here: ``ml_core.cnn_config.CNNConfig`` is its one definition (the lab
validates ``configure`` with it, ``configured`` sends it back). Client messages are the lab's own
(``CNNLab.messages``); server messages are typed ``ServerMessage``s (NaN and inf go out as null);
pictures go as binary frames (app/labs/cnn_frames.py).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.common import ClientMessage, Configured, Metrics, ServerMessage
from ml_core.cnn import Architecture, ConvBlock, FCLayer, LayerInfo
from ml_core.cnn_config import CNNConfig
from ml_core.cnn_run import HistoryPoint


# ---- client -> server ------------------------------------------------------------------------
class Inspect(ClientMessage):
    """The shape table of a prospective (partial) config; changes nothing."""

    type: Literal["inspect"]
    config: dict[str, Any] = Field(default_factory=dict)


class SelectImage(ClientMessage):
    """Validation image ``index`` becomes the one whose feature maps stream."""

    type: Literal["select_image"]
    index: int = Field(ge=0, le=10_000_000)


class Drop(ClientMessage):
    """Leave these training images (ids from ``cnn.hardest``) out and restart training."""

    type: Literal["drop"]
    ids: list[int] = Field(min_length=1, max_length=1000)


class DropSuspects(ClientMessage):
    """Leave out the ``count`` training images with the highest loss, ranked over the whole
    training split, and restart training."""

    type: Literal["drop_suspects"]
    count: int = Field(ge=1, le=1_000_000)


class Test(ClientMessage):
    """Evaluate on the held-out test split (the final exam)."""

    type: Literal["test"]


class Restore(ClientMessage):
    """Put every dropped training image back."""

    type: Literal["restore"]


class AugmentPreview(ClientMessage):
    """A batch before and after augmentation."""

    type: Literal["augment_preview"]


class Refresh(ClientMessage):
    """Everything a fresh page needs: the history of the curves and a full frame."""

    type: Literal["refresh"]


class Describe(ClientMessage):
    """The ``configured`` message again."""

    type: Literal["describe"]


# ---- server -> client ------------------------------------------------------------------------
class DatasetSummary(BaseModel):
    """The data of the run: classes, input shape, split sizes, what the pitfalls did."""

    name: str
    title: str
    classes: list[str]
    input_shape: list[int] = Field(description="(C, H, W) of the net's input.")
    grey: bool
    train: int = Field(description="Training images trained on (dropped ones left out).")
    val: int
    test: int
    train_counts: list[int]
    val_counts: list[int]
    test_counts: list[int]
    flipped: int = Field(description="Training labels flipped by label_noise.")
    dropped: int = Field(description="Training images removed by drop.")


class DatasetOption(BaseModel):
    name: str
    title: str
    available: bool
    hint: str | None = None


class Option(BaseModel):
    name: str
    title: str


class Choices(BaseModel):
    """What the page offers, from the core's registries, and the fields of a new layer."""

    optimizers: list[Option]
    activations: list[str]
    pools: list[str]
    block: ConvBlock = Field(description="A new conv block's fields.")
    fc: FCLayer = Field(description="A new fully-connected layer's fields.")


class Cost(BaseModel):
    """The work of the net (docs/protocol-cnn.md §2): per image, per training step of ``batch``
    images, per evaluation pass. ``*_work`` are the FLOPs charged against the limits (thin convs
    count as 64 channel pairs)."""

    batch: int
    forward_flops: int = Field(description="One image, forward.")
    step_flops: int = Field(description="One training step: about 3 x batch x forward.")
    step_work: int
    activation_bytes: int = Field(description="Layer outputs kept for one step's backward.")
    eval_images: int
    eval_work: int


class CNNConfigured(Configured):
    config: CNNConfig
    dataset: DatasetSummary
    layers: list[LayerInfo]
    total_params: int
    cost: Cost
    presets: dict[str, Architecture]
    datasets: list[DatasetOption]
    samples: list[str] = Field(description="Sample pictures for /api/cnn/predict.")
    device: str
    choices: Choices


class Shapes(ServerMessage):
    """Reply to ``inspect``: the layer table, or where the architecture breaks."""

    type: Literal["shapes"] = "shapes"
    ok: bool
    error: str | None = None
    error_layer: int | None = Field(None, description="Index of the offending layer.")
    input_shape: list[int] | None = None
    total_params: int | None = None
    layers: list[LayerInfo] = Field(default_factory=list)
    cost: Cost | None = None


class CNNMetrics(Metrics):
    epoch: float
    epochs: int
    samples_seen: int
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    val_step: int | None = Field(description="The step of the validation pass val_* come from.")
    val_epoch: float | None = Field(description="The epoch of that validation pass.")
    best_val_acc: float | None
    images_per_s: float | None
    elapsed_s: float


class EvaluationMessage(ServerMessage):
    """A validation pass (in a frame when a new one happened, and in ``refresh``)."""

    type: Literal["evaluation"] = "evaluation"
    split: str
    step: int
    epoch: float
    loss: float | None
    accuracy: float
    classes: list[str]
    confusion: list[list[int]] = Field(description="[true][predicted] counts.")
    per_class_accuracy: list[float | None]
    counts: list[int]


class TestResultMessage(EvaluationMessage):
    """Reply to ``test``: the same on the held-out test split."""

    type: Literal["test_result"] = "test_result"


class History(ServerMessage):
    """The curves so far (in ``refresh``), so a reloaded page redraws them."""

    type: Literal["history"] = "history"
    points: list[HistoryPoint]


class Dropped(ServerMessage):
    """Reply to ``drop`` / ``restore``: training restarted with these training images."""

    type: Literal["dropped"] = "dropped"
    dropped: int = Field(description="Images newly dropped by this message.")
    flipped: int = Field(0, description="How many of the images named had a flipped label.")
    val_before: float | None = Field(
        None, description="Validation accuracy just before the drop (null: none yet)."
    )
    val_epoch: float | None = Field(None, description="The epoch of that validation pass.")
    total_dropped: int
    train: int
    train_counts: list[int]


# ---- REST responses --------------------------------------------------------------------------
class Prediction(BaseModel):
    """``POST /api/cnn/predict``: the class probabilities. The picture the net saw and its
    feature maps follow on the socket, in the ``cnn.maps`` frame (``source: "upload"``)."""

    classes: list[str]
    probabilities: list[float]
    predicted: int
    label: str
