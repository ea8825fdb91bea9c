"""Shared fixtures: a real uvicorn server, websocket clients and headless Chromium pages."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import torch
import uvicorn

from app.config import Settings
from app.main import create_app
from tests.wsclient import WSClient

CHROMIUM = os.environ.get("TORCHPLAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


# As the server does (settings.torch_threads): tiny ops on two threads spin against busy
# neighbours and run 5-15x slower on a shared 2-core machine.
torch.set_num_threads(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server in a thread; yield its base URL."""
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            ws="websockets-sansio", ws_per_message_deflate=False)  # as app/__main__
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120  # the first app of a run starts the workers' fork server
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    # The server answers at once; its workers start in the background. Tests begin once they run.
    for link in app.state.sessions.links:
        if not link.ready.wait(max(0.0, deadline - time.monotonic())):
            raise RuntimeError("the workers did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    # Tests close their pages while labs are playing: pause those sessions after 1 s (not 10 s),
    # so they do not train on in the background and slow the tests that follow.
    # The whole suite connects from one address and opens hundreds of sessions in a row: lift
    # the per-client cap and let it evict disconnected sessions at once (tests of those limits
    # make their own servers).
    return Settings(
        device="cpu",
        disconnect_pause_s=1.0,
        max_sessions_per_client=10_000,
        evict_grace_s=0.0,
        cnn={"data_dir": str(tmp_path_factory.mktemp("data"))},
    )


@pytest.fixture(scope="session")
def live_server(settings) -> Iterator[str]:
    """Base URL of one real torchplay server shared by the whole test session."""
    with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def ws_connect(live_server):
    """ws_connect(lab, session=None, origin=None) -> WSClient, closed after the test."""
    clients: list[WSClient] = []

    def connect(lab: str, session: str | None = None, origin: str | None = None) -> WSClient:
        client = WSClient(live_server, lab, session=session, origin=origin)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):
            client.close()


# ---- browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    """Real headless Chromium (Debian's package), driven by Playwright. Fails, never skips, without it."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class ConsoleErrors(list):
    def assert_none(self) -> None:
        assert not self, "console errors on the page:\n" + "\n".join(self)


def _new_page(browser, live_server, *, enforce_csp: bool):
    # Playwright evaluates string predicates (wait_for_function) with eval, which the pages' CSP
    # refuses: most tests run with the CSP bypassed; tests/browser/test_pages.py enforces it on
    # every page and fails on any violation.
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1400, "height": 1000}, bypass_csp=not enforce_csp
    )
    return context, context.new_page()


@pytest.fixture
def page(browser, live_server, request):
    """A fresh page (own context). Fails the test on any console error or page error."""
    context, page = _new_page(browser, live_server, enforce_csp=bool(request.node.get_closest_marker("csp")))
    errors = ConsoleErrors()
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.console_errors = errors
    page.set_default_timeout(20_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        os.makedirs("test-artifacts", exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=f"test-artifacts/{request.node.name}.png", full_page=True)
    context.close()
    errors.assert_none()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
