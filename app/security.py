"""What every request and socket goes through before it reaches a page, the API or a session.

- Host checking, the same for HTTP and websockets: the Host header must name loopback, the bind
  address or an allowed host (``TORCHPLAY_ALLOWED_HOSTS``), which defeats DNS rebinding.
- Security headers on every HTTP answer: a Content-Security-Policy the pages satisfy (scripts and
  styles from this origin only, no inline scripts; sockets and fetches to this origin), no MIME
  sniffing, no framing, no referrer to other sites.
- Session ids are bearer tokens: the access log never prints them.
- ``uvicorn --factory app.main:create_app`` gets the same websocket message limit as
  ``python -m app``.

See SECURITY.md for the threat model and every limit.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from urllib.parse import urlsplit

from app.config import Settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
UNCHECKED_PATHS = ("/api/health",)  # probes by address (Kubernetes): no session data there

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        # Bars and swatches set their width or colour in a style attribute; <style> elements
        # and stylesheets from elsewhere stay refused.
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def hostname_of(host_header: str | None) -> str:
    """'example.org:8000' -> 'example.org'; '[::1]:8000' -> '::1'; '' when unparseable."""
    if not host_header:
        return ""
    try:
        return (urlsplit("//" + host_header).hostname or "").lower()
    except ValueError:
        return ""


def host_allowed(hostname: str, settings: Settings) -> bool:
    allowed = LOOPBACK | {settings.host.lower()} | {h.lower() for h in settings.allowed_hosts}
    return hostname.strip("[]") in {h.strip("[]") for h in allowed}


def origin_allowed(origin: str | None, host_header: str | None, settings: Settings) -> bool:
    """Browsers send Origin; non-browser clients (no Origin) are allowed.

    A browser page may open the socket only if it was served by this server (same host:port as
    the Host header), and that host is loopback, the bind address or an allowed host — or if its
    origin is explicitly allowed (``TORCHPLAY_ALLOWED_ORIGINS``).
    """
    if origin is None:
        return True
    if origin in settings.allowed_origins:
        return True
    parts = urlsplit(origin)
    if not parts.netloc or parts.netloc != (host_header or ""):
        return False
    return host_allowed((parts.hostname or "").lower(), settings)


class Guard:
    """ASGI middleware: Host check for HTTP and websockets; security headers on HTTP answers."""

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if scope["path"] not in UNCHECKED_PATHS and not host_allowed(hostname_of(host), self.settings):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await _answer(send, 400, "unknown host: add it to TORCHPLAY_ALLOWED_HOSTS")
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *HEADERS]}
            await send(message)

        return await self.app(scope, receive, with_headers)


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RedactSessions(logging.Filter):
    """Access-log lines with ``session=<id>`` print ``session=…`` instead (ids are tokens)."""

    PATTERN = re.compile(r"(session=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self.PATTERN.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self.PATTERN.sub(r"\1…", record.msg)
        return True


def install_log_redaction() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSessions) for f in logger.filters):
        logger.addFilter(RedactSessions())


def ws_max_size(settings: Settings) -> int:
    """The websocket frame limit given to uvicorn: the largest client message, plus framing."""
    return settings.max_message_bytes + 1024


def align_uvicorn_config(settings: Settings) -> None:
    """Under ``uvicorn --factory app.main:create_app`` the factory is called from uvicorn's
    ``Config.load``: give that config our websocket limit and compression, as ``python -m app``
    does. (uvicorn reads ``config.ws_max_size`` and ``ws_per_message_deflate`` per connection,
    after the factory returns.)"""
    frame = inspect.currentframe()
    try:
        caller = frame.f_back.f_back if frame and frame.f_back else None
        while caller is not None:
            config = caller.f_locals.get("self")
            if type(config).__name__ == "Config" and type(config).__module__ == "uvicorn.config":
                config.ws_max_size = ws_max_size(settings)
                config.ws_per_message_deflate = settings.ws_compression
                return
            caller = caller.f_back
    finally:
        del frame
