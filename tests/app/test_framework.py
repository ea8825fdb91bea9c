"""The session runtime and the websocket endpoint, with a tiny lab made for the test."""

from __future__ import annotations

import base64
import json
import math
import os
import socket
import time
import uuid
from typing import Literal

import numpy as np
import pytest
import torch
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.config import Settings
from app.frames import BinaryFrame, absmax, decode, quantise
from app.labs.base import Diverged, Lab, LabError
from app.main import create_app
from app.schemas.common import ClientMessage, Configure, Configured, Metrics, ServerMessage
from app.security import origin_allowed
from app.sessions import valid_session_id
from tests.conftest import serve
from tests.wsclient import Frame, WSClient, wait_until


def steady(read, quiet_s: float):
    """A predicate that holds once ``read()`` has not changed for ``quiet_s`` seconds."""
    last = {"value": read(), "since": time.monotonic()}

    def check() -> bool:
        value = read()
        if value != last["value"]:
            last.update(value=value, since=time.monotonic())
        return time.monotonic() - last["since"] >= quiet_s

    return check


class Echo(ClientMessage):
    type: Literal["echo"]
    text: str = ""


class EchoReply(ServerMessage):
    type: Literal["echo"] = "echo"
    text: str


class CounterMetrics(Metrics):
    loss: float


class CounterLab(Lab):
    """Counts steps; 'diverges' when told to; finishes at a target."""

    name = "counter"
    title = "Counter"
    messages = (Echo,)

    def configure(self, request: Configure) -> Configured:
        config = request.config
        target = config.get("target", 1000)
        if not isinstance(target, int) or not 1 <= target <= 10**6:
            raise LabError("target must be an integer from 1 to 1000000")
        self.target, self.count, self.explode = target, 0, bool(config.get("explode"))
        self.big = bool(config.get("big"))
        self.started = time.monotonic()
        return Configured(lab=self.name, config={"target": target})

    def reset(self) -> None:
        self.count = 0

    def step(self, steps: int) -> None:
        if self.explode:
            raise Diverged()
        self.count = min(self.target, self.count + steps)

    def train(self, budget_s: float) -> None:
        time.sleep(budget_s / 4)
        self.step(1)

    def finished(self) -> bool:
        return self.count >= self.target

    def metrics(self) -> CounterMetrics:
        return CounterMetrics(step=self.count, loss=1.0 / (1 + self.count))

    def frame(self, streaming: bool) -> list:
        side = 512 if self.big else 4  # big: 256 KB frames, to fill a slow client's buffers
        grid = np.full((side, side), self.count % 256, dtype=np.uint8)
        return [BinaryFrame("counter", {"count": self.count}, {"grid": grid})]

    def on_echo(self, message: Echo) -> list:
        return [EchoReply(text=message.text[:100])]


@pytest.fixture(scope="module")
def app():
    settings = Settings(
        device="cpu", fps=60, max_sessions=3, session_ttl_s=60, workers=0, evict_grace_s=0
    )
    return create_app(settings, extra_labs=(CounterLab,))


@pytest.fixture(scope="module")
def server(app):
    with serve(app) as url:
        yield url


def test_binary_frame_round_trip():
    arrays = {
        "a": np.arange(7, dtype=np.uint8),
        "b": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
        "c": np.array([[1, -2]], dtype=np.int16),
    }
    header, out = decode(BinaryFrame("k", {"x": 1}, arrays).encode())
    assert header["kind"] == "k" and header["meta"] == {"x": 1}
    for name, array in arrays.items():
        np.testing.assert_array_equal(out[name], array)
        assert header["arrays"][list(arrays).index(name)]["offset"] % 8 == 0


