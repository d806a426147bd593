"""The worker process: holds the backend and generates one item at a time.

Run by the server as ``python -m foley_engine.engine.worker``.  It speaks JSON lines:
requests on stdin (``run``, ``cancel``, ``exit``), reports on a private copy
of stdout (``ready``, ``progress``, ``span``, ``done``, ``cancelled``,
``error``, ``fatal``).  File descriptor 1 itself is pointed at stderr so a
library that prints cannot corrupt the channel.  When stdin closes (the
server died, even by kill -9) the worker exits at once.
"""
from __future__ import annotations

import json
import os
import queue
import sys
import threading
import traceback

from foley_engine.malloc_tuning import trim_heap
from foley_engine.media.wav import pin_output_folders

from .memory import gpu_memory, process_rss
from .slots import SlotLost


class Channel:
    """The worker's reports, as JSON lines on a private copy of stdout, written by a thread of their own.

    A pipe write releases the GIL, and taking it back from the busy decode thread can cost the
    thread that generates up to a switch interval (5 ms) per report; handing the line to the
    writer costs it nothing.  :meth:`close` delivers what is queued before the process exits.
    """

    def __init__(self):
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._lines: queue.SimpleQueue = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="reports", daemon=True)
        self._writer.start()

    def send(self, msg: dict) -> None:
        self._lines.put(json.dumps(msg, separators=(",", ":")) + "\n")

    def _write(self) -> None:
        while True:
            line = self._lines.get()
            if line is None:
                return
            try:
                self._out.write(line)
                self._out.flush()
            except (OSError, ValueError):
                return  # the server is gone; nobody reads the reports

    def close(self) -> None:
        self._lines.put(None)
        self._writer.join(timeout=10)


class Worker:
    def __init__(self, channel: Channel, backend):
        self.channel = channel
        self.backend = backend
        self.inbox: queue.Queue = queue.Queue()
        self.current = None
        self.cancel = threading.Event()
        self.early_cancel = None
        self._lock = threading.Lock()

    def read_stdin(self) -> None:
        for line in sys.stdin:
            msg = json.loads(line)
            if msg.get("type") == "cancel":
                with self._lock:
                    # A late cancel for an item that already finished must not hit the next one;
                    # an early one (sent before this worker picked the run up) waits for it.
                    if self.current == msg.get("key"):
                        self.cancel.set()
                    else:
                        self.early_cancel = msg.get("key")
            else:
                self.inbox.put(msg)
        os._exit(0)  # the server is gone; nobody would collect our work

    def serve(self) -> None:
        threading.Thread(target=self.read_stdin, name="stdin", daemon=True).start()
        while True:
            msg = self.inbox.get()
            if msg.get("type") == "exit":
                self.backend.close()
                return
            if msg.get("type") == "run":
                self.run(msg)

    def run(self, msg: dict) -> None:
        from foley_engine.errors import Cancelled, FoleyError
        from foley_engine.generate import generate_to_file
        from foley_engine.job import ResolvedItem

        key = msg["key"]
        with self._lock:
            self.current = key
            self.cancel.clear()
            if self.early_cancel == key:
                self.cancel.set()
        send = self.channel.send

        def progress(p):
            send({"type": "progress", "key": key, "done_samples": p.done_samples, "total_samples": p.total_samples,
                  "windows_done": p.windows_done, "windows_estimate": p.windows_estimate})

        def on_span(span):
            send({"type": "span", "key": key, "start_sample": span.start, "num_samples": int(span.audio.shape[0]),
                  "sample_rate": span.sample_rate, "window": span.window.index})

        try:
            # The engine resolved the item at submit: read it back typed; nothing is probed again.
            resolved = ResolvedItem.from_journal(msg["spec"], self.backend.sample_rate)
            generated = generate_to_file(
                resolved, self.backend, subtype=resolved.format, progress=progress, cancel=self.cancel.is_set,
                on_span=on_span,
                # A ray slot with several actors fans the windows of one item out over them.
                pool=self.backend if getattr(self.backend, "width", 1) > 1 else None,
            )
            result = generated.to_result(resolved.request, msg["index"], self.backend.channels)
            report = {"type": "done", "key": key, "result": result.to_wire()}
        except Cancelled:
            report = {"type": "cancelled", "key": key}
        except SlotLost as exc:
            # A ray slot's actor died: exit, so the engine requeues the item and starts a new slot.
            sys.stderr.write(f"foley worker: {exc}\n")
            sys.stderr.flush()
            from .worker_process import SLOT_LOST_EXIT

            self.channel.close()  # the spans already made still reach the engine, as before
            os._exit(SLOT_LOST_EXIT)
        except FoleyError as exc:
            report = {"type": "error", "key": key, "code": exc.code, "message": str(exc)}
        except Exception as exc:  # a backend bug: report it, keep serving
            traceback.print_exc()
            report = {"type": "error", "key": key, "code": "internal", "message": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            self.current = None
        # Between jobs, hand freed native memory back to the OS so a long-lived
        # worker does not keep the high-water mark of its largest job (soak: flat RSS).
        trim_heap()
        report.update(rss=process_rss(), gpu=gpu_memory())
        send(report)


def main() -> int:
    pin_output_folders()  # folders were resolved and checked at submit: a link in them now is a swap
    channel = Channel()
    try:
        return _main(channel)
    finally:
        channel.close()


def _main(channel: Channel) -> int:
    init = json.loads(sys.stdin.readline() or "{}")
    try:
        if init.get("ray"):
            from .ray_slots import load_remote  # a ray slot: the backend is an actor on the cluster

            backend = load_remote(init)
        else:
            from foley_engine.backends.registry import load_backend

            backend = load_backend(init["backend"], **(init.get("options") or {}))
    except Exception as exc:
        code = getattr(exc, "code", "backend")
        channel.send({"type": "fatal", "code": code, "message": f"cannot load backend {init.get('backend')!r}: {exc}"})
        return 3
    channel.send({"type": "ready", "pid": os.getpid(), "backend": backend.describe(),
                  "rss": process_rss(), "gpu": gpu_memory()})
    Worker(channel, backend).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
