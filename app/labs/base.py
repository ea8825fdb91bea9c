"""The Lab base class: one lab's state for one browser session.

Every method runs on the session's worker thread (app/sessions.py), never on the event loop, so
methods may do heavy tensor work and need no locks. See docs/architecture.md for the contract.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from app.frames import BinaryFrame
from ml_core.training import Diverged  # noqa: F401  (labs raise it; the runner catches it)

if TYPE_CHECKING:
    import torch

    from app.config import Settings

Message = dict[str, Any] | BinaryFrame
T = TypeVar("T", bound=BaseModel)


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged onto ``base``: nested dicts merge, lists and scalars in ``over`` replace."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class LabError(ValueError):
    """Bad input from a client; the message is shown to the user as is."""

    @classmethod
    def from_validation(cls, exc: ValidationError, prefix: str = "") -> LabError:
        """One readable sentence from a pydantic ValidationError (field path: problem)."""
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"] if p != "__root__")
            message = error["msg"].removeprefix("Value error, ")
            parts.append(f"{where}: {message}" if where else message)
        return cls(prefix + "; ".join(parts))


def validate(model: type[T], data: Any, prefix: str = "", **kwargs: Any) -> T:
    """``model.model_validate(data, **kwargs)``, with errors as one readable LabError."""
    try:
        return model.model_validate(data, **kwargs)
    except ValidationError as exc:
        raise LabError.from_validation(exc, prefix) from None


class Lab:
    """Base class; subclasses set ``name`` and override what they support."""

    name: ClassVar[str] = ""

    def __init__(self, settings: Settings, device: torch.device) -> None:
        self.settings = settings
        self.device = device
        self.limits = getattr(settings, self.name, None)  # this lab's section of the settings
        # Set by the runner before each frame(): True for the throttled frames of play mode,
        # False for the frame after a command (step, pause, reset...), which must be complete.
        self.streaming = False

    def configure(self, config: dict) -> dict:
        raise NotImplementedError

    def handle(self, message: dict) -> list[Message]:
        raise LabError(f"unknown message type {message.get('type')!r} for lab {self.name!r}")

    def reset(self) -> None:
        pass

    def train(self, budget_s: float) -> None:
        raise LabError(f"lab {self.name!r} has nothing to play")

    def step(self, steps: int) -> None:
        raise LabError(f"lab {self.name!r} has nothing to step")

    def metrics(self) -> dict | None:
        return None

    def frame(self) -> list[Message]:
        return []

    def finished(self) -> bool:
        return False

    def close(self) -> None:
        """Free resources when the session ends."""
