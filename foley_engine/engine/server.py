"""The engine: one ROUTER socket, a job queue in a journal, supervised worker slots.

Everything runs in one thread around one poll loop (client requests and
worker reports arrive as ZeroMQ messages), so no state is shared between
threads.  Events are pushed to the identities watching a job; the ROUTER
drops messages for peers that are gone, so a vanished client blocks nothing.

Run with ``foley engine serve`` or ``python -m foley_engine.engine.server``.
"""
from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import time
import traceback
from typing import Optional

import zmq

from foley_engine import __version__
from plugin_host.connection import default_connection_file
from plugin_host.envelope import (MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Message, ReplayGuard, Session,
                                  check_frame_budget)
from plugin_host.fields import ProtocolError
from plugin_host.schema import TERMINAL_EVENTS, check_request
from plugin_host.timebase import SAMPLE_RATE

from .config import EngineConfig, add_serve_arguments, config_from_args, default_journal
from .connection import ConnectionFile, new_key
from .jobbook import JobBook
from .journal import Journal, unwritable
from .memory import process_rss
from .submit import Limits, Probes, check_out_dir
from .supervisor import Supervisor, key_item

WORKER_INBOX = "inproc://worker-reports"


def log(text: str) -> None:
    sys.stderr.write(f"foley engine: {text}\n")
    sys.stderr.flush()


class OverBudget(Exception):
    """A message over the whole-message bound; ``more``: frames of it are still to be drained."""

    def __init__(self, identity: bytes, error: ProtocolError, more: bool):
        super().__init__(str(error))
        self.identity, self.error, self.more = identity, error, more


#: frames of a refused message drained per loop turn, so draining 2,000,000 of them never freezes the loop
DRAIN_PER_TURN = 20_000


def drain(sock: zmq.Socket, budget: int = DRAIN_PER_TURN) -> bool:
    """Throw away up to ``budget`` frames of the message being received; True once its last frame is read."""
    for _ in range(budget):
        if not sock.recv(copy=False).more:  # the rest of a multipart message has already arrived
            return True
    return False


def recv_bounded(sock: zmq.Socket) -> list[bytes]:
    """One multipart message, refused as soon as it passes the frame-count or byte bound.

    Frames are taken one at a time without copying and checked before they are
    kept; a message over the bound raises :class:`OverBudget` at once, and the
    rest of it is left to :func:`drain` (a slice per loop turn), so a peer
    sending 2,000,000 empty frames or 100 frames of 15 MiB costs a drain, never
    a list of them, and no frame of it is parsed.  Raises ``zmq.Again`` when
    nothing is waiting.
    """
    frames: list[bytes] = []
    total = 0
    frame = sock.recv(zmq.NOBLOCK, copy=False)
    while True:
        total += len(frame)
        try:
            check_frame_budget(len(frames) + 1, total)
        except ProtocolError as exc:
            raise OverBudget(frames[0] if frames else b"", exc, frame.more) from None
        frames.append(frame.bytes)
        if not frame.more:
            return frames
        frame = sock.recv(copy=False)

