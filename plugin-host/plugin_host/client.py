"""The thin client every editor adapter uses to talk to a running engine.

Imports only the standard library, pyzmq and the wire modules of this package,
so it loads in Blender's and Resolve's Python in well under 0.3 s::

    from plugin_host.client import EngineClient
    with EngineClient.connect(autostart=True) as eng:
        job = eng.submit([{"media": "/abs/a.mov", "start": "12.5", "end": "19.25", "prompt": "glass breaks"}],
                         out_dir="/abs/foley")
        for event in job.events():   # accepted, progress, span, retry, item, then done / failed / cancelled
            ...

Requests follow the ZeroMQ Guide's Lazy Pirate pattern: wait a bounded
time for the reply, then drop the socket, re-read the connection file (the
engine may have been restarted) and resend.  Submits carry a ``submit_id``
so a resend never creates a second job.  While waiting for job events the
client sends heartbeats, which is how both sides notice the other is gone.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import zmq

from .process import EngineSpec, pid_alive, started_notice
from .connection import ConnectionInfo, default_connection_file, read_connection_file
from .envelope import MAX_MESSAGE_BYTES, PROTOCOL_VERSION, Session
from .fields import ProtocolError
from .schema import EVENT_TYPES, TERMINAL_EVENTS

__all__ = [
    "EngineClient", "EngineJob", "Event", "EngineError", "EngineNotRunning", "EngineTimeout", "WrongKey",
    "VersionMismatch", "RequestRejected", "JobFailed", "JobCancelled",
]


class EngineError(Exception):
    """Base of every client-side failure; the message is one line for the user."""


class EngineNotRunning(EngineError):
    pass


class EngineTimeout(EngineError):
    """The engine process exists but did not answer in time."""


class WrongKey(EngineError):
    pass


class VersionMismatch(EngineError):
    pass


class RequestRejected(EngineError):
    """The engine refused a request; ``field`` names the bad part (e.g. ``items[0].end``)."""

    def __init__(self, code: str, field: str, message: str):
        super().__init__(message)
        self.code, self.field = code, field


class JobFailed(EngineError):
    def __init__(self, job_id: str, code: str, message: str, item: Optional[int] = None):
        super().__init__(f"job {job_id[:8]} failed: {message}")
        self.job_id, self.code, self.reason, self.item = job_id, code, message, item


class JobCancelled(EngineError):
    def __init__(self, job_id: str):
        super().__init__(f"job {job_id[:8]} was cancelled")
        self.job_id = job_id


@dataclass(frozen=True)
class Event:
    type: str
    content: dict

    @property
    def job_id(self) -> str:
        return self.content.get("job_id", "")

    @property
    def seq(self) -> Optional[int]:
        return self.content.get("seq")

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL_EVENTS


def discover(connection_file: Optional[str] = None) -> ConnectionInfo:
    """The running engine's connection info, or :class:`EngineNotRunning`."""
    path = connection_file or default_connection_file()
    try:
        info = read_connection_file(path)
    except FileNotFoundError:
        raise EngineNotRunning(f"no engine is running (no connection file at {path}); start one with `foley engine serve`") from None
    except (OSError, ValueError) as exc:
        raise EngineNotRunning(f"cannot read the engine connection file: {exc}") from None
    if not pid_alive(info.pid):
        raise EngineNotRunning(f"the engine (pid {info.pid}) is not running; {path} is stale; start one with `foley engine serve`")
    return info


def engine_command(command: Optional[list] = None) -> list[str]:
    """How to start ``foley`` from here: ``command`` if given (the argv of a ``foley`` an installer
    recorded: Blender's and Resolve's Pythons are not the one the engine is installed in), else
    ``$FOLEY_ENGINE_COMMAND``, this Python, or ``foley`` on PATH."""
    if command:
        return [str(part) for part in command]
    override = os.environ.get("FOLEY_ENGINE_COMMAND")
    if override:
        return shlex.split(override)
    if os.path.basename(sys.executable).lower().startswith("python"):
        return [sys.executable, "-m", "foley_engine.cli"]
    found = shutil.which("foley")
    if found:
        return [found]
    raise EngineNotRunning("cannot start the engine: put `foley` on PATH or set FOLEY_ENGINE_COMMAND")


