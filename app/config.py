"""Every limit and knob of the server, in one typed settings object.

Set any of them with environment variables prefixed ``TORCHPLAY_``; nested sections use ``__``,
e.g. ``TORCHPLAY_PORT=9000`` or ``TORCHPLAY_MLP__MAX_POINTS=5000``. Each field's description is the
documentation (docs/configuration.md is generated from it and a test keeps them in step).
"""

from __future__ import annotations

import os

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MLPSettings(BaseModel):
    """Limits of the MLP playground (lab ``mlp``)."""

    max_points: int = Field(2000, description="Most data points in a dataset (generated or drawn).")
    max_hidden_layers: int = Field(6, description="Most hidden layers.")
    max_neurons: int = Field(16, description="Most neurons in one hidden layer.")
    max_classes: int = Field(8, description="Most classes in a dataset.")
    max_steps: int = Field(10_000, description="Most optimisation steps one 'step' message may ask for.")
    grid_size: int = Field(64, description="Resolution (cells per side) of the output decision map.")
    thumb_size: int = Field(24, description="Resolution of each per-neuron heat map thumbnail.")


class PerceptronSettings(BaseModel):
    """Limits of the perceptron lab (lab ``perceptron``)."""

    max_points: int = Field(500, description="Most data points.")
    max_epochs: int = Field(1000, description="Most epochs a run may take before it stops.")
    max_speed: float = Field(
        2000.0, gt=0, description="Most data points a second the perceptron visits in play mode."
    )


class DescentSettings(BaseModel):
    """Limits of the gradient-descent lab (lab ``descent``)."""

    max_steps: int = Field(5000, description="Most optimisation steps of one run.")
    grid_size: int = Field(128, description="Resolution of the loss-surface heat map.")
    max_speed: int = Field(2000, description="Most optimisation steps a second in play mode.")
    trail_points: int = Field(
        800, description="Most points of one trajectory sent per frame (longer ones are thinned)."
    )


class FunctionsSettings(BaseModel):
    """Limits of the activation and loss explorer (lab ``functions``)."""

    max_logits: int = Field(16, description="Most logits in the softmax demo.")
    max_points: int = Field(200, description="Most points in the L1/L2 outlier demo.")
    curve_points: int = Field(241, description="Samples along each activation or loss curve.")


class ConvolutionSettings(BaseModel):
    """Limits of the convolution and pooling lab (lab ``convolution``)."""

    max_kernel_size: int = Field(7, description="Largest kernel side.")
    max_kernels: int = Field(8, description="Most kernels (output channels) at once.")
    max_grid: int = Field(16, description="Largest side of the editable small image.")
    display_size: int = Field(256, description="Longest side real images are downscaled to.")
    max_stride: int = Field(4, description="Largest convolution stride.")
    max_padding: int = Field(3, description="Most zero padding on each side.")
    max_dilation: int = Field(3, description="Largest kernel dilation.")
    max_pool: int = Field(8, description="Largest pooling window side and pooling stride.")
    max_shift: int = Field(8, description="Most pixels the translation demo shifts the image by.")
    min_image_side: int = Field(32, description="Smallest side (pixels) of an uploaded image.")


class CNNSettings(BaseModel):
    """Limits of the CNN lab (lab ``cnn``)."""

    max_blocks: int = Field(8, description="Most conv blocks in an architecture.")
    max_channels: int = Field(128, description="Most output channels of one conv layer.")
    max_fc_units: int = Field(1024, description="Most units in one fully-connected layer.")
    max_parameters: int = Field(
        2_000_000, description="Most parameters of a model (a saved model must fit an upload)."
    )
    max_step_flops: float = Field(
        8e9,
        description="Most floating-point operations of one training step (forward and backward "
        "over one batch; a conv with fewer than 64 input x output channel pairs is charged as "
        "64). The default keeps the largest accepted step near 0.5 s on one CPU core.",
    )
    max_activation_mb: float = Field(
        48.0,
        description="Most megabytes of layer outputs one training step keeps for its backward "
        "pass (batch x every layer's output x 4 bytes).",
    )
    max_eval_flops: float = Field(
        40e9,
        description="Most floating-point operations of one pass over the validation (or test) "
        "images (charged as for max_step_flops).",
    )
    max_batch_size: int = Field(512, description="Largest batch size.")
    max_epochs: int = Field(200, description="Most epochs of one run.")
    max_kernel_size: int = Field(7, description="Largest conv kernel side.")
    max_fc_layers: int = Field(3, description="Most hidden fully-connected layers.")
    max_samples: int = Field(
        20_000, description="Most images taken from a dataset (split into train/val/test)."
    )
    max_steps: int = Field(10_000, description="Most minibatches one 'step' message may ask for.")
    max_kernels_out: int = Field(32, description="Most output channels of a conv layer sent per frame.")
    max_kernels_in: int = Field(8, description="Most input channels per kernel sent per frame.")
    max_map_channels: int = Field(16, description="Most feature-map channels per layer sent per frame.")
    max_map_side: int = Field(32, description="Feature maps larger than this are pooled down to it.")
    gallery_size: int = Field(24, description="Most images in the mistakes and highest-loss galleries.")
    data_dir: str = Field(
        "data", description="Folder with MNIST / Fashion-MNIST / CIFAR-10 files (read if present)."
    )


