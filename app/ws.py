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

from app.config import Settings
from app.labs.base import LabError
from app.schemas.common import Error
from app.sessions import Outgoing, Session, SessionError, SessionManager, encode

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


async def _send(websocket: WebSocket, message: Outgoing) -> None:
    if isinstance(message, bytes):
        await websocket.send_bytes(message)
    else:
        await websocket.send_text(message)


def _error(text: str) -> str:
    return encode(Error(message=text))


async def _pump(websocket: WebSocket, session: Session, wake: asyncio.Event) -> None:
    """Send the session's replies and newest frame (already encoded) whenever the worker signals."""
    while True:
        await wake.wait()
        wake.clear()
        if session.websocket is not websocket:
            return
        for message in session.take_outgoing():
            await _send(websocket, message)


def _parse(raw: str, settings: Settings) -> dict:
    """The JSON object of one client message; its fields are checked by the lab's worker."""
    if len(raw) > settings.max_message_bytes or len(raw.encode()) > settings.max_message_bytes:
        raise LabError(f"message too large (limit {settings.max_message_bytes:,} bytes)")
    try:
        data = json.loads(raw, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except RecursionError:
        raise LabError("message nested too deeply") from None
    except ValueError:
        raise LabError("messages must be JSON objects (NaN and Infinity are not allowed)") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise LabError("messages must be JSON objects with a string 'type'")
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
        await _send(websocket, _error(str(exc)))
        await websocket.close(code=1008, reason=str(exc)[:120])
        return

    previous = sess.websocket
    sess.websocket = websocket
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    pump: asyncio.Task | None = None
    try:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous.close(code=REPLACED, reason="opened in another tab")
        sess.attach(lambda: loop.call_soon_threadsafe(wake.set), resumed)
        pump = asyncio.create_task(_pump(websocket, sess, wake))
        while True:
            incoming = await websocket.receive()
            if incoming["type"] == "websocket.disconnect":
                break
            if incoming.get("text") is None:
                await _send(websocket, _error("send JSON text messages"))
                continue
            try:
                sess.submit(_parse(incoming["text"], settings))
            except LabError as exc:
                await _send(websocket, _error(str(exc)))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
        if sess.websocket is websocket:
            sess.websocket = None
            sess.detach()
