"""Where tensors live: cuda when there is a GPU, else the CPU, overridable."""

from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """Resolve a device preference ("auto", "cpu", "cuda", "cuda:1", "mps").

    "auto" takes cuda when available, then mps, else cpu. An explicit device that is not
    available raises ValueError with a message a user can act on.
    """
    preference = (preference or "auto").strip().lower()
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {preference!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} asked for, but no CUDA GPU is available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for, but MPS is not available")
    return device


def describe(device: torch.device) -> str:
    """A short human label for the device in use, e.g. 'cpu' or 'cuda (NVIDIA H100)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
