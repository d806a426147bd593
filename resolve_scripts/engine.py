"""Targets -> WAVs through the engine client, one engine job per clip.

One job per clip, so one bad clip fails alone.  Runs on a worker thread when
a progress window is up: it touches only the engine, never Resolve.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from otio_adapters.timemath import SAMPLE_RATE, to_index

from .clips import Target


@dataclass
class EngineSpec:
    connection_file: Optional[str] = None
    #: argv that starts ``foley`` (what ``foley resolve install`` recorded); Resolve's Python is not the venv's
    command: Optional[list] = None
    serve_args: tuple = ()


@dataclass
class Outcome:
    done: list = field(default_factory=list)  #: (target, WAV path)
    failed: list = field(default_factory=list)  #: one-line messages
    cancelled: bool = False


def connect(spec: EngineSpec, autostart: bool):
    from plugin_host.client import EngineClient

    if not autostart:
        return EngineClient.connect(spec.connection_file)
    saved = os.environ.get("FOLEY_ENGINE_COMMAND")
    if spec.command and not saved:
        import shlex

        os.environ["FOLEY_ENGINE_COMMAND"] = shlex.join(spec.command)
    try:
        return EngineClient.connect(spec.connection_file, autostart=True, serve_args=spec.serve_args)
    finally:
        if spec.command and not saved:
            os.environ.pop("FOLEY_ENGINE_COMMAND", None)


def _check(target: Target, r: dict) -> Optional[str]:
    plan = target.plan
    if int(r["sample_rate"]) != SAMPLE_RATE:
        return f"{target.label}: the engine wrote {r['sample_rate']} Hz audio, not {SAMPLE_RATE} Hz"
    want = to_index(plan.request.start, SAMPLE_RATE)
    if int(r["start_sample"]) != want or int(r["num_samples"]) != plan.media_samples:
        return (f"{target.label}: the engine wrote samples {r['start_sample']}+{r['num_samples']} where "
                f"{want}+{plan.media_samples} were asked for")
    return None


def generate(client, targets: list, items: list, out_dir: str, report: Callable[[str, float], None],
             cancelled: Callable[[], bool]) -> Outcome:
    """Submit every item, then wait in order; ``report(text, fraction)`` as it goes; stop on ``cancelled()``."""
    from plugin_host.client import EngineError, RequestRejected

    os.makedirs(out_dir, exist_ok=True)
    outcome = Outcome()
    jobs = []
    for target, item in zip(targets, items):
        try:
            jobs.append((target, client.submit([item], out_dir=out_dir)))
        except RequestRejected as exc:
            outcome.failed.append(f"{target.label}: the engine refused it: {exc}")
    n = len(jobs)

    def cancel_rest(first: int) -> None:
        for _, job in jobs[first:]:
            if job.final is None:
                try:
                    job.cancel()
                except EngineError:
                    pass  # the engine is gone: nothing left to cancel

    for k, (target, job) in enumerate(jobs):
        report(f"[{k + 1}/{n}] {target.label}", k / max(n, 1))

        def idle() -> None:
            if cancelled() and not outcome.cancelled:
                outcome.cancelled = True
                cancel_rest(k)

        try:
            for event in job.events(on_idle=idle):
                c = event.content
                if event.type == "progress" and c.get("total_samples"):
                    report(f"[{k + 1}/{n}] {target.label}", (k + c["done_samples"] / c["total_samples"]) / n)
                elif event.type == "item":
                    problem = _check(target, c["result"])
                    if problem:
                        outcome.failed.append(problem)
                    else:
                        outcome.done.append((target, c["result"]["path"]))
                idle()
            if job.final.type == "failed":
                outcome.failed.append(f"{target.label}: {job.final.content.get('message', 'failed')}")
        except KeyboardInterrupt:
            outcome.cancelled = True
            cancel_rest(k)
            break
        except EngineError as exc:
            outcome.failed.append(f"{target.label}: {exc}")
        if outcome.cancelled:
            break
    report("done" if not outcome.cancelled else "cancelled", 1.0)
    return outcome
