"""What every lab's config model shares: strict fields and settings-dependent limits.

A config is a pydantic model (the single source of truth of a lab: the page's defaults, the
wire's validation and the run's parameters all come from it). ``Strict`` refuses unknown fields
and non-finite floats. Limits that depend on the server's settings (most points, layers,
channels...) arrive as the validation context ``{"limits": <the lab's settings section>}``;
without it only each field's hard ceiling applies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo


class Strict(BaseModel):
    """A config or message model: unknown fields are refused, floats must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def limits_of(info: ValidationInfo) -> Any:
    """The settings section passed as ``context={"limits": ...}``, or None."""
    return (info.context or {}).get("limits")


def at_most(checks: Iterable[tuple[float, float, str]]) -> None:
    """Raise ValueError("<what>: at most <most>") for the first (value, most, what) over."""
    for value, most, what in checks:
        if value > most:
            raise ValueError(f"{what}: at most {most:g}" if isinstance(most, float) else
                             f"{what}: at most {most}")
