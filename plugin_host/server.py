"""The engine: one ROUTER socket, a job queue in a journal, one supervised worker.

Everything runs in one thread around one poll loop (client requests and
worker reports arrive as ZeroMQ messages), so no state is shared between
threads.  Events are pushed to the identities watching a job; the ROUTER
drops messages for peers that are gone, so a vanished client blocks nothing.

Run with ``foley engine serve`` or ``python -m plugin_host.server``.
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import time
import traceback
import uuid
from collections import deque
from typing import Optional

import zmq

from foley_engine import __version__

from .config import EngineConfig, add_serve_arguments, config_from_args, default_journal
from .connection import ConnectionFile, new_key
from .items import resolve_items
from .journal import Journal
from .memory import process_rss
from .outputs import remove_partials
from .protocol import (
    MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Message, ProtocolError, ReplayGuard, Session,
    check_request, default_connection_file,
)
from .supervisor import WorkerProcess, describe_exit

WORKER_INBOX = "inproc://worker-reports"


def log(text: str) -> None:
    sys.stderr.write(f"foley engine: {text}\n")
    sys.stderr.flush()


class Engine:
    def __init__(self, config: EngineConfig):
        self.config = config
        self.started = time.monotonic()
        self.stopping = False
        self.stop_deadline: Optional[float] = None
        self.worker: Optional[WorkerProcess] = None
        self.generation = 0
        self.next_spawn = 0.0
        self.crashes_before_ready = 0
        self.restarts = 0
        self.recycles = 0
        self.items_run = 0
        self.backend_error: Optional[str] = None
        self.backend_info: dict = {"name": config.backend}
        self.queue: deque[str] = deque()
        self.watchers: dict[str, dict[bytes, dict]] = {}
        self.clients: dict[bytes, float] = {}
        self.replay = ReplayGuard()
        self.cancel_requested: set[str] = set()
        self.known_client = False

    # ------------------------------------------------------------------ lifecycle

    def serve(self) -> int:
        cfg = self.config
        self.conn = ConnectionFile(cfg.connection_file or default_connection_file())
        self.conn.claim()
        if self.conn.stale_removed:
            log(f"removed a stale connection file left by a dead engine: {self.conn.path}")
        journal_path = cfg.journal or default_journal()
        os.makedirs(os.path.dirname(os.path.abspath(journal_path)), exist_ok=True)
        self.journal = Journal(journal_path)
        self.queue.extend(self.journal.recover())
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # larger messages drop the peer
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.SNDHWM, 10000)
        self.router.bind(cfg.endpoint)
        endpoint = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.inbox = self.ctx.socket(zmq.PULL)
        self.inbox.bind(WORKER_INBOX)
        key = new_key()
        self.session = Session(key.encode("ascii"))
        self.conn.write(endpoint, key)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.begin_stop())
        log(f"listening on {endpoint} (pid {os.getpid()}), backend {cfg.backend}, "
            f"connection file {self.conn.path}, journal {journal_path}, {len(self.queue)} job(s) to resume")
        try:
            self.spawn_worker()
            self.loop()
        finally:
            if self.worker is not None:
                self.worker.kill()
            self.router.close(0)
            self.inbox.close(0)
            self.ctx.term()
            self.journal.close()
            self.conn.release()
            log("stopped")
        return 0

    def loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.inbox, zmq.POLLIN)
        last_sweep = time.monotonic()
        while True:
            try:
                ready = dict(poller.poll(50))
            except zmq.ZMQError as exc:
                if exc.errno == zmq.EINTR:  # a signal; the handler set the flag
                    continue
                raise
            if self.inbox in ready:
                while True:
                    try:
                        self.on_worker(self.inbox.recv_json(zmq.NOBLOCK))
                    except zmq.Again:
                        break
            if self.router in ready:
                for _ in range(200):  # bounded, so worker reports are never starved
                    try:
                        frames = self.router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.on_frames(frames)
            now = time.monotonic()
            if now - last_sweep > min(1.0, self.config.client_timeout / 2):
                self.forget_silent_clients(now)
                last_sweep = now
            if self.stopping:
                if self.step_stop(now):
                    return
            else:
                self.supervise(now)

    def begin_stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_deadline = time.monotonic() + self.config.shutdown_grace
            log("stopping; unfinished jobs stay in the journal")

    def step_stop(self, now: float) -> bool:
        """Stop the worker without losing work: a running item is cancelled and stays queued."""
        w = self.worker
        if w is None:
            return True
        if now > self.stop_deadline:
            w.kill()
            self.requeue_current()
            return True
        if w.state == "busy" and w.current and not w.cancel_sent:
            w.cancel(self.key_of(w))
        elif w.state in ("ready", "loading"):
            w.retire()
            w.close_stdin()
        return False

    # ------------------------------------------------------------------ worker supervision

    def spawn_worker(self) -> None:
        self.generation += 1
        self.worker = WorkerProcess(self.ctx, WORKER_INBOX, self.generation, self.config.backend, self.config.options)
        log(f"worker {self.worker.pid} loading backend {self.config.backend}")

    def supervise(self, now: float) -> None:
        if self.worker is None:
            if self.backend_error is None and now >= self.next_spawn:
                self.spawn_worker()
            return
        if self.worker.state == "ready":
            self.dispatch()

    def key_of(self, w: WorkerProcess) -> str:
        job_id, idx = w.current
        return f"{job_id}/{idx}/{w.generation}"

    def dispatch(self) -> None:
        while self.queue:
            job_id = self.queue[0]
            if self.journal.job_state(job_id) not in ("queued", "running"):
                self.queue.popleft()
                continue
            if job_id in self.cancel_requested:
                self.cancel_job(job_id)  # the cancel arrived as its previous item finished
                continue
            pending = self.journal.pending_items(job_id)
            if not pending:
                self.finish_job(job_id)
                continue
            idx, spec = pending[0]
            self.journal.item_started(job_id, idx)
            remove_partials(spec["out_path"])
            w = self.worker
            w.current = (job_id, idx)
            w.run(self.key_of(w), job_id, idx, spec, spec["out_path"])
            return

    def on_worker(self, msg: dict) -> None:
        w = self.worker
        if w is None or msg.get("generation") != w.generation:
            return
        kind = msg["type"]
        if kind == "ready":
            w.state = "ready"
            w.rss_at_ready = w.last_rss = msg.get("rss")
            w.gpu = msg.get("gpu")
            self.backend_info = msg.get("backend") or self.backend_info
            self.crashes_before_ready = 0
            log(f"worker {w.pid} ready")
            return
        if kind == "fatal":
            self.backend_error = msg["message"]
            log(self.backend_error)
            for job_id in list(self.queue):
                self.fail_job(job_id, "backend", self.backend_error, None)
            return
        if kind == "exit":
            self.on_worker_exit(w, msg["returncode"])
            return
        if w.current is None or msg.get("key") != self.key_of(w):
            return  # a report about an item we already gave up on
        job_id, idx = w.current
        if kind == "progress":
            n = self.journal.item_count(job_id)
            self.emit(job_id, "progress", {
                "job_id": job_id, "item": idx, "items": n,
                "done_samples": msg["done_samples"], "total_samples": msg["total_samples"],
                "windows_done": msg["windows_done"], "windows_estimate": msg["windows_estimate"],
            }, persist=False)
        elif kind == "span":
            self.emit(job_id, "span", {
                "job_id": job_id, "item": idx, "start_sample": msg["start_sample"],
                "num_samples": msg["num_samples"], "sample_rate": msg["sample_rate"], "window": msg["window"],
            })
        else:
            self.item_finished(w, job_id, idx, kind, msg)

    def item_finished(self, w: WorkerProcess, job_id: str, idx: int, kind: str, msg: dict) -> None:
        w.current = None
        w.state = "ready" if w.state == "busy" else w.state
        w.last_rss, w.gpu = msg.get("rss"), msg.get("gpu")
        w.items_done += 1
        self.items_run += 1
        spec = self.journal.item_spec(job_id, idx)
        if kind == "done":
            result = self.item_result(idx, spec, msg["result"], msg.get("channels"))
            self.journal.item_done(job_id, idx, result)
            self.emit(job_id, "item", {"job_id": job_id, "item": idx, "result": result})
            if not self.journal.pending_items(job_id):
                self.finish_job(job_id)
        elif kind == "cancelled":
            remove_partials(spec["out_path"])
            if self.stopping and job_id not in self.cancel_requested:
                self.journal.item_requeued(job_id, idx)  # shutdown, not the user: resume next time
            else:
                self.cancel_job(job_id)
        else:
            remove_partials(spec["out_path"])
            self.fail_job(job_id, msg["code"], msg["message"], idx)
        self.maybe_recycle(w)

    def maybe_recycle(self, w: WorkerProcess) -> None:
        if w.state != "ready" or self.stopping:
            return
        growth = (w.last_rss or 0) - (w.rss_at_ready or 0)
        reason = None
        if w.items_done >= self.config.max_jobs_per_worker:
            reason = f"after {w.items_done} jobs"
        elif w.rss_at_ready and growth > self.config.max_worker_growth:
            reason = f"its memory grew by {growth // (1024 * 1024)} MiB"
        if reason:
            log(f"recycling worker {w.pid} {reason}")
            self.recycles += 1
            w.retire()

    def on_worker_exit(self, w: WorkerProcess, returncode: int) -> None:
        self.worker = None
        if w.state == "exiting" and w.current is None:
            return  # recycled or stopped on request; supervise() starts the next one
        reason = describe_exit(returncode)
        log(f"{reason} (pid {w.pid})")
        self.restarts += 1
        if w.current is not None:
            self.requeue_current(w, reason)
        if w.state == "loading" and self.backend_error is None:
            self.crashes_before_ready += 1
            if self.crashes_before_ready >= 3:
                self.backend_error = f"backend {self.config.backend!r} failed to load 3 times; {reason}"
                for job_id in list(self.queue):
                    self.fail_job(job_id, "backend", self.backend_error, None)
        self.next_spawn = time.monotonic() + min(5.0, 0.5 * self.crashes_before_ready)

    def requeue_current(self, w: Optional[WorkerProcess] = None, reason: str = "engine stopped") -> None:
        w = w or self.worker
        if w is None or w.current is None:
            return
        job_id, idx = w.current
        w.current = None
        remove_partials(self.journal.item_spec(job_id, idx)["out_path"])
        attempts = self.journal.item_attempts(job_id, idx)
        if job_id in self.cancel_requested:
            self.cancel_job(job_id)
        elif self.stopping or attempts < self.config.max_attempts:
            self.journal.item_requeued(job_id, idx)
        else:
            self.fail_job(job_id, "worker", f"{reason}; gave up on items[{idx}] after {attempts} attempts", idx)

    # ------------------------------------------------------------------ jobs and events

    def item_result(self, idx: int, spec: dict, generated: dict, channels: Optional[int]) -> dict:
        result = {
            "item": idx,
            "path": generated["path"],
            "media": spec["media"],
            "start": generated["media_start"],
            "end": generated["media_end"],
            "start_sample": generated["start_sample"],
            "num_samples": generated["num_samples"],
            "sample_rate": generated["sample_rate"],
            "channels": channels,
            "format": spec.get("format", "pcm24"),
            "speed": generated.get("speed", "1"),
            "windows": generated["windows"],
            "seconds": generated["seconds"],
            "backend": generated["backend"],
            "seed": generated["seed"],
        }
        if "record_start" in spec:
            result["record_start"] = spec["record_start"]
        return result

    def finish_job(self, job_id: str) -> None:
        self.journal.set_job_state(job_id, "done")
        self.emit(job_id, "done", {"job_id": job_id, "results": self.journal.results(job_id)})
        self.retire_job(job_id)

    def fail_job(self, job_id: str, code: str, message: str, item: Optional[int]) -> None:
        self.journal.set_job_state(job_id, "failed", error_code=code, error=message, error_item=item)
        self.emit(job_id, "failed", {"job_id": job_id, "code": code, "message": message, "item": item})
        self.retire_job(job_id)

    def cancel_job(self, job_id: str) -> None:
        self.journal.set_job_state(job_id, "cancelled")
        self.emit(job_id, "cancelled", {"job_id": job_id, "results": self.journal.results(job_id)})
        self.retire_job(job_id)

    def retire_job(self, job_id: str) -> None:
        if job_id in self.queue:
            self.queue.remove(job_id)
        self.watchers.pop(job_id, None)
        self.cancel_requested.discard(job_id)

    def emit(self, job_id: str, msg_type: str, content: dict, *, persist: bool = True) -> None:
        if persist:
            content = dict(content, seq=self.journal.add_event(job_id, msg_type, content))
        for identity, parent in self.watchers.get(job_id, {}).items():
            frames, _ = self.session.serialize(msg_type, content, parent, [identity])
            self.router.send_multipart(frames)

    def watch(self, job_id: str, identity: bytes, header: dict) -> None:
        self.watchers.setdefault(job_id, {})[identity] = header

    def forget_silent_clients(self, now: float) -> None:
        for identity, seen in list(self.clients.items()):
            if now - seen > self.config.client_timeout:
                del self.clients[identity]
                for watchers in self.watchers.values():
                    watchers.pop(identity, None)

    # ------------------------------------------------------------------ requests

    def on_frames(self, frames: list[bytes]) -> None:
        identity = frames[0]
        try:
            msg = self.session.deserialize(frames)
            self.replay.check(msg.header)
            content = check_request(msg.msg_type, msg.content)
        except ProtocolError as exc:
            self.reply_error(identity, exc, _unverified_header(frames))
            return
        # Whether we still knew this client: if not, its watches were dropped and it must renew them.
        self.known_client = identity in self.clients
        self.clients[identity] = time.monotonic()
        try:
            getattr(self, f"on_{msg.msg_type}")(msg, content)
        except ProtocolError as exc:
            self.reply_error(identity, exc, msg.header)
        except Exception as exc:  # a bug must cost one request, never the engine
            traceback.print_exc()
            self.reply_error(identity, ProtocolError("internal", "", f"engine error: {type(exc).__name__}: {exc}"),
                             msg.header)

    def reply(self, msg: Message, content: dict) -> None:
        # Only the routing id ROUTER added: frames a client put before the delimiter are not addresses.
        frames, _ = self.session.serialize(f"{msg.msg_type}_reply", dict(content, status="ok"), msg.header,
                                           msg.identities[:1])
        self.router.send_multipart(frames)

    def reply_error(self, identity: bytes, exc: ProtocolError, parent: dict) -> None:
        msg_type = parent.get("msg_type") if isinstance(parent.get("msg_type"), str) else ""
        reply_type = f"{msg_type[:40]}_reply" if msg_type else "error"
        frames, _ = self.session.serialize(reply_type, exc.to_content(), parent, [identity])
        self.router.send_multipart(frames)

    def on_hello(self, msg: Message, content: dict) -> None:
        if content["version"].split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            raise ProtocolError("version", "version",
                                f"client speaks protocol {content['version']}, this engine {PROTOCOL_VERSION}")
        self.reply(msg, {"version": PROTOCOL_VERSION, "engine": __version__, "pid": os.getpid(),
                         "backend": self.backend_info, "session": self.session.session_id})

    def on_heartbeat(self, msg: Message, content: dict) -> None:
        self.reply(msg, {"pid": os.getpid(), "known": self.known_client})

    def on_status(self, msg: Message, content: dict) -> None:
        w = self.worker
        worker = None
        if w is not None:
            rss = w.rss() or w.last_rss
            worker = {"pid": w.pid, "state": w.state, "items_done": w.items_done, "rss": rss,
                      "rss_at_load": w.rss_at_ready,
                      "rss_growth": (rss - w.rss_at_ready) if rss and w.rss_at_ready else None}
        running = list(w.current) if w is not None and w.current else None
        self.reply(msg, {
            "engine": {"version": __version__, "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                       "uptime": round(time.monotonic() - self.started, 3),
                       "endpoint": self.router.getsockopt_string(zmq.LAST_ENDPOINT),
                       "stopping": self.stopping},
            "backend": dict(self.backend_info, error=self.backend_error),
            "worker": worker,
            "workers": {"restarts": self.restarts, "recycles": self.recycles, "items_run": self.items_run,
                        "max_jobs_per_worker": self.config.max_jobs_per_worker},
            "memory": {"engine_rss": process_rss(), "worker_rss": worker["rss"] if worker else None,
                       "gpu": w.gpu if w is not None else None},
            "queue": {"jobs": len(self.queue), "running": {"job_id": running[0], "item": running[1]} if running else None},
            "jobs": self.journal.counts(),
            "clients": len(self.clients),
        })

    def on_jobs(self, msg: Message, content: dict) -> None:
        self.reply(msg, {"jobs": self.journal.jobs(content["limit"], content["state"])})

    def on_job(self, msg: Message, content: dict) -> None:
        job = self.journal.job(content["job_id"])
        if job is None:
            raise ProtocolError("not_found", "job_id", f"no job {content['job_id']}")
        events = []
        if content["watch"]:
            if job["state"] in ("queued", "running"):
                self.watch(job["job_id"], msg.identities[0], msg.header)
            events = [{"type": t, "content": c} for t, c in self.journal.events_since(job["job_id"], content["since"])]
        self.reply(msg, {"job": job, "events": events})

    def on_cancel(self, msg: Message, content: dict) -> None:
        job_id = content["job_id"]
        state = self.journal.job_state(job_id)
        if state is None:
            raise ProtocolError("not_found", "job_id", f"no job {job_id}")
        w = self.worker
        if state in ("queued", "running"):
            self.cancel_requested.add(job_id)
            if w is not None and w.current and w.current[0] == job_id:
                w.cancel(self.key_of(w))  # takes effect at the next window boundary
                state = "cancelling"
            else:
                self.cancel_job(job_id)
                state = "cancelled"
        self.reply(msg, {"job_id": job_id, "state": state})

    def on_shutdown(self, msg: Message, content: dict) -> None:
        self.reply(msg, {"pid": os.getpid()})
        self.begin_stop()

    def on_submit(self, msg: Message, content: dict) -> None:
        if self.backend_error:
            raise ProtocolError("backend", "backend", self.backend_error)
        if self.stopping:
            raise ProtocolError("stopping", "", "the engine is stopping; submit again after it restarts")
        identity = msg.identities[0]
        submit_id = content["submit_id"]
        existing = self.journal.job_by_submit_id(submit_id) if submit_id else None
        if existing:
            # The client resent after a lost reply (Lazy Pirate): same job, not a second one.
            if self.journal.job_state(existing) in ("queued", "running"):
                self.watch(existing, identity, msg.header)
            self.reply(msg, {"job_id": existing, "items": self.journal.item_count(existing), "duplicate": True})
            return
        out_dir = content["out_dir"]
        if not os.path.isdir(out_dir):
            raise ProtocolError("output", "out_dir", f"{out_dir}: folder does not exist")
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise ProtocolError("output", "out_dir", f"{out_dir}: folder is not writable")
        job_id = uuid.uuid4().hex
        specs = resolve_items(content["items"], out_dir, job_id)
        self.journal.add_job(job_id, submit_id, out_dir, specs)
        self.queue.append(job_id)
        self.watch(job_id, identity, msg.header)
        self.reply(msg, {"job_id": job_id, "items": len(specs), "duplicate": False, "position": len(self.queue)})
        self.emit(job_id, "accepted", {"job_id": job_id, "items": len(specs), "out_dir": out_dir,
                                       "outputs": [s["out_path"] for s in specs]})


def _unverified_header(frames: list[bytes]) -> dict:
    """The sender's header, read without trusting it, only to address an error reply."""
    import json

    try:
        header = json.loads(frames[frames.index(b"<IDS|MSG>") + 2])
        return {k: header[k] for k in ("msg_id", "msg_type", "session") if isinstance(header.get(k), str)}
    except (ValueError, IndexError, TypeError, AttributeError, UnicodeDecodeError):
        return {}


def serve(args) -> int:
    from .connection import EngineAlreadyRunning

    if ":" not in args.backend:
        from foley_engine.backends.registry import discover

        known = discover()
        if args.backend not in known:
            log(f"error: unknown backend {args.backend!r} (installed: {', '.join(sorted(known))})")
            return 2
    try:
        return Engine(config_from_args(args)).serve()
    except EngineAlreadyRunning as exc:
        log(f"error: {exc}")
        return 3
    except zmq.ZMQError as exc:
        log(f"error: cannot listen on {args.endpoint}: {exc}")
        return 2
    except (OSError, sqlite3.Error) as exc:
        log(f"error: cannot open the journal or connection file: {exc}")
        return 2


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plugin_host.server", description="Run the Foley engine.")
    add_serve_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
