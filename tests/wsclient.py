"""A small synchronous websocket client for tests (and an example of the protocol)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable

from websockets.sync.client import connect

from app.frames import decode


class Frame:
    """A decoded binary frame: .kind, .meta, .arrays (name -> numpy array)."""

    def __init__(self, message: bytes) -> None:
        header, self.arrays = decode(message)
        self.kind = header["kind"]
        self.meta = header["meta"]
        self.nbytes = len(message)
        self.type = "frame"

    def get(self, key: str, default=None):
        """Dict-like access so predicates can treat JSON messages and frames alike."""
        return {"type": "frame", "kind": self.kind}.get(key, default)

    def __repr__(self) -> str:
        return f"Frame({self.kind!r}, arrays={ {k: v.shape for k, v in self.arrays.items()} })"


class WSClient:
    def __init__(self, base_url: str, lab: str, session: str | None = None, origin: str | None = None):
        self.session = session or uuid.uuid4().hex
        url = base_url.replace("http://", "ws://") + f"/ws?lab={lab}&session={self.session}"
        headers = {"Origin": origin} if origin else None
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(url, additional_headers=headers, max_size=2**24, open_timeout=10)
        )
        self.seen: list = []
        # The server greets every (re)connection with hello + the current configured state.
        first = self.wait_for(lambda m: _type(m) in ("hello", "error"))
        self.hello = first if _type(first) == "hello" else None
        self.error = None if self.hello else first
        self.initial = self.wait_for("configured") if self.hello else None

    def send(self, message: dict | str) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def recv(self, timeout: float = 10.0):
        raw = self.ws.recv(timeout=timeout)
        message = Frame(raw) if isinstance(raw, bytes) else json.loads(raw)
        self.seen.append(message)
        del self.seen[:-200]  # keep the log bounded
        return message

    def wait_for(self, match: str | Callable[[object], bool], timeout: float = 20.0):
        """The first message whose type is ``match`` (or for which ``match(msg)`` holds)."""
        test = match if callable(match) else (lambda m: _type(m) == match)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message matching {match!r}; last seen: {self.seen[-5:]}")
            message = self.recv(timeout=left)
            if test(message):
                return message

    def configure(self, config: dict, lab: str | None = None) -> dict:
        """Send a configure and return the server's configured reply (or raise on error)."""
        message = {"type": "configure", "config": config}
        if lab:
            message["lab"] = lab
        self.send(message)
        reply = self.wait_for(lambda m: _type(m) in ("configured", "error"))
        if reply["type"] == "error":
            raise ValueError(reply["message"])
        return reply

    def frame(self, kind: str, timeout: float = 20.0) -> Frame:
        return self.wait_for(lambda m: isinstance(m, Frame) and m.kind == kind, timeout)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> WSClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _type(message) -> str:
    return message.type if isinstance(message, Frame) else message.get("type")


def wait_until(predicate, timeout: float = 10.0, every: float = 0.02):
    """Poll ``predicate`` until it returns something truthy (returned), or fail after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")
