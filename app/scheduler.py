"""One scheduler thread runs many sessions' labs in turn: the worker side of the session runtime.

A worker (a process, or a thread of the web process when ``TORCHPLAY_WORKERS=0``) holds one
``Scheduler``. Commands arrive from the web side (``put``, thread-safe); everything a session
says goes out through ``emit`` as already-encoded websocket messages. The loop picks the
sessions with something to do round robin and gives each a short turn: its REST calls and
client messages first, then a slice of training (``Lab.train``) sized so that every busy
session comes round again before its next frame is due, then its frame if one is due and the
previous one has been sent (``Ack``): a slow browser gets fewer frames, never a queue. Idle and
paused sessions are never visited; they cost only their memory.

Each turn runs under a ``CancelToken`` (ml_core.training): a watchdog cancels work that runs past
``settings.max_op_s`` or while the worker's memory is over ``settings.worker_memory_mb``, and
closing a session cancels its current work, so a runaway session is stopped with a message and
the others go on.

The loop is one place that could later step several sessions with the same network shape in one
batched call: it already sees every busy session of a worker at once.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

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
from ml_core.training import Cancelled, CancelToken, current_token

log = logging.getLogger("torchplay.scheduler")

Outgoing = str | bytes  # an encoded websocket message: JSON text or a binary frame
REPLY_LIMIT = 256  # replies held for a session between turns; beyond this the oldest go


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


def _portable(exc: Exception) -> Exception:
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


@dataclass
class Host:
    """One session on this worker: its lab, play state and what waits for its next turn."""

    sid: str
    lab_cls: type[Lab]
    session: str = ""
    lab: Lab | None = None
    state: str = "paused"
    connected: bool = False
    detached_at: float = 0.0
    configured: ServerMessage | None = None
    inbox: collections.deque = field(default_factory=collections.deque)  # Inbound texts
    calls: collections.deque = field(default_factory=collections.deque)  # Call
    control: collections.deque = field(default_factory=collections.deque)  # Attach (resyncs)
    pending_steps: int = 0
    # running estimate of one step's time, to size step chunks (None: not measured yet, so the
    # first chunk is one step: a slow lab's first chunk must not run for minutes)
    step_cost_s: float | None = None
    frame_sent: bool = True  # the last frame was acknowledged (or there was none)
    next_frame: float = 0.0  # when the next play-mode frame is due
    next_slice: float = 0.0  # paced labs: when their next slice of play is due
    last_slice: float = 0.0
    replies: list[Outgoing] = field(default_factory=list)
    frames_built: int = 0  # for tests and benchmarks
    token: CancelToken = field(default_factory=CancelToken)

    @property
    def playing(self) -> bool:
        return self.state == "playing"


class Scheduler:
    """Runs the sessions of one worker in turn on one thread (``run``)."""

    def __init__(
        self,
        settings: Settings,
        labs: dict[str, type[Lab]],
        device: torch.device,
        emit: Callable[[object], None],
    ) -> None:
        self.settings = settings
        self.labs = labs
        self.device = device
        self.emit = emit
        self.hosts: dict[str, Host] = {}
        self._commands: collections.deque = collections.deque()
        self._wake = threading.Condition()
        self._order: collections.deque[str] = collections.deque()  # round robin
        self._stopped = False
        self._current: tuple[Host, float] | None = None  # the host whose work runs, deadline
        self.interval = 1.0 / settings.fps

    # ---- the web side's entry point (any thread) --------------------------------------------
    def put(self, command: object) -> None:
        if isinstance(command, Close | Shutdown):  # stop the work in progress now, not after it
            current = self._current
            if current is not None and (
                isinstance(command, Shutdown) or current[0].sid == command.sid
            ):
                current[0].token.cancel("stopped: the session closed")
        with self._wake:
            self._commands.append(command)
            self._wake.notify()

    # ---- the watchdog (its own thread) ------------------------------------------------------
    def watch(self, every_s: float = 0.05, rss: Callable[[], float] | None = None) -> None:
        """Cancel work past its time budget, or while the worker is over its memory budget."""
        limit_mb = self.settings.worker_memory_mb
        while not self._stopped:
            time.sleep(every_s)
            current = self._current
            if current is None:
                continue
            host, deadline = current
            if time.monotonic() > deadline:
                host.token.cancel(
                    f"stopped: one piece of work took longer than {self.settings.max_op_s:g} s"
                )
            elif rss is not None and limit_mb and rss() > limit_mb:
                host.token.cancel(f"stopped: the worker went over its {limit_mb} MB memory budget")

    # ---- the loop ---------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._stopped:
                self._apply_commands()
                if self._stopped:
                    break
                host = self._next_host()
                if host is None:
                    self._idle()
                    continue
                try:
                    self._turn(host)
                except Exception:  # a bug in the runtime: lose this turn, not the worker
                    log.exception("session %s: turn failed", host.sid)
        finally:
            for sid in list(self.hosts):
                self._close(sid, None)

    def _apply_commands(self) -> None:
        with self._wake:
            commands, self._commands = self._commands, collections.deque()
        for command in commands:
            try:
                self._apply(command)
            except Exception:  # a bug in one command must not stop the worker
                log.exception("scheduler: command %s failed", type(command).__name__)

    def _apply(self, command: object) -> None:
        if isinstance(command, Shutdown):
            self._stopped = True
            return
        host = self.hosts.get(getattr(command, "sid", ""))
        if isinstance(command, Open):
            if host is None:
                self._open(command)
            return
        if host is None:
            if isinstance(command, Call):
                self.emit(CallResult(command.call_id, False, LabError("no such session: reload")))
            elif isinstance(command, Close):
                self.emit(Closed(command.sid))
            return
        if isinstance(command, Inbound):
            host.inbox.append(command.text)
        elif isinstance(command, Call):
            host.calls.append(command)
        elif isinstance(command, Attach):
            host.connected = True
            host.control.append(command)
        elif isinstance(command, Detach):
            host.connected = False
            host.detached_at = time.monotonic()
            host.frame_sent = True
        elif isinstance(command, Ack):
            host.frame_sent = True
        elif isinstance(command, Close):
            self._close(command.sid, command.reason)

    def _open(self, command: Open) -> None:
        host = Host(command.sid, self.labs[command.lab], command.session)
        self.hosts[command.sid] = host
        self._order.append(command.sid)

        def start() -> None:
            host.lab = host.lab_cls(self.settings, self.device)
            host.configured = self._configure(host, {})

        self._guarded(host, start)
        if host.lab is None:
            log.error("session %s: lab %s failed to start", host.sid, command.lab)
        self._flush(host)

    def _close(self, sid: str, reason: str | None) -> None:
        host = self.hosts.pop(sid, None)
        if host is None:
            return
        if reason and host.connected:
            host.replies.append(encode(Error(message=reason)))
            self._flush(host)
        for call in host.calls:
            self.emit(CallResult(call.call_id, False, LabError("the session has closed: reload")))
        if host.lab is not None:
            try:
                host.lab.close()
            except Exception:
                log.exception("session %s: close failed", sid)
        self.emit(Closed(sid))

    # ---- choosing who runs ------------------------------------------------------------------
    def _wants_cpu(self, host: Host, now: float) -> bool:
        if host.lab is None:
            return bool(host.calls or host.inbox or host.control)
        if host.calls or host.inbox or host.control or host.pending_steps:
            return True
        if host.playing:
            if host.lab.paced:
                return now >= host.next_slice or self._frame_due(host, now)
            return True
        return False

    def _frame_due(self, host: Host, now: float) -> bool:
        return host.connected and host.frame_sent and now >= host.next_frame

    def _next_host(self) -> Host | None:
        now = time.monotonic()
        for _ in range(len(self._order)):
            sid = self._order[0]
            self._order.rotate(-1)
            host = self.hosts.get(sid)
            if host is None:
                self._order.remove(sid) if sid in self._order else None
                continue
            if self._wants_cpu(host, now):
                return host
        return None

    def _idle(self) -> None:
        """Nothing to do now: sleep until a command comes or a paced session's slice is due."""
        now = time.monotonic()
        wake_at = now + 1.0
        for host in self.hosts.values():
            if host.playing and host.lab is not None and host.lab.paced:
                wake_at = min(wake_at, host.next_slice)
        with self._wake:
            if not self._commands:
                self._wake.wait(max(0.0, wake_at - now))

    def _busy_count(self, now: float) -> int:
        return sum(
            1
            for h in self.hosts.values()
            if h.lab is not None and (h.pending_steps or (h.playing and not h.lab.paced))
        )

    # ---- one turn ---------------------------------------------------------------------------
    def _turn(self, host: Host) -> None:
        now = time.monotonic()
        # Every busy session should come round again within one frame interval.
        quantum = min(max(self.interval / max(1, self._busy_count(now)), 0.002), 0.05)
        while host.calls:
            call = host.calls.popleft()
            self._run_call(host, call)
        while host.control:
            attach = host.control.popleft()
            self._guarded(host, lambda a=attach: self._resync(host, a.resumed))
        forced = False
        for _ in range(8):  # a few messages a turn, then the others get their turn
            if not host.inbox:
                break
            text = host.inbox.popleft()
            self._guarded(host, lambda t=text: self._execute(host, t))
            forced = True
        if host.lab is not None and not forced and host.inbox == collections.deque():
            if host.pending_steps:
                self._guarded(host, lambda: self._step_chunk(host, quantum))
                forced = not host.pending_steps  # the frame after the last step is complete
            elif host.playing:
                self._guarded(host, lambda: self._play_slice(host, quantum))
        if host.lab is not None and host.state != "diverged":
            now = time.monotonic()
            if forced:
                self._make_frame(host, streaming=False, now=now)
            elif host.playing and self._frame_due(host, now):
                self._make_frame(host, streaming=True, now=now)
        self._flush(host)

    def _run_call(self, host: Host, call: Call) -> None:
        if host.lab is None:
            self.emit(CallResult(call.call_id, False, LabError("the lab failed to start")))
            return
        try:
            value = self._timed(host, lambda: call.fn(host.lab, *call.args))
        except Cancelled as exc:
            self.emit(CallResult(call.call_id, False, LabError(str(exc))))
            self._stop(host, str(exc))
            return
        except Exception as exc:  # delivered to the awaiting handler
            self.emit(CallResult(call.call_id, False, _portable(exc)))
        else:
            self.emit(CallResult(call.call_id, True, value))
            self._remember_configured(host, value)
        if host.sid in self.hosts:
            self._make_frame(host, streaming=False, now=time.monotonic())

    def _remember_configured(self, host: Host, value: object) -> None:
        """A call that rebuilt the lab (e.g. loading a model) returns its ``configured``: the
        page hears of it too, and a reconnect gets it."""
        if isinstance(value, Configured):
            self._reply(host, value)

    def _timed(self, host: Host, work: Callable[[], Any]) -> Any:
        """Run ``work`` under the host's cancel token and the time budget the watchdog checks."""
        token = current_token.set(host.token)
        self._current = (host, time.monotonic() + self.settings.max_op_s)
        try:
            return work()
        finally:
            self._current = None
            current_token.reset(token)

    def _guarded(self, host: Host, action: Callable[[], None]) -> None:
        try:
            self._timed(host, action)
        except Diverged as exc:
            self._set_state(host, "diverged", str(exc))
            host.pending_steps = 0
            if host.lab is not None:
                self._make_frame(host, streaming=False, now=time.monotonic())
        except LabError as exc:
            host.replies.append(encode(Error(message=str(exc))))
        except Cancelled as exc:
            self._stop(host, str(exc))
        except Exception as exc:  # a bug: keep the session alive and say so
            log.exception("session %s: internal error", host.sid)
            if host.playing:
                self._set_state(host, "paused")
            host.pending_steps = 0
            host.replies.append(encode(Error(message=f"internal error: {type(exc).__name__}")))

    def _stop(self, host: Host, reason: str) -> None:
        """A session that ran past a budget: stopped with a message; the worker goes on."""
        log.warning("session %s: %s", host.sid, reason)
        self._close(host.sid, reason)

    # ---- what a turn does -------------------------------------------------------------------
    def _configure(self, host: Host, config: dict) -> ServerMessage:
        message = host.lab_cls.configure_message(type="configure", config=config)
        return host.lab.configure(message)

    def _reply(self, host: Host, *messages: Message) -> None:
        for message in messages:
            if isinstance(message, Configured):
                host.configured = message
            host.replies.append(self._encode(host, message))

    def _encode(self, host: Host, message: Message) -> Outgoing:
        try:
            return encode(message)
        except (TypeError, ValueError):  # a bug: say so instead of dropping the socket
            log.exception("session %s: unserialisable %s", host.sid, type(message).__name__)
            return encode(Error(message="internal error: a message could not be sent"))

    def _set_state(self, host: Host, state: str, message: str | None = None) -> None:
        host.state = state
        if state == "playing":
            host.last_slice = host.next_slice = time.monotonic()
        self._reply(host, State(state=state, message=message))

    def _resync(self, host: Host, resumed: bool) -> None:
        hello = Hello(session=host.session, lab=host.lab_cls.name, device=describe(self.device),
                      resumed=resumed)
        if host.lab is None:
            self._reply(host, hello, Error(message="the lab failed to start"))
            return
        self._reply(host, hello, host.configured or self._configure(host, {}))
        self._set_state(host, host.state)
        host.frame_sent = True
        self._make_frame(host, streaming=False, now=time.monotonic())

    def _execute(self, host: Host, text: str) -> None:
        lab = host.lab
        if lab is None:
            raise LabError("the lab failed to start")
        message = host.lab_cls.parse(parse_json(text))
        if isinstance(message, Configure):
            if message.lab not in (None, host.lab_cls.name):
                raise LabError(f"this session runs lab {host.lab_cls.name!r}, not {message.lab!r}")
            host.pending_steps = 0
            self._reply(host, lab.configure(message))
            self._set_state(host, "paused")
        elif isinstance(message, Play):
            host.pending_steps = 0
            if host.state != "playing":
                if lab.finished():
                    lab.reset()
                self._set_state(host, "playing")
        elif isinstance(message, Pause):
            host.pending_steps = 0
            if host.playing:
                self._set_state(host, "paused")
        elif isinstance(message, Step):
            if host.state in ("playing", "diverged", "finished"):
                self._set_state(host, "paused")
            lab.check_steps(message.steps)
            host.pending_steps = message.steps
            self._step_chunk(host, self.interval)
        elif isinstance(message, Reset):
            host.pending_steps = 0
            lab.reset()
            self._set_state(host, "paused")
        else:
            self._reply(host, *lab.handle(message))

    def _step_chunk(self, host: Host, quantum: float) -> None:
        """Some of a ``step`` command's steps: as many as fit the quantum (at least one). Until
        a step's cost is measured they go one at a time while the quantum lasts: a slow lab's
        first chunk is one step, a fast lab's as many as fit."""
        lab = host.lab
        assert lab is not None
        estimate = host.step_cost_s
        count = 1 if estimate is None else max(
            1, min(host.pending_steps, int(quantum / max(estimate, 1e-7)))
        )
        began = time.perf_counter()
        done = 0
        try:
            while True:
                host.pending_steps -= count  # first: a Diverged or LabError leaves nothing pending
                lab.step(count)
                done += count
                if estimate is not None or not host.pending_steps:
                    break
                if time.perf_counter() - began >= quantum:
                    break
        except BaseException:
            host.pending_steps = 0
            raise
        spent = time.perf_counter() - began
        host.step_cost_s = spent / done if estimate is None else (
            0.5 * estimate + 0.5 * spent / done
        )
        if not host.pending_steps and lab.finished():
            self._set_state(host, "finished")

    def _play_slice(self, host: Host, quantum: float) -> None:
        lab = host.lab
        assert lab is not None
        now = time.monotonic()
        if not host.connected and now - host.detached_at > self.settings.disconnect_pause_s:
            self._set_state(host, "paused")  # nobody is watching: stop spending the CPU
            return
        if lab.paced:  # plays at a set speed: gets the time since its last slice, at most 1 s
            if now < host.next_slice:
                return
            lab.train(min(now - host.last_slice, 1.0))
            host.last_slice, host.next_slice = now, now + self.interval
        else:
            until_frame = host.next_frame - now if host.connected and host.frame_sent else quantum
            lab.train(min(max(until_frame, quantum / 8), quantum))
        if lab.finished():
            self._set_state(host, "finished")
            self._make_frame(host, streaming=False, now=time.monotonic())

    def _make_frame(self, host: Host, streaming: bool, now: float) -> None:
        """Metrics + the lab's frame, sent after the host's replies (complete unless streaming)."""
        if not host.connected or host.lab is None or host.sid not in self.hosts:
            return
        messages: list[Message] = []
        metrics = host.lab.metrics()
        if metrics is not None:
            messages.append(metrics)
        messages.extend(host.lab.frame(streaming=streaming))
        frame = [self._encode(host, m) for m in messages]
        # Schedule from when this frame was due, not when it was built, so a late frame does not
        # make every later one late too.
        due = host.next_frame
        host.next_frame = due + self.interval if streaming and now - due < self.interval else (
            now + self.interval
        )
        host.frame_sent = False
        host.frames_built += 1
        self._flush(host, frame)

    def _flush(self, host: Host, frame: list[Outgoing] | None = None) -> None:
        if host.replies or frame is not None:
            replies, host.replies = host.replies[-REPLY_LIMIT:], []
            self.emit(Out(host.sid, replies, frame))
