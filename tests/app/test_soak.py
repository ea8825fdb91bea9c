"""Soak: many sessions opened, trained and dropped mid-stream (the tab just goes away); once they
have expired, the server is back where it started: tasks, threads, open files and memory.

The suite runs a small class (TORCHPLAY_SOAK_SESSIONS, 100 by default); bench/soak.py runs 1,000.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from app.config import Settings
from app.main import create_app
from tests.conftest import serve
from tests.wsclient import Frame, WSClient, wait_until

pytestmark = pytest.mark.slow
SESSIONS = int(os.environ.get("TORCHPLAY_SOAK_SESSIONS", "100"))


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def server_tasks(app) -> int:
    loop = app.state.loop
    return len(asyncio.run_coroutine_threadsafe(_count_tasks(), loop).result(10))


async def _count_tasks():
    return [t for t in asyncio.all_tasks() if not t.done()]


def drop_mid_stream(url: str, lab: str, config: dict) -> None:
    """A tab that opens, trains, gets a frame or two and vanishes (no closing handshake)."""
    client = WSClient(url, lab)
    client.configure(config)
    client.send({"type": "play"})
    client.wait_for(lambda m: isinstance(m, Frame), timeout=30)
    client.ws.socket.close()  # the connection just dies, as when a laptop lid closes
    client._stack.close()


def test_dropped_sessions_leave_nothing_behind():
    settings = Settings(
        device="cpu", workers=1, session_ttl_s=0.5, disconnect_pause_s=0.2,
        max_sessions=SESSIONS + 10, max_sessions_per_client=SESSIONS + 10, evict_grace_s=0,
    )
    app = create_app(settings)
    with serve(app) as url:
        manager = app.state.sessions
        worker = manager.links[0].pid

        def settle() -> tuple[int, int, int, float]:
            manager.reap()
            wait_until(lambda: not manager.sessions, timeout=60)  # every worker said Closed
            wait_until(lambda: server_tasks(app) <= base_tasks_hint[0], timeout=30)
            return server_tasks(app), threading.active_count(), open_files(), rss_mb(worker)

        # Warm up (torch, the labs' first allocations), then take the baseline.
        base_tasks_hint = [10**6]
        for lab in ("mlp", "cnn"):
            drop_mid_stream(url, lab, {})
        time.sleep(0.6)
        tasks, threads, files, memory = settle()
        base_tasks_hint[0] = tasks

        for i in range(SESSIONS):
            lab = "cnn" if i % 10 == 0 else "mlp"
            drop_mid_stream(url, lab, {"dataset": {"seed": i}} if lab == "mlp" else {"seed": i})
            if i % 20 == 19:
                manager.reap()  # expired ones go while the class goes on
        time.sleep(0.6)
        after = settle()
        assert after[0] == tasks, f"asyncio tasks: {after[0]} after, {tasks} before"
        assert after[1] == threads, f"threads: {after[1]} after, {threads} before"
        assert after[2] <= files + 2, f"open files: {after[2]} after, {files} before"
        assert after[3] < memory + 150, f"worker memory: {after[3]:.0f} MB after, {memory:.0f} before"
