"""Wire messages of the CNN lab's "inside the network" views (docs/protocol-cnn.md §6), both ways.

Client messages that point at a picture carry the ``model`` number of the frame they were read
from (``cnn.maps`` meta ``model``): a model rebuilt or reset since then gets an ``error``, not
numbers of another net. The numbers come from ml_core (cnn_trace, cnn_tensors, cnn_reference);
the pictures (top images, activation maximisation, heat maps, batch-norm maps, histograms) go as
binary frames (app/labs/cnn_inside_frames.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.schemas.common import ClientMessage, ServerMessage
from ml_core.cnn_explain import METHODS
from ml_core.cnn_reference import REFERENCES, Stack
from ml_core.cnn_shapes import LayerInfo
from ml_core.cnn_tensors import TensorView
from ml_core.cnn_trace import PixelTrace, UnitTrace

Index = Annotated[int, Field(ge=0, le=100_000)]


# ---- client -> server ------------------------------------------------------------------------
class TraceRequest(ClientMessage):
    """How one number was computed: pixel (channel, y, x) of a feature map, or, for a dense
    layer, unit ``channel``; for the probe image."""

    type: Literal["trace"]
    model: int
    layer: Index
    channel: Index = 0
    y: Index = 0
    x: Index = 0


class ChannelsRequest(ClientMessage):
    """Each channel's strongest validation images for the conv block holding ``layer``, now and
    after every validation pass; ``layer: null`` stops them."""

    type: Literal["channels"]
    model: int
    layer: int | None = Field(None, ge=0, le=100_000)


class DreamRequest(ClientMessage):
    """Start activation maximisation for ``channel`` of the conv block holding ``layer``."""

    type: Literal["dream"]
    model: int
    layer: Index
    channel: Index = 0


class DreamStepRequest(ClientMessage):
    """Run the next slice of job ``job`` (the page sends it after each ``cnn.dream`` frame)."""

    type: Literal["dream_step"]
    job: int


class ExplainRequest(ClientMessage):
    """Where the net looks in the probe image, for class ``target`` (null: the predicted one)."""

    type: Literal["explain"]
    model: int
    method: Literal[METHODS] = "gradcam"
    target: int | None = Field(None, ge=0, le=1000)


class BatchNormRequest(ClientMessage):
    """The batch-norm panel of ``channel`` of the batch-norm row ``layer``."""

    type: Literal["batchnorm"]
    model: int
    layer: Index
    channel: Index = 0


class CompareRequest(ClientMessage):
    """Train the net with and without batch norm side by side (on), or stop comparing (off)."""

    type: Literal["compare"]
    on: bool


class ReferenceRequest(ClientMessage):
    """The layer table of a classic net, by shape inference only."""

    type: Literal["reference"]
    name: Literal[tuple(REFERENCES)]


class TensorRequest(ClientMessage):
    """Row ``layer``'s weight (slice [out, in]) and its output for the probe image (slice
    [0, channel])."""

    type: Literal["tensor"]
    model: int
    layer: Index
    out: Index = 0
    in_channel: Index = 0
    channel: Index = 0


INSIDE_MESSAGES = (TraceRequest, ChannelsRequest, DreamRequest, DreamStepRequest, ExplainRequest,
                   BatchNormRequest, CompareRequest, ReferenceRequest, TensorRequest)


# ---- server -> client ------------------------------------------------------------------------
class TraceReply(ServerMessage):
    """Reply to ``trace``: ``pixel`` for a feature map, ``unit`` for a dense layer."""

    type: Literal["trace"] = "trace"
    model: int
    step: int
    source: str = Field(description="The probe image: val or upload.")
    index: int | None = Field(description="The validation image traced (null: an upload).")
    pixel: PixelTrace | None = None
    unit: UnitTrace | None = None


class CompareRun(BaseModel):
    batch_norm: bool
    step: int
    epoch: float
    train_loss: float | None
    train_acc: float | None
    val_loss: float | None
    val_acc: float | None
    val_step: int | None


class CompareMetrics(ServerMessage):
    """While comparing, in every frame: both runs' numbers (``on: false`` once it stopped)."""

    type: Literal["compare"] = "compare"
    on: bool
    runs: list[CompareRun] = Field(default_factory=list)


class ReferenceReply(ServerMessage):
    type: Literal["reference"] = "reference"
    name: str
    title: str
    year: int
    note: str
    input_shape: list[int]
    classes: int
    layers: list[LayerInfo]
    total_params: int
    forward_flops: int
    stacks: list[Stack] = Field(description="Stacked 3×3 convs against one larger kernel.")


class TensorReply(ServerMessage):
    type: Literal["tensor"] = "tensor"
    model: int
    layer: int
    name: str
    weight: TensorView | None
    activation: TensorView
