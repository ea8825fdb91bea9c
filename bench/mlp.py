"""MLP playground benchmark: the session loop (streaming frames at 30 fps) against bare eager PyTorch.

What runs: the real server runtime minus the socket: the sessions run on one worker's
``app.scheduler.Scheduler`` (the MLP lab, frames at most ``fps`` a second and only after the
last was acknowledged), and a consumer thread plays the websocket sender: it takes every
outgoing message (already encoded to what goes on the wire: JSON text or the binary frame) as
soon as the scheduler posts it and acknowledges each frame. Through the real server, with worker
processes and sockets, see bench/classroom.py. The baseline is the textbook eager loop (zero_grad, forward, loss, backward,
optimizer.step) over the same data, batches and network, with no frames at all.

    python bench/mlp.py [--seconds 3] [--device cpu]

Prints, in one run: epochs/s of (a) circle 2-4-2-1 tanh, 500 points (half for training),
batch 10 and (b) spiral 6 hidden layers x 8 tanh, batch 10, each beside the eager loop, as a
ratio; the same with the backward view on (every frame carries the gradients over all training
points, as the page asks for); the cost of one frame of (b) (µs and bytes), without and with the
backward view; and how many concurrent sessions of (a) one worker keeps at >= 60 epochs/s each
at 30 fps (same-shape sessions are stepped together in one stacked call; the line says how many
at most). Goals: ratio >= 5 (with the backward view too), frame <= 5 ms and <= 64 KB, >= 8
sessions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from app.config import Settings  # noqa: E402
from app.labs.mlp import MLPLab  # noqa: E402
from app.scheduler import Scheduler  # noqa: E402
from app.schemas.mlp import GradientsMessage, MLPConfigure  # noqa: E402
from app.wire import Ack, Attach, Inbound, Open, Out, Shutdown, encode  # noqa: E402
from ml_core.device import describe, pick_device  # noqa: E402
from ml_core.mlp import build_mlp, loss_fn  # noqa: E402
from ml_core.training import make_optimizer  # noqa: E402

CASES = {
    "a": {
        "title": "(a) circle 2-4-2-1 tanh, 500 points (250 train), batch 10",
        "config": {
            "dataset": {"name": "circle", "samples": 500, "val_fraction": 0.5, "test_fraction": 0},
            "model": {"hidden": [4, 2], "activation": "tanh"},
            "training": {"batch_size": 10, "learning_rate": 0.03},
            "play": {"steps_per_frame": 0},  # full speed (the page's default is slowed play)
        },
    },
    "b": {
        "title": "(b) spiral 2-8x6-1 tanh, 500 points (250 train), batch 10",
        "config": {
            "dataset": {"name": "spiral", "samples": 500, "val_fraction": 0.5, "test_fraction": 0},
            "model": {"hidden": [8] * 6, "activation": "tanh"},
            "training": {"batch_size": 10, "learning_rate": 0.03},
            "play": {"steps_per_frame": 0},
        },
    },
}


class Sessions:
    """Sessions on one worker's scheduler (the server's runtime minus the socket), with a fast
    consumer in the socket's place: it takes every message the scheduler sends (encoded, as
    for the wire) and acknowledges each frame at once. It reads the steps an epoch from the
    session's ``configured`` and the step count from its ``metrics``, as a page does."""

    def __init__(self, settings: Settings, device: torch.device) -> None:
        self.events: queue.Queue = queue.Queue()
        self.scheduler = Scheduler(settings, {"mlp": MLPLab}, device, self.events.put)
        self.thread = threading.Thread(target=self.scheduler.run, daemon=True)
        self.thread.start()
        self.runs: dict[str, Streamed] = {}
        self.consumer = threading.Thread(target=self._consume, daemon=True)
        self.consumer.start()

    def open(self, config: dict, gradients: str = "off") -> Streamed:
        """A session of ``config``; ``gradients``: the backward view, as the page asks for it."""
        sid = uuid.uuid4().hex
        run = self.runs[sid] = Streamed(self.scheduler, sid)
        for command in (
            Open(sid, "mlp", sid),
            Attach(sid, resumed=False),
            Inbound(sid, json.dumps({"type": "gradients", "over": gradients})),
            Inbound(sid, json.dumps({"type": "configure", "config": config, "request": 1})),
        ):
            self.scheduler.put(command)
        return run

    def _consume(self) -> None:
        while True:
            event = self.events.get()
            if event is None:
                return
            run = self.runs.get(getattr(event, "sid", ""))
            if isinstance(event, Out) and run is not None:
                run.take(event)

    def close(self) -> None:
        self.scheduler.put(Shutdown())
        self.thread.join(timeout=10)  # torch must not be mid-op when the process exits
        self.events.put(None)
        self.consumer.join(timeout=5)


