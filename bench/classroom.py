"""A class on one server: N students train at once, through the real server and real websockets.

    python bench/classroom.py [--counts 1,2,4,8,16,24,32,48,64] [--seconds 5] [--workers N]
                              [--cnn-counts 1,2,4,8] [--idle 200] [--checkout DIR --label before]
                              [--plot docs/bench/classroom.png --json out.json]

The server is started as ``python -m app`` in a subprocess (``--checkout`` runs another
checkout's server, e.g. an older commit's, for a before/after comparison on the same machine).
The students are light clients in this process, on loopback: each configures the default circle
net (the playground's defaults, played at full speed and, where the checkout holds out a test
set, without one and with half the points for validation, as checkouts before the test split
had it, so that every checkout trains the same 250 points as fast as it can) and
presses play at the same moment; they count the frames they receive (a frame is one moment's
``metrics`` and its pictures; binary messages are not decoded) and read the epoch from the
``metrics`` messages.
Reported for each N: per-session epochs/s and frames/s (min and median) and the total epochs/s;
for N CNN sessions on digits, per-session images/s; and the memory of N idle connected sessions
(proportional set size of the server, its fork server and workers, with and without them).

Goals on a 2-core machine: 24 circle sessions each >= 60 epochs/s and >= 20 frames/s; the total
never falls as sessions are added, up to 64; 200 idle sessions hold <= 2 GB in all; a single
session loses no more than 10% of its speed (compare with ``--checkout`` of the old code).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
CIRCLE = {"type": "configure", "lab": "mlp", "config": {}}  # see circle_config()
DIGITS = {"type": "configure", "lab": "cnn", "config": {"dataset": "digits"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(checkout: Path, port: int, workers: int | None) -> subprocess.Popen:
    env = {
        **os.environ,
        "TORCHPLAY_PORT": str(port),
        "TORCHPLAY_MAX_SESSIONS": "1000",
        "TORCHPLAY_MAX_SESSIONS_PER_CLIENT": "1000",
        "TORCHPLAY_MAX_MESSAGES_PER_S": "1000",
        "PYTHONPATH": str(checkout),
    }
    if workers is not None:
        env["TORCHPLAY_WORKERS"] = str(workers)
    process = subprocess.Popen(
        [sys.executable, "-m", "app"], cwd=checkout, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the server did not start")


def circle_config(port: int) -> dict:
    """The playground's default config as this server gives it, at full speed, with no test
    share and half the points for validation (checkouts without ``/api/labs/mlp`` had neither
    test share nor full-speed default, and validated on half: their defaults are the same net).
    Without the validation share the newer checkouts trained 350 points an epoch to the older
    ones' 250, and looked 30 % slower per epoch for it."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/labs/mlp", timeout=30) as r:
            defaults = json.load(r)["defaults"]
    except (urllib.error.URLError, KeyError, ValueError):
        return CIRCLE
    config: dict = {}
    if "play" in defaults:
        config["play"] = {**defaults["play"], "steps_per_frame": 0}
    if "test_fraction" in defaults.get("dataset", {}):  # and 0.3 for validation, not 0.5
        config["dataset"] = {"test_fraction": 0.0, "val_fraction": 0.5}
    return {**CIRCLE, "config": config}


