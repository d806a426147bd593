"""``foley engine serve|status|jobs|cancel|stop``."""
from __future__ import annotations

import json
import time

from foley_engine.errors import EngineCommandError


def register(subparsers) -> None:
    from .config import add_serve_arguments
    from .server import serve


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

    p = sub.add_parser("cancel", help="cancel a job (a running item stops at its next window; its partial file is removed)")
    p.add_argument("job_id", metavar="JOB", help="job id, or the start of one as `foley engine jobs` lists it")
    p.add_argument("--connection-file", help="engine connection file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_cancel)


def _client(args, timeout: float = 5.0):
    from plugin_host.client import EngineClient, EngineError

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
    from plugin_host.client import EngineError

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
    slots = st.get("slots") or []
    if len(slots) > 1 or any(s.get("kind") != "local" for s in slots):
        for s in slots:
            print("slot " + _slot_line(s))
    jobs = st["jobs"]
    print(f"jobs     {jobs['done']} done, {jobs['failed']} failed, {jobs['cancelled']} cancelled; "
          f"worker restarts {st['workers']['restarts']}, recycles {st['workers']['recycles']}")
    return 0


def _slot_line(s: dict) -> str:
    """``slot 1  ray on 10.0.0.7 (GPU 3)  busy  1.2 GiB  job 1a2b3c4d item 7``"""
    where = s.get("where") or {}
    host = where.get("node_ip") or where.get("host") or "local"
    device = s.get("device") or "default device"
    if where.get("gpu_ids"):
        device = "GPU " + ",".join(where["gpu_ids"])
    elif s.get("cuda_visible_devices") is not None:
        device += f" (CUDA_VISIBLE_DEVICES={s['cuda_visible_devices']})"
    rss = where.get("rss") if s.get("kind") == "ray" else s.get("rss")
    current = s.get("current")
    doing = f"job {current['job_id'][:8]} item {current['item']}" if current else "idle"
    return (f"{s['slot']:<3} {s.get('kind', 'local')} on {host}, {device}, {s.get('state')}, {_mib(rss)}, "
            f"{s.get('items_run', 0)} done, {doing}")


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


def cmd_cancel(args) -> int:
    from plugin_host.client import EngineError

    wanted = args.job_id.strip().lower()
    if not wanted or len(wanted) > 64 or any(c not in "0123456789abcdef" for c in wanted):
        raise EngineCommandError(f"not a job id: {args.job_id[:70]!r} (see `foley engine jobs`)")
    with _client(args) as eng:
        try:
            if len(wanted) < 32:  # a prefix, as `foley engine jobs` prints them
                matches = [j["job_id"] for j in eng.jobs(limit=10000) if j["job_id"].startswith(wanted)]
                if not matches:
                    raise EngineCommandError(f"no job {wanted} (see `foley engine jobs`)")
                if len(matches) > 1:
                    raise EngineCommandError(f"{wanted} names {len(matches)} jobs; give more of the id")
                wanted = matches[0]
            state = eng.cancel(wanted)
        except EngineError as exc:
            raise EngineCommandError(str(exc)) from None
    if args.json:
        print(json.dumps({"job_id": wanted, "state": state}))
    elif state in ("cancelled", "cancelling"):
        print(f"{wanted[:8]}  {state}" + (" (the running item stops at its next window)" if state == "cancelling" else ""))
    else:
        print(f"{wanted[:8]}  already {state}; nothing to cancel")
    return 0


def cmd_stop(args) -> int:
    from plugin_host.process import pid_alive
    from plugin_host.protocol import default_connection_file, read_connection_file

    with _client(args) as eng:
        pid = eng.shutdown()["pid"]
        path = eng.info.path or default_connection_file()

    def running() -> bool:
        # The engine removes its connection file as the very last step; a pid
        # check alone would be fooled by a zombie of the process that spawned it.
        try:
            return read_connection_file(path).pid == pid and pid_alive(pid)
        except (OSError, ValueError):
            return False

    deadline = time.monotonic() + 30
    while running() and time.monotonic() < deadline:
        time.sleep(0.05)
    if running():
        raise EngineCommandError(f"the engine (pid {pid}) did not stop within 30 s")
    print(f"engine (pid {pid}) stopped")
    return 0
