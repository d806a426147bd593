"""``foley engine serve|status|jobs|stop`` and ``foley generate --engine``."""
from __future__ import annotations

import json
import os
import time
from fractions import Fraction

from foley_engine.errors import Cancelled, FoleyError


class EngineCommandError(FoleyError):
    code = "engine"


def register(subparsers, generate_parser) -> None:
    from .config import add_serve_arguments
    from .server import serve

    generate_parser.add_argument("--engine", action="store_true",
                                 help="generate through the running engine (`foley engine serve`) instead of in-process")
    generate_parser.add_argument("--connection-file", help="engine connection file (default: the user runtime folder)")

    engine = subparsers.add_parser("engine", help="run or talk to the warm engine process")
    sub = engine.add_subparsers(dest="engine_command", metavar="ENGINE_COMMAND")
    sub.required = True

    p = sub.add_parser("serve", help="start the engine in the foreground (keeps the backend warm)")
    add_serve_arguments(p)
    p.set_defaults(func=serve)

    for name, func, helptext in (
        ("status", cmd_status, "backend, device, memory, queue, jobs done, uptime"),
        ("jobs", cmd_jobs, "list recent jobs and their state"),
        ("stop", cmd_stop, "stop the engine (a running job resumes at the next start)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--connection-file", help="engine connection file")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=func)


def _client(args, timeout: float = 5.0):
    from .client import EngineClient, EngineError

    try:
        return EngineClient.connect(getattr(args, "connection_file", None), timeout=timeout)
    except EngineError as exc:
        raise EngineCommandError(str(exc)) from None


def _mib(n) -> str:
    return "?" if n is None else f"{n / 1048576:.0f} MiB"


