"""The :class:`~otio_adapters.generator.Generator` over a running Foley engine.

Each clip is its own engine job, so one clip that fails (a damaged file, a
range past the end) fails alone and the others are still filled.  The engine
runs jobs in order, so waiting on them in submission order streams results
as they land.
"""
from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

from .generator import Request, Result
from .timemath import SAMPLE_RATE


class EngineGenerator:
    def __init__(self, connection_file: Optional[str] = None, *, autostart: bool = True,
                 serve_args: tuple = (), timeout: Optional[float] = None):
        self.connection_file = connection_file
        self.autostart = autostart
        self.serve_args = tuple(serve_args)
        self.timeout = timeout

    def run(self, requests: Sequence[Request], out_dir: str,
            on_result: Optional[Callable[[Result], None]] = None) -> list[Result]:
        from plugin_host.client import EngineClient, EngineError, RequestRejected

        os.makedirs(out_dir, exist_ok=True)
        results: list[Result] = []

        def report(result: Result) -> None:
            results.append(result)
            if on_result is not None:
                on_result(result)

        with EngineClient.connect(self.connection_file, autostart=self.autostart,
                                  serve_args=self.serve_args) as eng:
            jobs = []
            for req in requests:
                item = {"media": req.media, "start": str(req.start), "end": str(req.end), "prompt": req.prompt,
                        "seed": req.seed, "speed": str(req.speed),
                        "record_start": {"sample": req.record_sample, "rate": SAMPLE_RATE}}
                try:
                    jobs.append((req, eng.submit([item], out_dir=out_dir)))
                except RequestRejected as exc:
                    report(Result(req.key, error=f"{req.label}: the engine refused it: {exc}"))
            try:
                self._wait(jobs, report)
            except KeyboardInterrupt:
                # The user gave up: do not leave the engine working for nobody.
                for _, job in jobs:
                    if job.final is None:
                        try:
                            job.cancel()
                        except EngineError:
                            pass  # the engine is gone: nothing left to cancel
                raise
        return results

    def _wait(self, jobs: list, report: Callable[[Result], None]) -> None:
        from plugin_host.client import EngineError

        for req, job in jobs:
            try:
                for event in job.events(timeout=self.timeout):
                    if event.type == "item":
                        report(_result(req, job.job_id, event.content["result"]))
                if job.final.type == "failed":
                    reason = job.final.content.get("message", "failed")
                    report(Result(req.key, job_id=job.job_id, error=f"{req.label}: {reason}"))
                elif job.final.type == "cancelled":
                    report(Result(req.key, job_id=job.job_id, error=f"{req.label}: cancelled in the engine"))
            except EngineError as exc:
                report(Result(req.key, job_id=job.job_id, error=f"{req.label}: {exc}"))

def _result(req: Request, job_id: str, r: dict) -> Result:
    return Result(req.key, path=r["path"], start_sample=int(r["start_sample"]), num_samples=int(r["num_samples"]),
                  sample_rate=int(r["sample_rate"]), backend=str(r.get("backend", "")), job_id=job_id,
                  seed=int(r.get("seed", req.seed)))
