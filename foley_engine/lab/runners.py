"""How one soak video goes through: in this process (:class:`InProcessRunner`) or through an engine
(:class:`EngineRunner`, on the plug-in package's batch runner, like every adapter)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from plugin_host.items import Item

from ..engine.memory import gpu_memory, process_cpu_seconds, process_peak_rss, process_rss

#: the folder holding the foley_engine package, so engines started here import this same copy
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Outcome:
    """One video through a runner."""

    path: str
    sample_rate: int
    start_sample: int
    num_samples: int
    spans: list  # [(start_sample, num_samples)] absolute
    wall_s: float
    cpu_s: Optional[float]
    window_offsets: list  # [(window, offset samples)] when aligning in-process


class InProcessRunner:
    """The backend in this process (no engine): for development and comparison."""

    def __init__(self, backend: str, *, align: bool = False, inject_ms: float = 0.0, options: Optional[dict] = None):
        from foley_engine.backends.registry import load_backend

        from .shifted import ShiftedBackend

        inner = load_backend(backend, **(options or {}))
        if inject_ms:
            inner = ShiftedBackend(inner, inject_ms)
        self.backend = inner
        self.align = align
        self.mode = "in-process"
        self.pids = {"worker": os.getpid()}
        self.restarts = 0

    @property
    def overlap(self) -> Fraction:
        return Fraction(self.backend.overlap)

    def run(self, media: str, out_dir: str, prompt: str, seed: int) -> Outcome:
        from foley_engine.generate import generate_to_file
        from foley_engine.job import Job

        spans = []
        out = os.path.join(out_dir, os.path.splitext(os.path.basename(media))[0] + "_foley.wav")
        cpu0, t0 = process_cpu_seconds(), time.perf_counter()
        offsets = []

        def on_span(span):
            spans.append((span.start, int(span.audio.shape[0])))
            if self.align:
                offsets.append((span.window.index, span.align_offset))

        result = generate_to_file(Job(media, prompt=prompt, seed=seed, align=self.align), self.backend, out,
                                  on_span=on_span)
        wall = time.perf_counter() - t0
        cpu = process_cpu_seconds() - cpu0
        return Outcome(result.path, result.sample_rate, result.start_sample, result.num_samples, spans, wall, cpu,
                       offsets)

    def memory(self) -> dict:
        return {"engine_rss": None, "worker_rss": process_rss(), "gpu": gpu_memory()}

    def peak_rss(self, name: str) -> Optional[int]:
        return process_peak_rss(self.pids[name]) if name in self.pids else None

    def close(self) -> None:
        self.backend.close()


class EngineRunner:
    """A private engine (own connection file and journal under ``folder``), driven by the batch runner."""

    def __init__(self, backend: str, folder: str, *, align: bool = False, options: Optional[dict] = None):
        from plugin_host.client import EngineClient, start_engine

        os.makedirs(folder, mode=0o700, exist_ok=True)
        self.connection_file = os.path.join(folder, "engine.json")
        serve = ["--backend", backend, "--journal", os.path.join(folder, "journal.sqlite")]
        self.align = align
        for key, value in (options or {}).items():
            serve += ["--option", f"{key}={value}"]
        self.backend_name = backend
        self.mode = "engine"
        # The engine and its worker are child processes: let them import this checkout from any cwd.
        saved = os.environ.get("PYTHONPATH")
        paths = [p for p in (saved or "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in paths if p != ROOT])
        try:
            info = start_engine(self.connection_file, tuple(serve), timeout=300)
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
        self.client = EngineClient(info, connection_file=self.connection_file, timeout=30)
        self.client.hello()
        self._wait_ready()
        self.pids: dict[str, int] = {}
        self.refresh_pids()

    def _wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.client.status()
            if st["backend"].get("error"):
                raise RuntimeError(f"engine backend failed: {st['backend']['error']}")
            if st["worker"] and st["worker"]["state"] in ("ready", "idle"):
                return
            time.sleep(0.1)
        raise RuntimeError("engine worker did not become ready")

    def refresh_pids(self) -> dict:
        st = self.client.status()
        self.pids = {"engine": st["engine"]["pid"]}
        if st["worker"]:
            self.pids["worker"] = st["worker"]["pid"]
        self.restarts = st["workers"]["restarts"] + st["workers"]["recycles"]
        return st

    @property
    def overlap(self) -> Fraction:
        """The backend's window overlap, read from its class (the backend itself lives in the worker)."""
        from foley_engine.backends.registry import backend_class

        return Fraction(backend_class(self.backend_name).overlap)

    def run(self, media: str, out_dir: str, prompt: str, seed: int) -> Outcome:
        from plugin_host.batch import BatchRunner

        self.refresh_pids()
        worker = self.pids.get("worker")
        cpu0 = process_cpu_seconds(worker) if worker else None
        spans = []
        t0 = time.perf_counter()
        outcome = BatchRunner(self.client, out_dir).run(
            [Item(media, prompt=prompt, seed=seed, format="float", align=self.align)],
            on_span=lambda _, span: spans.append((span["start_sample"], span["num_samples"])))
        done = outcome.outcomes[0]
        if not done.ok:
            raise RuntimeError(f"the engine did not generate {os.path.basename(media)}: {done.reason}")
        wall = time.perf_counter() - t0
        cpu1 = process_cpu_seconds(worker) if worker else None
        cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        r = done.result
        return Outcome(r.path, r.sample_rate, r.start_sample, r.num_samples, spans, wall, cpu, [])

    def memory(self) -> dict:
        st = self.refresh_pids()
        return {"engine_rss": st["memory"]["engine_rss"], "worker_rss": st["memory"]["worker_rss"],
                "gpu": st["memory"]["gpu"]}

    def peak_rss(self, name: str) -> Optional[int]:
        return process_peak_rss(self.pids[name]) if name in self.pids else None

    def close(self) -> None:
        from plugin_host.process import pid_alive

        pid = self.pids.get("engine")
        try:
            self.client.shutdown()
        finally:
            self.client.close()
        deadline = time.monotonic() + 30
        while pid and time.monotonic() < deadline:
            try:
                # start_engine spawned it from this process: reap it, or it stays a zombie that looks alive.
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not pid_alive(pid):
                    return
            time.sleep(0.05)
