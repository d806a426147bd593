"""Targets -> WAVs through the engine, with the plug-in package's batch runner.

One engine job per clip (the runner's default policy), so one bad clip fails
alone.  Runs on a worker thread when a progress window is up: it touches
only the engine, never Resolve.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Callable

from plugin_host.process import EngineSpec
from plugin_host.timebase import SAMPLE_RATE

__all__ = ["EngineSpec", "Outcome", "connect", "generate"]


@dataclass
class Outcome:
    done: list = field(default_factory=list)  #: (target, WAV path)
    sets: list = field(default_factory=list)  #: (target, outputs) for items with stems or takes
    failed: list = field(default_factory=list)  #: one-line messages
    warnings: list = field(default_factory=list)  #: one-line messages (e.g. prompt words the backend ignored)
    cancelled: bool = False


def connect(spec: EngineSpec, autostart: bool):
    from plugin_host.client import EngineClient

    # An engine started from Resolve stops itself when idle (plugin_host.process; "serve_args" in
    # foley_resolve.json may set --idle-exit otherwise, 0 for never).
    return EngineClient.open(dataclasses.replace(spec, autostart=autostart))


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
        if done.result.outputs:
            outcome.sets.append((targets[done.index], done.result.outputs))
        else:
            outcome.done.append((targets[done.index], done.result.path))
        outcome.warnings += [f"{targets[done.index].label}: {w}" for w in done.result.warnings]

    result = BatchRunner(client, out_dir, sample_rate=SAMPLE_RATE).run(
        items, cancel=cancelled, on_progress=progress, on_result=on_result)
    outcome.failed += [o.error for o in result.failed if o.reason != "cancelled"]
    outcome.cancelled = result.cancelled
    report("done" if not outcome.cancelled else "cancelled", 1.0)
    return outcome