class Streamed:
    def __init__(self, scheduler: Scheduler, sid: str) -> None:
        self.scheduler, self.sid = scheduler, sid
        self.ready = threading.Event()
        self.frames = self.bytes = self.step = 0
        self.steps_per_epoch = 1

    def take(self, event: Out) -> None:
        for data in [*event.replies, *(event.frame or [])]:
            if isinstance(data, bytes):
                self.frames += 1
                self.bytes += len(data)
                continue
            message = json.loads(data)
            if message["type"] == "metrics":
                self.step = message["step"]
            elif message["type"] == "configured" and message.get("request") == 1:
                self.steps_per_epoch = message["model"]["steps_per_epoch"]
                self.ready.set()
        if event.frame is not None:
            self.scheduler.put(Ack(self.sid))  # sent at once: a fast socket

    def wait_ready(self) -> None:
        if not self.ready.wait(30):
            raise RuntimeError("the session did not answer its configure")

    def epochs(self) -> float:
        return self.step / self.steps_per_epoch


def stream(
    settings, device, config: dict, seconds: float, count: int = 1, gradients: str = "off"
) -> list[dict]:
    """Play ``count`` sessions at once on one scheduler for ``seconds``; each one's epochs/s
    and frames/s, and ("cohort") the most of them stepped together in one stacked call
    (sessions of one network shape: app/scheduler.py, ml_core/cohort.py)."""
    sessions = Sessions(settings, device)
    runs = [sessions.open(config, gradients) for _ in range(count)]
    for run in runs:
        run.wait_ready()
        sessions.scheduler.put(Inbound(run.sid, json.dumps({"type": "play"})))
    time.sleep(0.5)  # warm up: buffers allocated, threads running
    start = [(run.epochs(), run.frames) for run in runs]
    t0 = time.perf_counter()
    time.sleep(seconds)
    end = [(run.epochs(), run.frames) for run in runs]
    elapsed = time.perf_counter() - t0
    together = dict(sessions.scheduler.together)  # cohort size -> turns (since the start)
    sessions.close()
    cohort = {"cohort": max(together, default=1)}
    return [
        {"epochs_per_s": (e1 - e0) / elapsed, "fps": (f1 - f0) / elapsed, **cohort}
        for (e0, f0), (e1, f1) in zip(start, end, strict=True)
    ]


def eager(config: dict, device: torch.device, seconds: float) -> float:
    """Epochs/s of the plain eager PyTorch loop on the same data, batches and network."""
    lab = MLPLab(Settings(device=str(device)), device)
    lab.configure(MLPConfigure(type="configure", config=config))
    s = lab.run
    model = build_mlp(s.config.model, s.classes, seed=0, device=device)
    t = s.config.training
    optimizer = make_optimizer(t.optimizer, model.parameters(), t.learning_rate, t.weight_decay)
    x_all = torch.from_numpy(s.train_features).to(device)  # (250, 2)
    y_all = torch.from_numpy(s.train_y).to(device)  # (250,)
    rng = np.random.default_rng(0)
    epochs, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        order = torch.from_numpy(rng.permutation(s.n_train)).to(device)
        x, y = x_all[order], y_all[order]
        for i in range(0, s.n_train, t.batch_size):
            optimizer.zero_grad()
            loss_fn(t.loss, model(x[i : i + t.batch_size]), y[i : i + t.batch_size]).backward()
            optimizer.step()
        epochs += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return epochs / (time.perf_counter() - t0)


