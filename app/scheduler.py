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

Sessions with the same network shape play together: when a session's turn would be a plain
slice of full-speed play, the other busy sessions of this worker whose labs give the same
``cohort_key`` (app/labs/mlp.py; ml_core/cohort.py) are stepped with it in one stacked call for
about a quantum each (a class's 12 circle nets take a step in about as many NumPy calls as one),
then each gets its frame when due; they go to the back of the round robin, so each session gets
about the training of one turn a round, as alone. A divergence pauses only its own session.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import torch

from app.config import Settings
from app.host import Host
from app.labs.base import Diverged, Lab, LabError
from app.schemas.common import Configured, Error
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
    Shutdown,
    portable,
)
from ml_core.training import Cancelled, CancelToken, current_token

log = logging.getLogger("torchplay.scheduler")

# Most of a worker's time the play-mode frames of its sessions may take. A class of 24 on two
# cores wants both 20 frames/s and 60 epochs/s each; its frames take about half (bench/classroom.py).
FRAME_SHARE = 0.5


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
        self._call_token: tuple[int, CancelToken] | None = None  # the REST call running now
        self.interval = 1.0 / settings.fps
        self.together: collections.Counter[int] = collections.Counter()  # cohort turns by size

    # ---- the web side's entry point (any thread) --------------------------------------------
    def put(self, command: object) -> None:
        if isinstance(command, Abandon):  # a REST caller stopped waiting: stop that call now
            running = self._call_token
            if running is not None and running[0] == command.call_id:
                running[1].cancel("the request was abandoned")
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
        if isinstance(command, Abandon):  # not started yet: never start it
            host.calls = collections.deque(c for c in host.calls if c.call_id != command.call_id)
        elif isinstance(command, Inbound):
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
        lab_cls = self.labs[command.lab]
        host = Host(command.sid, lab_cls, self.settings, self.device, self.emit, command.session)
        self.hosts[command.sid] = host
        self._order.append(command.sid)

        def start() -> None:
            host.lab = host.lab_cls(self.settings, self.device)
            host.configured = host.configure({})

        self._guarded(host, start)
        if host.lab is None:
            log.error("session %s: lab %s failed to start", host.sid, command.lab)
        host.flush()

    def _close(self, sid: str, reason: str | None) -> None:
        host = self.hosts.pop(sid, None)
        if host is None:
            return
        host.closed = True
        if reason and host.connected:
            host.reply(Error(message=reason))
            host.flush()
        for call in host.calls:
            self.emit(CallResult(call.call_id, False, LabError("the session has closed: reload")))
        if host.lab is not None:
            try:
                host.lab.close()
            except Exception:
                log.exception("session %s: close failed", sid)
        self.emit(Closed(sid))

    # ---- choosing who runs ------------------------------------------------------------------
    def _next_host(self) -> Host | None:
        now = time.monotonic()
        for _ in range(len(self._order)):
            sid = self._order[0]
            self._order.rotate(-1)
            host = self.hosts.get(sid)
            if host is None:
                self._order.remove(sid) if sid in self._order else None
                continue
            if host.wants_cpu(now):
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

    def _frames_s(self) -> float:
        """The time one frame of every watched, playing session takes: a round's frames."""
        return sum(h.frame_cost_s for h in self.hosts.values() if h.playing and h.connected)

    def _frame_interval(self, frames_s: float | None = None) -> float:
        """Time between two play-mode frames of a session: 1/fps, or longer when the frames of
        every watched, playing session would take more than FRAME_SHARE of the worker (a full
        class then gets fewer frames each, and training keeps the rest)."""
        frames_s = self._frames_s() if frames_s is None else frames_s
        return max(self.interval, frames_s / FRAME_SHARE)

    def _quantum(self, now: float) -> float:
        """A busy session's slice of training: what is left of a frame interval once a round's
        frames are built, shared among the busy sessions, so that each comes round again, and
        has its frame, within one interval (a class of 12 on a worker: 12 frames and 12 slices
        every 1/fps s, rather than 12 slices of 1/(12 fps) s and the frames on top)."""
        frames = self._frames_s()
        left = self._frame_interval(frames) - frames
        return min(max(left / max(1, self._busy_count(now)), 0.001), 0.05)

    # ---- one turn ---------------------------------------------------------------------------
    def _turn(self, host: Host) -> None:
        quantum = self._quantum(time.monotonic())
        while host.calls:
            call = host.calls.popleft()
            self._run_call(host, call)
        while host.control:
            attach = host.control.popleft()
            self._guarded(host, lambda a=attach: host.resync(a.resumed))
        forced = False
        for _ in range(8):  # a few messages a turn, then the others get their turn
            if not host.inbox:
                break
            text = host.inbox.popleft()
            self._guarded(host, lambda t=text: host.execute(t))
            forced = True
        if host.lab is not None and not forced and host.inbox == collections.deque():
            if host.pending_steps:
                self._guarded(host, lambda: host.step_chunk(quantum))
                forced = not host.pending_steps  # the frame after the last step is complete
            elif host.playing:
                members = self._cohort(host, time.monotonic())
                if len(members) > 1:
                    self._play_together(members, quantum)
                    return
                self._guarded(host, lambda: host.play_slice(quantum))
        self._frame(host, forced)

    def _frame(self, host: Host, forced: bool, early: float = 0.0) -> None:
        """The end of a turn: a complete frame after a command, else a streaming one if due
        (or due within ``early`` seconds: the session's next turn is about twice that away)."""
        if host.lab is not None and host.state != "diverged":
            now = time.monotonic()
            if forced:
                host.make_frame(streaming=False, now=now)
            elif host.playing and host.frame_due(now, early):
                host.make_frame(streaming=True, now=now, interval=self._frame_interval())
        host.flush()

    def _cohort(self, host: Host, now: float) -> list[Host]:
        """``host`` and the other sessions whose play can be stepped together with its own."""
        key = host.cohort_key(now)
        if key is None:
            return [host]
        others = (h for h in self.hosts.values() if h is not host and h.cohort_key(now) == key)
        return [host, *others]

    def _play_together(self, members: list[Host], quantum: float) -> None:
        """One slice of play for every member in one stacked call: about a quantum each, the
        cost of a stacked step measured as it goes (ml_core/cohort.py). The others then go to
        the back of the round robin: they had their slice of this round."""
        leader, diverged = members[0], {}
        began = time.monotonic()

        def play() -> None:
            labs = [h.lab for h in members]
            diverged.update(leader.lab.train_together(labs, quantum * len(members)))

        self._guarded(leader, play)  # a bug or a cancel stops the leader; the others go on
        self.together[len(members)] += 1
        # The acks that came while they trained (turns of their own would have let them in
        # between): the frames due can go now, rather than a cohort turn later.
        self._apply_commands()
        # A member's next chance of a frame is a cohort turn away: a frame due before half of
        # that goes now, else it would wait a whole turn (and a class's frames came at half
        # their rate whenever the turns ran a little short of the frame interval).
        early = (time.monotonic() - began + self._frames_s()) / 2
        for i, host in enumerate(members):
            if host.closed:  # by a command just applied, or the leader stopped by its budget
                continue
            if i in diverged:
                self._diverged(host, diverged[i])
            else:
                self._guarded(host, host.after_slice)
            if host is not leader and host.sid in self._order:
                self._order.remove(host.sid)
                self._order.append(host.sid)
            self._frame(host, forced=False, early=early)

    def _run_call(self, host: Host, call: Call) -> None:
        if host.lab is None:
            self.emit(CallResult(call.call_id, False, LabError("the lab failed to start")))
            return
        token = self._call_token = (call.call_id, CancelToken(parent=host.token))
        try:
            value = self._timed(host, lambda: call.fn(host.lab, *call.args), token[1])
        except Cancelled as exc:
            self.emit(CallResult(call.call_id, False, LabError(str(exc))))
            if host.token.cancelled:  # the session's own budget or its closing: it stops
                self._stop(host, str(exc))
                return
        except Exception as exc:  # delivered to the awaiting handler
            self.emit(CallResult(call.call_id, False, portable(exc)))
        else:
            self.emit(CallResult(call.call_id, True, value))
            self._remember_configured(host, value)
        finally:
            self._call_token = None
        if not host.closed:
            host.make_frame(streaming=False, now=time.monotonic())

    def _remember_configured(self, host: Host, value: object) -> None:
        """A call that rebuilt the lab (e.g. loading a model) returns its ``configured``: the
        page hears of it too, and a reconnect gets it."""
        if isinstance(value, Configured):
            host.reply(value)

    def _timed(self, host: Host, work: Callable[[], Any], token: CancelToken | None = None) -> Any:
        """Run ``work`` under a cancel token (the host's, or one of its own whose parent is the
        host's) and the time budget the watchdog checks."""
        reset = current_token.set(token or host.token)
        self._current = (host, time.monotonic() + self.settings.max_op_s)
        try:
            return work()
        finally:
            self._current = None
            current_token.reset(reset)

    def _guarded(self, host: Host, action: Callable[[], None]) -> None:
        try:
            self._timed(host, action)
        except Diverged as exc:
            self._diverged(host, exc)
        except LabError as exc:
            host.pending_steps = 0
            if host.playing:  # a lab that refuses to play (or a slice that failed) stops playing
                host.set_state("paused")
            host.reply(Error(message=str(exc)))
        except Cancelled as exc:
            self._stop(host, str(exc))
        except Exception as exc:  # a bug: keep the session alive and say so
            log.exception("session %s: internal error", host.sid)
            if host.playing:
                host.set_state("paused")
            host.pending_steps = 0
            host.reply(Error(message=f"internal error: {type(exc).__name__}"))

    def _diverged(self, host: Host, exc: Diverged) -> None:
        """Training blew up: the session pauses as "diverged", with a complete frame."""
        host.set_state("diverged", str(exc))
        host.pending_steps = 0
        if host.lab is not None:
            host.make_frame(streaming=False, now=time.monotonic())

    def _stop(self, host: Host, reason: str) -> None:
        """A session that ran past a budget: stopped with a message; the worker goes on."""
        log.warning("session %s: %s", host.sid, reason)
        self._close(host.sid, reason)

    # ---- what a turn does -------------------------------------------------------------------
