"""The /ws endpoint: checks the Origin, parses client messages, pumps session output.

The handler never does tensor work and never parses a client's JSON: it checks the message's
size and rate, passes the text to the session's worker, and sends whatever the worker sent back.
A socket the server would refuse (full, too many sessions from one address, bad id) is refused
at the handshake, before it is accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect

from app.config import Settings
from app.labs.base import LabError
from app.schemas.common import Error
from app.security import origin_allowed
from app.sessions import Session, SessionError, SessionManager
from app.wire import Outgoing, encode

log = logging.getLogger("torchplay.ws")
router = APIRouter()

REPLACED = 4001  # close code: another tab/socket took this session over


async def _send(websocket: WebSocket, message: Outgoing) -> None:
    if isinstance(message, bytes):
        await websocket.send_bytes(message)
    else:
        await websocket.send_text(message)


def _error(text: str) -> str:
    return encode(Error(message=text))


async def _pump(websocket: WebSocket, session: Session, wake: asyncio.Event) -> None:
    """Send the session's replies and newest frame (already encoded) whenever the worker has
    some; tell the worker once a frame is out, so it builds the next."""
    while True:
        await wake.wait()
        wake.clear()
        if session.websocket is not websocket:
            return
        messages, has_frame = session.take_outgoing()
        for message in messages:
            await _send(websocket, message)
        if has_frame:
            session.frame_sent()


def client_address(websocket_or_request) -> str:
    """The client's address as uvicorn saw it (behind a trusted proxy: the forwarded one)."""
    client = websocket_or_request.client
    return client.host if client is not None else ""


@router.get("/api/admission", tags=["sessions"])
async def admission(
    request: Request,
    lab: str = Query(..., max_length=64),
    session: str | None = Query(None, max_length=64),
) -> dict:
    """Would a socket for this lab and session be let in, and if not, why. The page asks when
    its socket was refused at the handshake (a browser cannot read the refusal's reason)."""
    manager: SessionManager = request.app.state.sessions
    reason = manager.admit(session, lab, client_address(request))
    return {"ok": reason is None, "reason": reason}


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket, lab: str = "mlp", session: str | None = None):
    settings: Settings = websocket.app.state.settings
    manager: SessionManager = websocket.app.state.sessions
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), settings):
        await websocket.close(code=1008, reason="origin not allowed")  # before accept: HTTP 403
        return
    client = client_address(websocket)
    try:  # refused at the handshake (HTTP 403): a full server spends nothing on the socket
        sess, resumed = manager.open(session, lab, client)
    except SessionError as exc:
        await websocket.close(code=1013, reason=str(exc)[:120])
        return
    await websocket.accept()
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
            text = incoming.get("text")
            try:
                if text is None:
                    raise LabError("send JSON text messages")
                if len(text) > settings.max_message_bytes or (
                    len(text.encode()) > settings.max_message_bytes
                ):
                    raise LabError(f"message too large (limit {settings.max_message_bytes:,} bytes)")
                sess.submit(text)
            except LabError as exc:
                sess.replies.append(_error(str(exc)))
                sess.wake()
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