def test_quantiser():
    assert quantise(np.array([0.0, 0.5, 1.0, 2.0, math.nan]), 0, 1).tolist() == [0, 128, 255, 255, 0]
    assert quantise(np.array([-2.0, 0.0, 2.0]), -2, 2).tolist() == [0, 128, 255]
    assert quantise(np.array([math.inf, -math.inf]), 0, 1).tolist() == [255, 0]  # diverged
    assert quantise(np.float32(0.25), 0, 1).tolist() == 64  # a number too
    # A tensor is quantised the same way as the array it holds.
    values = np.array([-3.0, -0.5, 0.0, 0.25, 7.0, math.nan], dtype=np.float32)
    assert quantise(torch.from_numpy(values), -1, 1).tolist() == quantise(values, -1, 1).tolist()
    # One range per row: each unit's map is scaled by its own max |value|.
    rows = np.array([[1.0, -1.0], [0.0, 10.0], [0.0, 0.0]])
    scale = absmax(rows, axis=1)
    assert scale.ravel().tolist() == [1.0, 10.0, 1.0]
    assert quantise(rows, -scale, scale).tolist() == [[255, 0], [128, 255], [128, 128]]


def test_hello_configure_step_and_metrics(server):
    with WSClient(server, "counter") as c:
        assert c.hello["lab"] == "counter" and c.hello["device"] == "cpu"
        assert c.hello["resumed"] is False
        assert c.configure({"target": 50})["config"] == {"target": 50}
        c.send({"type": "step", "steps": 7})
        metrics = c.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 7)
        assert metrics["loss"] == pytest.approx(1 / 8)
        frame = c.frame("counter")
        assert frame.meta["count"] == 7 and frame.arrays["grid"].shape == (4, 4)


def test_play_streams_frames_until_finished(server):
    with WSClient(server, "counter") as c:
        c.configure({"target": 200})
        c.send({"type": "play"})
        assert c.wait_for("state")["state"] in ("paused", "playing")
        c.wait_for(lambda m: m.get("type") == "state" and m["state"] == "finished")
        frames = [m for m in c.seen if isinstance(m, Frame)]
        assert len(frames) >= 2, "play mode streams frames while training"
        counts = [f.meta["count"] for f in frames]
        assert counts == sorted(counts) and counts[0] < 200, counts
        assert c.frame("counter").meta["count"] == 200  # the frame after finishing is complete


def test_bad_messages_get_errors_and_session_stays_usable(server):
    with WSClient(server, "counter") as c:
        for bad, expect in [
            ("not json", "JSON"),
            ("[1, 2]", "objects"),
            ('{"type": 3}', "type"),
            ('{"x": NaN, "type": "echo"}', "NaN"),
            ({"type": "nope"}, "unknown message type"),
            ({"type": "_call"}, "unknown message type"),
            ({"type": "step", "steps": -1}, "steps"),
            ({"type": "step", "steps": 10**9}, "steps"),
            ({"type": "configure", "config": {"target": 0}}, "target"),
            ({"type": "configure", "lab": "mlp", "config": {}}, "runs lab"),
        ]:
            c.send(bad if isinstance(bad, str) else json.dumps(bad))
            error = c.wait_for("error")
            assert expect in error["message"], (bad, error)
        c.ws.send(b"\x00\x01")
        assert "JSON text" in c.wait_for("error")["message"]
        c.send({"type": "echo", "text": "still here"})
        assert c.wait_for("echo")["text"] == "still here"


def test_diverged_is_valid_json_and_pauses(server):
    with WSClient(server, "counter") as c:
        c.configure({"explode": True})
        c.send({"type": "play"})
        state = c.wait_for(lambda m: m.get("type") == "state" and m["state"] == "diverged")
        assert "lower the learning rate" in state["message"]


def test_reconnect_resumes_the_session(server):
    first = WSClient(server, "counter")
    first.configure({"target": 500})
    first.send({"type": "step", "steps": 42})
    first.wait_for(lambda m: m.get("type") == "metrics" and m["step"] == 42)
    first.close()
    with WSClient(server, "counter", session=first.session) as again:
        assert again.hello["resumed"] is True
        assert again.initial["config"] == {"target": 500}
        assert again.wait_for("metrics")["step"] == 42


def test_second_socket_takes_the_session_over(server):
    first = WSClient(server, "counter")
    with WSClient(server, "counter", session=first.session) as second:
        assert second.hello["resumed"]
        with pytest.raises(ConnectionClosed):  # the server closes the first socket
            first.wait_for("never", timeout=5)