class Engine:
    """The ZeroMQ loop and the request handlers; job state is the book's, worker policy the supervisor's."""

    def __init__(self, config: EngineConfig):
        self.config = config
        self.started = time.monotonic()
        self.stopping = False
        self.stop_deadline: Optional[float] = None
        self.watchers: dict[str, dict[bytes, dict]] = {}
        self.clients: dict[bytes, float] = {}
        self.replay = ReplayGuard()
        self.known_client = False
        self.last_busy = time.monotonic()  #: when a job was last queued or running (for --idle-exit)
        #: a message over the whole-message bound whose remaining frames are being drained
        self.refusing: Optional[OverBudget] = None
        self.journal_error_logged: Optional[str] = None  #: the journal failure last logged (logged once)
        self.probes = Probes(config.probe_timeout, wake=self.wake)

    # ------------------------------------------------------------------ lifecycle

    def serve(self) -> int:
        cfg = self.config
        self.conn = ConnectionFile(cfg.connection_file or default_connection_file())
        self.conn.claim()
        if self.conn.stale_removed:
            log(f"removed a stale connection file left by a dead engine: {self.conn.path}")
        journal_path = cfg.journal or default_journal()
        os.makedirs(os.path.dirname(os.path.abspath(journal_path)), mode=0o700, exist_ok=True)
        if not cfg.journal:  # our own folder (not one the user named): owner-only, like the connection file's
            os.chmod(os.path.dirname(os.path.abspath(journal_path)), 0o700)
        self.journal = Journal(journal_path)
        self.ray_head = None
        if cfg.ray_address == "local":
            from .ray_head import start_private_ray  # only with --ray-address local: never imports ray here

            try:
                self.ray_head = start_private_ray(cfg, log)
            except RuntimeError:
                self.journal.close()
                self.conn.release()
                raise
        self.ctx = zmq.Context()
        self.supervisor = Supervisor(self.ctx, WORKER_INBOX, self._slot_config(), log)
        self.book = JobBook(self.journal, self.emit, max_attempts=cfg.max_attempts,
                            longest_first=len(self.supervisor.slots) > 1)
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
            f"connection file {self.conn.path}, journal {journal_path}, {len(self.book.queue)} job(s) to resume, "
            f"{len(self.supervisor.slots)} slot(s)")
        try:
            self.supervisor.spawn()
            self.loop()
        finally:
            self.supervisor.kill()
            self.router.close(0)
            self.inbox.close(0)
            self.ctx.term()
            self.journal.close()
            if self.ray_head is not None:
                self.ray_head.stop()
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
                ready = dict(poller.poll(0 if self.refusing is not None else 50))
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
                    except sqlite3.Error as exc:  # the journal's disk is full: the report is handled as far as it can be
                        self.journal_trouble(exc)
            if self.router in ready or self.refusing is not None:
                for _ in range(200):  # bounded, so worker reports are never starved
                    if self.refusing is not None:  # the rest of a message over the bound, a slice a turn
                        if not drain(self.router):
                            break
                        self.reply_error(self.refusing.identity, self.refusing.error, {})
                        self.refusing = None
                    try:
                        frames = recv_bounded(self.router)
                    except zmq.Again:
                        break
                    except OverBudget as over:
                        self.refusing = over if over.more else None
                        if not over.more:
                            self.reply_error(over.identity, over.error, {})
                        continue
                    self.on_frames(frames)
            now = time.monotonic()
            if self.probes.pending:
                self.finish_submits(now)
            if now - last_sweep > min(1.0, self.config.client_timeout / 2):
                self.forget_silent_clients(now)
                last_sweep = now
            if self.stopping:
                if self.step_stop(now):
                    return
            else:
                self.supervisor.tick(now)
                try:
                    self.dispatch()
                except sqlite3.Error as exc:  # no item can be marked started: they wait for room
                    self.journal_trouble(exc)
                if self.idle_expired(now):
                    log(f"no job for {self.config.idle_exit / 60:g} min (--idle-exit); stopping")
                    self.begin_stop()

    def begin_stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            self.stop_deadline = time.monotonic() + self.config.shutdown_grace
            log("stopping; unfinished jobs stay in the journal")

    def idle_expired(self, now: float) -> bool:
        """Whether ``--idle-exit`` is due: that long with no job queued or running (never while one is)."""
        if self.book.queue or self.book.running:
            self.last_busy = now
            return False
        return self.config.idle_exit > 0 and now - self.last_busy >= self.config.idle_exit

    def step_stop(self, now: float) -> bool:
        """Stop the worker without losing work: a running item is cancelled and stays queued."""
        if now > self.stop_deadline:
            keys = self.supervisor.running_keys()
            self.supervisor.kill()
            for key in keys:
                self.book.item_lost(*key_item(key), "engine stopped", stopping=True)
            return True
        return self.supervisor.step_stop()

    # ------------------------------------------------------------------ work

    def _slot_config(self):
        """The configuration slots are planned from (a private Ray's address filled in)."""
        if self.ray_head is None:
            return self.config
        import dataclasses

        return dataclasses.replace(self.config, ray_address=self.ray_head.address, ray_env=self.ray_head.env)

    def dispatch(self) -> None:
        """Hand waiting items to every ready slot (the book picks the order)."""
        while True:
            worker = self.supervisor.ready_worker()
            if worker is None:
                return
            nxt = self.book.next_item()
            if nxt is None:
                return
            self.supervisor.start_run(*nxt, worker=worker)

    def stop_orphans(self) -> None:
        """Items still running for jobs that ended (one item failed, or cancelled): stop them."""
        for job_id in self.book.orphaned_jobs():
            self.supervisor.cancel_job(job_id)

    def wake(self) -> None:
        """Called from a probe thread: a message on the worker inbox ends the loop's poll now."""
        push = self.ctx.socket(zmq.PUSH)  # sockets are per thread; inproc ones are cheap
        try:
            push.connect(WORKER_INBOX)
            push.send_json({"type": "wake"})
        finally:
            push.close(linger=1000)

    def on_worker(self, msg: dict) -> None:
        if msg.get("type") == "wake":
            return  # a finished probe: the loop answers it below
        report = self.supervisor.on_report(msg)
        if report is None:
            return
        if report.kind == "fatal":
            if self.fall_back_to_local(report.msg["message"]):
                return
            self.book.fail_all(report.msg.get("code") or "backend", report.msg["message"])
            return
        job_id, idx = key_item(report.key)
        m = report.msg
        if report.kind == "progress":
            self.emit(job_id, "progress", {
                "job_id": job_id, "item": idx, "items": self.journal.item_count(job_id),
                "done_samples": m["done_samples"], "total_samples": m["total_samples"],
                "windows_done": m["windows_done"], "windows_estimate": m["windows_estimate"],
            }, persist=False)
            return
        if report.kind == "span":
            if m["start_sample"] + m["num_samples"] <= self.journal.span_end(job_id, idx):
                return  # a window re-run after a crash: clients already have this span
            self.emit(job_id, "span", {
                "job_id": job_id, "item": idx, "start_sample": m["start_sample"],
                "num_samples": m["num_samples"], "sample_rate": m["sample_rate"], "window": m["window"],
            })
            return
        if report.kind == "lost":
            self.book.item_lost(job_id, idx, m["reason"], stopping=self.stopping)
        elif report.kind == "done":
            self.book.item_done(job_id, idx, m["result"])
        elif report.kind == "cancelled":
            self.book.item_cancelled(job_id, idx, stopping=self.stopping)
        else:
            self.book.item_failed(job_id, idx, m["code"], m["message"])
        self.stop_orphans()
        if not self.stopping:
            self.supervisor.maybe_recycle()

    def fall_back_to_local(self, reason: str) -> bool:
        """With ``--ray-fallback local``: the cluster is unreachable, so run on local slots instead."""
        sup = self.supervisor
        if self.config.ray_fallback != "local" or not sup.slots or sup.slots[0].spec.kind != "ray":
            return False
        from .supervisor import local_fallback

        for key in sup.replace_slots(local_fallback(self.config)):
            self.book.item_lost(*key_item(key), "the Ray cluster is gone", stopping=True)  # runs again locally
        log(f"{reason}; falling back to {len(sup.slots)} local slot(s)")
        return True

    # ------------------------------------------------------------------ events

    def emit(self, job_id: str, msg_type: str, content: dict, *, persist: bool = True) -> None:
        if persist:
            try:
                content = dict(content, seq=self.journal.add_event(job_id, msg_type, content))
            except sqlite3.Error as exc:  # a full disk: the watchers still hear it, only a replay would miss it
                self.journal_trouble(exc)
        for identity, parent in self.watchers.get(job_id, {}).items():
            frames, _ = self.session.serialize(msg_type, content, parent, [identity])
            self.router.send_multipart(frames)
        if msg_type in TERMINAL_EVENTS:
            self.watchers.pop(job_id, None)

    def journal_trouble(self, exc: Exception) -> str:
        """A journal write failed (a full disk): logged once per reason; the engine keeps serving."""
        reason = unwritable(self.journal.path, exc)
        if reason != self.journal_error_logged:
            log(reason)
            self.journal_error_logged = reason
        self.book.journal_error = reason
        return reason

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
        """One message from a client; whatever it holds, it costs at most that message."""
        try:
            self.handle_frames(frames)
        except Exception:  # a bug must cost one request, never the engine
            traceback.print_exc()

    def handle_frames(self, frames: list[bytes]) -> None:
        identity = frames[0]
        try:
            msg = self.session.deserialize(frames)
        except ProtocolError as exc:
            # Only a verified header may address the reply; nothing unsigned is ever parsed.
            self.reply_error(identity, exc, exc.header)
            return
        try:
            self.replay.check(msg.header)
            content = check_request(msg.msg_type, msg.content)
        except ProtocolError as exc:
            self.reply_error(identity, exc, msg.header)
            return
        # Whether we still knew this client: if not, its watches were dropped and it must renew them.
        self.known_client = identity in self.clients
        self.clients[identity] = time.monotonic()
        try:
            getattr(self, f"on_{msg.msg_type}")(msg, content)
        except ProtocolError as exc:
            self.reply_error(identity, exc, msg.header)
        except sqlite3.Error as exc:
            self.reply_error(identity, ProtocolError("journal", "", self.journal_trouble(exc)), msg.header)
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
                         "backend": self.supervisor.backend_info, "session": self.session.session_id})

    def on_heartbeat(self, msg: Message, content: dict) -> None:
        self.reply(msg, {"pid": os.getpid(), "known": self.known_client})

    def on_status(self, msg: Message, content: dict) -> None:
        sup = self.supervisor
        w = sup.worker
        running = self.book.running_items()
        self.reply(msg, {
            "engine": {"version": __version__, "protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                       "uptime": round(time.monotonic() - self.started, 3),
                       "endpoint": self.router.getsockopt_string(zmq.LAST_ENDPOINT),
                       "stopping": self.stopping},
            "backend": dict(sup.backend_info, error=sup.backend_error),
            "worker": w.describe() if w is not None else None,
            "workers": sup.describe(),
            "slots": sup.describe_slots(),
            "memory": {"engine_rss": process_rss(), "worker_rss": w.describe()["rss"] if w is not None else None,
                       "gpu": w.gpu if w is not None else None},
            "queue": {"jobs": len(self.book.queue),
                      "running": {"job_id": running[0][0], "item": running[0][1]} if running else None,
                      "running_items": [{"job_id": j, "item": i} for j, i in running]},
            "jobs": self.journal.counts(),
            "journal_error": self.book.journal_error,
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
        state = self.book.cancel(job_id)
        if state is None:
            raise ProtocolError("not_found", "job_id", f"no job {job_id}")
        if state == "cancelling":
            self.supervisor.cancel_job(job_id)  # takes effect at the next window boundary
        self.reply(msg, {"job_id": job_id, "state": state})

    def on_shutdown(self, msg: Message, content: dict) -> None:
        self.reply(msg, {"pid": os.getpid()})
        self.begin_stop()

    def on_submit(self, msg: Message, content: dict) -> None:
        if self.supervisor.backend_error:
            raise ProtocolError("backend", "backend", self.supervisor.backend_error)
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
        key = submit_id or msg.msg_id
        if key in self.probes:  # a resend while its media is still being read: answer the newest
            self.probes.update(key, msg)
            return
        out_dir = check_out_dir(content["out_dir"], self.config.output_roots)
        info = self.supervisor.backend_info
        limits = Limits(sample_rate=int(info.get("sample_rate") or SAMPLE_RATE), channels=int(info.get("channels") or 2),
                        max_duration=self.config.max_duration)
        # Opening media can block (a FIFO, a stalled mount): probe off the loop; finish_submits answers.
        job_id = self.book.new_job_id()
        self.probes.start(key, {"msg": msg, "submit_id": submit_id, "job_id": job_id, "out_dir": out_dir},
                          content["items"], out_dir, job_id, limits)

    def finish_submits(self, now: float) -> None:
        """Accept (or refuse) the submits whose media was read."""
        for context, specs, error in self.probes.finished(now):
            msg = context["msg"]
            try:
                if error is not None:
                    raise error
                self.accept_job(msg, context, specs)
            except ProtocolError as exc:
                self.reply_error(msg.identities[0], exc, msg.header)
            except sqlite3.Error as exc:  # the job could not be recorded: refused, with the reason
                self.reply_error(msg.identities[0], ProtocolError("journal", "", self.journal_trouble(exc)),
                                 msg.header)
            except Exception as exc:  # a bug must cost one request, never the engine
                traceback.print_exception(exc)
                self.reply_error(msg.identities[0], ProtocolError(
                    "internal", "", f"engine error: {type(exc).__name__}: {exc}"), msg.header)

    def accept_job(self, msg: Message, context: dict, specs: list[dict]) -> None:
        if self.stopping:
            raise ProtocolError("stopping", "", "the engine is stopping; submit again after it restarts")
        job_id, out_dir = context["job_id"], context["out_dir"]
        self.book.add(job_id, context["submit_id"], out_dir, specs)
        self.watch(job_id, msg.identities[0], msg.header)
        self.reply(msg, {"job_id": job_id, "items": len(specs), "duplicate": False, "position": len(self.book.queue)})
        self.emit(job_id, "accepted", {"job_id": job_id, "items": len(specs), "out_dir": out_dir,
                                       "outputs": [s["out_path"] for s in specs]})


def serve(args) -> int:
    from .connection import EngineAlreadyRunning

    if ":" not in args.backend:
        from foley_engine.backends.registry import discover

        known = discover()
        if args.backend not in known:
            log(f"error: unknown backend {args.backend!r} (installed: {', '.join(sorted(known))})")
            return 2
    if getattr(args, "ray_address", ""):
        import importlib.util

        if importlib.util.find_spec("ray") is None:  # looked up, not imported
            log("error: --ray-address needs Ray: pip install 'foley-engine[ray]'")
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
    except RuntimeError as exc:  # the private Ray (--ray-address local) did not start
        log(f"error: {exc}")
        return 2


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foley_engine.engine.server", description="Run the Foley engine.")
    add_serve_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
