"""Lab registry: every module in this package may define one Lab subclass and a REST ``router``.

Adding a lab needs no edit here: drop ``app/labs/<name>.py`` in and it is found.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil

from fastapi import APIRouter

from app.labs.base import Lab

log = logging.getLogger("torchplay.labs")


def discover() -> tuple[dict[str, type[Lab]], list[APIRouter]]:
    labs: dict[str, type[Lab]] = {}
    routers: list[APIRouter] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name == "base" or info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception:  # one broken lab must not take the others down; the log says why
            log.exception("lab module %s failed to import; its page is disabled", info.name)
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Lab) and obj is not Lab and obj.name and obj.__module__ == module.__name__:
                labs[obj.name] = obj
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return labs, routers