def _refused(server: str, lab: str, session: str | None = None) -> str:
    """A socket refused at the handshake (HTTP 403), and the reason the page then reads."""
    import httpx

    with pytest.raises(InvalidStatus) as refused:
        WSClient(server, lab, session=session)
    assert refused.value.response.status_code == 403
    params = {"lab": lab} | ({"session": session} if session else {})
    answer = httpx.get(server + "/api/admission", params=params).json()
    assert answer["ok"] is False
    return answer["reason"]


def test_session_cap_and_bad_ids(server):
    assert "session ids" in _refused(server, "counter", session="x.y")
    assert not valid_session_id("abcdefgh\n")  # a full match: no trailing newline slips by
    assert "unknown lab" in _refused(server, "nolab")
    clients = [WSClient(server, "counter") for _ in range(3)]
    try:
        assert "server is full" in _refused(server, "counter")
        # A reconnect of a session the server holds is always let back in.
        again = WSClient(server, "counter", session=clients[0].session)
        assert again.hello["resumed"] is True
        again.close()
    finally:
        for client in clients:
            client.close()


def test_foreign_origin_is_refused(server):
    with pytest.raises(InvalidStatus):
        WSClient(server, "counter", origin="http://evil.example")
    host = server.removeprefix("http://")
    with WSClient(server, "counter", origin=f"http://{host}") as c:
        assert c.hello["lab"] == "counter"


def test_origin_rules():
    s = Settings(allowed_origins=["https://class.example"])
    assert origin_allowed(None, "127.0.0.1:8000", s)
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000", s)
    assert origin_allowed("http://localhost:8000", "localhost:8000", s)
    assert origin_allowed("https://class.example", "127.0.0.1:8000", s)
    assert not origin_allowed("http://evil.example", "127.0.0.1:8000", s)
    # DNS rebinding: the page's origin matches the Host header, but the host is not ours
    assert not origin_allowed("http://evil.example:8000", "evil.example:8000", s)


def test_health_and_body_limit(server):
    import httpx

    health = httpx.get(server + "/api/health").json()
    assert health["status"] == "ok" and "counter" in health["labs"]
    small = Settings().max_upload_bytes
    response = httpx.post(server + "/api/health", content=b"x" * (small + 200_000))
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def _raw_socket_that_never_reads(base_url: str, session: str) -> socket.socket:
    """A websocket handshake by hand, then silence: a browser tab too busy to read anything."""
    port = int(base_url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws?lab=counter&session={session} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:  # the 101 answer; after it, never read again
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response

    def send_text(text: str) -> None:  # one masked text frame (clients must mask)
        data, mask = text.encode(), os.urandom(4)
        assert len(data) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        sock.sendall(bytes([0x81, 0x80 | len(data)]) + mask + masked)

    send_text(json.dumps({"type": "configure", "config": {"target": 10**6, "big": True}}))
    send_text(json.dumps({"type": "play"}))
    return sock


def test_a_slow_client_gets_fewer_frames_not_a_backlog(app, server):
    session_id = uuid.uuid4().hex
    sock = _raw_socket_that_never_reads(server, session_id)
    try:
        session = wait_until(lambda: app.state.sessions.host(session_id, "counter"))
        wait_until(lambda: session.playing and session.lab.count > 10)
        # Once the socket's buffers are full the worker keeps training but stops making frames.
        wait_until(steady(lambda: session.frames_built, quiet_s=0.5), timeout=10)
        before, count = session.frames_built, session.lab.count
        # Training goes on: 120 more steps take at least 2 s at 60 frames a second, which would
        # be 120 frames of 256 KB each if nothing held them back.
        wait_until(lambda: session.lab.count > count + 120, timeout=30)
        assert session.frames_built - before <= 2, "frames kept coming with nobody reading them"
        web = app.state.sessions.get(session_id, "counter")
        assert len(web.replies) < 10, "replies piled up for a socket that does not read"
    finally:
        sock.close()
