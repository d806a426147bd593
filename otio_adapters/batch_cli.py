"""``foley batch``: a season of media files and timelines through the engine, resumable.

    foley batch ep101.otio ep102.otio reels/ 'dailies/**/*.mov' @more.txt --out /season/foley

Every input becomes items (a media file: one item for the whole file; a timeline:
one item per selected video clip, exactly as ``foley otio fill`` plans them).  All
items are submitted at once, longest first (so N engine slots finish together),
each as its own job (one bad clip fails alone), with a ``submit_id`` derived from
the item itself: submitting the same batch again after an interruption or an
engine restart gets the engine's existing jobs back from its journal, so a
finished item is never generated twice.  Finished items are also recorded in
``foley-batch-state.json`` in the output folder, so a re-run skips them even with
a new journal.  WAVs are written by the engine atomically (never half a file).
At the end every timeline is written again with its Foley track
(``<name>_foley<ext>``), and ``foley-batch-summary.json`` / ``.md`` say what was
done, skipped and failed.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from plugin_host.atomic import write_atomic, write_json_atomic
from plugin_host.timebase import output_duration

MEDIA_EXTENSIONS = (".mp4", ".mov", ".mkv", ".mxf", ".avi", ".m4v", ".webm", ".mts", ".m2ts", ".mpg", ".mpeg",
                    ".ts", ".wmv", ".flv", ".3gp")
TIMELINE_EXTENSIONS = (".otio", ".otioz", ".otiod", ".xml", ".edl", ".fcpxml", ".aaf")
STATE_FILE = "foley-batch-state.json"
SUMMARY_JSON = "foley-batch-summary.json"
SUMMARY_MD = "foley-batch-summary.md"


class BatchError(Exception):
    """A problem with the inputs or the output folder, as one line."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch", help="Foley for many media files and timelines through the engine (resumable)",
        description="Generate Foley for a season: media files and OTIO timelines (files, folders, globs, "
                    "@list files) through the running engine, longest item first, resumable.")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="media file, timeline (.otio, FCP XML, ...), folder (searched recursively), glob, "
                        "or @FILE listing one input per line")
    p.add_argument("--out", required=True, help="output folder (WAVs, filled timelines, state and summary)")
    p.add_argument("--prompt", help="prompt for media files, and for timeline clips without their own")
    p.add_argument("--seed", type=int, help="seed (default 0, or the clip's own)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="backend item option for every item (repeatable)")
    p.add_argument("--force", action="store_true", help="generate again what an earlier run finished")
    p.add_argument("--dry-run", action="store_true", help="list the items, longest first, and exit")
    p.add_argument("--connection-file", help="engine connection file (default: the user runtime folder)")
    p.add_argument("--no-autostart", action="store_true", help="fail instead of starting an engine")
    p.add_argument("--backend", default="procedural", help="backend when an engine has to be started")
    p.add_argument("--engine-arg", action="append", default=[], metavar="ARG",
                   help="argument for an engine this command starts, e.g. --engine-arg=--slots=4 (repeatable)")
    p.add_argument("--reconnect-timeout", type=float, default=120.0,
                   help="seconds to wait for an engine that went away to come back (default 120)")
    p.add_argument("--progress", action="store_true", help="progress on stderr even when it is not a terminal")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_batch)


# ---------------------------------------------------------------------- inputs


