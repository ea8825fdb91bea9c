"""Wire messages of the activation and loss explorer (docs/protocol-functions.md).

The explorer's configuration is ``ml_core.functions.FunctionsConfig`` (one definition, with the
activations and losses of the core's registries); here are only the messages. Bounds that depend
on the server's settings (most logits, most points) are checked by the lab.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.common import ClientMessage, Configured
from ml_core.functions import ACTIVATIONS, LOSSES, FunctionsConfig


class UpdateMessage(ClientMessage):
    """Change part of the configuration, keeping the rest (a slider move, a dragged point)."""

    type: Literal["update"]
    config: dict[str, Any]


class Options(BaseModel):
    """The activations and losses the page offers, from the core's registries."""

    activations: list[str] = Field(default_factory=lambda: list(ACTIVATIONS))
    losses: list[str] = Field(default_factory=lambda: list(LOSSES))


class FunctionsConfigured(Configured):
    config: FunctionsConfig
    options: Options = Field(default_factory=Options)
