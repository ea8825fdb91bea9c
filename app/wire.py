"""What crosses between the web process and a worker: commands in, events out, and the encoding
of what a session says to its page.

Commands and events are small dataclasses (pickled over a worker's pipe, or passed as they are to
a scheduler thread). A session's messages travel already encoded (``Outgoing``: JSON text or a
binary frame's bytes), so the web process only forwards bytes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.frames import BinaryFrame
from app.labs.base import LabError, Message

log = logging.getLogger("torchplay.scheduler")

Outgoing = str | bytes  # an encoded websocket message: JSON text or a binary frame


# ---- commands (web side -> scheduler) -------------------------------------------------------
@dataclass
class Open:
    sid: str  # the session's key on this server ("<lab>:<id>"), used by every command and event
    lab: str
    session: str  # the id the page chose (said back in hello)


@dataclass
class Close:
    sid: str
    reason: str | None = None  # said to the page when the server stops it (None: it left)


@dataclass
class Attach:
    sid: str
    resumed: bool


@dataclass
class Detach:
    sid: str


@dataclass
class Inbound:
    """A client message as it came off the socket (JSON text; parsed here, not on the loop)."""

    sid: str
    text: str


@dataclass
class Ack:
    """The session's last frame has gone out: the next may be built."""

    sid: str


@dataclass
class Call:
    """Run ``fn(lab, *args)`` on the session's lab (REST handlers)."""

    sid: str
    call_id: int
    fn: Callable[..., Any]
    args: tuple


@dataclass
class Abandon:
    """The web side gave up waiting for a call (it timed out): drop or stop that work only."""

    sid: str
    call_id: int


@dataclass
class Shutdown:
    pass


# ---- events (scheduler -> web side) ---------------------------------------------------------
@dataclass
class Out:
    """Replies to send in order, then (if any) a frame: metrics and pictures of one moment."""

    sid: str
    replies: list[Outgoing]
    frame: list[Outgoing] | None = None


@dataclass
class CallResult:
    call_id: int
    ok: bool
    value: Any


@dataclass
class Closed:
    """The session is gone from this worker (its lab closed); it no longer counts anywhere."""

    sid: str


def encode(message: Message) -> Outgoing:
    """A lab's message as it goes on the wire."""
    if isinstance(message, BinaryFrame):
        return message.encode()
    return message.model_dump_json()


def portable(exc: Exception) -> Exception:
    """An exception that survives the trip to the web process: LabError and HTTPException as
    they are, anything else as a LabError naming only its type (no internals, no paths)."""
    if isinstance(exc, LabError) or type(exc).__name__ == "HTTPException":
        return exc
    log.error("REST call failed", exc_info=exc)
    return LabError(f"internal error: {type(exc).__name__}")


def parse_json(text: str) -> dict:
    """A client message's JSON object; LabError for anything else (said to the page)."""
    try:
        data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except RecursionError:
        raise LabError("message nested too deeply") from None
    except ValueError:
        raise LabError("messages must be JSON objects (NaN and Infinity are not allowed)") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise LabError("messages must be JSON objects with a string 'type'")
    return data
