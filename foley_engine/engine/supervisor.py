"""Supervisor policy: keep one warm worker, restart it on crash, recycle it when it ages.

The supervisor decides *when* a worker starts, restarts (with back-off) or is
recycled (after N items, or when its memory grew); the
:class:`~.worker_process.WorkerProcess` keeps its own state; the job book
decides what happens to the work.  Worker reports come in through
:meth:`Supervisor.on_report`, which filters out reports of older workers and
runs that are no longer current, and hands the rest back to the server.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional

import zmq

from .config import EngineConfig
from .worker_process import WorkerProcess, describe_exit


@dataclass
class Report:
    """A worker report the server must act on.

    ``kind``: ``progress``, ``span``, ``done``, ``cancelled``, ``error`` (about
    ``key``), ``lost`` (the worker died during ``key``) or ``fatal`` (the
    backend cannot load; ``message`` says why).
    """

    kind: str
    key: Optional[str]
    msg: dict


def item_key(job_id: str, idx: int, generation: int) -> str:
    return f"{job_id}/{idx}/{generation}"


def key_item(key: str) -> tuple[str, int]:
    job_id, idx, _ = key.split("/")
    return job_id, int(idx)


class Supervisor:
    def __init__(self, ctx: zmq.Context, inbox: str, config: EngineConfig, log: Callable[[str], None]):
        self.ctx, self.inbox, self.config, self.log = ctx, inbox, config, log
        self.worker: Optional[WorkerProcess] = None
        self.generation = 0
        self.next_spawn = 0.0
        self.crashes_before_ready = 0
        self.restarts = 0
        self.recycles = 0
        self.items_run = 0
        self.backend_error: Optional[str] = None
        self.backend_info: dict = {"name": config.backend}

    # ------------------------------------------------------------------ lifecycle

    def spawn(self) -> None:
        self.generation += 1
        self.worker = WorkerProcess(self.ctx, self.inbox, self.generation, self.config.backend, self.config.options)
        self.log(f"worker {self.worker.pid} loading backend {self.config.backend}")

    def tick(self, now: float) -> None:
        """Start a worker when none runs and the back-off has passed."""
        if self.worker is None and self.backend_error is None and now >= self.next_spawn:
            self.spawn()

    def ready_worker(self) -> Optional[WorkerProcess]:
        w = self.worker
        return w if w is not None and w.state == "ready" else None

    def start_run(self, job_id: str, idx: int, spec: dict) -> None:
        w = self.ready_worker()
        assert w is not None, "start_run without a ready worker"
        w.run(item_key(job_id, idx, w.generation), idx, spec)

    def running_key(self) -> Optional[str]:
        return self.worker.current if self.worker is not None else None

    def kill(self) -> None:
        if self.worker is not None:
            self.worker.kill()

    # ------------------------------------------------------------------ reports

    def on_report(self, msg: dict) -> Optional[Report]:
        w = self.worker
        if w is None or msg.get("generation") != w.generation:
            return None
        kind = msg["type"]
        if kind == "ready":
            w.on_ready(msg)
            self.backend_info = w.backend_info or self.backend_info
            self.crashes_before_ready = 0
            self.log(f"worker {w.pid} ready")
            return None
        if kind == "fatal":
            self.backend_error = msg["message"]
            self.log(self.backend_error)
            return Report("fatal", None, {"code": "backend", "message": self.backend_error})
        if kind == "exit":
            return self._on_exit(w, msg["returncode"])
        if not w.about_current(msg):
            return None  # a report about an item the engine already gave up on
        key = w.current
        if kind in ("done", "cancelled", "error"):
            w.on_item_finished(msg)
            self.items_run += 1
        return Report(kind, key, msg)

    def _on_exit(self, w: WorkerProcess, returncode: int) -> Optional[Report]:
        self.worker = None
        if w.state == "exiting" and w.current is None:
            return None  # recycled or stopped on request; tick() starts the next one
        reason = describe_exit(returncode)
        self.log(f"{reason} (pid {w.pid})")
        self.restarts += 1
        fatal = None
        if w.state == "loading" and self.backend_error is None:
            self.crashes_before_ready += 1
            if self.crashes_before_ready >= 3:
                self.backend_error = f"backend {self.config.backend!r} failed to load 3 times; {reason}"
                fatal = Report("fatal", None, {"code": "backend", "message": self.backend_error})
        self.next_spawn = time.monotonic() + min(5.0, 0.5 * self.crashes_before_ready)
        if w.current is not None:
            return Report("lost", w.current, {"reason": reason})
        return fatal

    def maybe_recycle(self) -> None:
        """Retire a ready worker that ran too many items or whose memory grew too much."""
        w = self.ready_worker()
        if w is None:
            return
        growth = (w.last_rss or 0) - (w.rss_at_ready or 0)
        reason = None
        if w.items_done >= self.config.max_jobs_per_worker:
            reason = f"after {w.items_done} jobs"
        elif w.rss_at_ready and growth > self.config.max_worker_growth:
            reason = f"its memory grew by {growth // (1024 * 1024)} MiB"
        if reason:
            self.log(f"recycling worker {w.pid} {reason}")
            self.recycles += 1
            w.retire()

    def step_stop(self) -> bool:
        """One step of a graceful stop; True once no worker is left to wait for."""
        w = self.worker
        if w is None:
            return True
        if w.state == "busy":
            w.cancel()
        elif w.state in ("ready", "loading"):
            w.retire()
            w.close_stdin()
        return False

    def describe(self) -> dict:
        return {"restarts": self.restarts, "recycles": self.recycles, "items_run": self.items_run,
                "max_jobs_per_worker": self.config.max_jobs_per_worker}
