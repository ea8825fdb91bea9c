"""Sessions, as the web process sees them: one per browser tab and lab, living in one worker.

The event loop only moves bytes. A client's message goes, as the text it came as, to the worker
that holds its session (``app.workers``); what the worker sends back is already encoded (JSON
text, binary frames) and lands in the session's two mailboxes: replies (bounded, oldest dropped)
and a one-slot frame box. The socket's pump sends replies, then the frame, then tells the worker
the frame went out (``Ack``); the worker builds the next frame only after that, so a slow browser
gets fewer frames, never a backlog.

Limits on what one client can take: sessions per client address, messages per second, bytes of
messages waiting for the worker, REST calls that wait too long. A session counts against the caps
until its worker says it has really closed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import torch
from fastapi import HTTPException, Request

from app.config import Settings
from app.host import REPLY_LIMIT
from app.labs.base import Lab, LabError
from app.schemas.common import Error
from app.wire import (
    Abandon,
    Ack,
    Attach,
    Call,
    CallResult,
    Close,
    Closed,
    Detach,
    Inbound,
    Open,
    Out,
    Outgoing,
    encode,
)
from app.workers import Link, ProcessLink, ThreadLink, WorkerBusy, WorkerDied

log = logging.getLogger("torchplay.sessions")

SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def valid_session_id(value: str | None) -> bool:
    return value is not None and SESSION_ID.fullmatch(value) is not None


class SessionError(RuntimeError):
    """A session cannot be opened (bad id, unknown lab, server or client at its cap)."""


class Session:
    """The web side of one session: its socket, mailboxes and the worker it lives in."""

    def __init__(self, manager: SessionManager, session_id: str, lab: str, client: str, link: Link):
        self.manager = manager
        self.id = session_id
        self.lab_name = lab
        self.client = client
        self.link = link
        self.key = SessionManager.key(session_id, lab)
        self.connected = False
        self.closing = False
        self.websocket: Any = None
        self.last_seen = time.monotonic()
        self.replies: collections.deque[Outgoing] = collections.deque(maxlen=REPLY_LIMIT)
        self.frame: list[Outgoing] | None = None
        self._notify: Callable[[], None] | None = None
        self._window = (time.monotonic(), 0)  # (start of this second, messages in it)
        self._queued_bytes = 0  # client bytes sent to the worker and not yet answered

    # ---- the socket's side ------------------------------------------------------------------
    def attach(self, notify: Callable[[], None], resumed: bool) -> None:
        """A socket took this session over; the worker answers with a full resync."""
        self._notify = notify
        self.connected = True
        self.last_seen = time.monotonic()
        self.replies.clear()  # what was meant for the last socket: the resync says it afresh
        self.frame = None
        self.link.send(Attach(self.key, resumed))

    def detach(self) -> None:
        self._notify = None
        self.connected = False
        self.last_seen = time.monotonic()
        self.frame = None
        if not self.closing:
            try:
                self.link.send(Detach(self.key))
            except WorkerBusy:
                pass

    def submit(self, text: str) -> None:
        """Forward a client message to the worker; LabError (said to the page) past the limits."""
        settings = self.manager.settings
        now = time.monotonic()
        start, count = self._window
        if now - start >= 1.0:
            start, count = now, 0
        if count >= settings.max_messages_per_s:
            raise LabError(
                f"too many messages (at most {settings.max_messages_per_s} a second); slow down"
            )
        self._window = (start, count + 1)
        size = len(text)
        if self._queued_bytes + size > settings.max_queued_bytes:
            raise LabError("too much sent at once; the server is still working on earlier messages")
        try:
            self.link.send(Inbound(self.key, text))
        except WorkerBusy as exc:
            raise LabError(str(exc)) from None
        self._queued_bytes += size
        self.last_seen = now

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(lab, *args)`` in the session's worker and await the result (REST handlers).
        Fails with a clear LabError when the session closes or the call takes too long."""
        return await self.manager.call(self, fn, args)

    def take_outgoing(self) -> tuple[list[Outgoing], bool]:
        """Everything ready to send now (replies first, then the newest frame), and whether a
        frame is among it (the pump acknowledges it once sent)."""
        out = list(self.replies)
        self.replies.clear()
        frame, self.frame = self.frame, None
        if frame is not None:
            out.extend(frame)
        return out, frame is not None

    def frame_sent(self) -> None:
        try:
            self.link.send(Ack(self.key))
        except WorkerBusy:
            pass

    # ---- the worker's side (on the event loop) ----------------------------------------------
    def deliver(self, event: Out) -> None:
        self._queued_bytes = 0  # the worker has taken everything sent before this answer
        self.replies.extend(event.replies)
        if event.frame is not None:
            if self.connected:
                self.frame = event.frame  # a newer frame replaces one not yet sent
            else:
                self.frame_sent()  # nobody to send it to: let the worker go on
        self.wake()

    def say(self, message: str) -> None:
        self.replies.append(encode(Error(message=message)))
        self.wake()

    def wake(self) -> None:
        if self._notify is not None:
            self._notify()


