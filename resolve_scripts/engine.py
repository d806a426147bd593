"""Targets -> WAVs through the engine, with the plug-in package's batch runner.

One engine job per clip (the runner's default policy), so one bad clip fails
alone.  Runs on a worker thread when a progress window is up: it touches
only the engine, never Resolve.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

from plugin_host.timebase import SAMPLE_RATE


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
    warnings: list = field(default_factory=list)  #: one-line messages (e.g. prompt words the backend ignored)
    cancelled: bool = False


def connect(spec: EngineSpec, autostart: bool):
    from otio_adapters.engine import autostart_serve_args
    from plugin_host.client import EngineClient

    # An engine started from Resolve stops itself after 30 idle minutes ("serve_args" in
    # foley_resolve.json may set --idle-exit otherwise, 0 for never).
    return EngineClient.connect(spec.connection_file, autostart=autostart,
                                serve_args=autostart_serve_args(spec.serve_args), command=spec.command)


def generate(client, targets: list, items: list, out_dir: str, report: Callable[[str, float], None],
             cancelled: Callable[[], bool]) -> Outcome:
    """Generate ``items`` (one per target); ``report(text, fraction)`` as it goes; stop on ``cancelled()``."""
    from plugin_host.batch import BatchRunner

    os.makedirs(out_dir, exist_ok=True)
    outcome = Outcome()
    n = len(items)

    def progress(p) -> None:
        report(f"[{p.index + 1}/{n}] {targets[p.index].label}", p.fraction)

    def on_result(done) -> None:
        outcome.done.append((targets[done.index], done.result.path))
        outcome.warnings += [f"{targets[done.index].label}: {w}" for w in done.result.warnings]

    result = BatchRunner(client, out_dir, sample_rate=SAMPLE_RATE).run(
        items, cancel=cancelled, on_progress=progress, on_result=on_result)
    outcome.failed += [o.error for o in result.failed if o.reason != "cancelled"]
    outcome.cancelled = result.cancelled
    report("done" if not outcome.cancelled else "cancelled", 1.0)
    return outcome
