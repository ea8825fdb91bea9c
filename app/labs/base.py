"""The Lab base class: one lab's state for one browser session.

Every method runs on the session's worker (app/sessions.py), never on the event loop, so methods
may do heavy tensor work and need no locks. See docs/architecture.md for the contract.

A lab lists the client messages it understands beyond the common ones in ``messages`` (pydantic
models with a ``type: Literal[...]``) and handles each in a method ``on_<type>``; ``Lab.parse``
turns a JSON object into one of them, so that list is the only place a message type is named.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from app.frames import BinaryFrame
from app.schemas.common import COMMON_MESSAGES, ClientMessage, Configure, ServerMessage
from ml_core.training import Diverged  # noqa: F401  (labs raise it; the runner catches it)

if TYPE_CHECKING:
    import torch

    from app.config import Settings

Message = ServerMessage | BinaryFrame  # what a lab sends: typed JSON, or a binary frame
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


def _tag(model: type[ClientMessage]) -> str:
    """The ``type`` a message model stands for (its ``Literal`` default)."""
    (tag,) = typing.get_args(model.model_fields["type"].annotation)
    return tag


class Lab:
    """Base class; subclasses set ``name`` and override what they support."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""  # in the navigation bar
    summary: ClassVar[str] = ""  # one line: what the page teaches
    config_model: ClassVar[type[BaseModel] | None] = None  # the lab's whole config, defaults included
    configure_message: ClassVar[type[Configure]] = Configure  # a lab may extend ``configure``
    messages: ClassVar[tuple[type[ClientMessage], ...]] = ()  # lab messages, each -> on_<type>
    # Paced labs play at a speed the user sets (points or steps a second): the scheduler calls
    # train(seconds since the last call) once a frame interval, and they do that much work.
    # Others train flat out in the slices they are given.
    paced: ClassVar[bool] = False
    _parsers: ClassVar[dict[str, type[ClientMessage]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        common = tuple(m for m in COMMON_MESSAGES if m is not Configure)
        cls._parsers = {_tag(m): m for m in (cls.configure_message, *common, *cls.messages)}
        for model in cls.messages:
            if not callable(getattr(cls, f"on_{_tag(model)}", None)):
                raise TypeError(f"{cls.__name__} lists {model.__name__} but has no on_{_tag(model)}")

    @classmethod
    def message_types(cls) -> list[str]:
        return list(cls._parsers)

    @classmethod
    def parse(cls, data: Any) -> ClientMessage:
        """A client's JSON object as one of this lab's message models; LabError if it is none."""
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise LabError("messages must be JSON objects with a string 'type'")
        model = cls._parsers.get(data["type"])
        if model is None:
            raise LabError(
                f"unknown message type {data['type'][:64]!r} for lab {cls.name!r}; "
                f"known: {', '.join(cls._parsers)}"
            )
        return validate(model, data, f"{data['type']}: ")

    @classmethod
    def defaults(cls) -> dict:
        """The full default config, as the page starts from it (JSON-ready)."""
        return cls.config_model().model_dump(mode="json") if cls.config_model else {}

    def __init__(self, settings: Settings, device: torch.device) -> None:
        self.settings = settings
        self.device = device
        self.limits = getattr(settings, self.name, None)  # this lab's section of the settings

    def configure(self, request: Configure) -> ServerMessage:
        """Validate ``request.config`` (partial: defaults fill the rest), rebuild and reset;
        return the ``configured`` message."""
        raise NotImplementedError

    def configured(self) -> ServerMessage | None:
        """The ``configured`` message of the lab as it is now, for a page that reconnects. The
        default (None) resends the last one the lab returned, updated by any ``updated`` since;
        a lab whose state also changes in other ways (a REST upload...) says it here."""
        return None

    def handle(self, message: ClientMessage) -> list[Message]:
        """A lab message (one of ``messages``): its ``on_<type>`` method's reply."""
        return getattr(self, f"on_{message.type}")(message)

    def reset(self) -> None:
        pass

    def train(self, budget_s: float) -> None:
        """Play mode: about ``budget_s`` seconds of work; the next frame is due when it ends."""
        raise LabError(f"lab {self.name!r} has nothing to play")

    def step(self, steps: int) -> None:
        """Exactly ``steps`` units of work (the scheduler may split one ``step`` command into
        several calls, so that other sessions get their turns)."""
        raise LabError(f"lab {self.name!r} has nothing to step")

    def check_steps(self, steps: int) -> None:
        """Refuse a ``step`` command before any of it runs (default: the lab's max_steps)."""
        most = getattr(self.limits, "max_steps", None)
        if most is not None and steps > most:
            raise LabError(f"step: at most {most} steps at once")

    def metrics(self) -> ServerMessage | None:
        return None

    def frame(self, streaming: bool) -> list[Message]:
        """What the page draws now. ``streaming``: True for the throttled frames of play mode (a
        lab may leave costly pictures out of some), False for the frame after a command (step,
        pause, reset, a lab message), which must be complete."""
        return []

    def finished(self) -> bool:
        return False

    def cohort_key(self) -> typing.Hashable | None:
        """Labs whose keys are equal (and not None) play together: ``train_together`` steps
        them in one call (app/scheduler.py). None, the default: this lab plays alone."""
        return None

    @staticmethod
    def train_together(labs: list[Lab], budget_s: float) -> dict[int, Diverged]:
        """Play for labs of one ``cohort_key``: about ``budget_s`` seconds for them all; the
        labs (by index) whose training diverged. Only labs that give a key implement it."""
        raise NotImplementedError

    def close(self) -> None:
        """Free resources when the session ends."""


def describe_lab(lab_cls: type[Lab], settings: Settings) -> dict:
    """What a client needs before it connects: limits, defaults, config schema, message types.
    Pages get the same (less the schema) in their boot block; ``GET /api/labs/<lab>`` serves it."""
    section = getattr(settings, lab_cls.name, None)
    return {
        "lab": lab_cls.name,
        "title": lab_cls.title,
        "limits": section.model_dump() if section is not None else {},
        "defaults": lab_cls.defaults(),
        "config_schema": lab_cls.config_model.model_json_schema() if lab_cls.config_model else None,
        "messages": lab_cls.message_types(),
    }
