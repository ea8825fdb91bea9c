"""Sessions: one Lab per browser tab, driven by its own worker thread.

The event loop only moves messages. Everything that touches tensors runs on the session's worker
thread: commands arrive through a bounded queue; replies leave through a bounded deque; frames leave
through a one-slot mailbox that the worker fills only when the previous frame has been sent and
the display interval has passed, so a slow browser gets fewer frames, never a growing backlog.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from fastapi import HTTPException, Request

from app.config import Settings
from app.frames import BinaryFrame
from app.labs.base import Diverged, Lab, LabError, Message
from app.schemas.common import (
    Configure,
    Configured,
    Error,
    Hello,
    Pause,
    Play,
    Reset,
    ServerMessage,
    State,
    Step,
)
from ml_core.device import describe

log = logging.getLogger("torchplay.sessions")

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
REPLY_LIMIT = 256  # replies waiting for a socket; beyond this the oldest are dropped
_STOP = object()


class SessionError(RuntimeError):
    """A session cannot be opened (bad id, unknown lab, server full)."""


@dataclass
class Call:
    """Run ``fn(lab, *args)`` on the worker and deliver its result to ``future`` (REST)."""

    fn: Callable[..., Any]
    args: tuple
    future: concurrent.futures.Future


@dataclass
class Resync:
    """A socket (re)attached: send hello, the current configuration and state."""

    resumed: bool


Outgoing = str | bytes  # an encoded websocket message: JSON text or a binary frame


def encode(message: Message) -> Outgoing:
    """A lab's message as it goes on the wire (built on the worker, sent as is by the loop)."""
    if isinstance(message, BinaryFrame):
        return message.encode()
    if isinstance(message, dict):  # TRANSITIONAL: labs move to typed messages
        return json.dumps(message, separators=(",", ":"), allow_nan=False)
    return message.model_dump_json()


