"""``foley batch``: a season of media files and timelines through the engine, resumable.

    foley batch ep101.otio ep102.otio reels/ 'dailies/**/*.mov' @more.txt --out /season/foley

Every input becomes items (a media file: one item for the whole file; a timeline:
one item per selected video clip, or per prompt part of a clip its ``foley:`` markers
split, exactly as ``foley otio fill`` plans them, with ``otio_adapters.plan``; an
edit list given with ``--regenerate``: one item per range of a Foley file to re-do,
spliced in when it is made, see :mod:`.regenerations`).  All items are submitted at once, longest first (so N
engine slots finish together), on the plug-in package's batch runner: each its
own job (``--on-failure isolate``, the default: one bad clip fails alone; ``stop``:
the first failure cancels the rest), with a submit id derived from the item
itself, so submitting the same batch again after an interruption or an engine
restart gets the engine's existing jobs back from its journal and a finished item
is never generated twice.  An engine that goes away is waited for
(``--reconnect-timeout``); Ctrl-C leaves the engine's jobs running for the re-run.
Finished items are also recorded in ``foley-batch-state.json`` in the output
folder, so a re-run skips them even with a new journal.  WAVs are written by the
engine atomically (never half a file).  An engine this command starts stops
itself when idle (``--engine-idle-exit``, like every adapter's).  At the end every
timeline is written again with its Foley track (``otio_adapters.place``, as
``<name>_foley<ext>``), and ``foley-batch-summary.json`` / ``.md`` say what was
done, skipped and failed.
"""
from __future__ import annotations

import json
import os
import sys
import time
from typing import Optional

from plugin_host.batch import ISOLATE, POLICIES
from plugin_host.process import IDLE_EXIT_MIN

from otio_adapters.cli import stems_arg, takes_arg

from .inputs import BatchError, expand_inputs
from .regenerations import land, plan_regenerations
from .report import Progress, summary, write_summary
from .stem_folders import sort_into_stem_folders
from .units import (
    STATE_FILE, TimelinePlan, Unit, earlier_result, give_readable_name, load_state, output_exists, plan_units,
    record_done, record_failures, record_run, submit_id,
)

__all__ = ["BatchError", "expand_inputs", "register", "cmd_batch", "run_batch"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch", help="Foley for many media files and timelines through the engine (resumable)",
        description="Generate Foley for a season: media files and OTIO timelines (files, folders, globs, "
                    "@list files) through the running engine, longest item first, resumable.")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="media file, timeline (.otio, FCP XML, ...; its foley: markers split clips into prompt "
                        "parts), folder (searched recursively), glob, or @FILE listing one input per line")
    p.add_argument("--regenerate", action="append", default=[], metavar="EDITS",
                   help="an edit list: one 'WAV IN OUT [SEED [PROMPT]]' a line, each range of a Foley file re-done "
                        "in place like foley regenerate (repeatable)")
    p.add_argument("--out", required=True, help="output folder (WAVs, filled timelines, state and summary)")
    p.add_argument("--prompt", help="prompt for media files, and for timeline clips without their own")
    p.add_argument("--seed", type=int, help="seed (default 0, or the clip's own)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend item option for every item (repeatable)")
    p.add_argument("--force", action="store_true", help="generate again what an earlier run finished")
    p.add_argument("--stems", type=stems_arg, metavar="CLASSES",
                   help="one WAV per Foley class (feet,props,moves,bg or all), each class in its own folder "
                        "FOLEY_FEET/, FOLEY_PROPS/, ...")
    p.add_argument("--takes", type=takes_arg, default=1, metavar="N", help="N variations of every item")
    p.add_argument("--dry-run", action="store_true", help="list the items, longest first, and exit")
    p.add_argument("--connection-file", help="engine connection file (default: the user runtime folder)")
    p.add_argument("--no-autostart", action="store_true", help="fail instead of starting an engine")
    p.add_argument("--backend", default="procedural", help="backend when an engine has to be started")
    p.add_argument("--engine-arg", action="append", default=[], metavar="ARG",
                   help="argument for an engine this command starts, e.g. --engine-arg=--slots=4 (repeatable)")
    p.add_argument("--engine-idle-exit", type=float, default=IDLE_EXIT_MIN, metavar="MINUTES",
                   help=f"an engine started here stops after this many minutes without a job "
                        f"(default {IDLE_EXIT_MIN:g}; 0: never)")
    p.add_argument("--on-failure", choices=POLICIES, default=ISOLATE,
                   help="isolate (default): a failed item fails alone and the others are still generated; "
                        "stop: the first failure cancels every unfinished item")
    p.add_argument("--reconnect-timeout", type=float, default=120.0,
                   help="seconds to wait for an engine that went away to come back (default 120)")
    p.add_argument("--progress", action="store_true", help="progress on stderr even when it is not a terminal")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_batch)


