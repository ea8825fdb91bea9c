"""Save and load a trained model as one safetensors file: raw tensors plus JSON metadata.

The file is ``u64 header length | JSON header | tensor bytes``; the header's ``__metadata__`` holds
``torchplay`` (the lab), ``format_version``, ``config`` (the full run config, JSON) and any extra
JSON fields (classes, input shape, normalisation). Loading parses that JSON and copies bytes into
tensors — nothing is ever unpickled, so a model file from a stranger cannot run code. A file
that is not what we wrote (metadata that is not text, JSON nested past reason, missing fields,
weights of the wrong type or shape) is a ``CheckpointError`` whose message says which, without
quoting the file back or naming anything of the server's.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

FORMAT_VERSION = "1"
MAX_HEADER = 1_000_000  # bytes of JSON header we are willing to parse


class CheckpointError(ValueError):
    """Not a model file we made, or one that does not fit its config; the message says which."""


def to_bytes(model: torch.nn.Module, lab: str, config: dict, extra: dict | None = None) -> bytes:
    metadata = {"torchplay": lab, "format_version": FORMAT_VERSION, "config": json.dumps(config)}
    for key, value in (extra or {}).items():
        metadata[key] = json.dumps(value)
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    return save_tensors(tensors, metadata=metadata)


def read_metadata(data: bytes) -> dict[str, str]:
    """The raw ``__metadata__`` strings of a safetensors file, checking the header is sane."""
    if len(data) < 8:
        raise CheckpointError("not a safetensors model file (too short)")
    (length,) = struct.unpack("<Q", data[:8])
    if length < 2 or length > min(MAX_HEADER, len(data) - 8):
        raise CheckpointError("not a safetensors model file (bad header length)")
    header = _json(data[8 : 8 + length], "not a safetensors model file (unreadable header)")
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__"), dict):
        raise CheckpointError("a safetensors file, but not one saved by torchplay (no metadata)")
    metadata = header["__metadata__"]
    if not all(isinstance(value, str) for value in metadata.values()):
        raise CheckpointError(
            "the model file's metadata must be text (safetensors metadata maps names to strings)"
        )
    return metadata


def _json(text: bytes | str, problem: str):
    """Parsed JSON, or CheckpointError(problem) for anything unreadable or nested too deeply."""
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"{problem}: nested too deeply") from None
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(problem) from None


def from_bytes(data: bytes, lab: str) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    """(config, extra metadata, tensors) of a model file saved by ``to_bytes`` for ``lab``."""
    metadata = read_metadata(data)
    if metadata.get("torchplay") != lab:
        raise CheckpointError(f"this file is not a torchplay {lab} model")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"unsupported model format version {metadata.get('format_version')!r}"
        )
    if "config" not in metadata:
        raise CheckpointError("the model file has no config (the architecture it was made with)")
    decoded = {
        key: _json(value, f"the model file's {key[:40]!r} is not valid JSON")
        for key, value in metadata.items()
        if key not in ("torchplay", "format_version")
    }
    config = decoded.pop("config")
    if not isinstance(config, dict):
        raise CheckpointError("the model file's config is not an object")
    try:
        tensors = load_tensors(data)
    except Exception:  # safetensors raises its own error types for bad files
        raise CheckpointError("the model file's tensors are corrupt or truncated") from None
    return config, decoded, tensors


def check_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Raise CheckpointError unless tensors are exactly model's weights: names, shapes, finite."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            "the weights do not fit the architecture in the file's config "
            f"(missing: {', '.join(missing[:3]) or 'none'}; unexpected: {', '.join(extra[:3]) or 'none'})"
        )
    for name in expected:  # in the model's order, so the first misfit named is the first layer
        tensor = tensors[name]
        if tensor.dtype != expected[name].dtype:
            raise CheckpointError(
                f"weight {name} holds {str(tensor.dtype).removeprefix('torch.')} numbers; the "
                f"architecture needs {str(expected[name].dtype).removeprefix('torch.')}"
            )
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"weight {name} has shape {tuple(tensor.shape)} but the architecture needs "
                f"{tuple(expected[name].shape)}"
            )
        if not torch.isfinite(tensor.float()).all():
            raise CheckpointError(f"weight {name} holds NaN or infinite values")


def load_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy tensors into model after check_weights."""
    check_weights(model, tensors)
    model.load_state_dict(tensors)


def save_file(
    path: Path, model: torch.nn.Module, lab: str, config: dict, extra: dict | None = None
) -> None:
    Path(path).write_bytes(to_bytes(model, lab, config, extra))


def load_file(path: Path, lab: str) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    return from_bytes(Path(path).read_bytes(), lab)
