"""The activation and loss explorer: curves and derivatives by torch, softmax, the outlier demo.

Wire protocol: docs/protocol-functions.md. Nothing trains here: each change of the configuration
recomputes the part it touches (ml_core/functions.py) and the page gets one `functions` frame with
every curve (float32 arrays) and the numbers beside them.
"""

from __future__ import annotations

import numpy as np
import torch

from app.config import Settings
from app.frames import BinaryFrame
from app.labs.base import Lab, LabError, Message, deep_merge, validate
from app.schemas.common import Configure
from app.schemas.functions import FunctionsConfigured, UpdateMessage
from ml_core.functions import (
    FunctionsConfig,
    activation_curve,
    fit_l1,
    fit_l2,
    loss_curve,
    saturated_fraction,
    softmax,
)


def _f32(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)


class FunctionsLab(Lab):
    name = "functions"
    config_model = FunctionsConfig
    messages = (UpdateMessage,)
    title = "Activations & losses"
    summary = "Activation functions, their gradients, and losses."

    def __init__(self, settings: Settings, device: torch.device) -> None:
        super().__init__(settings, device)
        self.config = FunctionsConfig()
        # (config of the part, its computed result): recomputed only when the part changes.
        self._cache: dict[str, tuple[object, dict]] = {}

    def configure(self, request: Configure) -> FunctionsConfigured:
        """Replace the whole configuration (missing parts take their defaults)."""
        self._apply(request.config, base={})
        return FunctionsConfigured(lab=self.name, config=self.config)

    def _apply(self, config: object, base: dict) -> None:
        if not isinstance(config, dict):
            raise LabError("config must be an object")
        parsed = validate(FunctionsConfig, deep_merge(base, config))
        if len(parsed.softmax.logits) > self.limits.max_logits:
            raise LabError(f"softmax: at most {self.limits.max_logits} logits")
        if len(parsed.fit.points) > self.limits.max_points:
            raise LabError(f"fit: at most {self.limits.max_points} points")
        previous, self.config = self.config, parsed
        try:
            self._compute()  # bad combinations (e.g. all points at one x) fail here
        except LabError:
            self.config = previous  # the session goes on as before
            raise

    def on_update(self, request: UpdateMessage) -> list[Message]:
        self._apply(request.config, base=self.config.model_dump(mode="json"))
        return []

    # ---- computing ---------------------------------------------------------------------------
    def _part(self, key: str, config: object, compute) -> dict:
        cached = self._cache.get(key)
        if cached is None or cached[0] != config:
            try:
                cached = (config, compute(config))
            except ValueError as exc:
                raise LabError(f"{key}: {exc}") from None
            self._cache[key] = cached
        return cached[1]

    def _compute(self) -> dict[str, dict]:
        n = self.limits.curve_points
        return {
            "activation": self._part("activation", self.config.activation,
                                     lambda c: self._activation(c, n)),
            "loss": self._part("loss", self.config.loss, lambda c: self._loss(c, n)),
            "softmax": self._part("softmax", self.config.softmax, self._softmax),
            "fit": self._part("fit", self.config.fit, self._fit),
        }

    @staticmethod
    def _activation(config, n: int) -> dict:
        curve = activation_curve(config, n=n)
        arrays = {"act_x": _f32(curve.x), "act_y": _f32(curve.y), "act_dy": _f32(curve.dy)}
        if curve.dparam is not None:
            arrays["act_dparam"] = _f32(curve.dparam)
        meta = {"name": config.name, "saturated": saturated_fraction(curve.dy),
                "max_grad": float(np.abs(curve.dy).max())}
        return {"meta": meta, "arrays": arrays}

    @staticmethod
    def _loss(config, n: int) -> dict:
        curve = loss_curve(config, n=n)
        arrays = {"loss_x": _f32(curve.prediction), "loss_y": _f32(curve.loss),
                  "loss_grad": _f32(curve.grad)}
        return {"meta": {"name": config.name, "target": config.target}, "arrays": arrays}

    @staticmethod
    def _softmax(config) -> dict:
        result = softmax(config)
        k = len(config.logits)
        meta = {"entropy": result.entropy, "max_entropy": float(np.log(k)),
                "argmax": int(np.argmax(result.probs))}
        arrays = {"probs": _f32(result.probs), "jacobian": _f32(result.jacobian.reshape(k, k))}
        return {"meta": meta, "arrays": arrays}

    @staticmethod
    def _fit(config) -> dict:
        points = torch.tensor(config.points, dtype=torch.float64)
        fits = {"l1": fit_l1(points), "l2": fit_l2(points)}
        outlier = points[-1]
        meta = {
            name: {
                "slope": fit.slope,
                "intercept": fit.intercept,
                "loss": fit.loss,
                # how far the line sits from the outlier, and that point's share of the loss
                "outlier_residual": float(outlier[1] - fit.slope * outlier[0] - fit.intercept),
            }
            for name, fit in fits.items()
        }
        return {"meta": meta, "arrays": {"points": _f32(points.numpy())}}

    def frame(self, streaming: bool) -> list[Message]:
        parts = self._compute()
        meta = {name: part["meta"] for name, part in parts.items()}
        arrays = {k: v for part in parts.values() for k, v in part["arrays"].items()}
        return [BinaryFrame("functions", meta, arrays)]
