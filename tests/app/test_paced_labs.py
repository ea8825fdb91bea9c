"""The paced labs (perceptron, descent) play at the user's speed on a scheduler shared by every
session: one slice of play never sleeps, and its loops check in (``checkpoint()``) often enough
for the scheduler to stop them (every ~50 ms of work at most)."""

from __future__ import annotations

import time

import pytest
import torch

from app.labs import descent as descent_lab
from app.labs import perceptron as perceptron_lab
from app.labs.descent import DescentLab
from app.labs.perceptron import PerceptronLab
from app.schemas.common import Configure
from app.schemas.perceptron import PerceptronConfigure
from ml_core.training import CancelToken, current_token


class RecordingToken(CancelToken):
    """A cancel token that notes when each checkpoint() asked it: the wall clock, and the
    thread's CPU time (the work done, which a busy machine's descheduling does not stretch)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self.work: list[float] = []

    def check(self) -> None:
        self.times.append(time.perf_counter())
        self.work.append(time.thread_time())
        super().check()


def _no_sleep(*args):
    raise AssertionError("a lab slept on the scheduler's thread")


def _slice(lab, budget_s: float, monkeypatch) -> RecordingToken:
    monkeypatch.setattr(time, "sleep", _no_sleep)
    token = RecordingToken()
    reset = current_token.set(token)
    try:
        began, worked = time.perf_counter(), time.thread_time()
        lab.train(budget_s)
        token.times = [began, *token.times, time.perf_counter()]
        token.work = [worked, *token.work, time.thread_time()]
    finally:
        current_token.reset(reset)
    return token


def _perceptron(settings, speed: float) -> PerceptronLab:
    lab = PerceptronLab(settings, torch.device("cpu"))
    config = {"dataset": {"name": "xor"},
              "perceptron": {"speed": speed, "max_epochs": settings.perceptron.max_epochs}}
    lab.configure(PerceptronConfigure(type="configure", config=config))
    lab.step(1)  # warm: the first steps of a process pay for imports
    lab.reset()
    return lab


def _descent(settings, speed: float) -> DescentLab:
    lab = DescentLab(settings, torch.device("cpu"))
    config = {"surface": "rosenbrock", "speed": speed, "max_steps": settings.descent.max_steps}
    lab.configure(Configure(type="configure", config=config))
    lab.step(1)  # warm: the first steps of a process pay for imports
    lab.reset()
    return lab


def _work(lab) -> list[int]:
    if isinstance(lab, PerceptronLab):
        return [lab.model.visits]
    return [run.steps for run in lab.runs.values()]


@pytest.mark.parametrize("make", [_perceptron, _descent], ids=["perceptron", "descent"])
def test_a_slice_does_what_its_seconds_are_worth_at_the_set_speed(settings, make, monkeypatch):
    # The accounting, without the wall-clock cap (a loaded machine would cut a slice short).
    monkeypatch.setattr(perceptron_lab, "SLICE_S", 60.0)
    monkeypatch.setattr(descent_lab, "SLICE_S", 60.0)
    lab = make(settings, 40.0)
    _slice(lab, 0.5, monkeypatch)
    assert set(_work(lab)) == {20}  # 40 a second for half a second
    _slice(lab, 0.0625, monkeypatch)  # 2.5: two now, the half carried over
    _slice(lab, 0.0125, monkeypatch)  # 0.5 + 0.5: one more
    assert set(_work(lab)) == {23}


@pytest.mark.parametrize("make", [_perceptron, _descent], ids=["perceptron", "descent"])
def test_a_slice_at_top_speed_checks_in_often_and_never_sleeps(settings, make, monkeypatch):
    # Counted in the work done (CPU time), which a loaded machine does not stretch; without
    # the wall-clock cap, so that the whole second's worth of steps runs.
    monkeypatch.setattr(perceptron_lab, "SLICE_S", 60.0)
    monkeypatch.setattr(descent_lab, "SLICE_S", 60.0)
    top = settings.perceptron.max_speed if make is _perceptron else settings.descent.max_speed
    lab = make(settings, top)
    token = _slice(lab, 1.0, monkeypatch)  # the longest slice the scheduler gives (1 s)
    gaps = [b - a for a, b in zip(token.work, token.work[1:], strict=False)]
    assert len(gaps) > 10  # it did check in, many times
    assert max(gaps) < 0.05  # seconds of work between two check-ins


@pytest.mark.parametrize("make", [_perceptron, _descent], ids=["perceptron", "descent"])
def test_a_slice_stops_at_its_cap_and_drops_the_rest(settings, make, monkeypatch):
    top = settings.perceptron.max_speed if make is _perceptron else settings.descent.max_speed
    lab = make(settings, top)
    token = _slice(lab, 1.0, monkeypatch)  # a second's worth of steps, against a 0.1 s cap
    # It works about SLICE_S, plus the step under way (and what a loaded machine adds): far
    # less than the second the budget was worth; the rest is dropped, not owed.
    assert token.times[-1] - token.times[0] < 0.5
    assert min(_work(lab)) > 0
