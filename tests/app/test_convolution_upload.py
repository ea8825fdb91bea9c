"""Uploading a picture to the convolution lab: good images are used, bad ones get a clear 4xx."""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

URL = "/api/convolution/image"
NAME = "torchplay-upload-check-3f9a"  # a file name we can look for on disk afterwards


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _picture(width: int = 300, height: int = 200) -> Image.Image:
    """A left-to-right ramp with a bright square: something Sobel has edges to find in."""
    ramp = np.tile(np.linspace(0, 255, width), (height, 1))
    ramp[50:100, 50:100] = 255
    rgb = np.stack([ramp, ramp[::-1], np.full_like(ramp, 80)], axis=2)
    return Image.fromarray(rgb.astype(np.uint8))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels in a few bytes: a decompression bomb's header."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + chunk(b"IEND", b"")
    )


def _post(base: str, session: str, data: bytes, filename: str, mime: str = "image/png"):
    return httpx.post(
        f"{base}{URL}", params={"session": session}, files={"file": (filename, data, mime)}
    )


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_an_uploaded_picture_replaces_the_sample(live_server, ws_connect, settings, fmt):
    client = ws_connect("convolution")
    client.configure({"kernels": ["sobel_x"]})
    client.frame("conv")
    response = _post(live_server, client.session, _encode(_picture(), fmt), f"{NAME}.{fmt}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["original_width"], body["original_height"]) == (300, 200)
    scale = settings.convolution.display_size / 300  # downscaled for display, longest side first
    width, height = settings.convolution.display_size, round(200 * scale)
    assert (body["width"], body["height"]) == (width, height)
    assert body["config"]["sample"] == "upload"
    conv = client.frame("conv")  # the page's socket gets the new picture without asking
    assert conv.meta["sample"] == "upload"
    assert conv.arrays["input"].shape == (height, width)
    sobel = conv.arrays["outputs"][0].astype(int) - 128
    # the square's left edge (dark to bright) and right edge (bright to dark) have opposite signs
    square = (slice(int(55 * scale), int(95 * scale)),)
    left, right = int(50 * scale), int(100 * scale)
    assert sobel[square][:, left - 3 : left + 1].max() > 40
    assert sobel[square][:, right - 3 : right + 1].min() < -40
    # it stays selected: a later configure may name it
    assert client.configure({"sample": "upload", "color": "rgb"})["has_upload"]


def test_bad_uploads_get_a_clear_4xx_and_the_session_stays_usable(live_server, ws_connect, settings):
    client = ws_connect("convolution")
    side = settings.convolution.min_image_side
    small = _encode(_picture(side - 1, side - 1), "PNG")
    jpeg = _encode(_picture(), "JPEG")
    cases = [
        (b"hello, I am text", f"{NAME}.png", 415, "not a PNG, JPEG, WebP or GIF"),
        (jpeg[: len(jpeg) // 2], f"{NAME}.jpg", 400, "truncated or corrupt"),
        (_png_header_only(20000, 20000), f"{NAME}.png", 413, "too many pixels|pixels in all"),
        (b"", f"{NAME}.png", 400, "empty"),
        (small, f"{NAME}.png", 422, f"at least {side}x{side}"),
        (_encode(_picture(), "BMP"), f"{NAME}.png", 415, "not a PNG"),  # an image, not allowed
    ]
    before = set(os.listdir(tempfile.gettempdir())) | set(os.listdir("."))
    for data, filename, status, message in cases:
        response = _post(live_server, client.session, data, filename)
        assert response.status_code == status, (filename, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str)
        assert re.search(message, detail), detail
    after = set(os.listdir(tempfile.gettempdir())) | set(os.listdir("."))
    assert not [name for name in after - before if NAME in name]  # nothing saved under its name
    configured = client.configure({"sample": "coins"})
    assert configured["has_upload"] is False
    assert client.frame("conv").meta["sample"] == "coins"


def test_too_large_a_file_is_refused_before_it_is_decoded(live_server, ws_connect, settings):
    client = ws_connect("convolution")
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * settings.max_upload_bytes
    response = _post(live_server, client.session, data, f"{NAME}.png")
    assert response.status_code == 413
    assert "MB" in response.json()["detail"]


def test_unknown_session_and_missing_file(live_server):
    response = _post(live_server, "no-such-session-123", _encode(_picture(), "PNG"), "a.png")
    assert response.status_code == 404
    assert "reload" in response.json()["detail"]
    response = httpx.post(f"{live_server}{URL}", params={"session": "whatever-12345"})
    assert 400 <= response.status_code < 500


def test_a_large_photo_reports_the_size_it_was_uploaded_at(live_server, ws_connect, settings):
    """The web side shrinks an upload to app.uploads.UPLOAD_SIDE before it reaches the worker;
    the lab still says how large the picture was."""
    from app.uploads import UPLOAD_SIDE

    client = ws_connect("convolution")
    client.configure({})
    width, height = UPLOAD_SIDE * 2, UPLOAD_SIDE + 300
    response = _post(live_server, client.session, _encode(_picture(width, height), "PNG"), "big.png")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["original_width"], body["original_height"]) == (width, height)
    assert max(body["width"], body["height"]) == settings.convolution.display_size