def run_batch(units: list[Unit], connect, progress: Progress, state: dict, state_path: str,
              reconnect_timeout: float = 120.0, policy: str = ISOLATE,
              last_try: bool = True) -> tuple[Optional[dict], bool]:
    """Every pending unit (longest first) on the batch runner, riding through engine restarts.
    ``connect()`` returns a connected client.  Returns the engine's backend and slot count, and
    whether the user interrupted (Ctrl-C).

    A result whose WAV is not there (the engine answered a re-run's submit id with the job it
    finished before, and the user deleted its output since) is not done: it is left pending with a
    fresh submit id for another pass, or, when ``last_try``, failed naming the missing file."""
    from plugin_host.batch import BatchRunner

    pending = sorted((u for u in units if u.status == "pending"), key=lambda u: (-u.seconds, u.label))
    engine: dict = {}

    def connected(eng) -> None:
        if not engine:
            st = eng.status()
            engine.update(backend=st["backend"].get("name"), slots=len(st.get("slots") or [None]))

    def progressed(p) -> None:
        pending[p.index].fraction = p.item_fraction
        progress.update()

    def done(o) -> None:
        u = pending[o.index]
        paths = [x.path for x in o.result.outputs] or [o.result.path]
        missing = [p for p in paths if not output_exists(p)]
        # (a media file's WAV may already carry its readable name: renamed by an earlier run)
        if missing and not (not o.result.outputs and u.wav and output_exists(u.wav)):
            gone = f"{missing[0]} is not there (deleted after the engine made it?)"
            if last_try:
                u.status, u.error = "failed", gone
                progress.note(f"failed  {u.label}: {gone}")
            else:
                u.submit_id, u.error = f"{u.key}-r{time.time_ns():x}", gone  # a new job, not the finished one
                progress.note(f"again   {u.label}: {gone}; generating it again")
            return
        u.status, u.result, u.job_id, u.fraction, u.error = "done", o.result, o.job_id, 1.0, None
        if u.regenerates:  # the new audio of a range: spliced into its file
            try:
                u.result = land(u, o.result)
            except (BatchError, OSError, ValueError) as exc:
                u.status, u.result, u.error = "failed", None, f"splicing into {u.regenerates}: {exc}"
                progress.note(f"failed  {u.label}: {u.error}")
                return
        elif o.result.outputs:  # a stems/takes set: each stem into its class folder
            u.result = sort_into_stem_folders(o.result, u.out_dir)
        else:
            give_readable_name(u)
        record_done(u, state, state_path)
        progress.note(f"done    {u.label} -> {os.path.basename(o.result.path)}")

    def failed(o) -> None:
        u = pending[o.index]
        u.job_id = o.job_id
        if o.reason == "interrupted":
            return  # left running in the engine: the re-run's same submit id finds it
        u.status, u.error = "failed", "cancelled in the engine" if o.reason == "cancelled" else o.reason
        progress.note(f"failed  {u.label}: {u.error}")

    runner = BatchRunner(None, "", connect=connect, policy=policy, reconnect_window=reconnect_timeout,
                         keep_jobs_on_interrupt=True)
    try:
        outcome = runner.run([u.item for u in pending], out_dirs=[u.out_dir for u in pending],
                             submit_ids=[u.submit_id or submit_id(u, state) for u in pending],
                             on_connect=connected, on_progress=progressed, on_result=done, on_failure=failed,
                             on_disconnect=lambda why: progress.note(
                                 f"engine unreachable ({why}); waiting for it to come back"))
    finally:
        record_failures(pending, state, state_path)
    return engine or None, outcome.interrupted


def place_timelines(plans: list[TimelinePlan], units: list[Unit]) -> None:
    """Every timeline with its results placed, written as ``<name>_foley<ext>``."""
    from otio_adapters.generator import Result as TimelineResult
    from otio_adapters.roundtrip import place
    from otio_adapters.timeline_io import write_timeline

    for p in plans:
        if p.error is not None:
            continue
        results = []
        for u in units:
            if u.timeline != p.path:
                continue
            if u.result is not None:
                results.append(TimelineResult.of_item(u.request_key, u.result, u.job_id))
            elif u.status == "failed":
                results.append(TimelineResult(u.request_key, job_id=u.job_id, error=f"{u.label}: {u.error}"))
        try:
            p.report = place(p.fill, results)
            write_timeline(p.report.timeline, p.output)
        except Exception as exc:  # noqa: BLE001 - one timeline fails alone
            p.error = f"{os.path.basename(p.path)}: {exc}"


