"""Messages every lab shares, both ways (docs/protocol.md).

Client -> server: ``configure``, ``play``, ``pause``, ``step``, ``reset``; a lab adds its own
(``Lab.messages``) and the runner parses each message as one discriminated union of the two, so
the list of what a lab understands lives in one place.

Server -> client: every JSON message is a ``ServerMessage`` (typed, NaN and inf go out as null);
pictures are ``app.frames.BinaryFrame``s.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_STEPS = 100_000


class ClientMessage(BaseModel):
    """Base of every client message: unknown fields are refused, floats must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Configure(ClientMessage):
    """Rebuild the lab from a (partial) config; the lab fills in the rest from its defaults."""

    type: Literal["configure"]
    lab: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)


class Play(ClientMessage):
    type: Literal["play"]


class Pause(ClientMessage):
    type: Literal["pause"]


class Step(ClientMessage):
    type: Literal["step"]
    steps: int = Field(1, ge=1, le=MAX_STEPS)


class Reset(ClientMessage):
    type: Literal["reset"]


COMMON_MESSAGES: tuple[type[ClientMessage], ...] = (Configure, Play, Pause, Step, Reset)


# ---- server -> client ----------------------------------------------------------------------
class ServerMessage(BaseModel):
    """Base of every JSON message the server sends (NaN and inf serialise as null)."""

    model_config = ConfigDict(ser_json_inf_nan="null")


class Hello(ServerMessage):
    type: Literal["hello"] = "hello"
    session: str
    lab: str
    device: str
    resumed: bool


class State(ServerMessage):
    type: Literal["state"] = "state"
    state: Literal["playing", "paused", "diverged", "finished"]
    message: str | None = None


class Error(ServerMessage):
    type: Literal["error"] = "error"
    message: str


class Configured(ServerMessage):
    """What the lab now runs: its full, normalised config. Labs subclass it with what else the
    page needs (the data, the model's size, notes...)."""

    type: Literal["configured"] = "configured"
    lab: str
    config: dict[str, Any]


class Updated(ServerMessage):
    """A change made on the fly (no rebuild, no reset): the full config as it is now."""

    type: Literal["updated"] = "updated"
    config: dict[str, Any]


class Metrics(ServerMessage):
    """Numbers of the run; labs subclass it with theirs."""

    type: Literal["metrics"] = "metrics"
    step: int
