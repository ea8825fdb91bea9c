"""The binary wire format for grids and images.

Layout of one binary websocket message::

    u32 little-endian H | H bytes UTF-8 JSON header | zero padding to a multiple of 8 | arrays

The header is ``{"type": "frame", "kind": ..., "meta": {...}, "arrays": [{"name", "dtype", "shape",
"offset", "nbytes"}, ...]}``; offsets count from the start of the array section and are 8-aligned, so
the browser can view each array in place (``new Uint8Array(buffer, offset, n)``) without copying.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

import numpy as np

DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "float32")


def _align(n: int) -> int:
    return (n + 7) & ~7


@dataclass
class BinaryFrame:
    """A named bundle of small arrays plus JSON metadata, sent as one binary message."""

    kind: str
    meta: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def encode(self) -> bytes:
        entries, chunks, offset = [], [], 0
        for name, array in self.arrays.items():
            array = np.ascontiguousarray(array)
            if array.dtype.name not in DTYPES:
                raise TypeError(f"array {name!r} has dtype {array.dtype}; use one of {DTYPES}")
            data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            entries.append(
                {
                    "name": name,
                    "dtype": array.dtype.name,
                    "shape": list(array.shape),
                    "offset": offset,
                    "nbytes": len(data),
                }
            )
            chunks.append(data + b"\0" * (_align(len(data)) - len(data)))
            offset += _align(len(data))
        header = json.dumps(
            {"type": "frame", "kind": self.kind, "meta": self.meta, "arrays": entries},
            separators=(",", ":"),
            allow_nan=False,
        ).encode()
        head = struct.pack("<I", len(header)) + header
        head += b"\0" * (_align(len(head)) - len(head))
        return head + b"".join(chunks)


def decode(message: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of BinaryFrame.encode (for tests and Python clients): (header, arrays)."""
    (length,) = struct.unpack_from("<I", message, 0)
    header = json.loads(message[4 : 4 + length])
    base = _align(4 + length)
    arrays = {}
    for entry in header["arrays"]:
        start = base + entry["offset"]
        raw = message[start : start + entry["nbytes"]]
        arrays[entry["name"]] = np.frombuffer(raw, dtype=np.dtype(entry["dtype"]).newbyteorder("<"))
        arrays[entry["name"]] = arrays[entry["name"]].reshape(entry["shape"])
    return header, arrays


def to_uint8(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Quantise values in [lo, hi] to uint8 0..255 (clipped); NaN becomes 0."""
    scaled = (np.nan_to_num(np.asarray(values, dtype=np.float32), nan=lo) - lo) / max(hi - lo, 1e-12)
    return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)


def to_uint8_signed(values: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Quantise signed values so 128 is 0 and 0/255 are -scale/+scale (default: max |value|)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32))
    if scale is None:
        scale = float(np.abs(values).max()) if values.size else 0.0
    scale = scale or 1.0
    return np.clip(np.rint(values / scale * 127.5 + 127.5), 0, 255).astype(np.uint8)
