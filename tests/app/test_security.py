"""HTTP and socket hardening: headers, Host checks, no CDN pages, the icon, body limits, logs,
and the same websocket limit however the server is started."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from app.labs import LABS
from app.security import CSP, RedactSessions
from tests.wsclient import WSClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_every_page_and_answer_carries_the_security_headers(live_server):
    for path in ["/", *(f"/{lab.name}" for lab in LABS), "/api/labs", "/api/health", "/nope"]:
        headers = httpx.get(live_server + path).headers
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "same-origin"
    # The policy forbids inline scripts and scripts or sockets to other origins.
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP.split("script-src")[1][:30]
    assert "connect-src 'self'" in CSP


def test_unknown_hosts_are_refused_for_pages_rest_and_sockets(live_server):
    evil = {"Host": "evil.example:8000"}
    for path in ["/", "/cnn", "/api/labs", "/openapi.json"]:
        response = httpx.get(live_server + path, headers=evil)
        assert response.status_code == 400, path
        assert "TORCHPLAY_ALLOWED_HOSTS" in response.json()["detail"]
    # Health probes come by address (Kubernetes): they carry no session data and pass.
    assert httpx.get(live_server + "/api/health", headers=evil).status_code == 200
    url = live_server.replace("http://", "ws://") + "/ws?lab=mlp"
    with pytest.raises(InvalidStatus):
        connect(url, additional_headers={"Host": "evil.example"}, open_timeout=10)


def test_no_cdn_viewers_but_the_description_stays(live_server):
    assert httpx.get(live_server + "/docs").status_code == 404
    assert httpx.get(live_server + "/redoc").status_code == 404
    assert httpx.get(live_server + "/openapi.json").json()["info"]["title"] == "torchplay"


def test_the_favicon_is_served(live_server):
    response = httpx.get(live_server + "/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")


def test_a_chunked_upload_over_the_limit_gets_413(live_server, settings, ws_connect):
    client = ws_connect("convolution")

    def chunks():  # a well-formed multipart body whose file part never ends
        yield (
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        block = b"\0" * 65536
        for _ in range(settings.max_upload_bytes // len(block) + 40):
            yield block

    response = httpx.post(
        f"{live_server}/api/convolution/image",
        params={"session": client.session},
        content=chunks(),  # no Content-Length: sent chunked
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_session_ids_stay_out_of_the_access_log():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws?lab=mlp&session=0123456789abcdef", "1.1", 101), None,
    )
    RedactSessions().filter(record)
    line = record.getMessage()
    assert "0123456789abcdef" not in line and "session=…" in line and "lab=mlp" in line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(command: list[str], port: int, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "TORCHPLAY_PORT": str(port), "TORCHPLAY_WORKERS": "0", **extra}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command} did not start")


def _compressed(port: int) -> bool:
    """Whether the server takes the permessage-deflate a client (like a browser) offers."""
    url = f"ws://127.0.0.1:{port}/ws?lab=functions&session={uuid.uuid4().hex}"
    with connect(url, open_timeout=10) as ws:  # offers permessage-deflate, as browsers do
        return "permessage-deflate" in (ws.response.headers.get("Sec-WebSocket-Extensions") or "")


@pytest.mark.slow
def test_the_websocket_limit_and_compression_are_the_same_however_the_server_starts(settings):
    too_big = "x" * (settings.max_message_bytes + 64 * 1024)
    for command, extra, compressed in (
        ([sys.executable, "-m", "app"], {}, False),
        ([sys.executable, "-m", "app"], {"TORCHPLAY_WS_COMPRESSION": "true"}, True),
        (
            [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port", "{port}"],
            {},
            False,
        ),
    ):
        port = _free_port()
        process = _start([part.format(port=port) for part in command], port, **extra)
        try:
            # Frames go uncompressed unless asked for: deflating each cost the web process
            # about 0.3 ms, a class's worth of it (bench/classroom.py).
            assert _compressed(port) is compressed, (command, extra)
            client = WSClient(f"http://127.0.0.1:{port}", "functions")
            client.send(too_big)
            with pytest.raises(ConnectionClosed) as closed:
                client.wait_for("never", timeout=10)
            assert closed.value.rcvd.code == 1009, command  # "message too big", at the protocol
        finally:
            process.terminate()
            process.wait(timeout=10)
