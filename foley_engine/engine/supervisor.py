"""Supervisor policy: keep N warm worker slots, restart each on crash, recycle each when it ages.

The supervisor decides *when* a slot's worker starts, restarts (with back-off)
or is recycled (after N items, or when its memory grew); each
:class:`~.worker_process.WorkerProcess` keeps its own state; the job book
decides what happens to the work.  Worker reports come in through
:meth:`Supervisor.on_report`, which filters out reports of older workers and
runs that are no longer current, and hands the rest back to the server.

Every worker ever started gets a new *generation* number (engine-wide, not per
slot), so a report names exactly one worker and the run key
``job_id/item/generation`` names exactly one run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import zmq

from .config import EngineConfig
from .slots import SlotSpec, local_slot, plan_slots
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


@dataclass
class Slot:
    """One slot's supervision state; its worker (when one runs) owns the rest."""

    spec: SlotSpec
    worker: Optional[WorkerProcess] = None
    next_spawn: float = 0.0
    crashes_before_ready: int = 0
    restarts: int = 0
    recycles: int = 0
    items_run: int = 0
    last_exit: Optional[str] = None
    extra: dict = field(default_factory=dict)

    def describe(self) -> dict:
        w = self.worker
        out = dict(self.spec.describe(), restarts=self.restarts, recycles=self.recycles, items_run=self.items_run,
                   state=w.reported_state() if w is not None else "restarting", current=None)
        if w is not None:
            out.update(w.describe())
            out["current"] = _current(w.current)
            out["gpu"] = w.gpu
            out["backend_device"] = w.backend_info.get("device")
            if w.backend_info.get("remote"):
                out["where"] = w.backend_info["remote"]  # the Ray node, actor pid and GPU ids
        out.setdefault("where", {"host": "local"})
        if self.last_exit:
            out["last_exit"] = self.last_exit
        return out


def _current(key: Optional[str]) -> Optional[dict]:
    if key is None:
        return None
    job_id, idx = key_item(key)
    return {"job_id": job_id, "item": idx}