class Session:
    """One lab instance, its worker thread and its outgoing mailboxes."""

    def __init__(self, session_id: str, lab_cls: type[Lab], settings: Settings, device: torch.device):
        self.id = session_id
        self.lab_name = lab_cls.name
        self.settings = settings
        self.device = device
        # Client messages (bounded: a flood is refused) and the server's own requests (REST
        # calls, resyncs: never refused, they come one per request or connection).
        self.commands: queue.Queue = queue.Queue(maxsize=settings.command_queue)
        self.control: collections.deque[Call | Resync] = collections.deque()
        self.replies: collections.deque[Outgoing] = collections.deque(maxlen=REPLY_LIMIT)
        self.playing = False
        self.state = "paused"
        self.last_seen = time.monotonic()
        self.connected = False
        self.websocket: Any = None
        self._lab_cls = lab_cls
        self._lab: Lab | None = None
        self._configured: ServerMessage | None = None
        self._frame: list[Outgoing] | None = None
        self._frame_lock = threading.Lock()
        self._last_frame = 0.0
        self.frames_built = 0  # for tests and benchmarks: frames made (not skipped) so far
        self._notify: Callable[[], None] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"session-{session_id[:8]}", daemon=True)
        self._thread.start()

    # ---- event-loop side -------------------------------------------------------------------
    def attach(self, notify: Callable[[], None], resumed: bool) -> None:
        """A socket took this session over; ask the worker for a full resync."""
        self._notify = notify
        self.connected = True
        self.last_seen = time.monotonic()
        self._control(Resync(resumed))

    def detach(self) -> None:
        self._notify = None
        self.connected = False
        self.last_seen = time.monotonic()

    def _control(self, item: Call | Resync) -> None:
        self.control.append(item)
        try:
            self.commands.put_nowait(None)  # wake the worker if it waits for a command
        except queue.Full:
            pass  # it is busy with commands and looks at the control queue before each one

    def submit(self, message: dict) -> None:
        """Queue a client message for the worker; raises LabError when the queue is full."""
        try:
            self.commands.put_nowait(message)
        except queue.Full:
            raise LabError("too many messages at once; the server is still working on earlier ones") from None
        self.last_seen = time.monotonic()

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(lab, *args)`` on the worker thread and await its result (for REST handlers)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._control(Call(fn, args, future))
        self.last_seen = time.monotonic()
        return await asyncio.wrap_future(future)

    def take_outgoing(self) -> list[Outgoing]:
        """Everything ready to send now: queued replies first, then the newest frame."""
        out: list[Outgoing] = []
        while self.replies:
            try:
                out.append(self.replies.popleft())
            except IndexError:
                break
        with self._frame_lock:
            frame, self._frame = self._frame, None
        if frame:
            out.extend(frame)
        return out

    def close(self) -> None:
        self._closed = True
        try:
            self.commands.put_nowait(_STOP)
        except queue.Full:
            pass  # the worker sees _closed at its next turn

    # ---- worker side -----------------------------------------------------------------------
    def _wake(self) -> None:
        notify = self._notify
        if notify is not None:
            notify()

    def _encode_all(self, messages: list[Message]) -> list[Outgoing]:
        out = []
        for message in messages:
            try:
                out.append(encode(message))
            except (TypeError, ValueError):  # a bug: say so instead of dropping the socket
                log.exception("session %s: unserialisable %s", self.id, type(message).__name__)
                out.append(encode(Error(message="internal error: a message could not be sent")))
        return out

    def _reply(self, *messages: Message) -> None:
        for message in messages:
            if isinstance(message, Configured) or (
                isinstance(message, dict) and message.get("type") == "configured"
            ):
                self._configured = message
        self.replies.extend(self._encode_all(list(messages)))
        self._wake()

    def _set_state(self, state: str, message: str | None = None) -> None:
        self.state = state
        self.playing = state == "playing"
        self._reply(State(state=state, message=message))

    def _frame_due(self) -> float:
        """Seconds until the next play-mode frame is due (0 when it is)."""
        return max(0.0, self._last_frame + 1.0 / self.settings.fps - time.monotonic())

    def _make_frame(self, force: bool) -> None:
        """Build metrics + frame into the mailbox (throttled to fps unless forced)."""
        if not self.connected or self._lab is None:
            return
        now = time.monotonic()
        with self._frame_lock:
            busy = self._frame is not None
        if not force and (busy or now - self._last_frame < 1.0 / self.settings.fps):
            return
        messages: list[Message] = []
        metrics = self._lab.metrics()
        if metrics is not None:
            messages.append(metrics)
        messages.extend(self._lab.frame(streaming=not force))
        encoded = self._encode_all(messages)
        with self._frame_lock:
            self._frame = encoded
        # Schedule from when this frame was due, not when it was built, so scheduler and GIL
        # delays do not stretch every interval (a late frame does not make the next one late).
        interval = 1.0 / self.settings.fps
        due = self._last_frame + interval
        self._last_frame = due if not force and now - due < interval else now
        self.frames_built += 1
        self._wake()

    def _hello(self, resumed: bool) -> Hello:
        return Hello(session=self.id, lab=self.lab_name, device=describe(self.device), resumed=resumed)

    def _execute_control(self, item: Call | Resync) -> None:
        lab = self._lab
        if isinstance(item, Call):
            if lab is None:
                item.future.set_exception(LabError("the lab failed to start"))
                return
            try:
                item.future.set_result(item.fn(lab, *item.args))
            except BaseException as exc:  # delivered to the awaiting handler
                item.future.set_exception(exc)
            self._make_frame(force=True)
            return
        if lab is None:
            self._reply(Error(message="the lab failed to start"))
            return
        self._reply(self._hello(item.resumed), self._configured or self._lab_configure({}))
        self._set_state(self.state)
        self._make_frame(force=True)

    def _lab_configure(self, config: dict) -> ServerMessage:
        assert self._lab is not None
        return self._lab.configure(self._lab_cls.configure_message(type="configure", config=config))

    def _execute(self, data: dict) -> None:
        lab = self._lab
        assert lab is not None
        message = self._lab_cls.parse(data)
        if isinstance(message, Configure):
            if message.lab not in (None, self.lab_name):
                raise LabError(f"this session runs lab {self.lab_name!r}, not {message.lab!r}")
            self._reply(lab.configure(message))
            self._set_state("paused")
        elif isinstance(message, Play):
            if self.state != "playing":
                if lab.finished():
                    lab.reset()
                self._set_state("playing")
        elif isinstance(message, Pause):
            if self.state == "playing":
                self._set_state("paused")
        elif isinstance(message, Step):
            if self.state in ("playing", "diverged", "finished"):
                self._set_state("paused")
            lab.step(message.steps)
            if lab.finished():
                self._set_state("finished")
        elif isinstance(message, Reset):
            lab.reset()
            self._set_state("paused")
        else:
            self._reply(*lab.handle(message))
        self._make_frame(force=True)

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Diverged as exc:
            self._set_state("diverged", str(exc))
            self._make_frame(force=True)
        except LabError as exc:
            self._reply(Error(message=str(exc)))
        except Exception as exc:  # a bug: keep the session alive and say so
            log.exception("session %s: internal error", self.id)
            if self.state == "playing":
                self._set_state("paused")
            self._reply(Error(message=f"internal error: {type(exc).__name__}"))

    def _play_slice(self) -> None:
        lab = self._lab
        assert lab is not None
        if not self.connected and time.monotonic() - self.last_seen > self.settings.disconnect_pause_s:
            self._set_state("paused")  # nobody is watching: stop spending the CPU
            return
        # Train until the next frame is due; when it is overdue (the last one still waits for a
        # slow socket or a busy loop), train a short slice so the runner looks again soon.
        interval = 1.0 / self.settings.fps
        lab.train(min(max(self._frame_due(), interval / 8), 0.05))
        if lab.finished():
            self._set_state("finished")
            self._make_frame(force=True)
        else:
            self._make_frame(force=False)

    def _run(self) -> None:
        def start() -> None:
            self._lab = self._lab_cls(self.settings, self.device)
            self._configured = self._lab_configure({})

        self._guarded(start)
        if self._lab is None:
            log.error("session %s: lab %s failed to start", self.id, self.lab_name)
        while not self._closed:
            while self.control:
                item = self.control.popleft()
                self._guarded(lambda i=item: self._execute_control(i))
            try:
                if self.playing or self.control:
                    message = self.commands.get_nowait()
                else:
                    message = self.commands.get(timeout=1.0)
            except queue.Empty:
                message = None
            if message is _STOP:
                break
            if message is not None:
                if self._lab is None:
                    self._reply(Error(message="the lab failed to start"))
                    continue
                self._guarded(lambda m=message: self._execute(m))
                continue
            if self.playing and self._lab is not None and not self.control:
                self._guarded(self._play_slice)
                # Let other threads (the event loop sending this frame, other sessions) take the
                # GIL now rather than at the next forced switch: tight numpy loops rarely drop it.
                time.sleep(0)
        for item in self.control:  # calls that came too late: say so rather than hang
            if isinstance(item, Call):
                item.future.set_exception(LabError("the session has closed: reload the page"))
        if self._lab is not None:
            try:
                self._lab.close()
            except Exception:
                log.exception("session %s: close failed", self.id)


