"""The :class:`~otio_adapters.generator.Generator` over a running Foley engine.

The plug-in package's batch runner does the work: each clip is its own
engine job (one clip that fails, a damaged file or a range past the end,
fails alone and the others are still filled), and each result is checked
against its request before it is placed.  An engine started here stops
itself when idle (:mod:`plugin_host.process`).
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from plugin_host.fields import ProtocolError
from plugin_host.process import IDLE_EXIT_MIN, EngineSpec
from plugin_host.timebase import SAMPLE_RATE

from .generator import Request, Result


class EngineGenerator:
    def __init__(self, connection_file: Optional[str] = None, *, autostart: bool = True,
                 serve_args: tuple = (), timeout: Optional[float] = None, command: Optional[list] = None,
                 idle_exit_minutes: float = IDLE_EXIT_MIN):
        # Only an engine started here gets the idle exit: a running one is never touched.
        self.spec = EngineSpec(connection_file, command, tuple(serve_args), autostart, idle_exit_minutes)
        self.timeout = timeout
        #: the notice when :meth:`run` started the engine (see :mod:`plugin_host.process`), else None
        self.started: Optional[str] = None

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
                items.append(r.to_item())
                kept.append(r)
            except ProtocolError as exc:
                report(Result.failure(r, str(exc)))
        requests = kept
        if not items:
            return results
        with EngineClient.open(self.spec) as eng:
            self.started = self.started or eng.started
            outcome = BatchRunner(eng, out_dir, sample_rate=SAMPLE_RATE, timeout=self.timeout).run(
                items,
                on_result=lambda done: report(Result.of_item(requests[done.index].key, done.result, done.job_id)),
                on_failure=lambda failed: report(Result.failure(requests[failed.index], failed.reason,
                                                                failed.job_id)))
        if outcome.interrupted:
            raise KeyboardInterrupt  # the user gave up; the engine was told to stop
        return results
