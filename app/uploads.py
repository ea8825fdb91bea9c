"""Uploads: a body-size limit for every request and safe image reading for upload endpoints."""

from __future__ import annotations

import json

from fastapi import HTTPException, UploadFile
from PIL import Image
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from ml_core.images import ImageError, decode_image

MULTIPART_OVERHEAD = 64 * 1024


async def read_upload(file: UploadFile, settings: Settings) -> bytes:
    """The uploaded bytes, or 413 when over the limit (never reads more than limit + 1 bytes)."""
    data = await file.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(
            413, f"the file is larger than the {settings.max_upload_bytes / 1e6:.0f} MB limit"
        )
    return data


UPLOAD_SIDE = 1024  # longest side an upload keeps on its way to a worker (labs use less)


def _decode_small(data: bytes, settings: Settings, max_side: int) -> Image.Image:
    image = decode_image(
        data, max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels
    )
    # Downscaled here, before it is queued for the session's worker: a 16 Mpx photo would
    # otherwise cross the process boundary (~50 MB) to be shrunk there. Its size as uploaded
    # travels with it (``original_size``), for the labs that report it.
    image.info["original_size"] = image.size
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


async def read_image(file: UploadFile, settings: Settings, max_side: int = UPLOAD_SIDE) -> Image.Image:
    """Decode an uploaded image off the event loop, at most ``max_side`` pixels on its longest
    side; 4xx with a clear message for anything else."""
    data = await read_upload(file, settings)
    try:
        return await run_in_threadpool(_decode_small, data, settings, max_side)
    except ImageError as exc:
        status = 413 if "limit" in str(exc) else 415 if "not a PNG" in str(exc) else 400
        raise HTTPException(status, str(exc)) from None


class BodyLimit:
    """ASGI middleware: refuse HTTP bodies over ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send) -> None:
        body = json.dumps(
            {"detail": f"request body over the {self.max_bytes / 1e6:.0f} MB limit"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        received = 0
        started = False

        limit = f"request body over the {self.max_bytes / 1e6:.0f} MB limit"

        class TooLarge(HTTPException):
            """Raised from ``receive``: FastAPI passes HTTPExceptions through its body parsing
            (anything else there becomes a 400), so a streamed body over the limit is a 413."""

            def __init__(self) -> None:
                super().__init__(413, limit)

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._reject(send)
