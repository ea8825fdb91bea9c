"""Messages every lab understands, and the checks applied to every client message."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

COMMON_TYPES = ("configure", "play", "pause", "step", "reset")
MAX_STEPS = 100_000


class ClientMessage(BaseModel):
    """Any client message: a JSON object with a string ``type``; other fields pass through."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(min_length=1, max_length=64)


class Configure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["configure"]
    lab: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["step"]
    steps: int = Field(1, ge=1, le=MAX_STEPS)


class Error(BaseModel):
    type: Literal["error"] = "error"
    message: str


class State(BaseModel):
    type: Literal["state"] = "state"
    state: Literal["playing", "paused", "diverged", "finished"]
    message: str | None = None