class SessionManager:
    """All live sessions, capped in number; disconnected ones expire after a time to live."""

    def __init__(self, settings: Settings, labs: dict[str, type[Lab]], device: torch.device):
        self.settings = settings
        self.labs = labs
        self.device = device
        self.sessions: dict[str, Session] = {}

    @staticmethod
    def _key(session_id: str, lab: str) -> str:
        return f"{lab}:{session_id}"

    def get(self, session_id: str, lab: str) -> Session | None:
        return self.sessions.get(self._key(session_id, lab))

    def open(self, session_id: str | None, lab: str) -> tuple[Session, bool]:
        """The session with this id (resumed) or a new one; raises SessionError."""
        if lab not in self.labs:
            raise SessionError(f"unknown lab {lab!r}; labs: {', '.join(sorted(self.labs))}")
        if session_id is None:
            session_id = uuid.uuid4().hex
        if not SESSION_ID.match(session_id):
            raise SessionError("session ids are 8 to 64 letters, digits, '-' or '_'")
        existing = self.get(session_id, lab)
        if existing is not None:
            return existing, True
        self.reap()
        if len(self.sessions) >= self.settings.max_sessions:
            idle = [s for s in self.sessions.values() if not s.connected]
            if not idle:
                raise SessionError(
                    f"the server is full ({self.settings.max_sessions} sessions); try again later"
                )
            self.drop(min(idle, key=lambda s: s.last_seen))
        session = Session(session_id, self.labs[lab], self.settings, self.device)
        self.sessions[self._key(session_id, lab)] = session
        return session, False

    def drop(self, session: Session) -> None:
        self.sessions.pop(self._key(session.id, session.lab_name), None)
        session.close()

    def reap(self) -> None:
        """Close sessions disconnected for longer than the time to live."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if not session.connected and now - session.last_seen > self.settings.session_ttl_s:
                self.drop(session)

    async def reap_forever(self, every_s: float = 15.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.reap()

    def close_all(self) -> None:
        for session in list(self.sessions.values()):
            self.drop(session)


def lookup_session(request: Request, session_id: str, lab: str) -> Session:
    """For REST handlers: the live session of this lab, or 404 with a message to reload."""
    manager: SessionManager = request.app.state.sessions
    session = manager.get(session_id, lab) if SESSION_ID.match(session_id or "") else None
    if session is None:
        raise HTTPException(404, "no such session (it may have expired): reload the page")
    return session