def start_engine(connection_file: Optional[str] = None, serve_args: tuple = (), timeout: float = 60.0, *,
                 command: Optional[list] = None) -> ConnectionInfo:
    """Spawn ``<command> engine serve`` detached and wait until it answers (see :func:`engine_command`)."""
    path = os.path.abspath(connection_file or default_connection_file())
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    log_path = os.path.join(os.path.dirname(path), "engine.log")
    cmd = engine_command(command) + ["engine", "serve", "--connection-file", path, *serve_args]
    detach = {"creationflags": 0x00000008} if sys.platform == "win32" else {"start_new_session": True}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True, **detach)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = discover(path)
            with EngineClient(info, timeout=1.0, retries=1) as probe:
                probe.hello()
            return info
        except (EngineNotRunning, EngineTimeout):
            pass
        # Exit status 3 means another engine won the race to start; keep waiting for it.
        if proc.poll() not in (None, 3):
            raise EngineNotRunning(f"the engine failed to start (status {proc.returncode}); see {log_path}")
        time.sleep(0.05)
    raise EngineTimeout(f"the engine did not answer within {timeout:.0f} s of starting; see {log_path}")


def announce_start(notice: str) -> None:
    """Tell the user on standard error (a terminal, Blender's or Resolve's console)."""
    print(f"foley: {notice}", file=sys.stderr, flush=True)