def expand_inputs(inputs: list[str], out_dir: str = "") -> tuple[list[str], list[str]]:
    """(media files, timelines), absolute, in a stable order, each once; :class:`BatchError` for an input
    that names nothing."""
    media: list[str] = []
    timelines: list[str] = []
    seen: set[str] = set()
    out_dir = os.path.abspath(out_dir) if out_dir else ""

    def add(path: str, explicit: bool) -> None:
        path = os.path.abspath(path)
        if path in seen or (out_dir and path.startswith(out_dir + os.sep)):
            return
        ext = os.path.splitext(path)[1].lower()
        if ext in TIMELINE_EXTENSIONS:
            seen.add(path)
            timelines.append(path)
        elif ext in MEDIA_EXTENSIONS or explicit:
            seen.add(path)
            media.append(path)

    def walk(folder: str) -> None:
        for base, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    add(os.path.join(base, name), explicit=False)

    pending = list(inputs)
    while pending:
        entry = pending.pop(0)
        if entry.startswith("@"):
            try:
                with open(entry[1:], encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
            except OSError as exc:
                raise BatchError(f"{entry}: cannot read the list: {exc.strerror or exc}") from None
            base = os.path.dirname(os.path.abspath(entry[1:]))
            pending[0:0] = [ln if os.path.isabs(ln) or ln.startswith("@") else os.path.join(base, ln)
                            for ln in lines]
        elif os.path.isdir(entry):
            walk(entry)
        elif os.path.isfile(entry):
            add(entry, explicit=True)
        elif glob.has_magic(entry):
            matches = sorted(glob.glob(entry, recursive=True))
            if not matches:
                raise BatchError(f"{entry}: matches no file")
            for m in matches:
                walk(m) if os.path.isdir(m) else add(m, explicit=False)
        else:
            raise BatchError(f"{entry}: no such file or folder")
    return media, timelines


def media_seconds(path: str) -> Optional[Fraction]:
    """The container's duration (for ordering and progress); None when unknown."""
    try:
        import av

        with av.open(path) as c:
            video = next((s for s in c.streams if s.type == "video"), None)
            if video is not None and video.duration is not None and video.time_base is not None:
                return Fraction(video.duration) * video.time_base
            if c.duration is not None:
                return Fraction(c.duration, 1_000_000)
    except Exception:  # noqa: BLE001 - the engine refuses a bad file with the reason at submit
        return None
    return None


@dataclass
class Unit:
    """One item of the batch and what became of it."""

    source: str  #: the input it came from (a media file or a timeline)
    label: str
    item: object  #: plugin_host.items.Item
    out_dir: str
    seconds: Fraction
    timeline: Optional[str] = None
    request_key: Optional[str] = None
    status: str = "pending"  #: pending, done, skipped, failed
    result: Optional[dict] = None
    error: Optional[str] = None
    job_id: str = ""
    fraction: float = 0.0
    #: the engine submit id of this run (kept across reconnects, so the engine finds its job again)
    submit_id: str = ""

    @property
    def key(self) -> str:
        """A stable id: the same item to the same folder is the same key (and engine submit id)."""
        wire = json.dumps([self.item.to_wire(), self.out_dir], sort_keys=True)
        return hashlib.sha256(wire.encode()).hexdigest()[:32]


@dataclass
class TimelinePlan:
    path: str
    output: str
    out_dir: str
    options: object  #: FillOptions
    timeline: object
    requests: list = field(default_factory=list)
    report: Optional[object] = None
    error: Optional[str] = None


class _Recorder:
    """A Generator that only notes what ``fill`` would ask for."""

    def __init__(self):
        self.requests = []

    def run(self, requests, out_dir, on_result=None):
        self.requests = list(requests)
        return []


class _Replay:
    """A Generator that answers ``fill`` with results the batch already has."""

    def __init__(self, results: dict):
        self.results = results

    def run(self, requests, out_dir, on_result=None):
        out = []
        for r in requests:
            res = self.results.get(r.key)
            if res is not None and on_result is not None:
                on_result(res)
            if res is not None:
                out.append(res)
        return out


def plan_units(media: list[str], timelines: list[str], out: str, prompt: Optional[str], seed: Optional[int],
               options: dict) -> tuple[list[Unit], list[TimelinePlan]]:
    from plugin_host.items import Item
    from plugin_host.timebase import SAMPLE_RATE

    units: list[Unit] = []
    for path in media:
        seconds = media_seconds(path) or Fraction(0)
        item = Item(media=path, prompt=prompt or "", seed=seed or 0, options=dict(options),
                    label=os.path.basename(path))
        units.append(Unit(path, os.path.basename(path), item, out, seconds))
    plans: list[TimelinePlan] = []
    for path in timelines:
        plan = _plan_timeline(path, out, prompt, seed)
        plans.append(plan)
        for r in plan.requests:
            item = Item(media=r.media, start=r.start, end=r.end, prompt=r.prompt, seed=r.seed, speed=r.speed,
                        options=dict(options), label=r.label,
                        record_start={"sample": r.record_sample, "rate": SAMPLE_RATE})
            units.append(Unit(path, f"{os.path.basename(path)}: {r.label}", item, plan.out_dir,
                              output_duration(r.start, r.end, r.speed), timeline=path, request_key=r.key))
    return units, plans


def _plan_timeline(path: str, out: str, prompt: Optional[str], seed: Optional[int]) -> TimelinePlan:
    from .roundtrip import FillOptions, fill
    from .timeline_io import read_timeline

    stem, ext = os.path.splitext(os.path.basename(path))
    out_dir = os.path.join(out, f"{stem}_foley")
    output = os.path.join(out, f"{stem}_foley{ext if ext in ('.otio', '.xml') else '.otio'}")
    options = FillOptions(out_dir=out_dir, prompt=prompt, seed=seed, base_dir=os.path.dirname(path))
    plan = TimelinePlan(path, output, out_dir, options, None)
    try:
        plan.timeline = read_timeline(path)
        recorder = _Recorder()
        report = fill(plan.timeline, recorder, options)
        plan.requests = recorder.requests
        plan.report = report
    except Exception as exc:  # noqa: BLE001 - one bad timeline fails alone
        plan.error = f"{os.path.basename(path)}: {exc}"
    return plan


# ---------------------------------------------------------------------- state and summary


def load_state(out: str) -> dict:
    try:
        with open(os.path.join(out, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
        if isinstance(state, dict) and isinstance(state.get("done"), dict):
            state.setdefault("failed", {})
            return state
    except (OSError, ValueError):
        pass
    return {"done": {}, "failed": {}}


def _finished_file(result: dict) -> bool:
    path = result.get("path") or ""
    return os.path.isfile(path) and os.path.getsize(path) > 44


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Overall progress in media seconds, with the time left at the rate so far."""

    def __init__(self, units: list[Unit], stream, enabled: bool, tty: bool):
        self.units = units
        self.stream, self.enabled, self.tty = stream, enabled, tty
        self.started = time.monotonic()
        self.total = float(sum(u.seconds for u in units if u.status == "pending")) or 1.0
        self.last = 0.0

    def done_seconds(self) -> float:
        """Media seconds generated by this run (finished items and the finished part of running ones)."""
        return sum(float(u.seconds) * min(1.0, u.fraction) for u in self.units if u.status in ("pending", "done"))

    def line(self) -> str:
        done = self.done_seconds()
        elapsed = time.monotonic() - self.started
        finished = sum(u.status != "pending" for u in self.units)
        n = len(self.units)
        left = "--:--:--"
        # A rate is shown once it means something: after half a second, or when all is done.
        settled = done > 0 and elapsed > 0 and (elapsed > 0.5 or done >= self.total)
        if settled:
            left = _clock((self.total - done) * elapsed / done)
        speed = f"{done / elapsed:.1f}x real time" if settled else "starting"
        return (f"[{100 * done / self.total:5.1f}%] {finished}/{n} items, {_clock(done)} of {_clock(self.total)} "
                f"media, {speed}, {left} left")

    def update(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        self.stream.write(("\r" + self.line() + "\x1b[K") if self.tty else self.line() + "\n")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\x1b[K" if self.tty else "") + text + "\n")
            self.stream.flush()
            self.update(force=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def summary(units: list[Unit], plans: list[TimelinePlan], out: str, started: float, wall: float,
            engine: Optional[dict]) -> dict:
    counts = {s: sum(u.status == s for u in units) for s in ("done", "skipped", "failed", "pending")}
    generated = float(sum(u.seconds for u in units if u.status == "done"))
    return {
        "out": out, "started": started, "wall_seconds": round(wall, 3),
        "engine": engine,
        "totals": dict(counts, items=len(units), media_seconds_generated=round(generated, 3),
                       x_realtime=round(generated / wall, 2) if wall > 0 else None),
        "items": [{
            "input": u.source, "label": u.label, "timeline": u.timeline, "status": u.status,
            "start": str(u.item.start) if u.item.start is not None else None,
            "end": str(u.item.end) if u.item.end is not None else None, "seconds": float(u.seconds),
            "output": (u.result or {}).get("path"), "error": u.error, "job_id": u.job_id or None,
        } for u in units],
        "timelines": [{"input": p.path, "output": p.output if p.error is None else None, "error": p.error,
                       "filled": len(p.report.filled) if p.report is not None and p.error is None else 0,
                       "failed": list(p.report.failed) if p.report is not None else []} for p in plans],
    }


def write_summary(doc: dict, out: str) -> tuple[str, str]:
    json_path, md_path = os.path.join(out, SUMMARY_JSON), os.path.join(out, SUMMARY_MD)
    write_json_atomic(json_path, doc, indent=1, sort_keys=True)
    t = doc["totals"]
    lines = [
        "# Foley batch", "",
        f"{t['items']} items: **{t['done']} done**, {t['skipped']} skipped (finished before), "
        f"**{t['failed']} failed**" + (f", {t['pending']} not finished" if t["pending"] else "") + ".  ",
        f"{_clock(t['media_seconds_generated'])} of media in {_clock(doc['wall_seconds'])} "
        f"({t['x_realtime'] or 0:g}x real time).", "",
    ]
    eng = doc.get("engine") or {}
    if eng:
        lines += [f"Engine: backend {eng.get('backend')}, {eng.get('slots')} slot(s).", ""]
    if doc["timelines"]:
        lines += ["| timeline | written | clips filled | problems |", "|---|---|---|---|"]
        for tl in doc["timelines"]:
            problems = tl["error"] or "; ".join(tl["failed"]) or ""
            lines.append(f"| {_md(tl['input'])} | {_md(tl['output'] or '-')} | {tl['filled']} | {_md(problems)} |")
        lines.append("")
    lines += ["| item | status | range (s) | output | error |", "|---|---|---|---|---|"]
    for it in doc["items"]:
        rng = f"{float(Fraction(it['start'])):.3f}-{float(Fraction(it['end'])):.3f}" if it["start"] else "whole file"
        lines.append(f"| {_md(it['label'])} | {it['status']} | {rng} | {_md(it['output'] or '-')} | "
                     f"{_md(it['error'] or '')} |")
    write_atomic(md_path, "\n".join(lines) + "\n")
    return json_path, md_path


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# ---------------------------------------------------------------------- running


def run_batch(units: list[Unit], connect, progress: Progress, state: dict, state_path: str,
              reconnect_timeout: float = 120.0) -> Optional[dict]:
    """Submit every pending unit (longest first), follow all of them, riding through engine restarts.
    ``connect()`` returns a connected client.  Returns the engine's backend and slot count."""
    pending = sorted((u for u in units if u.status == "pending"), key=lambda u: (-u.seconds, u.label))
    try:
        return _follow(pending, connect, progress, state, state_path, reconnect_timeout)
    finally:
        failed = state.setdefault("failed", {})
        for u in pending:
            if u.status == "failed":
                failed[u.key] = failed.get(u.key, 0) + 1
        write_json_atomic(state_path, state, indent=1, sort_keys=True)


def _follow(pending, connect, progress, state, state_path, reconnect_timeout):
    from plugin_host.batch import refusal
    from plugin_host.client import EngineError, RequestRejected
    from plugin_host.items import Result

    engine_info: Optional[dict] = None
    gave_up_at: Optional[float] = None
    while True:
        todo = [u for u in pending if u.status == "pending"]
        if not todo:
            return engine_info
        try:
            with connect() as eng:
                st = eng.status()
                engine_info = engine_info or {"backend": st["backend"].get("name"),
                                              "slots": len(st.get("slots") or [None])}
                gave_up_at = None
                jobs = {}
                for u in todo:
                    try:
                        job = eng.submit([u.item.to_wire()], out_dir=u.out_dir,
                                         submit_id=u.submit_id or submit_id(u, state))
                    except RequestRejected as exc:
                        _fail(u, refusal(exc), progress)
                        continue
                    u.job_id = job.job_id
                    jobs[job.job_id] = (job, u)
                for job, event in eng.events_of([j for j, _ in jobs.values()]):
                    u = jobs[job.job_id][1]
                    c = event.content
                    if event.type == "progress" and c.get("total_samples"):
                        u.fraction = c["done_samples"] / c["total_samples"]
                    elif event.type == "item":
                        result = Result.from_wire(c["result"])
                        problem = result.problem(u.item)
                        if problem:
                            _fail(u, problem, progress)
                            continue
                        u.status, u.result, u.fraction = "done", c["result"], 1.0
                        state["done"][u.key] = {"result": c["result"], "label": u.label, "input": u.source}
                        write_json_atomic(state_path, state, indent=1, sort_keys=True)
                        progress.note(f"done    {u.label} -> {os.path.basename(c['result']['path'])}")
                    elif event.type == "failed":
                        _fail(u, c.get("message", "failed"), progress)
                    elif event.type == "cancelled":
                        _fail(u, "cancelled in the engine", progress)
                    progress.update()
        except EngineError as exc:
            # The engine went away: its journal keeps our jobs; the same submit ids find them again.
            now = time.monotonic()
            gave_up_at = gave_up_at or now + reconnect_timeout
            if now > gave_up_at:
                for u in pending:
                    if u.status == "pending":
                        _fail(u, f"the engine is gone: {exc}", progress)
                return engine_info
            progress.note(f"engine unreachable ({exc}); waiting for it to come back")
            time.sleep(1.0)


def submit_id(u: Unit, state: dict) -> str:
    """The engine submit id of ``u`` in this run: the same after a reconnect (the engine finds its job
    again), a new one for an item that failed in an earlier run (so a re-run tries it again)."""
    return f"{u.key}-{state.get('failed', {}).get(u.key, 0)}"


def _fail(u: Unit, reason: str, progress: Progress, state: Optional[dict] = None) -> None:
    if u.status == "pending":
        u.status, u.error = "failed", reason
        progress.note(f"failed  {u.label}: {reason}")


def cmd_batch(args) -> int:
    from plugin_host.client import EngineClient, EngineError

    out = os.path.abspath(args.out)
    options = {}
    for entry in args.option:
        k, sep, v = entry.partition("=")
        if not sep or not k:
            return _error(f"--option wants KEY=VALUE, got {entry!r}")
        options[k] = v
    try:
        media, timelines = expand_inputs(args.inputs, out)
    except BatchError as exc:
        return _error(str(exc))
    if not media and not timelines:
        return _error("no media files or timelines among the inputs")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        return _error(f"{out}: cannot create the output folder: {exc.strerror or exc}")
    if not os.access(out, os.W_OK | os.X_OK):
        return _error(f"{out}: output folder is not writable")
    started, t0 = time.time(), time.monotonic()
    units, plans = plan_units(media, timelines, out, args.prompt, args.seed, options)
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
        earlier = state["done"].get(u.key)
        if earlier and _finished_file(earlier["result"]):
            u.status, u.result = "skipped", earlier["result"]
    if args.dry_run:
        for u in sorted(units, key=lambda u: (-u.seconds, u.label)):
            print(f"{float(u.seconds):10.3f} s  {u.status:<8} {u.label}")
        for p in plans:
            if p.error:
                print(f"error: {p.error}")
        return 0
    tty = sys.stderr.isatty()
    progress = Progress(units, sys.stderr, enabled=tty or args.progress, tty=tty)
    serve_args = ("--backend", args.backend, *args.engine_arg)

    def connect():
        return EngineClient.connect(args.connection_file, autostart=not args.no_autostart, serve_args=serve_args)

    try:
        engine_info = run_batch(units, connect, progress, state, state_path, args.reconnect_timeout)
    except EngineError as exc:
        progress.close()
        return _error(str(exc))
    except KeyboardInterrupt:
        progress.close()
        print("foley: interrupted; run the same command again to resume (finished items are kept)",
              file=sys.stderr)
        return 130
    progress.close()
    # Timelines: the same plan again, answered with the results, written with their Foley tracks.
    from plugin_host.items import Result as ItemResult

    from .generator import Result as TimelineResult
    from .roundtrip import fill
    from .timeline_io import write_timeline

    for p in plans:
        if p.error is not None:
            continue
        answers = {}
        for u in units:
            if u.timeline != p.path:
                continue
            if u.result is not None:
                r = ItemResult.from_wire(u.result)
                answers[u.request_key] = TimelineResult(u.request_key, path=r.path, start_sample=r.start_sample,
                                                        num_samples=r.num_samples, sample_rate=r.sample_rate,
                                                        backend=r.backend, job_id=u.job_id, seed=r.seed)
            else:
                answers[u.request_key] = TimelineResult(u.request_key, job_id=u.job_id, error=f"{u.label}: {u.error}")
        try:
            p.report = fill(p.timeline, _Replay(answers), p.options)
            write_timeline(p.report.timeline, p.output)
        except Exception as exc:  # noqa: BLE001 - one timeline fails alone
            p.error = f"{os.path.basename(p.path)}: {exc}"
    doc = summary(units, plans, out, started, time.monotonic() - t0, engine_info)
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
