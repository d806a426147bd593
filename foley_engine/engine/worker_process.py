"""The server's handle on one worker process.

A reader thread turns the worker's JSON lines into messages on an inproc
ZeroMQ socket, so the server's single poll loop sees worker reports and
client requests alike.  When the worker's stdout closes the thread reports
``exit`` with the return code; that is how a kill -9 or an OOM kill is seen.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Optional

import zmq

from .memory import process_rss, process_stopped


#: a ray slot's worker exits with this when its actor (or the actor's node) died mid-item
SLOT_LOST_EXIT = 75


def describe_exit(returncode: int) -> str:
    if returncode == SLOT_LOST_EXIT:
        return "the slot's Ray actor was lost (the actor or its node died)"
    if returncode < 0:
        import signal

        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        hint = " (out of memory, or killed)" if -returncode == signal.SIGKILL else ""
        return f"worker was killed by {name}{hint}"
    return f"worker exited with status {returncode}"


class WorkerProcess:
    """The server's handle on one worker process, and the only writer of that worker's state.

    ``state``: loading -> ready <-> busy -> exiting.  ``current`` is the key of
    the run in flight (``job_id/item/generation``), so a late report about an
    item the engine already gave up on is recognised and ignored.
    """

    def __init__(self, ctx: zmq.Context, inbox_endpoint: str, generation: int, backend: str, options: dict,
                 *, env: Optional[dict] = None, init: Optional[dict] = None):
        self.generation = generation
        self.state = "loading"
        self.started = time.monotonic()
        self.items_done = 0
        self.rss_at_ready: Optional[int] = None
        self.last_rss: Optional[int] = None
        self.gpu: Optional[dict] = None
        self.backend_info: dict = {}
        self.current: Optional[str] = None
        self.cancel_sent = False
        extra_env = env or {}
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.update(extra_env)  # a slot's own GPU (CUDA_VISIBLE_DEVICES)
        # glibc gives the stdin thread and each job's decode thread a second malloc arena, which
        # objects freed by the main thread fragment and malloc_trim cannot shrink: +11 KiB per job
        # after warm-up with 2 arenas (+3-5 MiB per 100 jobs with glibc's default), +2 KiB with one.
        env.setdefault("MALLOC_ARENA_MAX", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "foley_engine.engine.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
            env=env, text=True, encoding="utf-8", bufsize=1,
        )
        self._send(dict(init or {}, backend=backend, options=options))
        self._thread = threading.Thread(
            target=self._pump, args=(ctx, inbox_endpoint), name=f"worker-{generation}", daemon=True
        )
        self._thread.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self, ctx: zmq.Context, endpoint: str) -> None:
        push = ctx.socket(zmq.PUSH)
        push.connect(endpoint)
        try:
            for line in self.proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue  # not ours (cannot happen with the fd swap, but never crash the pump)
                msg["generation"] = self.generation
                push.send_json(msg)
            push.send_json({"type": "exit", "generation": self.generation, "returncode": self.proc.wait()})
        finally:
            push.close(linger=1000)

    def _send(self, msg: dict) -> bool:
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False  # the exit report is on its way

    # ------------------------------------------------------------------ commands

    def run(self, key: str, index: int, spec: dict) -> None:
        self.state = "busy"
        self.current = key
        self.cancel_sent = False
        self._send({"type": "run", "key": key, "index": index, "spec": spec})

    def cancel(self) -> None:
        """Stop the current item at its next window boundary."""
        if self.current is not None and not self.cancel_sent:
            self.cancel_sent = True
            self._send({"type": "cancel", "key": self.current})

    def retire(self) -> None:
        """Ask the worker to exit after its current item (recycling, shutdown)."""
        self.state = "exiting"
        self._send({"type": "exit"})

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def close_stdin(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ reports

    def on_ready(self, msg: dict) -> None:
        self.state = "ready"
        self.rss_at_ready = self.last_rss = msg.get("rss")
        self.gpu = msg.get("gpu")
        self.backend_info = msg.get("backend") or {}

    def about_current(self, msg: dict) -> bool:
        """Whether a progress/span/result report is about the run in flight."""
        return self.current is not None and msg.get("key") == self.current

    def on_item_finished(self, msg: dict) -> None:
        self.current = None
        if self.state == "busy":
            self.state = "ready"
        self.last_rss, self.gpu = msg.get("rss"), msg.get("gpu")
        self.items_done += 1

    def rss(self) -> Optional[int]:
        return process_rss(self.pid) if self.proc.poll() is None else None

    def rss_growth(self) -> Optional[int]:
        rss = self.rss() or self.last_rss
        return rss - self.rss_at_ready if rss and self.rss_at_ready else None

    def reported_state(self) -> str:
        """``state`` as a user should read it: a stopped process is "not responding", whatever it was doing."""
        if self.proc.poll() is None and process_stopped(self.pid):
            return "not responding"
        return self.state

    def describe(self) -> dict:
        rss = self.rss() or self.last_rss
        return {"pid": self.pid, "state": self.reported_state(), "items_done": self.items_done, "rss": rss,
                "rss_at_load": self.rss_at_ready, "rss_growth": self.rss_growth()}
