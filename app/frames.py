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
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "float32")
_LITTLE = sys.byteorder == "little"  # native arrays are the wire's byte order already
_NAMES = {np.dtype(name): name for name in DTYPES}  # (``dtype.name`` builds a new string)


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
            dtype = _NAMES.get(array.dtype.newbyteorder("="))  # either byte order
            if dtype is None:
                raise TypeError(f"array {name!r} has dtype {array.dtype}; use one of {DTYPES}")
            if not _LITTLE or array.dtype.byteorder == ">":
                array = array.astype(array.dtype.newbyteorder("<"))
            data = array.tobytes()
            entries.append(
                {
                    "name": name,
                    "dtype": dtype,
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


def quantise(values, lo=0.0, hi=1.0) -> np.ndarray:
    """Values in [lo, hi] -> uint8 0..255, clipped; NaN becomes 0. The one quantiser.

    ``values`` is a numpy array or a torch tensor (scaled on its device; only the bytes are
    copied to the CPU). ``lo`` and ``hi`` are numbers, or for numpy arrays that broadcast against
    ``values`` (one range per unit, say). Signed values use ``lo=-s, hi=s``: 0 lands on 128.
    """
    if isinstance(values, torch.Tensor):
        span = max(float(hi) - float(lo), 1e-12)
        q = ((values.detach().float() - float(lo)) * (255.0 / span)).round_().clamp_(0, 255)
        return torch.nan_to_num(q, nan=0.0).to(torch.uint8).cpu().numpy()
    values = np.asarray(values, dtype=np.float32)
    lo = np.asarray(lo, dtype=np.float32)
    span = np.maximum(np.asarray(hi, dtype=np.float32) - lo, 1e-12)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.asarray((values - lo) * (255.0 / span))  # a new array (0-d for a number)
        np.rint(q, out=q)
        np.fmax(q, 0.0, out=q)  # fmax and fmin take the number over a NaN: NaN becomes 0
        np.fmin(q, 255.0, out=q)
    return q.astype(np.uint8)


def absmax(values, axis=None):
    """The largest finite |value| (per ``axis``, dims kept), with 0 replaced by 1: a scale for
    ``quantise(values, -s, s)`` that never divides by zero, even after a divergence."""
    values = np.asarray(values, dtype=np.float32)
    finite = np.where(np.isfinite(values), np.abs(values), 0.0)
    scale = finite.max(axis=axis, keepdims=axis is not None, initial=0.0)
    return np.where(scale > 0, scale, 1.0)
