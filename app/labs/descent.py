"""The gradient-descent lab: optimisers race down a loss surface from a start the user clicks.

Wire protocol: docs/protocol-descent.md. The tensor work lives in the core: the surfaces and their
autograd derivatives (ml_core/surfaces.py), the runs on real torch.optim optimisers and the race's
config (ml_core/descent.py), the Hessian that names where a run ended (ml_core/endings.py); this
module checks the server's limits, paces play mode and packs the results into messages.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from app.config import Settings
from app.frames import BinaryFrame
from app.labs.base import Lab, LabError, Message, deep_merge, validate
from app.schemas.common import Configure
from app.schemas.descent import (
    DescentConfigured,
    DescentMetrics,
    MinimumInfo,
    RunMetrics,
    StartMessage,
    SurfaceInfo,
    SurfaceMessage,
)
from ml_core.descent import DescentConfig, Run, presets, race, surface_defaults
from ml_core.endings import minima
from ml_core.surfaces import get_surface, grid
from ml_core.training import finite

# torch.optim's first optimizer imports torch._dynamo (seconds): pay that once when the server
# loads the labs, not while the first visitor's page waits for its session.
torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

SLICE_S = 0.1  # most wall-clock seconds one slice of play may work (the scheduler is shared)


class DescentLab(Lab):
    name = "descent"
    paced = True
    config_model = DescentConfig
    messages = (StartMessage, SurfaceMessage)
    title = "Gradient descent"
    summary = "Race optimizers across loss surfaces."

    def __init__(self, settings: Settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.config = DescentConfig()
        self.surface = get_surface(self.config.surface)
        self.runs: dict[str, Run] = {}
        self._carry = 0.0  # fractional steps owed to play mode

    # ---- configuration -------------------------------------------------------------------
    def configure(self, request: Configure) -> DescentConfigured:
        """A configure that names a surface gets that surface's learning rates and step budget
        for every field it leaves out."""
        surface = str(request.config.get("surface", DescentConfig().surface))
        self._apply(deep_merge(surface_defaults(surface), request.config))
        return self.configured()

    def _apply(self, config: dict) -> None:
        parsed = validate(DescentConfig, config, "configure: ")
        if parsed.max_steps > self.limits.max_steps:
            raise LabError(f"configure: max_steps is at most {self.limits.max_steps}")
        if parsed.speed > self.limits.max_speed:
            raise LabError(f"configure: speed is at most {self.limits.max_speed} steps a second")
        self.config, self.surface = parsed, get_surface(parsed.surface)
        minima(self.surface.name)  # warm the cache now, not when the first run ends
        self.reset()

    def configured(self) -> DescentConfigured:
        s = self.surface
        return DescentConfigured(
            lab=self.name,
            config=self.config,
            start=self.config.start_point,
            surface=SurfaceInfo(
                name=s.name,
                title=s.title,
                note=s.note,
                bounds=s.bounds,
                start=s.start,
                log_scale=s.log_scale,
                minima=[
                    MinimumInfo(point=m.point, value=m.value, global_=m.is_global)
                    for m in minima(s.name)
                ],
            ),
            presets=presets(),
        )

    def reset(self) -> None:
        self._carry = 0.0
        self.runs = race(self.config)

    # ---- lab messages ----------------------------------------------------------------------
    def on_start(self, request: StartMessage) -> list[Message]:
        self._apply({**self.config.model_dump(), "start": (request.x, request.y)})
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
        """Play at ``speed`` steps a second, so a run is watchable: the steps ``budget_s``
        seconds are worth. (A paced lab: the scheduler calls this once a frame.) The runs step
        in turn, one step each; a slice works at most ``budget_s`` (and SLICE_S) seconds, so a
        speed the machine cannot keep up with is dropped, never owed."""
        self._carry += self.config.speed * budget_s
        steps, self._carry = int(self._carry), self._carry - int(self._carry)
        deadline = time.perf_counter() + min(budget_s, SLICE_S)
        while steps > 0 and not self.finished():
            self.step(1)
            steps -= 1
            if time.perf_counter() > deadline:
                break

    def finished(self) -> bool:
        return all(run.done for run in self.runs.values())

    def metrics(self) -> DescentMetrics:
        runs = {}
        for kind, run in self.runs.items():
            verdict = run.verdict
            runs[kind] = RunMetrics(
                steps=run.steps,
                loss=finite(run.loss),
                grad_norm=finite(run.grad_norm),
                point=tuple(finite(v) for v in run.point),
                done=run.done,
                ending=verdict.ending.value if verdict else None,
                text=verdict.text if verdict else None,
                detail=verdict.detail if verdict else None,
                grad_tol=verdict.grad_tol if verdict else None,
                averaged=verdict.averaged if verdict else None,
                eigenvalues=verdict.eigenvalues if verdict else None,
            )
        step = max((run.steps for run in self.runs.values()), default=0)
        return DescentMetrics(step=step, runs=runs, finished=self.finished())

    def frame(self, streaming: bool) -> list[Message]:
        """Every run's trajectory as float32 (n, 2) in surface coordinates, thinned."""
        arrays: dict[str, np.ndarray] = {}
        for kind, run in self.runs.items():
            path = run.trajectory(self.limits.trail_points)
            # A diverged run's last points can be huge or inf: keep the finite part for drawing.
            arrays[kind] = path[np.isfinite(path).all(axis=1)]
        meta = {"surface": self.surface.name, "start": list(self.config.start_point),
                "steps": {kind: run.steps for kind, run in self.runs.items()}}
        return [BinaryFrame("descent", meta, arrays)]
