"""The gradient-descent lab: optimisers race down a loss surface from a start the user clicks.

Wire protocol: docs/protocol-descent.md. The tensor work (surfaces, autograd, torch.optim, the
Hessian that names where a run ended) lives in ml_core/surfaces.py; this module validates input,
paces play mode and packs the results into messages.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from app.config import Settings
from app.frames import BinaryFrame
from app.labs.base import Lab, LabError, Message, deep_merge, validate
from app.schemas.common import Configure
from app.schemas.descent import LabConfig, StartMessage, SurfaceMessage
from ml_core.surfaces import OPTIMIZERS, OptimizerConfig, Run, get_surface, grid, minima
from ml_core.training import finite

# Learning rates and step budgets that show each surface's lesson (Rosenbrock needs tiny steps:
# its walls curve ~1700 times more steeply than its floor). A configure that names a surface gets
# these unless it says otherwise.
PRESETS: dict[str, dict[str, Any]] = {
    "bowl": {"max_steps": 500, "lr": {"gd": 0.1, "sgd": 0.1, "momentum": 0.05, "adam": 0.1}},
    "valley": {"max_steps": 500, "lr": {"gd": 0.45, "sgd": 0.2, "momentum": 0.05, "adam": 0.3}},
    "saddle": {"max_steps": 500, "lr": {"gd": 0.1, "sgd": 0.1, "momentum": 0.05, "adam": 0.1}},
    "wells": {"max_steps": 1000, "lr": {"gd": 0.5, "sgd": 0.5, "momentum": 0.1, "adam": 0.1}},
    "rosenbrock": {
        "max_steps": 3000,
        "lr": {"gd": 0.0008, "sgd": 0.0005, "momentum": 0.0002, "adam": 0.05},
    },
}


# torch.optim's first optimizer imports torch._dynamo (seconds): pay that once when the server
# loads the labs, not while the first visitor's page waits for its session.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)




def _preset(surface: str) -> dict:
    preset = PRESETS.get(surface, PRESETS["bowl"])
    return {
        "max_steps": preset["max_steps"],
        "optimizers": {kind: {"lr": lr} for kind, lr in preset["lr"].items()},
    }


class DescentLab(Lab):
    name = "descent"
    config_model = LabConfig
    messages = (StartMessage, SurfaceMessage)
    title = "Gradient descent"
    summary = "Race optimizers across loss surfaces."

    def __init__(self, settings: Settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.config = LabConfig()
        self.surface = get_surface(self.config.surface)
        self.start: tuple[float, float] = self.surface.start
        self.runs: dict[str, Run] = {}
        self._carry = 0.0  # fractional steps owed to play mode

    # ---- configuration -------------------------------------------------------------------
    def configure(self, request: Configure) -> dict:
        config = request.config
        surface = config.get("surface", "bowl")
        parsed = validate(LabConfig, deep_merge(_preset(str(surface)), config), "configure: ")
        if parsed.max_steps > self.limits.max_steps:
            raise LabError(f"configure: max_steps is at most {self.limits.max_steps}")
        if parsed.speed > self.limits.max_speed:
            raise LabError(f"configure: speed is at most {self.limits.max_speed} steps a second")
        surface = get_surface(parsed.surface)
        start = tuple(parsed.start) if parsed.start is not None else surface.start
        self._check_start(surface, start)
        self.config, self.surface, self.start = parsed, surface, start
        minima(surface.name)  # warm the cache now, not when the first run ends
        self.reset()
        return self.configured()

    def configured(self) -> dict:
        s = self.surface
        return {
            "type": "configured",
            "lab": self.name,
            "config": self.config.model_dump(mode="json"),
            "start": list(self.start),
            "surface": {
                "name": s.name,
                "title": s.title,
                "note": s.note,
                "bounds": list(s.bounds),
                "start": list(s.start),
                "log_scale": s.log_scale,
                "minima": [
                    {"point": list(m.point), "value": m.value, "global": m.is_global}
                    for m in minima(s.name)
                ],
            },
            "presets": PRESETS,
        }

    @staticmethod
    def _check_start(surface, start: tuple[float, float]) -> None:
        xmin, xmax, ymin, ymax = surface.bounds
        if not (xmin <= start[0] <= xmax and ymin <= start[1] <= ymax):
            raise LabError(
                f"the start point must lie inside the surface: x in [{xmin}, {xmax}], "
                f"y in [{ymin}, {ymax}]"
            )

    def reset(self) -> None:
        self._carry = 0.0
        self.runs = {}
        for index, kind in enumerate(OPTIMIZERS):
            options = getattr(self.config.optimizers, kind)
            if not options.enabled:
                continue
            config = OptimizerConfig(
                kind,
                lr=options.lr,
                momentum=getattr(options, "momentum", 0.9),
                noise=getattr(options, "noise", 0.0),
                batch=getattr(options, "batch", 1),
            )
            self.runs[kind] = Run(self.surface, config, self.start, self.config.max_steps,
                                  seed=self.config.seed * len(OPTIMIZERS) + index)

    # ---- lab messages ----------------------------------------------------------------------
    def on_start(self, request: StartMessage) -> list[Message]:
        start = (request.x, request.y)
        self._check_start(self.surface, start)
        self.start = start
        self.config = self.config.model_copy(update={"start": start})
        self.reset()
        return [self.configured()]

    def on_surface(self, request: SurfaceMessage) -> list[Message]:
        return [self.surface_frame()]

    def surface_frame(self) -> BinaryFrame:
        """The heat map (uint8, row 0 = top = ymax) and what its 0..255 stand for."""
        image, values = grid(self.surface, self.limits.grid_size)
        return BinaryFrame(
            "surface",
            {
                "name": self.surface.name,
                "bounds": list(self.surface.bounds),
                "log_scale": self.surface.log_scale,
                "min": float(values.min()),
                "max": float(values.max()),
            },
            {"grid": image},
        )

    # ---- running ---------------------------------------------------------------------------
    def step(self, steps: int) -> None:
        for run in self.runs.values():
            run.run(steps)

    def train(self, budget_s: float) -> None:
        """Play mode: ``speed`` steps a second, so a run is watchable, then rest out the slice."""
        began = time.monotonic()
        self._carry += self.config.speed * budget_s
        steps, self._carry = int(self._carry), self._carry - int(self._carry)
        if steps:
            self.step(steps)
        left = budget_s - (time.monotonic() - began)
        if left > 0 and not self.finished():
            time.sleep(left)

    def finished(self) -> bool:
        return all(run.done for run in self.runs.values())

    def metrics(self) -> dict:
        runs = {}
        for kind, run in self.runs.items():
            verdict = run.verdict
            runs[kind] = {
                "steps": run.steps,
                "loss": finite(run.loss),
                "grad_norm": finite(run.grad_norm),
                "point": [finite(v) for v in run.point],
                "done": run.done,
                "ending": verdict.ending.value if verdict else None,
                "text": verdict.text if verdict else None,
                "eigenvalues": list(verdict.eigenvalues) if verdict and verdict.eigenvalues else None,
            }
        return {"type": "metrics", "lab": self.name, "runs": runs, "finished": self.finished()}

    def frame(self, streaming: bool) -> list[Message]:
        """Every run's trajectory as float32 (n, 2) in surface coordinates, thinned."""
        arrays: dict[str, np.ndarray] = {}
        for kind, run in self.runs.items():
            path = run.trajectory(self.limits.trail_points)
            # A diverged run's last points can be huge or inf: keep the finite part for drawing.
            arrays[kind] = path[np.isfinite(path).all(axis=1)]
        meta = {"surface": self.surface.name, "start": list(self.start),
                "steps": {kind: run.steps for kind, run in self.runs.items()}}
        return [BinaryFrame("descent", meta, arrays)]
