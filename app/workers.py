"""Workers: where sessions run. Each is a process (``TORCHPLAY_WORKERS`` of them, one per core by
default) or, with ``TORCHPLAY_WORKERS=0``, one thread of the web process.

A ``Link`` is the web process's handle on one worker: ``send(command)`` never blocks the event
loop (a bounded queue feeds the pipe from a thread), and every event the worker emits (replies,
frames as already-encoded bytes, call results, closed sessions) is handed to ``on_event`` on the
event loop. Inside the worker one ``app.scheduler.Scheduler`` runs all its sessions in turn.

Processes start from a fork server that has already imported torch and the labs, so a worker,
or the replacement of one that died, is up in well under a second and shares the read-only
pages of those libraries with its siblings.

On a GPU every worker has its own CUDA context; each may take ``1 / workers`` of the card's
memory (``torch.cuda.set_per_process_memory_fraction``), so one worker cannot starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection

import torch
from threadpoolctl import threadpool_limits

from app.config import Settings
from app.labs.base import Lab
from app.scheduler import Scheduler
from app.wire import Shutdown

log = logging.getLogger("torchplay.workers")

PIPE_QUEUE = 4096  # commands waiting for a worker's pipe; beyond this the server says "busy"


class WorkerBusy(RuntimeError):
    """A worker's command queue is full (it is not reading: stuck or dying)."""


def lab_path(lab_cls: type[Lab]) -> str:
    return f"{lab_cls.__module__}:{lab_cls.__qualname__}"


def load_lab(path: str) -> type[Lab]:
    module, _, name = path.partition(":")
    obj: object = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    assert isinstance(obj, type) and issubclass(obj, Lab), path
    return obj


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process in MB (Linux /proc; 0 where unavailable)."""
    try:
        with open(f"/proc/{pid or os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def limit_threads(n: int) -> None:
    """Where sessions run (a worker, or the web process with ``TORCHPLAY_WORKERS=0``): ``n``
    threads for torch and for NumPy's BLAS. The fast engine's products are tiny, and OpenBLAS's
    helper threads spin while they wait, taking the CPU the other workers and the web need."""
    torch.set_num_threads(n)
    threadpool_limits(n, user_api="blas")


class Link:
    """The web side's handle on one worker."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.sessions: set[str] = set()  # session keys living here
        self.alive = True
        self.ready = threading.Event()  # the worker runs (commands sent before wait for it)

    def start(self, on_event: Callable[[Link, object], None], loop: asyncio.AbstractEventLoop):
        raise NotImplementedError

    def send(self, command: object) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class ThreadLink(Link):
    """A scheduler on a thread of this process (TORCHPLAY_WORKERS=0: development and tests)."""

    def __init__(self, index: int, settings: Settings, labs: dict[str, type[Lab]], device):
        super().__init__(index)
        self.settings, self.labs, self.device = settings, labs, device
        self.scheduler: Scheduler | None = None

    def start(self, on_event, loop) -> None:
        def emit(event: object) -> None:
            try:
                loop.call_soon_threadsafe(on_event, self, event)
            except RuntimeError:  # the loop has closed: the server is shutting down
                pass

        self.scheduler = Scheduler(self.settings, self.labs, self.device, emit)
        threading.Thread(target=self.scheduler.run, name=f"scheduler-{self.index}", daemon=True).start()
        self.ready.set()
        threading.Thread(
            target=self.scheduler.watch, name=f"watchdog-{self.index}", daemon=True
        ).start()

    def send(self, command: object) -> None:
        assert self.scheduler is not None
        self.scheduler.put(command)

    def stop(self) -> None:
        self.alive = False
        if self.scheduler is not None:
            self.scheduler.put(Shutdown())


