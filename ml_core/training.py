"""What every training loop in ml_core shares: the optimizer registry, divergence, finite numbers.

One optimizer factory serves the MLP playground, the CNN lab and the gradient-descent race, so
"momentum" means SGD with momentum 0.9 everywhere and a new optimizer is one entry in
``OPTIMIZERS``. One exception, ``Diverged``, says a run's numbers stopped being numbers; the
web layer turns it into the ``diverged`` state.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

import torch

MOMENTUM = 0.9
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

DIVERGED_MESSAGE = "diverged — lower the learning rate"


class Diverged(ArithmeticError):
    """Training produced NaN or infinite values (usually: the learning rate is too high)."""

    def __init__(self, message: str = DIVERGED_MESSAGE) -> None:
        super().__init__(message)


Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]

# name -> (title, factory(params, lr, weight_decay, momentum)); weight decay is PyTorch's L2 term
# (added to the gradient), as in the course's regularised loss.
OPTIMIZERS: dict[str, tuple[str, Callable[..., torch.optim.Optimizer]]] = {
    "sgd": ("SGD", lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, weight_decay=wd)),
    "momentum": (
        "Momentum",
        lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, momentum=m, weight_decay=wd),
    ),
    "adam": (
        "Adam",
        lambda p, lr, wd, m: torch.optim.Adam(
            p, lr=lr, betas=ADAM_BETAS, eps=ADAM_EPS, weight_decay=wd
        ),
    ),
    "adamw": ("AdamW", lambda p, lr, wd, m: torch.optim.AdamW(p, lr=lr, weight_decay=wd)),
    "rmsprop": ("RMSprop", lambda p, lr, wd, m: torch.optim.RMSprop(p, lr=lr, weight_decay=wd)),
}


def make_optimizer(
    name: str,
    params: Params,
    learning_rate: float,
    weight_decay: float = 0.0,
    momentum: float = MOMENTUM,
) -> torch.optim.Optimizer:
    """The optimizer called ``name`` (a key of ``OPTIMIZERS``) over ``params``."""
    try:
        _, factory = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}") from None
    return factory(params, learning_rate, weight_decay, momentum)


def set_hyperparameters(
    optimizer: torch.optim.Optimizer, learning_rate: float, weight_decay: float
) -> None:
    """Change the learning rate and weight decay in place (optimizer state is kept)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
        group["weight_decay"] = weight_decay


def finite(value: float | None) -> float | None:
    """The value, or None when it is NaN or infinite (JSON has no NaN: the wire says null)."""
    return value if value is not None and math.isfinite(value) else None


# ---- cancelling long work -------------------------------------------------------------------
class Cancelled(Exception):
    """The work was stopped from outside (its session closed, or it ran past its time budget)."""


class CancelToken:
    """A flag another thread may raise; long loops call ``checkpoint()`` to honour it. A token
    with a parent is cancelled when either is (one piece of work within a session's)."""

    def __init__(self, parent: CancelToken | None = None) -> None:
        self._event = threading.Event()
        self.reason = "stopped"
        self.parent = parent

    def cancel(self, reason: str = "stopped") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set() or (self.parent is not None and self.parent.cancelled)

    def check(self) -> None:
        if self.parent is not None:
            self.parent.check()
        if self._event.is_set():
            raise Cancelled(self.reason)


# The token of the work running now on this thread (set by whoever runs it: the web app's
# scheduler). A context variable rather than an argument, so every long loop in ml_core can
# honour it without each function growing a parameter.
current_token: ContextVar[CancelToken | None] = ContextVar("current_token", default=None)


def checkpoint() -> None:
    """Raise ``Cancelled`` if the current work was cancelled. Cheap: call it in long loops (at
    least every ~50 ms of work)."""
    token = current_token.get()
    if token is not None:
        token.check()