def cmd_batch(args) -> int:
    from plugin_host.client import EngineClient, EngineError
    from plugin_host.process import EngineSpec

    out = os.path.abspath(args.out)
    options = {}
    for entry in args.option:
        k, sep, v = entry.partition("=")
        if not sep or not k:
            return _error(f"--option wants KEY=VALUE, got {entry!r}")
        options[k] = v
    try:
        media, timelines = expand_inputs(args.inputs, out)
        regenerations = plan_regenerations(args.regenerate, out)
    except BatchError as exc:
        return _error(str(exc))
    if not media and not timelines and not regenerations:
        return _error("no media files or timelines among the inputs" if args.inputs else
                      "nothing to do: give inputs or --regenerate EDITS")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        return _error(f"{out}: cannot create the output folder: {exc.strerror or exc}")
    if not os.access(out, os.W_OK | os.X_OK):
        return _error(f"{out}: output folder is not writable")
    started, t0 = time.time(), time.monotonic()
    units, plans = plan_units(media, timelines, out, args.prompt, args.seed, options, args.stems or (), args.takes)
    units += regenerations
    for p in plans:
        if p.error is None:
            os.makedirs(p.out_dir, exist_ok=True)
    state_path = os.path.join(out, STATE_FILE)
    state = load_state(out)
    if args.force:
        state = {"done": {}, "failed": dict(state.get("failed", {}))}
    for u in units:
        # --force: a fresh submit id, or the engine would answer with the job it already finished.
        u.submit_id = f"{u.key}-f{time.time_ns():x}" if args.force else submit_id(u, state)
        earlier = earlier_result(u, state)
        if earlier is not None:
            u.status, u.result = "skipped", earlier
    if args.dry_run:
        for u in sorted(units, key=lambda u: (-u.seconds, u.label)):
            print(f"{float(u.seconds):10.3f} s  {u.status:<8} {u.label}")
        for p in plans:
            if p.error:
                print(f"error: {p.error}")
        return 0
    for folder in {p.out_dir for p in plans if p.error is None} | {u.out_dir for u in units if u.wav or u.regenerates}:
        os.makedirs(folder, exist_ok=True)  # the engine writes only into folders that exist
    tty = sys.stderr.isatty()
    progress = Progress(units, sys.stderr, enabled=tty or args.progress, tty=tty)
    spec = EngineSpec(args.connection_file, serve_args=("--backend", args.backend, *args.engine_arg),
                      autostart=not args.no_autostart, idle_exit_minutes=args.engine_idle_exit)
    started_engines: list[str] = []  # notices of engines started here (they outlive the command)

    def engine_started(notice: str) -> None:
        started_engines.append(notice)
        if progress.enabled:
            progress.note(f"foley: {notice}")
        else:
            print(f"foley: {notice}", file=sys.stderr, flush=True)

    try:
        # A second pass only for results whose WAV was deleted since an earlier run made it.
        for last_try in (False, True):
            engine_info, interrupted = run_batch(units, lambda: EngineClient.open(spec, on_start=engine_started),
                                                 progress, state, state_path, args.reconnect_timeout,
                                                 args.on_failure, last_try)
            if interrupted or not any(u.status == "pending" for u in units):
                break
    except EngineError as exc:
        progress.close()
        return _error(str(exc))
    except KeyboardInterrupt:  # while a callback ran; the runner leaves the engine's jobs running
        interrupted = True
    progress.close()
    if interrupted:
        print("foley: interrupted; run the same command again to resume (finished items are kept)",
              file=sys.stderr)
        return 130
    place_timelines(plans, units)
    doc = summary(units, plans, out, started, time.monotonic() - t0, engine_info, state.get("runs", []))
    doc["engine_started"] = started_engines
    record_run(doc, state, state_path)
    json_path, md_path = write_summary(doc, out)
    t = doc["totals"]
    if args.json:
        print(json.dumps(doc))
    else:
        for p in plans:
            if p.error:
                print(f"foley: error: {p.error}", file=sys.stderr)
        print(f"{t['done']} done, {t['skipped']} skipped, {t['failed']} failed of {t['items']} items; "
              f"summary {md_path}")
    return 0 if t["failed"] == 0 and t["pending"] == 0 and not any(p.error for p in plans) else 1


def _error(message: str) -> int:
    print(f"foley: error: {message}", file=sys.stderr)
    return 2