class ProcessLink(Link):
    """A worker process, reached over a pipe."""

    def __init__(self, index: int, settings: Settings, labs: dict[str, type[Lab]], device) -> None:
        super().__init__(index)
        self.settings = settings
        self.lab_paths = {name: lab_path(cls) for name, cls in labs.items()}
        self.device = str(device)
        self.outbox: queue.Queue = queue.Queue(maxsize=PIPE_QUEUE)
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None

    def start(self, on_event, loop) -> None:
        """Start the process without holding up the caller: the first worker of a server waits
        for the fork server to import torch and the labs (seconds). Commands sent meanwhile wait
        in the bounded outbox; ``ready`` is set once the process runs."""
        threading.Thread(target=self._start, args=(on_event, loop), daemon=True,
                         name=f"worker-{self.index}-start").start()

    def _start(self, on_event, loop) -> None:
        context = _context()
        parent, child = context.Pipe(duplex=True)
        self.conn = parent
        self.process = context.Process(
            target=worker_main,
            args=(child, self.settings, self.lab_paths, self.device, self.index),
            name=f"torchplay-worker-{self.index}",
            daemon=True,
        )
        try:
            self.process.start()
        except Exception:  # e.g. the fork server is gone: as if it started and died at once
            log.exception("worker %d: could not start", self.index)
            self.process = None
            parent.close()
            self.ready.set()  # nobody waits for a start that will not come
            if self.alive:
                self.alive = False
                with contextlib.suppress(RuntimeError):  # the loop has closed: shutting down
                    loop.call_soon_threadsafe(on_event, self, WorkerDied(self.index))
            return
        child.close()
        threading.Thread(target=self._read, args=(on_event, loop), daemon=True,
                         name=f"worker-{self.index}-read").start()
        threading.Thread(target=self._write, daemon=True, name=f"worker-{self.index}-write").start()
        self.ready.set()

    def _read(self, on_event, loop) -> None:
        assert self.conn is not None
        try:
            while True:
                event = self.conn.recv()
                try:
                    loop.call_soon_threadsafe(on_event, self, event)
                except RuntimeError:  # the loop has closed: the server is shutting down
                    return
        except (EOFError, OSError):
            pass
        except Exception:
            log.exception("worker %d: unreadable event", self.index)
        if self.alive:  # not stopped by us: it died
            self.alive = False
            loop.call_soon_threadsafe(on_event, self, WorkerDied(self.index))

    def _write(self) -> None:
        assert self.conn is not None
        while True:
            command = self.outbox.get()
            if command is None:
                return
            try:
                self.conn.send(command)
            except (OSError, ValueError):
                return  # the worker is gone; the reader reports it

    def send(self, command: object) -> None:
        if not self.alive:
            raise WorkerBusy("the worker is restarting; try again in a moment")
        try:
            self.outbox.put_nowait(command)
        except queue.Full:
            raise WorkerBusy("the server is busy; try again in a moment") from None

    def stop(self) -> None:
        self.alive = False
        try:
            self.outbox.put_nowait(Shutdown())
            self.outbox.put_nowait(None)
        except queue.Full:
            pass
        self.ready.wait(60)  # a worker still starting is stopped once it runs
        if self.process is not None:
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(timeout=5)

    @property
    def pid(self) -> int | None:
        """The worker's process id (waits for it to start; for tests and benchmarks)."""
        self.ready.wait(120)
        return self.process.pid if self.process is not None else None


class WorkerDied:
    """Event: a worker process ended without being asked to."""

    def __init__(self, index: int) -> None:
        self.index = index


_CONTEXT = None


def _context():
    """The fork server (started once per web process, with torch and the labs preloaded)."""
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["app.workers", "app.labs"])
    return _CONTEXT


def worker_main(conn: Connection, settings: Settings, lab_paths: dict[str, str], device: str,
                index: int) -> None:
    """A worker process: one scheduler for its sessions, fed by the pipe."""
    from ml_core.device import pick_device

    # Orders come from the web process: a Ctrl-C or `kill` of the whole process group (a
    # terminal, a process manager) must not kill the workers under it while it shuts down in
    # order, nor look to it like workers that died (it would start new ones). Without a web
    # process the pipe ends, and so does the worker.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    limit_threads(settings.torch_threads)
    labs = {name: load_lab(path) for name, path in lab_paths.items()}
    dev = pick_device(device)
    if dev.type == "cuda":
        fraction = 1.0 / max(1, settings.workers)
        torch.cuda.set_per_process_memory_fraction(fraction, dev)
    send_lock = threading.Lock()

    def emit(event: object) -> None:
        with send_lock:
            try:
                conn.send(event)
            except (OSError, ValueError):
                scheduler.put(Shutdown())  # the web process is gone

    scheduler = Scheduler(settings, labs, dev, emit)

    def read() -> None:
        try:
            while True:
                scheduler.put(conn.recv())
        except (EOFError, OSError):
            scheduler.put(Shutdown())

    threading.Thread(target=read, daemon=True, name="read").start()
    threading.Thread(target=scheduler.watch, kwargs={"rss": rss_mb}, daemon=True,
                     name="watchdog").start()
    scheduler.run()