def tree_memory_mb(pid: int) -> float:
    """Memory of a process and all its descendants (MB, Linux): the sum of their proportional
    set sizes, so pages the workers share with the fork server (torch, numpy) count once."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                pss = next(line for line in f if line.startswith("Pss:"))
            total += int(pss.split()[1]) / 1024
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, StopIteration):
            pass
    return total


class Student:
    """One browser tab, reduced to what the bench needs: count frames, read the progress."""

    def __init__(self, url: str, lab: str, configure: dict) -> None:
        self.url = f"{url}/ws?lab={lab}&session={uuid.uuid4().hex}"
        self.configure = configure
        self.frames = 0
        self.progress = 0.0  # epochs (MLP) or images seen (CNN), from the newest metrics
        self.ready = asyncio.Event()
        self.ws = None
        self.key = "epoch" if lab == "mlp" else "samples_seen"

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=2**24, open_timeout=60)
        await self.ws.send(json.dumps(self.configure))
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        configured = 0
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    continue  # a frame's pictures (the CNN sends them in only some frames)
                if '"type":"metrics"' in message[:40]:
                    self.frames += 1
                    self.progress = json.loads(message)[self.key]
                elif '"type":"configured"' in message[:40]:
                    configured += 1
                    if configured == 2:  # the resync's, then the answer to our configure
                        self.ready.set()
        except websockets.ConnectionClosed:
            pass

    async def play(self) -> None:
        await self.ws.send('{"type":"play"}')

    async def close(self) -> None:
        # Pause first: a session whose socket goes keeps playing for a while (a reload must not
        # lose a second of it), and the next class's figures would pay for this one's.
        try:
            await self.ws.send('{"type":"pause"}')
        except websockets.ConnectionClosed:
            pass
        await self.ws.close()
        self.reader.cancel()


async def run_class(url: str, lab: str, configure: dict, n: int, seconds: float) -> dict:
    students = [Student(url, lab, configure) for _ in range(n)]
    await asyncio.gather(*(s.connect() for s in students))
    await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in students)), 300)
    await asyncio.gather(*(s.play() for s in students))  # everyone presses play at once
    await asyncio.sleep(min(2.0, seconds / 2))  # warm up
    before = [(s.progress, s.frames) for s in students]
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    after = [(s.progress, s.frames) for s in students]
    elapsed = time.perf_counter() - t0
    await asyncio.gather(*(s.close() for s in students))
    await asyncio.sleep(1.0)  # the pauses reach the workers before the next class starts
    rates = [(p1 - p0) / elapsed for (p0, _), (p1, _) in zip(before, after, strict=True)]
    fps = [(f1 - f0) / elapsed for (_, f0), (_, f1) in zip(before, after, strict=True)]
    return {
        "n": n,
        "min": min(rates),
        "median": statistics.median(rates),
        "total": sum(rates),
        "fps_min": min(fps),
        "fps_median": statistics.median(fps),
    }


async def idle_memory(url: str, pid: int, n: int, circle: dict) -> dict:
    """Resident memory of the server tree with ``n`` connected, configured, paused sessions."""
    base = tree_memory_mb(pid)
    students = [Student(url, "mlp", circle) for _ in range(n)]
    for i in range(0, n, 20):  # connect in waves, as a class arriving
        batch = students[i : i + 20]
        await asyncio.gather(*(s.connect() for s in batch))
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in batch)), 300)
    await asyncio.sleep(2)
    held = tree_memory_mb(pid)
    await asyncio.gather(*(s.close() for s in students))
    return {"n": n, "base_mb": base, "with_mb": held, "per_session_mb": (held - base) / n}


def table(title: str, unit: str, rows: list[dict]) -> str:
    lines = [
        f"{title}",
        f"| N | {unit}/s per session: min | median | total | frames/s: min | median |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['min']:,.0f} | {r['median']:,.0f} | {r['total']:,.0f} | "
            f"{r['fps_min']:.1f} | {r['fps_median']:.1f} |"
        )
    return "\n".join(lines)


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, frames) = plt.subplots(1, 2, figsize=(11, 4))
    for label, result in results.items():
        rows = result["circle"]
        ns = [r["n"] for r in rows]
        speed.plot(ns, [r["min"] for r in rows], "o-", label=f"{label}: slowest session")
        speed.plot(ns, [r["total"] for r in rows], "s--", label=f"{label}: all sessions")
        frames.plot(ns, [r["fps_min"] for r in rows], "o-", label=f"{label}: slowest session")
    speed.axhline(60, color="grey", lw=0.8, ls=":")
    frames.axhline(20, color="grey", lw=0.8, ls=":")
    speed.set(xlabel="students training at once (N)", ylabel="epochs/s", yscale="log",
              title="Default circle net: training speed")
    frames.set(xlabel="students training at once (N)", ylabel="frames/s",
               title="Frames each page receives")
    speed.legend(fontsize=8)
    frames.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def measure(args, checkout: Path) -> dict:
    port = free_port()
    server = start_server(checkout, port, args.workers)
    url = f"ws://127.0.0.1:{port}"
    result: dict = {"circle": [], "cnn": [], "idle": None}
    try:
        circle = circle_config(port)
        for n in args.counts:
            row = asyncio.run(run_class(url, "mlp", circle, n, args.seconds))
            result["circle"].append(row)
            print(f"  circle N={n}: min {row['min']:.0f} epochs/s, median {row['median']:.0f}, "
                  f"total {row['total']:.0f}; frames/s min {row['fps_min']:.1f}", flush=True)
        for n in args.cnn_counts:
            row = asyncio.run(run_class(url, "cnn", DIGITS, n, args.seconds))
            result["cnn"].append(row)
            print(f"  cnn N={n}: min {row['min']:.0f} images/s, median {row['median']:.0f}, "
                  f"total {row['total']:.0f}; frames/s min {row['fps_min']:.1f}", flush=True)
        if args.idle:
            result["idle"] = asyncio.run(idle_memory(url, server.pid, args.idle, circle))
            idle = result["idle"]
            print(f"  {idle['n']} idle sessions: {idle['with_mb']:.0f} MB in all "
                  f"({idle['base_mb']:.0f} MB without; {idle['per_session_mb']:.1f} MB each)")
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    return result


def main() -> None:
    ints = lambda text: [int(v) for v in text.split(",") if v]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=ints, default=ints("1,2,4,8,16,24,32,48,64"))
    parser.add_argument("--cnn-counts", type=ints, default=ints("1,2,4,8"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=None, help="TORCHPLAY_WORKERS (default: cores)")
    parser.add_argument("--idle", type=int, default=200, help="idle sessions for the memory figure")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="also measure the server of this checkout (e.g. an older commit)")
    parser.add_argument("--label", default="before", help="name of the --checkout series")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG plot here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    results: dict[str, dict] = {}
    if args.checkout is not None:
        print(f"{args.label}: {args.checkout}")
        results[args.label] = measure(args, args.checkout.resolve())
    print(f"now: {ROOT} (workers: {args.workers if args.workers is not None else 'cores'})")
    results["now"] = measure(args, ROOT)
    for label, result in results.items():
        print()
        print(table(f"{label}: default circle net", "epochs", result["circle"]))
        if result["cnn"]:
            print(table(f"{label}: CNN on digits", "images", result["cnn"]))
    now = results["now"]
    at24 = next((r for r in now["circle"] if r["n"] == 24), None)
    if at24:
        ok = at24["min"] >= 60 and at24["fps_min"] >= 20
        print(f"\n24 sessions: slowest {at24['min']:.0f} epochs/s at {at24['fps_min']:.1f} "
              f"frames/s (goal >= 60 and >= 20) {'OK' if ok else 'MISSED'}")
    totals = [r["total"] for r in now["circle"]]
    falls = [
        f"{a['n']}->{b['n']}" for a, b in zip(now["circle"], now["circle"][1:], strict=False)
        if b["total"] < 0.9 * a["total"]
    ]
    print(f"total epochs/s by N: {', '.join(f'{t:.0f}' for t in totals)}; "
          f"falls by more than 10%: {', '.join(falls) or 'none'}")
    if now["idle"]:
        ok = now["idle"]["with_mb"] <= 2048
        print(f"{now['idle']['n']} idle sessions: {now['idle']['with_mb']:.0f} MB in all "
              f"(goal <= 2048 MB) {'OK' if ok else 'MISSED'}")
    if args.checkout is not None and now["circle"] and results[args.label]["circle"]:
        one_then = results[args.label]["circle"][0]["median"]
        one_now = now["circle"][0]["median"]
        print(f"a single session: {one_now:.0f} epochs/s now, {one_then:.0f} before "
              f"({one_now / one_then:.0%}; goal >= 90%)")
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