class Supervisor:
    def __init__(self, ctx: zmq.Context, inbox: str, config: EngineConfig, log: Callable[[str], None],
                 specs: Optional[list[SlotSpec]] = None):
        self.ctx, self.inbox, self.config, self.log = ctx, inbox, config, log
        self.slots = [Slot(s) for s in (specs if specs is not None else plan_slots(config))]
        self.generation = 0
        self.backend_error: Optional[str] = None
        self.backend_info: dict = {"name": config.backend}
        self._by_generation: dict[int, Slot] = {}

    # ------------------------------------------------------------------ compatibility (one-slot views)

    @property
    def worker(self) -> Optional[WorkerProcess]:
        """The first slot's worker (the single-worker view of ``status``)."""
        return self.slots[0].worker

    @property
    def restarts(self) -> int:
        return sum(s.restarts for s in self.slots)

    @property
    def recycles(self) -> int:
        return sum(s.recycles for s in self.slots)

    @property
    def items_run(self) -> int:
        return sum(s.items_run for s in self.slots)

    # ------------------------------------------------------------------ lifecycle

    def spawn(self, slot: Optional[Slot] = None) -> None:
        if slot is None:
            for s in self.slots:
                if s.worker is None:
                    self.spawn(s)
            return
        self.generation += 1
        spec = slot.spec
        slot.worker = WorkerProcess(self.ctx, self.inbox, self.generation, self.config.backend, spec.options,
                                    env=spec.env, init=spec.init)
        self._by_generation[self.generation] = slot
        where = f" on {spec.device}" if spec.device else ""
        self.log(f"slot {spec.index} ({spec.kind}{where}): worker {slot.worker.pid} loading backend {self.config.backend}")

    def tick(self, now: float) -> None:
        """Start a worker in every slot that has none, once its back-off has passed."""
        if self.backend_error is not None:
            return
        for s in self.slots:
            if s.worker is None and now >= s.next_spawn:
                self.spawn(s)

    def ready_worker(self) -> Optional[WorkerProcess]:
        for s in self.slots:
            w = s.worker
            if w is not None and w.state == "ready":
                return w
        return None

    def start_run(self, job_id: str, idx: int, spec: dict, worker: Optional[WorkerProcess] = None) -> None:
        w = worker or self.ready_worker()
        assert w is not None and w.state == "ready", "start_run without a ready worker"
        w.run(item_key(job_id, idx, w.generation), idx, spec)

    def running_keys(self) -> list[str]:
        return [s.worker.current for s in self.slots if s.worker is not None and s.worker.current is not None]

    def running_key(self) -> Optional[str]:
        keys = self.running_keys()
        return keys[0] if keys else None

    def cancel_job(self, job_id: str) -> int:
        """Stop every run of ``job_id`` at its next window boundary; returns how many."""
        n = 0
        for s in self.slots:
            w = s.worker
            if w is not None and w.current is not None and key_item(w.current)[0] == job_id:
                w.cancel()
                n += 1
        return n

    def kill(self) -> None:
        for s in self.slots:
            if s.worker is not None:
                s.worker.kill()

    def replace_slots(self, specs: list[SlotSpec]) -> list[str]:
        """Kill every worker and swap in other slots (the Ray fallback); returns the keys of the runs
        that were in flight (their late reports are ignored: their workers are no longer known)."""
        keys = self.running_keys()
        self.kill()
        self.slots = [Slot(s) for s in specs]
        self._by_generation.clear()
        self.backend_error = None
        return keys

    # ------------------------------------------------------------------ reports

    def on_report(self, msg: dict) -> Optional[Report]:
        slot = self._by_generation.get(msg.get("generation"))
        w = slot.worker if slot is not None else None
        if w is None or msg.get("generation") != w.generation:
            return None
        kind = msg["type"]
        if kind == "ready":
            w.on_ready(msg)
            self.backend_info = w.backend_info or self.backend_info
            slot.crashes_before_ready = 0
            self.log(f"slot {slot.spec.index}: worker {w.pid} ready")
            return None
        if kind == "fatal":
            self.backend_error = msg["message"]
            self.log(self.backend_error)
            return Report("fatal", None, {"code": msg.get("code") or "backend", "message": self.backend_error})
        if kind == "exit":
            return self._on_exit(slot, w, msg["returncode"])
        if not w.about_current(msg):
            return None  # a report about an item the engine already gave up on
        key = w.current
        if kind in ("done", "cancelled", "error"):
            w.on_item_finished(msg)
            slot.items_run += 1
        return Report(kind, key, msg)

    def _on_exit(self, slot: Slot, w: WorkerProcess, returncode: int) -> Optional[Report]:
        slot.worker = None
        self._by_generation.pop(w.generation, None)
        if w.state == "exiting" and w.current is None:
            return None  # recycled or stopped on request; tick() starts the next one
        reason = describe_exit(returncode)
        slot.last_exit = reason
        self.log(f"slot {slot.spec.index}: {reason} (pid {w.pid})")
        slot.restarts += 1
        fatal = None
        if w.state == "loading" and self.backend_error is None:
            slot.crashes_before_ready += 1
            if slot.crashes_before_ready >= 3:
                self.backend_error = f"backend {self.config.backend!r} failed to load 3 times; {reason}"
                fatal = Report("fatal", None, {"code": "backend", "message": self.backend_error})
        slot.next_spawn = time.monotonic() + min(5.0, 0.5 * slot.crashes_before_ready)
        if w.current is not None:
            return Report("lost", w.current, {"reason": reason})
        return fatal

    def maybe_recycle(self) -> None:
        """Retire ready workers that ran too many items or whose memory grew too much."""
        for s in self.slots:
            w = s.worker
            if w is None or w.state != "ready":
                continue
            growth = (w.last_rss or 0) - (w.rss_at_ready or 0)
            reason = None
            if w.items_done >= self.config.max_jobs_per_worker:
                reason = f"after {w.items_done} jobs"
            elif w.rss_at_ready and growth > self.config.max_worker_growth:
                reason = f"its memory grew by {growth // (1024 * 1024)} MiB"
            if reason:
                self.log(f"slot {s.spec.index}: recycling worker {w.pid} {reason}")
                s.recycles += 1
                w.retire()

    def step_stop(self) -> bool:
        """One step of a graceful stop; True once no worker is left to wait for."""
        left = False
        for s in self.slots:
            w = s.worker
            if w is None:
                continue
            left = True
            if w.state == "busy":
                w.cancel()
            elif w.state in ("ready", "loading"):
                w.retire()
                w.close_stdin()
        return not left

    def describe(self) -> dict:
        return {"restarts": self.restarts, "recycles": self.recycles, "items_run": self.items_run,
                "max_jobs_per_worker": self.config.max_jobs_per_worker, "slots": len(self.slots)}

    def describe_slots(self) -> list[dict]:
        return [s.describe() for s in self.slots]


def local_fallback(config: EngineConfig) -> list[SlotSpec]:
    """Local slots standing in for Ray ones (as many, on the configured device)."""
    device = config.options.get("device")
    options = {k: v for k, v in config.options.items() if k != "device"}
    return [local_slot(i, device, options) for i in range(config.slots or 1)]
