"""Sessions in worker processes: spread over the workers, a killed worker is replaced without
its neighbours noticing, and a session past its time budget is stopped, not its worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.config import Settings
from app.main import create_app
from app.schemas.common import ClientMessage
from ml_core.training import checkpoint
from tests.conftest import serve
from tests.labs import CountingLab
from tests.wsclient import Frame, WSClient, wait_until

ROOT = Path(__file__).resolve().parents[2]


class Hang(ClientMessage):
    type: Literal["hang"]


class SlowLab(CountingLab):
    """Counts steps; a ``hang`` message starts work that never ends by itself."""

    name = "slow"
    title = "Slow"
    messages = (Hang,)

    def on_hang(self, message: Hang) -> list:
        while True:  # honours the cancel token, as every long loop in ml_core does
            checkpoint()
            time.sleep(0.005)


def _metrics_step(client: WSClient, step: int) -> dict:
    return client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == step)


@pytest.fixture(scope="module")
def two_workers():
    settings = Settings(device="cpu", workers=2, fps=30, max_sessions_per_client=100)
    app = create_app(settings)
    with serve(app) as url:
        yield app, url


def test_sessions_spread_over_the_workers_and_a_killed_worker_is_replaced(two_workers):
    app, url = two_workers
    manager = app.state.sessions
    clients = [WSClient(url, "mlp") for _ in range(4)]
    try:
        for c in clients:
            c.send({"type": "play"})
        by_link = {link.index: [c for c in clients if manager.get(c.session, "mlp").link is link]
                   for link in manager.links}
        assert sorted(len(v) for v in by_link.values()) == [2, 2], "two sessions on each worker"
        victim_link = manager.links[0]
        victims, others = by_link[victim_link.index], by_link[manager.links[1].index]
        pids = {link.pid for link in manager.links}
        assert len(pids) == 2 and os.getpid() not in pids, "each worker is its own process"

        for c in others:
            c.seen.clear()  # from here on, what they see is what the kill did to them
        os.kill(victim_link.pid, signal.SIGKILL)

        for c in victims:  # told what happened, then a fresh session they can set up at once
            error = c.wait_for("error", timeout=30)
            assert "restarted the worker" in error["message"]
            hello = c.wait_for("hello")
            assert hello["resumed"] is False
            c.wait_for("configured")
            c.configure({"model": {"hidden": [3]}})
            c.send({"type": "step", "steps": 5})
            assert _metrics_step(c, 5)["epoch"] == 0
        for c in others:  # the other worker's sessions never noticed: frames keep coming
            frame = c.wait_for(lambda m: isinstance(m, Frame) and m.meta.get("step", 0) > 1000)
            assert frame.kind == "mlp"
            assert not any(m.get("type") in ("error", "hello") for m in c.seen)
        assert manager.restarts == 1
        assert victim_link.pid not in {link.pid for link in manager.links}
    finally:
        for c in clients:
            c.close()


@pytest.fixture(scope="module")
def budgeted():
    settings = Settings(device="cpu", workers=0, max_op_s=0.5, max_sessions_per_client=100)
    app = create_app(settings, extra_labs=(SlowLab,))
    with serve(app) as url:
        yield app, url


def test_work_past_its_time_budget_stops_the_session_not_the_worker(budgeted):
    app, url = budgeted
    runaway, neighbour = WSClient(url, "slow"), WSClient(url, "slow")
    try:
        began = time.monotonic()
        runaway.send({"type": "hang"})
        error = runaway.wait_for("error", timeout=10)
        assert "took longer than 0.5 s" in error["message"]
        assert time.monotonic() - began < 3
        with pytest.raises(ConnectionClosed):  # the stopped session's socket is closed
            runaway.wait_for("never", timeout=5)
        assert app.state.sessions.get(runaway.session, "slow") is None
        neighbour.send({"type": "step", "steps": 3})  # same worker, still serving
        assert _metrics_step(neighbour, 3)["step"] == 3
    finally:
        runaway.close()
        neighbour.close()


def test_closing_a_session_stops_its_work_at_once(budgeted):
    app, url = budgeted
    manager = app.state.sessions
    client = WSClient(url, "slow")
    host = manager.host(client.session, "slow")
    client.send({"type": "hang"})
    deadline = time.monotonic() + 5
    while manager.links[0].scheduler._current is None and time.monotonic() < deadline:
        time.sleep(0.01)
    manager.drop(manager.get(client.session, "slow"))
    began = time.monotonic()
    while host.token.cancelled is False and time.monotonic() - began < 1:
        time.sleep(0.01)
    assert host.token.cancelled, "closing cancels the work in progress"
    key = manager.key(client.session, "slow")
    while key in manager.sessions and time.monotonic() - began < 2:  # counted until really gone
        time.sleep(0.01)
    assert time.monotonic() - began < 1, "the session is gone within a second"
    client.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "terminate"])
def test_a_signal_to_the_whole_process_group_shuts_the_server_down_in_order(sig, tmp_path):
    # Ctrl-C in the terminal of `make run` (or a process manager's kill) reaches the web process
    # and its workers at once. The workers leave their stopping to the web process: it must not
    # see them die and start new ones (it did, and then waited a minute for a start that the
    # gone fork server never made).
    port = _free_port()
    env = {**os.environ, "TORCHPLAY_PORT": str(port), "TORCHPLAY_WORKERS": "2"}
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url + "/api/health"), timeout=90)
        with WSClient(url, "mlp") as client:
            client.configure({})
            client.send({"type": "step", "steps": 3})
            client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 3, timeout=60)
            os.killpg(process.pid, sig)
            assert process.wait(timeout=20) is not None
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    wait_until(lambda: not _group_alive(process.pid), timeout=20)  # workers and fork server too
    text = log.read_text()
    assert "died" not in text, text[-2000:]
    assert "Traceback" not in text, text[-2000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
