"""A trained MLP or CNN as an ONNX file (torch.onnx.export), for onnxruntime and friends.

What is exported is a copy of the run's network, on the CPU and in eval mode (dropout off,
batch norm on its running statistics), with what the lab does before it folded in, so the file
takes what a user has rather than the lab's internal inputs:

- MLP: points ``(B, 2)`` in [-1, 1]² -> logits ``(B, n_out)``; the input features (x₁², sin(πx₁),
  ...) are computed inside. One logit means P(class 1) = sigmoid(logit).
- CNN: images ``(B, C, H, W)`` float in [0, 1] -> logits ``(B, classes)``; the standardisation with
  the training split's mean and std is inside.

The batch dimension is dynamic; the runs themselves are left untouched.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from ml_core.cnn import build_model
from ml_core.cnn_run import CNNRun
from ml_core.features import feature_matrix
from ml_core.mlp import build_mlp, load_parameters
from ml_core.mlp_run import MLPRun


class PointsToLogits(nn.Module):
    """points (B, 2) -> features (B, F) -> the MLP -> logits (B, n_out)."""

    def __init__(self, features: tuple[str, ...], net: nn.Module) -> None:
        super().__init__()
        self.features, self.net = features, net

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(feature_matrix(points, self.features))


class ImagesToLogits(nn.Module):
    """images (B, C, H, W) in [0, 1] -> standardised -> the CNN -> logits (B, classes)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, net: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().cpu().reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.detach().cpu().reshape(1, -1, 1, 1).clone())
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net((images - self.mean) / self.std)


def mlp_module(run: MLPRun) -> PointsToLogits:
    """A CPU copy of the run's network in eval mode, features included."""
    config = run.config
    net = build_mlp(config.model, config.dataset.classes, config.dataset.seed)
    source = getattr(run.engine, "model", None)  # the reference engine's module, if it is that
    if isinstance(source, nn.Module):
        net.load_state_dict(source.state_dict())  # batch norm's running statistics too
    else:
        load_parameters(net, run.engine.parameters())
    return PointsToLogits(config.model.features, net).eval()


def cnn_module(run: CNNRun) -> ImagesToLogits:
    """A CPU copy of the run's network in eval mode, standardisation included."""
    c = run.config
    net, _ = build_model(c.architecture, run.input_shape, len(run.classes), c.seed)
    net.load_state_dict(run.model.state_dict())
    return ImagesToLogits(run.data.mean, run.data.std, net).eval()


def to_onnx(module: nn.Module, example: torch.Tensor, input_name: str) -> bytes:
    """``module`` (eval mode, CPU) as ONNX bytes, input ``input_name``, output ``logits``,
    the first dimension dynamic.

    Torch's tracing exporter first: it takes a fraction of a second for these networks, where the
    newer dynamo exporter takes several seconds (more on a busy machine), all of it on the
    session's worker while its other sessions wait. Torch marks the tracing exporter deprecated;
    if a future torch drops it, the dynamo exporter takes over. Both are checked in onnxruntime
    (tests/app/test_export.py)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation notices
        try:
            buffer = io.BytesIO()
            torch.onnx.export(
                module,
                (example,),
                buffer,
                input_names=[input_name],
                output_names=["logits"],
                dynamic_axes={input_name: {0: "batch"}, "logits": {0: "batch"}},
                dynamo=False,
            )
            return buffer.getvalue()
        except (TypeError, RuntimeError, AttributeError):
            program = torch.onnx.export(
                module,
                (example,),
                input_names=[input_name],
                output_names=["logits"],
                dynamic_shapes=({0: "batch"},),
                dynamo=True,
                optimize=False,
                verbose=False,
            )
            return program.model_proto.SerializeToString()


def mlp_onnx(run: MLPRun) -> bytes:
    return to_onnx(mlp_module(run), torch.zeros(2, 2), "points")


def cnn_onnx(run: CNNRun) -> bytes:
    return to_onnx(cnn_module(run), torch.zeros(2, *run.input_shape), "images")
