"""CNN lab throughput: the streaming session against a bare PyTorch loop, same net, data, run.

    python bench/cnn.py [--device auto|cpu|cuda] [--seconds 10] [--dataset digits|shapes|...]

"bare": the loop anyone would write — data already standardised on the device, randperm
batches, forward, cross-entropy, backward, Adam step, nothing else.
"streaming": the CNN lab as the server runs it while playing — ``lab.train`` in slices of 1/fps
seconds with its bookkeeping (per-sample losses, running metrics, validation kept under ~2% of the
time), and at the display rate (30 fps) ``lab.metrics()`` + ``lab.frame()`` (kernels, feature maps
of every layer for the chosen image, evaluation, mistakes and highest-loss galleries when a new
validation pass happened), each message encoded for the wire (JSON / BinaryFrame) as the sender
would. The two alternate in short chunks so a busy machine hurts both alike; throughput is given
per wall-clock second and per CPU-second of the measuring thread (steadier on a shared machine).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from app.config import Settings  # noqa: E402
from app.frames import BinaryFrame  # noqa: E402
from app.labs.cnn import CNNLab  # noqa: E402
from app.schemas.common import Configure  # noqa: E402
from app.wire import encode as encode_message  # noqa: E402
from ml_core.cnn import build_model  # noqa: E402
from ml_core.device import describe, pick_device  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def encode(messages) -> int:
    """Bytes on the wire for these messages, encoded as the session's worker does."""
    total = 0
    for message in messages:
        data = encode_message(message)
        total += len(data) if isinstance(data, bytes) else len(data.encode())
    return total


def configure(lab: CNNLab, config: dict) -> None:
    lab.configure(Configure(type="configure", config=config))


class Bare:
    """The plain loop on the lab's own net (a fresh copy) and data, run in chunks."""

    def __init__(self, lab: CNNLab) -> None:
        s, self.device = lab.run, lab.device
        self.model, _ = build_model(
            s.config.architecture, s.input_shape, len(s.classes), seed=0, device=self.device
        )
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), s.config.learning_rate)
        data = s.data
        self.x = ((data.x_train.float() / 255 - data.mean) / data.std).contiguous()  # once
        self.y = data.y_train
        self.batch = s.config.batch_size
        self.order, self.position = torch.randperm(len(self.y), device=self.device), 0

    def run(self, seconds: float) -> int:
        """Train for about ``seconds``; returns images trained on."""
        seen, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            if self.position >= len(self.y):
                self.order, self.position = torch.randperm(len(self.y), device=self.device), 0
            idx = self.order[self.position : self.position + self.batch]
            self.position += len(idx)
            loss = F.cross_entropy(self.model(self.x[idx]), self.y[idx])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            seen += len(idx)
        sync(self.device)
        return seen


class Streaming:
    """The lab as the session runner plays it: train slices, frames at ``fps``, encoded."""

    def __init__(self, lab: CNNLab, fps: float) -> None:
        self.lab, self.fps = lab, fps
        # never "finished" during the measurement
        lab.run.config = lab.run.config.model_copy(update={"epochs": 10**6})
        self.last_frame = 0.0
        self.costs: list[float] = []
        self.sizes: list[int] = []
        self.extra_sizes: list[int] = []
        self.frames = 0

    def run(self, seconds: float) -> int:
        lab = self.lab
        seen0, start = lab.run.samples_seen, time.perf_counter()
        while time.perf_counter() - start < seconds:
            lab.train(min(1.0 / self.fps, 0.05))
            now = time.perf_counter()
            if now - self.last_frame >= 1.0 / self.fps:
                t0 = time.perf_counter()
                messages = [lab.metrics(), *lab.frame(streaming=True)]  # a play-mode frame
                size = encode([m for m in messages if not _occasional(m)])
                extra = [m for m in messages if _occasional(m)]
                if extra:
                    self.extra_sizes.append(encode(extra))
                sync(lab.device)
                self.frames += 1
                if any(isinstance(m, BinaryFrame) and m.kind == "cnn.maps" for m in messages):
                    self.costs.append(time.perf_counter() - t0)
                    self.sizes.append(size)
                self.last_frame = now
        sync(lab.device)
        return lab.run.samples_seen - seen0


def measure(runner, seconds: float, totals: dict) -> None:
    wall, cpu = time.perf_counter(), time.thread_time()
    totals["images"] += runner.run(seconds)
    totals["wall"] += time.perf_counter() - wall
    totals["cpu"] += time.thread_time() - cpu


