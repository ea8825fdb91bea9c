"""What one client can take of a shared server: sessions per address, eviction only after a grace
period, messages per second, bytes waiting for a worker, nesting, and REST calls that wait too
long or whose session closes. Each limit answers with a clear message; the session goes on."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Literal

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from app.config import Settings
from app.labs.base import LabError
from app.main import create_app
from app.schemas.common import ClientMessage
from ml_core.training import checkpoint
from tests.conftest import serve
from tests.labs import CountingLab
from tests.wsclient import WSClient


class Nap(ClientMessage):
    type: Literal["nap"]


class SleepyLab(CountingLab):
    """Counts steps; ``wait`` (a REST-style call) takes as long as it is told."""

    name = "sleepy"
    title = "Sleepy"
    messages = (Nap,)

    def on_nap(self, message: Nap) -> list:
        return []

    def wait(self, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            checkpoint()
            time.sleep(0.01)
        return "done"


@pytest.fixture(scope="module")
def limited():
    settings = Settings(
        device="cpu", workers=0, max_sessions=6, max_sessions_per_client=3, evict_grace_s=1.5,
        max_messages_per_s=20, max_queued_bytes=50_000, call_timeout_s=0.5, session_ttl_s=600,
    )
    app = create_app(settings, extra_labs=(SleepyLab,))
    with serve(app) as url:
        yield app, url


def _reason(url: str, lab: str = "sleepy") -> str:
    with pytest.raises(InvalidStatus) as refused:
        WSClient(url, lab)
    assert refused.value.response.status_code == 403  # refused at the handshake
    return httpx.get(url + "/api/admission", params={"lab": lab}).json()["reason"]


def test_one_address_holds_a_few_sessions_and_a_reload_keeps_its_own(limited):
    app, url = limited
    tabs = [WSClient(url, "sleepy") for _ in range(3)]
    try:
        assert "too many sessions from your address (3)" in _reason(url)
        tabs[0].close()  # a reload: the page comes back with its id
        again = WSClient(url, "sleepy", session=tabs[0].session)
        assert again.hello["resumed"] is True
        again.close()
    finally:
        for tab in tabs:
            tab.close()
        manager = app.state.sessions
        for session in list(manager.sessions.values()):
            manager.drop(session)


def test_a_full_server_evicts_only_sessions_gone_longer_than_the_grace(limited):
    app, url = limited
    manager = app.state.sessions
    # Six sessions from six "addresses" fill the server; all of them then disconnect.
    opened = []
    for i in range(6):
        session, _ = manager.open(None, "sleepy", client=f"10.0.0.{i}")
        opened.append(session)
    assert manager.admit(None, "sleepy", "10.0.0.99").startswith("the server is full")
    time.sleep(2.0)  # past the grace period: now the longest gone may be evicted for a newcomer
    assert manager.admit(None, "sleepy", "10.0.0.99") is None
    newcomer, _ = manager.open(None, "sleepy", client="10.0.0.99")
    assert opened[0].closing and not any(s.closing for s in opened[1:])
    for session in [newcomer, *opened]:
        manager.drop(session)


def test_messages_past_the_rate_or_byte_budget_get_a_clear_error(limited):
    _, url = limited
    client = WSClient(url, "sleepy")
    try:
        for _ in range(40):
            client.send({"type": "nap"})
        error = client.wait_for("error")
        assert "too many messages (at most 20 a second)" in error["message"]
        time.sleep(1.1)  # a new second: the same connection is heard again
        client.send({"type": "step", "steps": 3})
        assert client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 3)["step"] == 3
        client.send(json.dumps({"type": "nap", "pad": "x" * 60_000}))
        assert "too much sent at once" in client.wait_for("error")["message"]
        client.send("[" * 600_000 + "]" * 600_000)  # over max_message_bytes (1 MB)
        assert "too large" in client.wait_for("error")["message"]
        client.send('{"type": "nap", "x": ' + "[" * 5000 + "]" * 5000 + "}")
        assert "nested too deeply" in client.wait_for("error")["message"]
        client.send({"type": "step", "steps": 1})
        assert client.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 4)["step"] == 4
    finally:
        client.close()


def test_rest_calls_time_out_and_fail_when_their_session_closes(limited):
    app, url = limited
    manager = app.state.sessions
    loop = app.state.loop
    client = WSClient(url, "sleepy")
    session = manager.get(client.session, "sleepy")
    try:
        slow = asyncio.run_coroutine_threadsafe(session.call(SleepyLab.wait, 5.0), loop)
        with pytest.raises(LabError, match="took longer than 0.5 s"):
            slow.result(10)
        quick = asyncio.run_coroutine_threadsafe(session.call(SleepyLab.wait, 0.0), loop)
        assert quick.result(10) == "done"
        pending = asyncio.run_coroutine_threadsafe(session.call(SleepyLab.wait, 0.3), loop)
        time.sleep(0.05)
        loop.call_soon_threadsafe(manager.drop, session)
        with pytest.raises(LabError, match="closed"):
            pending.result(10)
    finally:
        client.close()
