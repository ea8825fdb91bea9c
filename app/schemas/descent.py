"""Wire messages of the gradient-descent lab (docs/protocol-descent.md).

The lab's configuration is ``ml_core.descent.DescentConfig`` (one definition, with the surfaces and
optimisers of the core); here are only the messages. Bounds that depend on the server's settings
(most steps, top speed) are checked by the lab.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.common import ClientMessage, Configured, Metrics
from ml_core.descent import Coordinate, DescentConfig, SurfacePreset
from ml_core.surfaces import SURFACES


# ---- client -> server ----------------------------------------------------------------------
class StartMessage(ClientMessage):
    """The user clicked a start point: every run restarts from it (and play goes on)."""

    type: Literal["start"]
    x: Coordinate
    y: Coordinate


class SurfaceMessage(ClientMessage):
    """Ask for the heat map of the configured surface (a `surface` binary frame)."""

    type: Literal["surface"]


# ---- server -> client ----------------------------------------------------------------------
class MinimumInfo(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    point: tuple[float, float]
    value: float
    global_: bool = Field(alias="global")  # the lowest of the surface's minima


class SurfaceInfo(BaseModel):
    """What the page draws around the heat map."""

    name: str
    title: str
    note: str
    bounds: tuple[float, float, float, float]  # xmin, xmax, ymin, ymax
    start: tuple[float, float]  # the surface's suggested start
    log_scale: bool
    minima: list[MinimumInfo]


class SurfaceChoice(BaseModel):
    name: str
    title: str


class Options(BaseModel):
    """The surfaces the page offers, from the core's registry."""

    surfaces: list[SurfaceChoice] = Field(
        default_factory=lambda: [SurfaceChoice(name=s.name, title=s.title) for s in SURFACES.values()]
    )


class DescentConfigured(Configured):
    config: DescentConfig
    start: tuple[float, float]  # where the runs start (the config's, or the surface's)
    surface: SurfaceInfo
    presets: dict[str, SurfacePreset]  # surface -> {max_steps, lr: {optimiser: lr}}
    options: Options = Field(default_factory=Options)


class RunMetrics(BaseModel):
    steps: int
    loss: float | None  # null once diverged
    grad_norm: float | None
    point: tuple[float | None, float | None]
    done: bool
    ending: str | None  # ml_core.endings.Ending, once done
    text: str | None  # the verdict in words
    detail: str | None  # the numbers and the threshold that decided it
    grad_tol: float | None  # the |∇f| under which the judged point counts as a zero gradient
    averaged: int | None  # SGD: how many of its last points the judged point averages (else 0)
    eigenvalues: tuple[float, float] | None  # of the Hessian at the end point


class DescentMetrics(Metrics):
    """``step``: the most steps any run has taken; ``runs``: the enabled optimisers only."""

    lab: Literal["descent"] = "descent"
    runs: dict[str, RunMetrics]
    finished: bool