def time_to_accuracy(settings: Settings, device: torch.device, dataset: str, target: float,
                     fps: float) -> dict:
    """Seconds from pressing play (default config on ``dataset``, already configured) to a
    validation pass at ``target`` accuracy (at most 120 s), streaming frames as the server does."""
    t0 = time.perf_counter()
    lab = CNNLab(settings, device)
    configure(lab, {"dataset": dataset})
    configure_s = time.perf_counter() - t0
    stream = Streaming(lab, fps)
    start = time.perf_counter()
    while time.perf_counter() - start < 120:
        stream.run(1.0 / fps)
        ev = lab.run.evaluation
        if ev is not None and ev.accuracy >= target:
            break
    ev = lab.run.evaluation
    return {
        "seconds": time.perf_counter() - start,
        "configure_s": configure_s,
        "epoch": lab.run.epoch,
        "accuracy": ev.accuracy if ev else float("nan"),
    }


def _occasional(message) -> bool:
    """Messages that ride along only after a new validation pass."""
    if isinstance(message, BinaryFrame):
        return message.kind in ("cnn.gallery", "cnn.hardest")
    return getattr(message, "type", None) == "evaluation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=10.0, help="per mode, in all")
    parser.add_argument("--chunk", type=float, default=0.5, help="seconds per alternation")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--target", type=float, default=None,
                        help="validation accuracy to time (default: 97%% on digits, else 90%%)")
    args = parser.parse_args()

    torch.set_num_threads(1)  # as the server does (settings.torch_threads)
    device = pick_device(args.device)
    settings = Settings(device=str(device))
    lab = CNNLab(settings, device)
    configure(lab, {"dataset": args.dataset, "batch_size": args.batch_size, "samples": None})
    s = lab.run
    params = sum(p.numel() for p in s.model.parameters())
    print(
        f"device {describe(device)}, torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}; dataset {args.dataset} {tuple(s.input_shape)}, "
        f"{len(s.data.train_ids)} train images, default net ({params:,} parameters), "
        f"batch {args.batch_size}, {args.fps:g} fps"
    )

    bare, stream = Bare(lab), Streaming(lab, args.fps)
    bare.run(0.3)  # warm-up: first steps pay for allocations
    stream.run(0.3)
    stream.costs.clear()
    stream.sizes.clear()
    stream.extra_sizes.clear()
    stream.frames = 0
    totals = {name: {"images": 0, "wall": 0.0, "cpu": 0.0} for name in ("bare", "stream")}
    chunks = max(1, round(args.seconds / args.chunk))
    for _ in range(chunks):  # alternate short chunks: a busy machine slows both alike
        measure(bare, args.chunk, totals["bare"])
        measure(stream, args.chunk, totals["stream"])
    rate = {k: v["images"] / v["wall"] for k, v in totals.items()}
    cpu_rate = {k: v["images"] / v["cpu"] for k, v in totals.items()}
    ratio, cpu_ratio = rate["stream"] / rate["bare"], cpu_rate["stream"] / cpu_rate["bare"]
    fps = stream.frames / totals["stream"]["wall"]
    pictures = len(stream.costs) / totals["stream"]["wall"]
    frame_ms = 1000 * statistics.median(stream.costs)
    frame_kib = statistics.median(stream.sizes) / 1024
    extra_kib = statistics.median(stream.extra_sizes) / 1024 if stream.extra_sizes else 0.0
    extra_rate = len(stream.extra_sizes) / totals["stream"]["wall"]
    print(f"{chunks} alternating chunks of {args.chunk:g} s each way")
    print()
    print(
        "| setup | bare loop img/s | streaming img/s | ratio (wall) | ratio (CPU time) | frames/s "
        "| with pictures/s | frame: metrics + kernels + maps | its cost | after each validation |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {describe(device)}, {args.dataset} {tuple(s.input_shape)}, batch {args.batch_size} "
        f"| {rate['bare']:,.0f} | {rate['stream']:,.0f} | **{ratio:.0%}** | {cpu_ratio:.0%} "
        f"| {fps:.1f} | {pictures:.1f} | {frame_kib:.1f} KiB | {frame_ms:.2f} ms "
        f"| +{extra_kib:.1f} KiB, {extra_rate:.1f}/s |"
    )
    target = args.target or (0.97 if args.dataset == "digits" else 0.9)
    hit = time_to_accuracy(settings, device, args.dataset, target, args.fps)
    print(
        f"\ndefault net on {args.dataset}: {hit['accuracy']:.1%} validation accuracy "
        f"{hit['seconds']:.1f} s after play (epoch {hit['epoch']:.1f}; configuring took "
        f"{hit['configure_s']:.1f} s), target {target:.0%}"
    )
    print(
        f"\nstreaming / bare = {ratio:.1%} wall-clock, {cpu_ratio:.1%} per CPU-second (goal >= 90%)"
    )


if __name__ == "__main__":
    main()