class EngineClient:
    """One connection to the engine. Not thread-safe: use one client per thread."""

    #: the notice when this connection started its engine (see :meth:`connect`), else None
    started: Optional[str] = None

    def __init__(self, info: ConnectionInfo, *, timeout: float = 5.0, retries: int = 3, heartbeat: float = 1.0,
                 connection_file: Optional[str] = None):
        self.info = info
        self.timeout = timeout
        self.retries = retries
        self.heartbeat_interval = heartbeat
        self.connection_file = connection_file or info.path or None
        self.ctx = zmq.Context.instance()
        #: bumped on every reconnect; jobs re-register to watch after a change
        self.generation = 0
        self._socket = None
        self._events: dict[str, deque] = {}
        self.last_request = 0.0
        self._open(info)

    # ------------------------------------------------------------------ connection

    @classmethod
    def connect(cls, connection_file: Optional[str] = None, *, autostart: bool = False, serve_args: tuple = (),
                autostart_timeout: float = 60.0, command: Optional[list] = None,
                on_start: Optional[Callable[[str], None]] = announce_start, **kwargs) -> "EngineClient":
        """Connect to the running engine; with ``autostart``, start one (``command``: see
        :func:`engine_command`) when none runs.  An engine started here outlives the caller: its
        one-line notice (:func:`~plugin_host.process.started_notice`) goes to ``on_start`` (default:
        standard error) and stays in :attr:`started` for the caller's report."""
        started = None
        try:
            info = discover(connection_file)
        except EngineNotRunning:
            if not autostart:
                raise
            info = start_engine(connection_file, serve_args, autostart_timeout, command=command)
            started = started_notice(info.pid, serve_args, connection_file)
            if on_start is not None:
                on_start(started)
        client = cls(info, connection_file=connection_file, **kwargs)
        client.started = started
        try:
            client.hello()
        except BaseException:
            client.close()
            raise
        return client

    @classmethod
    def open(cls, spec: EngineSpec, **kwargs) -> "EngineClient":
        """Connect to the engine ``spec`` names; start it (with the idle exit) when none runs and
        ``spec.autostart`` allows."""
        return cls.connect(spec.connection_file, autostart=spec.autostart, serve_args=spec.start_args,
                           command=spec.command, **kwargs)

    def _open(self, info: ConnectionInfo) -> None:
        self.info = info
        self.session = Session(info.key.encode("ascii"))
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        sock.connect(info.endpoint)
        self._socket = sock

    def _reconnect(self) -> None:
        """Lazy Pirate: a fresh socket (the old one may hold a lost request), maybe a restarted engine."""
        self._socket.close(0)
        info = self.info
        if self.connection_file:
            try:
                info = discover(self.connection_file)
            except EngineNotRunning:
                pass  # keep trying the old endpoint until the retries run out
        self._open(info)
        self.generation += 1

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ requests

    def request(self, msg_type: str, content: Optional[dict] = None, *, timeout: Optional[float] = None) -> dict:
        """Send one request and return the reply content, retrying on silence."""
        timeout = self.timeout if timeout is None else timeout
        for attempt in range(self.retries):
            if attempt:
                self._reconnect()
            frames, header = self.session.serialize(msg_type, content or {})
            self._socket.send_multipart(frames)
            self.last_request = time.monotonic()
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._socket.poll(remaining * 1000):
                    break
                reply = self._receive(header["msg_id"])
                if reply is not None:
                    return self._check_reply(reply)
        if pid_alive(self.info.pid):
            raise EngineTimeout(f"the engine (pid {self.info.pid}) did not answer {msg_type!r} in "
                                f"{self.retries} x {timeout:.1f} s")
        raise EngineNotRunning(f"the engine (pid {self.info.pid}) is not running any more")

    def _receive(self, waiting_for: str) -> Optional[dict]:
        """Read one message: the awaited reply's content, or None (events are queued)."""
        frames = self._socket.recv_multipart()
        try:
            msg = self.session.deserialize(frames)
        except ProtocolError as exc:
            if exc.code == "signature":
                # Our key is wrong, so we cannot verify the engine's answer either; it is
                # trusted only enough to say so.
                try:
                    unverified = self.session.deserialize(frames, verify=False)
                except ProtocolError:
                    return None
                if unverified.content.get("code") == "signature":
                    raise WrongKey(f"the engine rejected our signature: wrong key (is {self.info.path or 'the connection file'} "
                                   "from another engine?)") from None
            return None  # a message we cannot trust is dropped
        if msg.parent_id == waiting_for and msg.msg_type.endswith(("_reply", "error")):
            return msg.content
        if msg.msg_type in EVENT_TYPES:
            self._queue_event(Event(msg.msg_type, msg.content))
        return None  # a late reply to an abandoned request, or an event

    def _queue_event(self, event: Event) -> None:
        self._events.setdefault(event.job_id, deque()).append(event)

    def _check_reply(self, content: dict) -> dict:
        if content.get("status") == "ok":
            return content
        code, fld, message = content.get("code", "error"), content.get("field", ""), content.get("message", "")
        if code == "version":
            raise VersionMismatch(f"engine protocol mismatch: {message}")
        if code == "signature":
            raise WrongKey(f"the engine rejected our signature: {message}")
        raise RequestRejected(code, fld, message)

    def hello(self) -> dict:
        reply = self.request("hello", {"version": PROTOCOL_VERSION, "client": f"python {sys.version.split()[0]}"})
        if reply.get("version", "").split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            raise VersionMismatch(f"engine speaks protocol {reply.get('version')}, this client {PROTOCOL_VERSION}")
        return reply

    def status(self) -> dict:
        return self.request("status")

    def heartbeat(self) -> dict:
        reply = self.request("heartbeat")
        if not reply.get("known", True):
            self.generation += 1  # the engine forgot us (silent too long, or restarted): watch again
        return reply

    def jobs(self, limit: int = 100, state: str = "") -> list[dict]:
        content = {"limit": limit}
        if state:
            content["state"] = state
        return self.request("jobs", content)["jobs"]

    def job(self, job_id: str) -> dict:
        return self.request("job", {"job_id": job_id})["job"]

    def cancel(self, job_id: str) -> str:
        return self.request("cancel", {"job_id": job_id})["state"]

    def shutdown(self) -> dict:
        return self.request("shutdown")

    def submit(self, items: list, out_dir: str, submit_id: Optional[str] = None) -> "EngineJob":
        """Queue items (:class:`~plugin_host.items.Item` or wire dicts); returns at once with a handle
        (the job is journaled before the reply).  The same ``submit_id`` again (a resumed batch)
        returns the job it made the first time instead of a new one (``job.duplicate``)."""
        items = [item.to_wire() if hasattr(item, "to_wire") else item for item in items]
        reply = self.request("submit", {"items": items, "out_dir": os.path.abspath(out_dir),
                                        "submit_id": submit_id or uuid.uuid4().hex})
        job = EngineJob(self, reply["job_id"], reply["items"], watching=self.generation)
        if reply.get("duplicate"):
            job.duplicate = True
            job._watching = None  # fetch its past events (it may have finished long ago)
        return job

    def events_of(self, jobs: list, timeout: Optional[float] = None,
                  on_idle: Optional[Callable[[], None]] = None) -> Iterator[tuple]:
        """``(job, event)`` for several jobs at once, as they happen, until all have ended
        (one client, one thread); :class:`EngineTimeout` after ``timeout`` seconds of silence.
        ``on_idle`` is called on every turn without news (a few times a second)."""
        last = time.monotonic()
        while True:
            live = [j for j in jobs if j.final is None]
            if not live:
                return
            got = False
            for job in live:
                if job._watching != self.generation:
                    job._watch()
                while job.final is None:
                    event = self._next_event(job.job_id)
                    if event is None:
                        break
                    if job._accept(event):
                        got = True
                        yield job, event
            if got:
                last = time.monotonic()
            else:
                if self._socket.poll(min(0.25, self.heartbeat_interval) * 1000):
                    self._receive("")  # an event is queued for its job, read on the next turn
                elif on_idle is not None:
                    on_idle()
                if timeout is not None and time.monotonic() - last > timeout:
                    raise EngineTimeout(f"no news of {len(live)} job(s) for {timeout:.0f} s")
            if time.monotonic() - self.last_request >= self.heartbeat_interval:
                self.heartbeat()

    def attach(self, job_id: str) -> "EngineJob":
        """A handle on an existing job, e.g. one submitted before a crash or by another client."""
        job = self.job(job_id)
        return EngineJob(self, job_id, job["items"], watching=None)

    def _next_event(self, job_id: str) -> Optional[Event]:
        """A queued event of ``job_id``, or None (the socket is read by :meth:`events_of`)."""
        queued = self._events.get(job_id)
        return queued.popleft() if queued else None


