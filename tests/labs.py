"""A lab for the runtime's tests: it only counts its steps, so they drive sessions, workers and
limits without any training. Tests subclass it with the messages they need."""

from __future__ import annotations

from app.labs.base import Lab
from app.schemas.common import Configure, Configured, Metrics


class CountingLab(Lab):
    """Counts steps; ``metrics`` reports the count."""

    def configure(self, request: Configure) -> Configured:
        self.count = 0
        return Configured(lab=self.name, config={})

    def step(self, steps: int) -> None:
        self.count += steps

    def metrics(self) -> Metrics:
        return Metrics(step=self.count)
