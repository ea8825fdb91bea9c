"""One session on a worker: its lab, its play state, and what one turn of it does.

The scheduler (app/scheduler.py) decides whose turn it is and guards each piece of work; a
``Host`` does the work: a client message (``execute``), some of a ``step`` command's steps, a
slice of play, a resync for a newly attached socket, a frame. What the session says goes out
through ``emit`` as one ``Out`` event: replies (encoded), then maybe a frame.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import torch

from app.config import Settings
from app.labs.base import Lab, LabError, Message
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
    Updated,
)
from app.wire import Out, Outgoing, encode, parse_json
from ml_core.device import describe
from ml_core.training import CancelToken

log = logging.getLogger("torchplay.scheduler")

REPLY_LIMIT = 256  # replies held for a session between turns; beyond this the oldest go


@dataclass(eq=False)
class Host:
    """One session on this worker: its lab, play state and what waits for its next turn."""

    sid: str
    lab_cls: type[Lab]
    settings: Settings
    device: torch.device
    emit: Callable[[object], None]
    session: str = ""
    closed: bool = False
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
    # first chunk's steps go one at a time: a slow lab's first chunk must not run for minutes)
    step_cost_s: float | None = None
    frame_sent: bool = True  # the last frame was acknowledged (or there was none)
    next_frame: float = 0.0  # when the next play-mode frame is due
    next_slice: float = 0.0  # paced labs: when their next slice of play is due
    last_slice: float = 0.0
    replies: list[Outgoing] = field(default_factory=list)
    frames_built: int = 0  # for tests and benchmarks
    frame_cost_s: float = 0.0  # running estimate of one play-mode frame's build time
    token: CancelToken = field(default_factory=CancelToken)

    @property
    def playing(self) -> bool:
        return self.state == "playing"

    @property
    def interval(self) -> float:
        return 1.0 / self.settings.fps

    def configure(self, config: dict) -> ServerMessage:
        """The lab rebuilt from ``config`` (partial: defaults fill the rest)."""
        message = self.lab_cls.configure_message(type="configure", config=config)
        return self.lab.configure(message)

    def reply(self, *messages: Message) -> None:
        for message in messages:
            if isinstance(message, Configured):
                self.configured = message
            elif isinstance(message, Updated) and self.configured is not None:
                # A change on the fly: a reconnect must get the config as it is now (else the
                # page, seeing its own settings differ, would rebuild and lose the training).
                self.configured = self.configured.model_copy(update={"config": message.config})
            self.replies.append(self.encode(message))

    def encode(self, message: Message) -> Outgoing:
        try:
            return encode(message)
        except (TypeError, ValueError):  # a bug: say so instead of dropping the socket
            log.exception("session %s: unserialisable %s", self.sid, type(message).__name__)
            return encode(Error(message="internal error: a message could not be sent"))

    def set_state(self, state: str, message: str | None = None) -> None:
        self.state = state
        if state == "playing":
            self.last_slice = self.next_slice = time.monotonic()
        self.reply(State(state=state, message=message))

    def resync(self, resumed: bool) -> None:
        hello = Hello(session=self.session, lab=self.lab_cls.name, device=describe(self.device),
                      resumed=resumed)
        if self.lab is None:
            self.reply(hello, Error(message="the lab failed to start"))
            return
        self.reply(hello, self.lab.configured() or self.configured or self.configure({}))
        self.set_state(self.state)
        self.frame_sent = True
        self.make_frame(streaming=False, now=time.monotonic())

    def execute(self, text: str) -> None:
        lab = self.lab
        if lab is None:
            raise LabError("the lab failed to start")
        message = self.lab_cls.parse(parse_json(text))
        if isinstance(message, Configure):
            if message.lab not in (None, self.lab_cls.name):
                raise LabError(f"this session runs lab {self.lab_cls.name!r}, not {message.lab!r}")
            self.pending_steps = 0
            self.reply(lab.configure(message))
            self.set_state("paused")
        elif isinstance(message, Play):
            self.pending_steps = 0
            if self.state != "playing":
                if lab.finished():
                    lab.reset()
                self.set_state("playing")
        elif isinstance(message, Pause):
            self.pending_steps = 0
            if self.playing:
                self.set_state("paused")
        elif isinstance(message, Step):
            if self.state in ("playing", "diverged", "finished"):
                self.set_state("paused")
            lab.check_steps(message.steps)
            self.pending_steps = message.steps
            self.step_chunk(self.interval)
        elif isinstance(message, Reset):
            self.pending_steps = 0
            lab.reset()
            self.set_state("paused")
        else:
            # A lab message. A refused one is answered and changes nothing (play goes on); a
            # State among the replies becomes the session's state (a lab leaves "diverged"
            # once it has put good weights back, say).
            try:
                replies = lab.handle(message)
            except LabError as exc:
                self.reply(Error(message=str(exc)))
                return
            for reply in replies:
                if isinstance(reply, State):
                    self.set_state(reply.state, reply.message)
                else:
                    self.reply(reply)

    def step_chunk(self, quantum: float) -> None:
        """Some of a ``step`` command's steps: as many as fit the quantum (at least one). Until
        a step's cost is measured they go one at a time while the quantum lasts: a slow lab's
        first chunk is one step, a fast lab's as many as fit."""
        lab = self.lab
        assert lab is not None
        estimate = self.step_cost_s
        count = 1 if estimate is None else max(
            1, min(self.pending_steps, int(quantum / max(estimate, 1e-7)))
        )
        began = time.perf_counter()
        done = 0
        try:
            while True:
                self.pending_steps -= count  # first: a Diverged or LabError leaves nothing pending
                lab.step(count)
                done += count
                if estimate is not None or not self.pending_steps:
                    break
                if time.perf_counter() - began >= quantum:
                    break
        except BaseException:
            self.pending_steps = 0
            raise
        spent = time.perf_counter() - began
        self.step_cost_s = spent / done if estimate is None else (
            0.5 * estimate + 0.5 * spent / done
        )
        if not self.pending_steps and lab.finished():
            self.set_state("finished")

    def play_slice(self, quantum: float) -> None:
        lab = self.lab
        assert lab is not None
        now = time.monotonic()
        if not self.connected and now - self.detached_at > self.settings.disconnect_pause_s:
            self.set_state("paused")  # nobody is watching: stop spending the CPU
            return
        if lab.paced:  # plays at a set speed: gets the time since its last slice, at most 1 s
            if now < self.next_slice:
                return
            lab.train(min(now - self.last_slice, 1.0))
            self.last_slice, self.next_slice = now, now + self.interval
        else:
            # Train until the next frame is due, even while the last one awaits its Ack: the Ack
            # comes in well under a slice, and a whole slice more before the frame cost a single
            # session one frame in five.
            until_frame = self.next_frame - now if self.connected else quantum
            lab.train(min(max(until_frame, quantum / 8), quantum))
        self.after_slice()

    def after_slice(self) -> None:
        """A lab that has nothing left to train stops playing, with a complete frame."""
        if self.lab is not None and self.lab.finished():
            self.set_state("finished")
            self.make_frame(streaming=False, now=time.monotonic())

    def cohort_key(self, now: float) -> Hashable | None:
        """What this session's play can be stepped together with others by (app/scheduler.py);
        None: it plays alone. Only a plain slice of full-speed play (nothing waiting, no paused
        play for want of a watcher) of a lab that has a ``cohort_key`` joins a cohort."""
        lab = self.lab
        if lab is None or not self.playing or lab.paced:
            return None
        if self.calls or self.inbox or self.control or self.pending_steps:
            return None
        if not self.connected and now - self.detached_at > self.settings.disconnect_pause_s:
            return None
        return lab.cohort_key()

    def make_frame(self, streaming: bool, now: float, interval: float | None = None) -> None:
        """Metrics + the lab's frame, sent after the host's replies (complete unless streaming).
        ``interval``: the time until the next play-mode frame (the scheduler stretches it when
        frames would take more than their share of the worker)."""
        if not self.connected or self.lab is None or self.closed:
            return
        began = time.perf_counter()
        messages: list[Message] = []
        metrics = self.lab.metrics()
        if metrics is not None:
            messages.append(metrics)
        messages.extend(self.lab.frame(streaming=streaming))
        frame = [self.encode(m) for m in messages]
        if streaming:
            self.frame_cost_s += 0.2 * (time.perf_counter() - began - self.frame_cost_s)
        # Schedule from when this frame was due, not when it was built, so a late frame does not
        # make every later one late too.
        interval = interval or self.interval
        due = self.next_frame
        self.next_frame = due + interval if streaming and now - due < interval else now + interval
        self.frame_sent = False
        self.frames_built += 1
        self.flush(frame)

    def flush(self, frame: list[Outgoing] | None = None) -> None:
        if self.replies or frame is not None:
            replies, self.replies = self.replies[-REPLY_LIMIT:], []
            self.emit(Out(self.sid, replies, frame))

    def frame_due(self, now: float, early: float = 0.0) -> bool:
        """A play-mode frame may be built: watched, the last one sent, and its time come (or
        less than ``early`` seconds away, where the session's next chance is that far off)."""
        return self.connected and self.frame_sent and now >= self.next_frame - early

    def wants_cpu(self, now: float) -> bool:
        if self.lab is None:
            return bool(self.calls or self.inbox or self.control)
        if self.calls or self.inbox or self.control or self.pending_steps:
            return True
        if self.playing:
            if self.lab.paced:
                return now >= self.next_slice or self.frame_due(now)
            return True
        return False
