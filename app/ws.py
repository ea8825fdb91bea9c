"""The /ws endpoint: checks the Origin, parses client messages, pumps session output.

The handler never does tensor work: it moves JSON into the session's command queue and sends
whatever the session's worker left in its mailboxes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from app.config import Settings
from app.frames import BinaryFrame
from app.labs.base import LabError
from app.schemas.common import ClientMessage
from app.sessions import Session, SessionError, SessionManager

log = logging.getLogger("torchplay.ws")
router = APIRouter()

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
REPLACED = 4001  # close code: another tab/socket took this session over


def origin_allowed(origin: str | None, host_header: str | None, settings: Settings) -> bool:
    """Browsers send Origin; non-browser clients (no Origin) are allowed.

    A browser page may open the socket only if it was served by this server (same host:port as
    the Host header), and that host is loopback, the bind address or an allowed host — which
    defeats DNS rebinding — or if its origin is explicitly allowed.
    """
    if origin is None:
        return True
    if origin in settings.allowed_origins:
        return True
    parts = urlsplit(origin)
    if not parts.netloc or parts.netloc != (host_header or ""):
        return False
    hostname = parts.hostname or ""
    allowed = LOOPBACK | {settings.host, *settings.allowed_hosts}
    return hostname in allowed or f"[{hostname}]" in allowed


async def _send(websocket: WebSocket, message) -> None:
    if isinstance(message, BinaryFrame):
        await websocket.send_bytes(message.encode())
    else:
        await websocket.send_text(json.dumps(message, separators=(",", ":"), allow_nan=False))


async def _pump(websocket: WebSocket, session: Session, wake: asyncio.Event) -> None:
    """Send the session's replies and newest frame whenever the worker signals."""
    while True:
        await wake.wait()
        wake.clear()
        if session.websocket is not websocket:
            return
        for message in session.take_outgoing():
            try:
                await _send(websocket, message)
            except ValueError:  # NaN/inf slipped into a message: say so instead of sending it
                log.exception("unserialisable message from lab %s", session.lab_name)
                await _send(websocket, {"type": "error", "message": "internal error: bad number"})


def _parse(raw: str, settings: Settings) -> dict:
    if len(raw.encode()) > settings.max_message_bytes:
        raise LabError(f"message too large (limit {settings.max_message_bytes:,} bytes)")
    try:
        data = json.loads(raw, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except ValueError:
        raise LabError("messages must be JSON objects (NaN and Infinity are not allowed)") from None
    if not isinstance(data, dict):
        raise LabError("messages must be JSON objects with a 'type'")
    try:
        ClientMessage.model_validate(data)
    except ValidationError:
        raise LabError("messages must have a string 'type'") from None
    if data["type"].startswith("_"):
        raise LabError(f"unknown message type {data['type']!r}")
    return data


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket, lab: str = "mlp", session: str | None = None):
    settings: Settings = websocket.app.state.settings
    manager: SessionManager = websocket.app.state.sessions
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings):
        await websocket.close(code=1008, reason="origin not allowed")
        return
    await websocket.accept()
    try:
        sess, resumed = manager.open(session, lab)
    except SessionError as exc:
        await _send(websocket, {"type": "error", "message": str(exc)})
        await websocket.close(code=1008, reason=str(exc)[:120])
        return

    previous = sess.websocket
    sess.websocket = websocket
    if previous is not None:
        with contextlib.suppress(Exception):
            await previous.close(code=REPLACED, reason="opened in another tab")
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    sess.attach(lambda: loop.call_soon_threadsafe(wake.set), resumed)
    pump = asyncio.create_task(_pump(websocket, sess, wake))
    try:
        while True:
            incoming = await websocket.receive()
            if incoming["type"] == "websocket.disconnect":
                break
            if incoming.get("text") is None:
                await _send(websocket, {"type": "error", "message": "send JSON text messages"})
                continue
            try:
                sess.submit(_parse(incoming["text"], settings))
            except LabError as exc:
                await _send(websocket, {"type": "error", "message": str(exc)})
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        if sess.websocket is websocket:
            sess.websocket = None
            sess.detach()