def _uptime(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def cmd_status(args) -> int:
    from .client import EngineError

    with _client(args) as eng:
        try:
            st = eng.status()
        except EngineError as exc:
            raise EngineCommandError(str(exc)) from None
    if args.json:
        print(json.dumps(st))
        return 0
    be, mem, q, w = st["backend"], st["memory"], st["queue"], st["worker"]
    print(f"engine   pid {st['engine']['pid']}, up {_uptime(st['engine']['uptime'])}, {st['engine']['endpoint']}")
    state = f"error: {be['error']}" if be.get("error") else (w["state"] if w else "restarting")
    print(f"backend  {be.get('name')} on {be.get('device', '?')} ({state})")
    gpu = mem.get("gpu")
    gpu_text = f", GPU {_mib(gpu['allocated'])} allocated of {_mib(gpu['total'])}" if gpu else ""
    growth = f" (+{_mib(w['rss_growth'])} since load)" if w and w.get("rss_growth") is not None else ""
    print(f"memory   engine {_mib(mem['engine_rss'])}, worker {_mib(mem['worker_rss'])}{growth}{gpu_text}")
    running = q["running"]
    print(f"queue    {q['jobs']} job(s)" + (f", running {running['job_id'][:8]} item {running['item']}" if running else ""))
    jobs = st["jobs"]
    print(f"jobs     {jobs['done']} done, {jobs['failed']} failed, {jobs['cancelled']} cancelled; "
          f"worker restarts {st['workers']['restarts']}, recycles {st['workers']['recycles']}")
    return 0


def cmd_jobs(args) -> int:
    with _client(args) as eng:
        jobs = eng.jobs()
    if args.json:
        print(json.dumps(jobs))
        return 0
    for j in jobs:
        err = f"  {j['error']['message']}" if j.get("error") else ""
        print(f"{j['job_id'][:8]}  {j['state']:<9} {j['items_done']}/{j['items']} item(s)  {j['out_dir']}{err}")
    return 0


def cmd_stop(args) -> int:
    from .client import _pid_alive
    from .protocol import default_connection_file, read_connection_file

    with _client(args) as eng:
        pid = eng.shutdown()["pid"]
        path = eng.info.path or default_connection_file()

    def running() -> bool:
        # The engine removes its connection file as the very last step; a pid
        # check alone would be fooled by a zombie of the process that spawned it.
        try:
            return read_connection_file(path).pid == pid and _pid_alive(pid)
        except (OSError, ValueError):
            return False

    deadline = time.monotonic() + 30
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    if running():
        raise EngineCommandError(f"the engine (pid {pid}) did not stop within 30 s")
    print(f"engine (pid {pid}) stopped")
    return 0


def generate_via_engine(args, media: str, out: str) -> int:
    """``foley generate --engine``: the same result and output as the in-process path."""
    from foley_engine.cli import ProgressBar, _install_cancel, _parse_range
    from foley_engine.job import Job
    from foley_engine.media.probe import probe
    from foley_engine.timebase import format_seconds

    from .client import EngineError, JobCancelled, JobFailed, RequestRejected

    info = probe(media)
    start, end = _parse_range(args, info)
    speed = Fraction(getattr(args, "speed", 1))
    # The in-process path's checks and messages, before any request.
    Job(media, start, end, speed=speed).resolve_range(info)
    item = {"media": media, "prompt": args.prompt, "negative_prompt": args.negative_prompt, "seed": args.seed,
            "format": args.format, "speed": str(speed)}
    if getattr(args, "align", False):
        item["options"] = {"align": True}
    if start is not None:
        item["start"] = str(start)
    if end is not None:
        item["end"] = str(end)
    eng = _client(args)
    cancelled = _install_cancel()
    try:
        backend = eng.hello().get("backend", {})
        # "procedural" is also the parser's default, so only another name is a real mismatch.
        if args.backend not in (backend.get("name"), "procedural"):
            raise EngineCommandError(f"the running engine serves backend {backend.get('name')!r}, not {args.backend!r}; "
                                     f"restart it with `foley engine serve --backend {args.backend}`")
        bar = ProgressBar(f"foley {os.path.basename(media)}", backend.get("sample_rate", 48000),
                          enabled=True if args.progress else None)
        job = eng.submit([item], out_dir=os.path.dirname(out))
        started = time.monotonic()

        def forward_ctrl_c():
            if cancelled.is_set():
                cancelled.clear()
                job.cancel()  # the engine stops at the next window and removes the partial file

        for event in job.events(on_idle=forward_ctrl_c):
            forward_ctrl_c()
            if event.type == "progress":
                c = event.content
                bar.update(_Progress(c["done_samples"], c["total_samples"], c["windows_done"],
                                     c["windows_estimate"], time.monotonic() - started))
        result = job.results()[0]
    except JobCancelled:
        raise Cancelled("cancelled") from None
    except JobFailed as exc:
        raise EngineCommandError(exc.reason) from None
    except RequestRejected as exc:
        raise EngineCommandError(f"{exc.field}: {exc}" if exc.field and not str(exc).startswith(exc.field) else str(exc)) from None
    except EngineError as exc:
        raise EngineCommandError(str(exc)) from None
    finally:
        eng.close()
    # The engine names its files; the user asked for `out` (same folder, so the rename is atomic).
    os.replace(result["path"], out)
    # The in-process result's keys too, so scripts read either the same way.
    result = dict(result, path=out, media_start=result["start"], media_end=result["end"])
    if args.mux:
        from foley_engine.media.mux import mux_preview

        mux_preview(media, out, os.path.abspath(args.mux), audio_start=Fraction(result["start"]))
    if args.json:
        print(json.dumps(result))
    else:
        span = f"{format_seconds(Fraction(result['start']))}-{format_seconds(Fraction(result['end']))}"
        print(f"wrote {out} ({result['num_samples']} samples at {result['sample_rate']} Hz, media {span}, "
              f"{result['windows']} window(s), {result['seconds']:.1f} s)")
        if args.mux:
            print(f"wrote {os.path.abspath(args.mux)} (video copied, Foley as AAC)")
    return 0


class _Progress:
    """The shape ProgressBar reads, rebuilt from a progress event."""

    def __init__(self, done: int, total: int, windows_done: int, windows_estimate: int, elapsed: float):
        self.done_samples, self.total_samples = done, total
        self.windows_done, self.windows_estimate = windows_done, windows_estimate
        self.elapsed = elapsed

    @property
    def fraction(self) -> float:
        return self.done_samples / self.total_samples if self.total_samples else 1.0
