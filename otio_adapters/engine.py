"""The :class:`~otio_adapters.generator.Generator` over a running Foley engine.

The plug-in package's batch runner does the work: each clip is its own
engine job (one clip that fails, a damaged file or a range past the end,
fails alone and the others are still filled), and each result is checked
against its request before it is placed.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from plugin_host.fields import ProtocolError
from plugin_host.items import Item
from plugin_host.timebase import SAMPLE_RATE

from .generator import Request, Result


#: an engine an adapter starts stops itself after this many minutes with no job (`engine serve --idle-exit`)
AUTOSTART_IDLE_EXIT_MIN = 30.0


def autostart_serve_args(serve_args, minutes: float = AUTOSTART_IDLE_EXIT_MIN) -> tuple:
    """``serve_args`` plus ``--idle-exit MINUTES`` unless they set it already (0 keeps the engine forever)."""
    serve_args = tuple(serve_args)
    if any(a == "--idle-exit" or str(a).startswith("--idle-exit=") for a in serve_args):
        return serve_args
    return ("--idle-exit", f"{minutes:g}") + serve_args


class EngineGenerator:
    def __init__(self, connection_file: Optional[str] = None, *, autostart: bool = True,
                 serve_args: tuple = (), timeout: Optional[float] = None, command: Optional[list] = None,
                 idle_exit_minutes: float = AUTOSTART_IDLE_EXIT_MIN):
        self.connection_file = connection_file
        self.autostart = autostart
        # Only an engine started here gets the idle exit: a running one is never touched.
        self.serve_args = autostart_serve_args(serve_args, idle_exit_minutes)
        self.timeout = timeout
        self.command = command

    def run(self, requests: Sequence[Request], out_dir: str,
            on_result: Optional[Callable[[Result], None]] = None) -> list[Result]:
        from plugin_host.batch import BatchRunner
        from plugin_host.client import EngineClient

        os.makedirs(out_dir, exist_ok=True)
        results: list[Result] = []

        def report(result: Result) -> None:
            results.append(result)
            if on_result is not None:
                on_result(result)

        items, kept = [], []
        for r in requests:  # an item checks itself when made: one that cannot be sent fails alone
            try:
                items.append(Item(media=r.media, start=r.start, end=r.end, prompt=r.prompt, seed=r.seed, speed=r.speed,
                                  label=r.label, record_start={"sample": r.record_sample, "rate": SAMPLE_RATE}))
                kept.append(r)
            except ProtocolError as exc:
                report(Result(r.key, error=f"{r.label}: {exc}"))
        requests = kept
        if not items:
            return results
        with EngineClient.connect(self.connection_file, autostart=self.autostart, serve_args=self.serve_args,
                                  command=self.command) as eng:
            outcome = BatchRunner(eng, out_dir, sample_rate=SAMPLE_RATE, timeout=self.timeout).run(
                items,
                on_result=lambda done: report(_result(requests[done.index], done.job_id, done.result)),
                on_failure=lambda failed: report(Result(requests[failed.index].key, job_id=failed.job_id,
                                                        error=_reason(requests[failed.index], failed.reason))))
        if outcome.interrupted:
            raise KeyboardInterrupt  # the user gave up; the engine was told to stop
        return results


def _reason(req: Request, reason: str) -> str:
    return f"{req.label}: cancelled in the engine" if reason == "cancelled" else f"{req.label}: {reason}"


def _result(req: Request, job_id: str, r) -> Result:
    return Result(req.key, path=r.path, start_sample=r.start_sample, num_samples=r.num_samples,
                  sample_rate=r.sample_rate, backend=r.backend, job_id=job_id, seed=r.seed, warnings=r.warnings)