class SessionManager:
    """Every live session, the workers they run in, and the caps."""

    def __init__(self, settings: Settings, labs: dict[str, type[Lab]], device: torch.device):
        self.settings = settings
        self.labs = labs
        self.device = device
        self.sessions: dict[str, Session] = {}
        self.links: list[Link] = []
        self._calls: dict[int, tuple[asyncio.Future, Session]] = {}
        self._call_ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.restarts = 0  # workers replaced after dying (health, tests)
        self.stopping = False  # shutting down: a worker that ends now is not replaced

    # ---- workers ----------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        count = max(1, self.settings.workers)
        for index in range(count):
            self.links.append(self._start_link(index))

    def _start_link(self, index: int) -> Link:
        if self.settings.workers == 0:
            link: Link = ThreadLink(index, self.settings, self.labs, self.device)
        else:
            link = ProcessLink(index, self.settings, self.labs, self.device)
        link.start(self._on_event, self._loop)
        return link

    def _on_event(self, link: Link, event: object) -> None:
        if isinstance(event, Out):
            session = self.sessions.get(event.sid)
            if session is not None and session.link is link:
                session.deliver(event)
        elif isinstance(event, CallResult):
            entry = self._calls.pop(event.call_id, None)
            if entry is not None and not entry[0].done():
                future = entry[0]
                future.set_result(event.value) if event.ok else future.set_exception(event.value)
        elif isinstance(event, Closed):
            for key in [event.sid] if event.sid in link.sessions else []:
                session = self.sessions.get(key)
                if session is None or session.closing:
                    link.sessions.discard(key)
                    self.sessions.pop(key, None)
                    if session is not None:
                        self._fail_calls(session, "the session has closed: reload the page")
                else:  # the worker stopped it (a budget): it is gone there, so gone here too
                    link.sessions.discard(key)
                    self.sessions.pop(key, None)
                    session.closing = True
                    self._fail_calls(session, "the session was stopped: reload the page")
                    if session.websocket is not None:
                        asyncio.ensure_future(_say_and_close(session))
        elif isinstance(event, WorkerDied) and not self.stopping:
            self._replace(link)

    def _replace(self, dead: Link) -> None:
        """A worker died: start another in its place and move its sessions there, fresh. Their
        pages are told, and (ws.js) send their settings again at once."""
        self.restarts += 1
        log.error("worker %d died; starting a new one for its %d sessions", dead.index,
                  len(dead.sessions))
        fresh = self._start_link(dead.index)
        self.links[self.links.index(dead)] = fresh
        for key in list(dead.sessions):
            session = self.sessions.get(key)
            if session is None:
                continue
            self._fail_calls(session, "the server's worker stopped; try again")
            session.link = fresh
            fresh.sessions.add(key)
            if session.closing:
                self.sessions.pop(key, None)
                fresh.sessions.discard(key)
                continue
            fresh.send(Open(key, session.lab_name, session.id))
            if session.connected:
                session.say("The server restarted the worker running this lab; your settings "
                            "are sent again, the training starts over.")
                session.frame = None
                fresh.send(Attach(key, False))

    async def call(self, session: Session, fn: Callable[..., Any], args: tuple) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        call_id = next(self._call_ids)
        self._calls[call_id] = (future, session)
        try:
            session.link.send(Call(session.key, call_id, fn, args))
        except WorkerBusy as exc:
            self._calls.pop(call_id, None)
            raise LabError(str(exc)) from None
        session.last_seen = time.monotonic()
        try:
            return await asyncio.wait_for(future, self.settings.call_timeout_s)
        except TimeoutError:
            with contextlib.suppress(WorkerBusy):
                session.link.send(Abandon(session.key, call_id))  # the work stops there too
            raise LabError(
                f"the server took longer than {self.settings.call_timeout_s:g} s; try again"
            ) from None
        finally:
            self._calls.pop(call_id, None)

    def _fail_calls(self, session: Session, message: str) -> None:
        for call_id, (future, owner) in list(self._calls.items()):
            if owner is session and not future.done():
                future.set_exception(LabError(message))
                self._calls.pop(call_id, None)

    def stop(self) -> None:
        self.stopping = True
        for link in self.links:
            link.stop()
        for future, _ in self._calls.values():
            if not future.done():
                future.set_exception(LabError("the server is shutting down"))
        self._calls.clear()

    # ---- sessions ---------------------------------------------------------------------------
    @staticmethod
    def key(session_id: str, lab: str) -> str:
        return f"{lab}:{session_id}"

    def get(self, session_id: str, lab: str) -> Session | None:
        session = self.sessions.get(self.key(session_id, lab))
        return None if session is None or session.closing else session

    def admit(self, session_id: str | None, lab: str, client: str) -> str | None:
        """Why a socket would be refused (None: it would be let in). Checked at the handshake."""
        if lab not in self.labs:
            return f"unknown lab {lab[:64]!r}; labs: {', '.join(sorted(self.labs))}"
        if session_id is not None and not valid_session_id(session_id):
            return "session ids are 8 to 64 letters, digits, '-' or '_'"
        if session_id is not None and self.get(session_id, lab) is not None:
            return None  # a reconnect: always let back in
        self.reap()
        mine = sum(1 for s in self.sessions.values() if s.client == client)
        if mine >= self.settings.max_sessions_per_client:
            return (
                f"too many sessions from your address ({self.settings.max_sessions_per_client}); "
                "close some tabs of torchplay and reload"
            )
        if len(self.sessions) >= self.settings.max_sessions and self._evictable() is None:
            return f"the server is full ({self.settings.max_sessions} sessions); try again later"
        return None

    def _evictable(self) -> Session | None:
        """The session disconnected longest, if longer than the grace period (a reload never
        loses its session to a newcomer)."""
        now = time.monotonic()
        idle = [
            s for s in self.sessions.values()
            if not s.connected and not s.closing and now - s.last_seen > self.settings.evict_grace_s
        ]
        return min(idle, key=lambda s: s.last_seen) if idle else None

    def open(self, session_id: str | None, lab: str, client: str = "") -> tuple[Session, bool]:
        """The session with this id (resumed) or a new one; raises SessionError."""
        reason = self.admit(session_id, lab, client)
        if reason is not None:
            raise SessionError(reason)
        session_id = session_id or uuid.uuid4().hex
        existing = self.get(session_id, lab)
        if existing is not None:
            return existing, True
        if len(self.sessions) >= self.settings.max_sessions:
            victim = self._evictable()
            if victim is None:  # raced with another open
                raise SessionError(
                    f"the server is full ({self.settings.max_sessions} sessions); try again later"
                )
            self.drop(victim)
        link = min(self.links, key=lambda k: len(k.sessions))
        session = Session(self, session_id, lab, client, link)
        self.sessions[session.key] = session
        link.sessions.add(session.key)
        try:
            link.send(Open(session.key, lab, session_id))
        except WorkerBusy as exc:
            self.sessions.pop(session.key, None)
            link.sessions.discard(session.key)
            raise SessionError(str(exc)) from None
        return session, False

    def drop(self, session: Session, reason: str | None = None) -> None:
        """Close a session; it keeps counting until its worker confirms (``Closed``)."""
        if session.closing:
            return
        session.closing = True
        self._fail_calls(session, "the session has closed: reload the page")
        try:
            session.link.send(Close(session.key, reason))
        except WorkerBusy:
            pass

    def reap(self) -> None:
        """Close sessions disconnected for longer than the time to live."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if (
                not session.connected
                and not session.closing
                and now - session.last_seen > self.settings.session_ttl_s
            ):
                self.drop(session)

    async def reap_forever(self, every_s: float = 15.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.reap()

    def close_all(self) -> None:
        for session in list(self.sessions.values()):
            self.drop(session)

    # ---- for tests and benchmarks (TORCHPLAY_WORKERS=0 only) --------------------------------
    def host(self, session_id: str, lab: str):
        """The scheduler's record of a session (its lab, state, frame count) in thread mode."""
        session = self.sessions.get(self.key(session_id, lab))
        if session is None or not isinstance(session.link, ThreadLink):
            return None
        return session.link.scheduler.hosts.get(session.key)


async def _say_and_close(session: Session) -> None:
    """Send what the worker said last (why it stopped the session), then close the socket."""
    websocket = session.websocket
    try:
        messages, _ = session.take_outgoing()
        for message in messages:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)
        await websocket.close(code=1011, reason="session stopped")
    except Exception:
        pass


def lookup_session(request: Request, session_id: str, lab: str) -> Session:
    """For REST handlers: the live session of this lab, or 404 with a message to reload."""
    manager: SessionManager = request.app.state.sessions
    session = manager.get(session_id, lab) if valid_session_id(session_id) else None
    if session is None:
        raise HTTPException(404, "no such session (it may have expired): reload the page")
    return session