class EngineJob:
    """A submitted job: iterate :meth:`events` or call :meth:`wait`."""

    def __init__(self, client: EngineClient, job_id: str, items: int, watching: Optional[int]):
        self.client = client
        self.job_id = job_id
        self.items = items
        self.last_seq = 0
        self.final: Optional[Event] = None
        self._watching = watching
        #: the engine already had this job (the same submit_id): a resumed batch
        self.duplicate = False

    def _accept(self, event: Event) -> bool:
        """Whether ``event`` is new (not seen before a reconnect); notes the job's end."""
        if event.seq is not None:
            if event.seq <= self.last_seq:
                return False
            self.last_seq = event.seq
        if event.terminal:
            self.final = event
        return True

    def _watch(self) -> None:
        reply = self.client.request("job", {"job_id": self.job_id, "watch": True, "since": self.last_seq})
        self._watching = self.client.generation
        for e in reply["events"]:
            self.client._queue_event(Event(e["type"], e["content"]))

    def events(self, timeout: Optional[float] = None, on_idle: Optional[Callable[[], None]] = None) -> Iterator[Event]:
        """Events until the job ends (then stops); :class:`EngineTimeout` after ``timeout`` seconds.

        ``on_idle`` is called a few times a second while no event arrives (e.g. to notice a
        user's cancel request).  One job's view of :meth:`EngineClient.events_of`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def idle() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise EngineTimeout(f"job {self.job_id[:8]} did not finish within {timeout:.0f} s")
            if on_idle is not None:
                on_idle()

        for _, event in self.client.events_of([self], on_idle=idle):
            yield event

    def wait(self, timeout: Optional[float] = None) -> list[dict]:
        """Block until done; the item results, or :class:`JobFailed` / :class:`JobCancelled`."""
        for _ in self.events(timeout):
            pass
        return self.results()

    def results(self) -> list[dict]:
        if self.final is None:
            raise EngineError(f"job {self.job_id[:8]} has not finished")
        if self.final.type == "failed":
            c = self.final.content
            raise JobFailed(self.job_id, c.get("code", "error"), c.get("message", ""), c.get("item"))
        if self.final.type == "cancelled":
            raise JobCancelled(self.job_id)
        return self.final.content["results"]

    def cancel(self) -> str:
        return self.client.cancel(self.job_id)
