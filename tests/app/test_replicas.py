"""Replicas behind nginx, as deploy/compose.yaml runs them: two servers started and installed by
the Dockerfile's own script (deploy/torchplay.sh), nginx (Debian's) with deploy/nginx's routing
by session id. Every reconnect and REST call of a session reaches the replica that holds it, and
killing one replica leaves the other's sessions untouched."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.wsclient import WSClient

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


@pytest.fixture(scope="module")
def install_env(tmp_path_factory) -> str:
    """A fresh environment set up by ``deploy/torchplay.sh install``, as the image's is. Its
    dependencies come from the test environment (a .pth file), so only torchplay is built."""
    if not os.path.exists(NGINX):
        pytest.fail("nginx not found: run `make test` (it installs Debian's nginx-light)")
    env_dir = tmp_path_factory.mktemp("image-env")
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    ours = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(site, "test-deps.pth").write_text(ours + "\n")
    result = subprocess.run(
        [str(ROOT / "deploy" / "torchplay.sh"), "install"],
        env={**os.environ, "PYTHON": str(python), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    check = subprocess.run([str(python), "-m", "pip", "show", "torchplay"],
                           capture_output=True, text=True)
    assert "Name: torchplay" in check.stdout
    return str(python)


class Replica:
    def __init__(self, python: str) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PYTHON": python,
            "TORCHPLAY_PORT": str(self.port),
            "TORCHPLAY_WORKERS": "1",
            "TORCHPLAY_MAX_SESSIONS": "100",
            "TORCHPLAY_MAX_SESSIONS_PER_CLIENT": "100",
        }
        self.process = subprocess.Popen(
            [str(ROOT / "deploy" / "torchplay.sh"), "start"], env=env, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def sessions(self) -> int:
        return httpx.get(self.url + "/api/health").json()["sessions"]

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(install_env, tmp_path_factory):
    replicas = [Replica(install_env), Replica(install_env)]
    prefix = tmp_path_factory.mktemp("nginx")
    port = _free_port()
    template = (ROOT / "deploy" / "nginx" / "torchplay.conf.template").read_text()
    upstreams = " ".join(f"server 127.0.0.1:{r.port};" for r in replicas)
    (prefix / "torchplay.conf").write_text(
        template.replace("${TORCHPLAY_UPSTREAMS}", upstreams).replace("${LISTEN}", f"127.0.0.1:{port}")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nerror_log stderr warn;\npid {prefix}/nginx.pid;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n client_body_temp_path {prefix}/body;\n proxy_temp_path {prefix}/proxy;\n"
        f" fastcgi_temp_path {prefix}/f; uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;\n"
        f" include {prefix}/torchplay.conf;\n}}\n"
    )
    nginx = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for replica in replicas:
            _wait_http(replica.url + "/api/health")
        _wait_http(f"http://127.0.0.1:{port}/api/health")
        yield f"http://127.0.0.1:{port}", replicas
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        for replica in replicas:
            if replica.process.poll() is None:
                replica.kill()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 20)).save(buffer, "PNG")
    return buffer.getvalue()


def test_sessions_stick_to_their_replica_through_nginx(cluster):
    url, replicas = cluster
    ids = [uuid.uuid4().hex for _ in range(20)]
    for sid in ids:
        client = WSClient(url, "convolution", session=sid)
        assert client.hello["resumed"] is False
        client.close()
    counts = [r.sessions() for r in replicas]
    assert sum(counts) == 20 and min(counts) > 0, counts  # spread over both
    for sid in ids:  # every reconnect finds its session where it lives
        client = WSClient(url, "convolution", session=sid)
        assert client.hello["resumed"] is True
        client.close()
        upload = httpx.post(  # and so does every REST call
            f"{url}/api/convolution/image", params={"session": sid},
            files={"file": ("p.png", _png(), "image/png")},
        )
        assert upload.status_code == 200, upload.text
    assert [r.sessions() for r in replicas] == counts, "no session was made twice"

    # Kill one replica: the other's sessions go on as if nothing happened.
    survivor = replicas[1]
    held = {sid for sid in ids if httpx.post(  # which sessions the survivor holds
        f"{survivor.url}/api/convolution/image", params={"session": sid},
        files={"file": ("p.png", _png(), "image/png")},
    ).status_code == 200}
    assert len(held) == counts[1]
    replicas[0].kill()
    for sid in held:
        client = WSClient(url, "convolution", session=sid)
        assert client.hello["resumed"] is True
        assert client.initial["config"]["sample"] == "upload"  # what it was given is still there
        client.close()
    assert survivor.sessions() == counts[1]
