"""A class on one worker: sessions playing the same network at full speed are stepped together
in one stacked call, and each still gets its own frames, metrics and numbers, as alone.

The scheduler is driven here turn by turn on the test's thread (no worker thread, no socket):
``Scheduler.put`` and ``_apply_commands`` take the commands a page's socket would send, ``_turn``
runs one session's turn, and the ``Out`` events it emits are what would go to each page.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch

from app.labs.mlp import MLPLab
from app.scheduler import FRAME_SHARE, Scheduler
from app.wire import Ack, Attach, Inbound, Open, Out
from ml_core.mlp_config import PlaygroundConfig
from ml_core.mlp_run import MLPRun
from ml_core.training import Diverged


def circle(seed: int, learning_rate: float = 0.03, **model) -> dict:
    return {
        "dataset": {"name": "circle", "seed": seed},
        "model": {"hidden": [4, 2], "activation": "tanh", **model},
        "training": {"learning_rate": learning_rate},
        "play": {"steps_per_frame": 0},  # full speed
    }


class Class:
    """Sessions on one scheduler, and what it sent each of them."""

    def __init__(self, settings) -> None:
        self.sent: dict[str, list[Out]] = {}
        self.scheduler = Scheduler(settings, {"mlp": MLPLab}, torch.device("cpu"), self.emit)

    def emit(self, event: object) -> None:
        if isinstance(event, Out):
            self.sent.setdefault(event.sid, []).append(event)

    def open(self, sid: str, config: dict) -> None:
        for command in (
            Open(sid, "mlp", sid),
            Attach(sid, resumed=False),
            Inbound(sid, json.dumps({"type": "configure", "config": config})),
            Inbound(sid, json.dumps({"type": "play"})),
        ):
            self.scheduler.put(command)
        self.scheduler._apply_commands()
        host = self.scheduler.hosts[sid]
        while host.control or host.inbox:
            self.scheduler._turn(host)
        assert host.state == "playing"

    def ack_all(self) -> None:
        """Every page has drawn its last frame."""
        for sid in self.scheduler.hosts:
            self.scheduler.put(Ack(sid))
        self.scheduler._apply_commands()
        self.sent.clear()

    def frames(self, sid: str) -> list[dict]:
        """The metrics of each frame sent to ``sid``."""
        return [json.loads(out.frame[0]) for out in self.sent.get(sid, []) if out.frame]

    def run(self, sid: str) -> MLPRun:
        return self.scheduler.hosts[sid].lab.run


def alone(config: dict, steps: int) -> MLPRun:
    """The same session's run played alone for ``steps`` steps."""
    run = MLPRun(PlaygroundConfig.model_validate(config))
    run.step(steps, settle=False)
    return run


@pytest.fixture
def room(settings):
    return Class(settings)


def test_sessions_of_one_network_play_together_and_each_gets_its_frame(room):
    slowed = {**circle(5), "play": {"steps_per_frame": 2}}  # paced: plays at its own speed
    configs = {
        "a": circle(1), "b": circle(2, 0.1), "c": circle(3, 0.3), "d": circle(4, hidden=[8]),
        "e": slowed,
    }
    for sid, config in configs.items():
        room.open(sid, config)
    room.ack_all()
    scheduler = room.scheduler
    first = scheduler._next_host()
    assert first.sid == "a"
    scheduler._turn(first)
    assert scheduler.together == {3: 1}  # a, b and c: one shape; d has another, e is slowed
    steps = room.run("a").steps
    assert steps > 0
    assert [room.run(sid).steps for sid in "abc"] == [steps] * 3
    assert room.run("d").steps == 0
    assert room.run("e").steps == 0
    for sid in "abc":
        assert [m["step"] for m in room.frames(sid)] == [steps]
        played = room.run(sid).engine.flat
        np.testing.assert_array_equal(played, alone(configs[sid], steps).engine.flat)
    assert room.frames("d") == []
    assert scheduler._next_host() is scheduler.hosts["d"]  # b and c had their slice this round


def test_each_session_plays_about_as_much_as_alone_and_frames_wait_for_acks(room):
    for sid, seed in zip("abcd", range(4), strict=True):
        room.open(sid, circle(seed))
    room.ack_all()
    scheduler = room.scheduler
    for _ in range(3):  # three rounds, no acks in between: no second frame for anyone
        host = scheduler._next_host()
        scheduler._turn(host)
    assert scheduler.together == {4: 3}
    assert len({room.run(sid).steps for sid in "abcd"}) == 1
    for sid in "abcd":
        assert len(room.frames(sid)) == 1


def test_a_session_that_diverges_pauses_alone_and_the_others_play_on(room):
    configs = {"a": circle(1), "b": circle(2, learning_rate=10), "c": circle(3)}
    for sid, config in configs.items():
        room.open(sid, config)
    room.ack_all()
    scheduler = room.scheduler
    scheduler._turn(scheduler.hosts["a"])
    hosts = scheduler.hosts
    assert hosts["b"].state == "diverged"
    states = [json.loads(r) for out in room.sent["b"] for r in out.replies]
    assert states[0]["type"] == "state"
    assert states[0]["state"] == "diverged"
    blown = MLPRun(PlaygroundConfig.model_validate(configs["b"]))
    with pytest.raises(Diverged):
        blown.step(1000, settle=False)
    assert room.run("b").steps == blown.steps  # stopped at the same step as alone
    assert hosts["a"].state == "playing"
    assert hosts["c"].state == "playing"
    room.ack_all()
    before = room.run("a").steps
    scheduler._turn(hosts["a"])
    assert scheduler.together[2] == 1  # a and c go on together
    assert room.run("a").steps > before
    assert room.run("b").steps == blown.steps


def test_a_round_of_slices_and_frames_fits_one_frame_interval(room):
    """Each busy session's slice is what a frame interval leaves once the round's frames are
    built, so every session comes round, and gets its frame, once an interval; frames that would
    take more than FRAME_SHARE of the worker stretch the interval instead (fewer frames each,
    training keeps the rest)."""
    for sid, seed in zip("abcd", range(4), strict=True):
        room.open(sid, circle(seed))
    scheduler = room.scheduler
    interval = 1 / scheduler.settings.fps
    for cost, frames_per_s in ((0.002, scheduler.settings.fps), (0.010, 1 / (0.040 / FRAME_SHARE))):
        for host in scheduler.hosts.values():
            host.frame_cost_s = cost
        frames = 4 * cost
        quantum = scheduler._quantum(time.monotonic())
        round_s = 4 * quantum + frames
        assert round_s == pytest.approx(max(interval, frames / FRAME_SHARE))
        assert 1 / scheduler._frame_interval() == pytest.approx(frames_per_s)
        assert frames / round_s <= FRAME_SHARE + 1e-9