def frame_cost(
    config: dict,
    device: torch.device,
    repeats: int = 100,
    gradients: str = "off",
    fresh: bool = False,
) -> tuple[float, int]:
    """µs to build and encode one metrics + frame of a trained network, and its bytes.

    ``fresh=False`` (the figure of BENCHMARKS.md): frames with no step between, so the forward
    over the grids and the gradients are cached. ``fresh=True``: a step before each frame (not
    counted), as in play, so the frame computes everything afresh."""
    lab = MLPLab(Settings(device=str(device)), device)
    lab.configure(MLPConfigure(type="configure", config=config))
    lab.on_gradients(GradientsMessage(type="gradients", over=gradients))
    lab.step(500)
    lab.metrics(), lab.frame(streaming=True)  # warm up
    spent = 0.0
    for _ in range(repeats):
        if fresh:
            lab.step(1)
        t0 = time.perf_counter()
        data = [encode(lab.metrics())] + [encode(m) for m in lab.frame(streaming=True)]
        spent += time.perf_counter() - t0
    return spent / repeats * 1e6, sum(len(d) for d in data)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, auto")
    parser.add_argument(
        "--max-sessions", type=int, default=24, help="most concurrent sessions tried"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = pick_device(args.device)
    settings = Settings(device=str(device), max_sessions=args.max_sessions + 8)
    print(f"machine: {machine()}; device: {describe(device)}; fps: {settings.fps:g}")

    for key, case in CASES.items():
        # Interleaved rounds, medians: a shared machine's load drifts between measurements.
        sessions, backward, baselines = [], [], []
        for _ in range(args.rounds):
            sessions.append(stream(settings, device, case["config"], args.seconds)[0])
            backward.append(
                stream(settings, device, case["config"], args.seconds, gradients="train")[0]
            )
            baselines.append(eager(case["config"], device, args.seconds))
        baseline = float(np.median(baselines))
        for label, results in (("", sessions), ("    with the backward view on: ", backward)):
            epochs = float(np.median([r["epochs_per_s"] for r in results]))
            fps = float(np.median([r["fps"] for r in results]))
            ratio = epochs / baseline
            print(
                f"{label or case['title'] + ': '}session {epochs:.0f} epochs/s at {fps:.0f} "
                f"frames/s, eager PyTorch {baseline:.0f} epochs/s, ratio {ratio:.1f} (goal >= 5) "
                f"{'OK' if ratio >= 5 else 'MISSED'}  [median of {args.rounds} interleaved rounds]"
            )
        if key == "b":
            for fresh in (False, True):
                for label, gradients in (("", "off"), (", backward view on", "train")):
                    us, size = frame_cost(case["config"], device, gradients=gradients, fresh=fresh)
                    ok = us <= 5000 and size <= 64 * 1024
                    after = "after a step, all computed afresh" if fresh else "cached pictures"
                    print(
                        f"    one frame of (b){label} ({after}), metrics + binary frame built "
                        f"and encoded: {us:.0f} µs, {size:,} bytes (goal <= 5 ms, <= 64 KB) "
                        f"{'OK' if ok else 'MISSED'}"
                    )

    best, best_fps, n = 0, 0.0, 1
    while n <= args.max_sessions:
        results = stream(settings, device, CASES["a"]["config"], args.seconds, count=n)
        worst = min(r["epochs_per_s"] for r in results)
        fps = min(r["fps"] for r in results)
        cohort = results[0]["cohort"]
        together = f", stepped together in cohorts of up to {cohort}" if cohort > 1 else ""
        print(
            f"    {n:2d} concurrent sessions of (a): slowest {worst:.0f} epochs/s, "
            f"{fps:.0f} frames/s{together}"
        )
        if worst < 60:
            break
        best, best_fps = n, fps
        n = n * 2 if n < 8 else n + 4
    print(
        f"concurrent sessions of (a) each >= 60 epochs/s while streaming at up to "
        f"{settings.fps:g} fps: {best} (goal >= 8) {'OK' if best >= 8 else 'MISSED'}"
        + (f"; the slowest of them got {best_fps:.0f} frames/s" if best else "")
    )


if __name__ == "__main__":
    main()