class Settings(BaseSettings):
    """torchplay's server settings."""

    model_config = SettingsConfigDict(
        env_prefix="TORCHPLAY_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = Field("127.0.0.1", description="Address to bind (loopback unless told otherwise).")
    port: int = Field(8000, description="Port to bind.")
    device: str = Field(
        "auto", description="Torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N."
    )
    torch_threads: int = Field(
        1, ge=1, description="Intra-op threads for torch and NumPy's BLAS (1: sessions do not fight over cores)."
    )
    ws_compression: bool = Field(
        False,
        description=(
            "Compress websocket messages (permessage-deflate): frames shrink about 3.7x, for "
            "about 0.3 ms of the web process's CPU each. Worth it only on a slow network."
        ),
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Extra Origins allowed on the websocket (the server's own origin always is).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers websockets on besides loopback and `host` "
        "(guards against DNS rebinding).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Addresses of reverse proxies whose X-Forwarded-For names the client (the "
        "per-client session cap counts clients, not the proxy); [\"*\"] when only a proxy can "
        "reach the server.",
    )
    max_sessions: int = Field(32, ge=1, description="Most live sessions (one per browser tab).")
    session_ttl_s: float = Field(
        600.0, description="Seconds a session survives a disconnect, for a reconnect to resume it."
    )
    disconnect_pause_s: float = Field(
        10.0, description="A playing session with no socket for this long pauses itself."
    )
    fps: float = Field(30.0, gt=0, le=120, description="Most frames a second streamed to a page.")
    max_message_bytes: int = Field(
        1_000_000, description="Largest websocket message from a client (bytes)."
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=0,
        le=256,
        description="Worker processes that run the sessions (default: one per core). "
        "0: one scheduler thread in the web process (development, tests).",
    )
    max_sessions_per_client: int = Field(
        12, ge=1, description="Most sessions one client address may hold (tabs of a browser)."
    )
    evict_grace_s: float = Field(
        120.0,
        description="A full server evicts only sessions disconnected for longer than this "
        "(a reload never loses its session to a newcomer).",
    )
    max_messages_per_s: int = Field(
        60, ge=1, description="Most websocket messages a second from one connection."
    )
    max_queued_bytes: int = Field(
        4_000_000,
        description="Most bytes of a session's client messages waiting for its worker.",
    )
    call_timeout_s: float = Field(
        60.0, gt=0, description="Longest a REST request waits for its session's worker."
    )
    max_op_s: float = Field(
        30.0, gt=0, description="Longest one piece of a session's work may run before the "
        "session is stopped (a configure, a REST call, a slice of steps).",
    )
    worker_memory_mb: int = Field(
        0,
        ge=0,
        description="A worker process over this resident memory (MB) stops the session whose "
        "work is running (0: no limit).",
    )
    max_upload_bytes: int = Field(10_000_000, description="Largest uploaded file (bytes).")
    max_upload_pixels: int = Field(
        4096 * 4096, description="Most pixels of an uploaded image (decompression bombs refused)."
    )

    mlp: MLPSettings = MLPSettings()
    perceptron: PerceptronSettings = PerceptronSettings()
    descent: DescentSettings = DescentSettings()
    functions: FunctionsSettings = FunctionsSettings()
    convolution: ConvolutionSettings = ConvolutionSettings()
    cnn: CNNSettings = CNNSettings()


def settings_markdown() -> str:
    """docs/configuration.md, generated from the fields above (``python -m app.config``)."""
    lines = [
        "# Configuration",
        "",
        "Every setting is an environment variable (`TORCHPLAY_` + the name in capitals; lab",
        "sections use `__`, e.g. `TORCHPLAY_MLP__MAX_POINTS=5000`). Lists are JSON, e.g.",
        "`TORCHPLAY_ALLOWED_ORIGINS='[\"https://class.example.org\"]'`.",
        "This file is generated by `python -m app.config > docs/configuration.md`; a test keeps it true.",
        "",
    ]

    def table(model: type[BaseModel], prefix: str) -> None:
        lines.extend(["| variable | default | meaning |", "|---|---|---|"])
        for name, field in model.model_fields.items():
            if isinstance(field.default, BaseModel):
                continue
            if name == "workers":
                default = "cores"  # differs by machine
                lines.append(f"| `{prefix}{name.upper()}` | {default} | {field.description} |")
                continue
            default = field.default if field.default_factory is None else field.default_factory()
            lines.append(f"| `{prefix}{name.upper()}` | `{default!r}` | {field.description} |")
        lines.append("")

    lines.append("## Server")
    lines.append("")
    table(Settings, "TORCHPLAY_")
    for name, field in Settings.model_fields.items():
        if isinstance(field.default, BaseModel):
            lines.extend([f"## {type(field.default).__doc__.strip().rstrip('.')}", ""])
            table(type(field.default), f"TORCHPLAY_{name.upper()}__")
    return "\n".join(lines)


if __name__ == "__main__":
    print(settings_markdown(), end="")
