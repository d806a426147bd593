"""Engine work off Blender's main thread.

The engine client blocks while it waits for events, so each job runs its
client in a worker thread that only talks to the engine and puts what it
hears on a queue.  Everything that touches bpy (placing strips, reports,
redraws) happens on the main thread in :func:`pump`, called by a
``bpy.app.timers`` timer, or inline when an operator runs with ``wait``.
"""
from __future__ import annotations

import abc
import queue
import threading
import time
from typing import Callable, Optional

import bpy

from . import compat, host
from .place import place
from .strips import StripError

POLL_S = 0.1
#: client heartbeat, which is also how often a worker thread looks for a cancel request
HEARTBEAT_S = 0.2
STATUS_MAX_AGE_S = 3.0


#: how to reach (and, if allowed, start) the engine: the plug-in package's, with its idle-exit rule
EngineSpec = host.module("process").EngineSpec


def _import_before_threads() -> None:
    """Load on the main thread what a worker thread would otherwise load itself: the engine client,
    the batch runner and the UTF-8 codec (reading the connection file).  An import on a worker thread
    while an operator ran on the main thread crashed bpy 4.5 once in our suite; nothing else a worker
    does touches Blender.  A module that cannot load is left to the worker, which reports it."""
    import codecs

    codecs.lookup("utf-8")
    try:
        compat.client_module()
        host.module("batch")
    except ImportError:
        pass


class Task(abc.ABC):
    """Work on a thread, reported through a queue and applied on the main thread by :meth:`drain`."""

    def __init__(self, label: str):
        self.label = label
        self.state = "starting"
        self.messages: list = []  # (level, text) not yet reported
        self._events: "queue.Queue" = queue.Queue()
        self._thread: Optional[threading.Thread] = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled", "error")

    @abc.abstractmethod
    def work(self, sink: Callable[[str, object], None]) -> None:
        """Runs on the worker thread; reports every outcome as ``sink(kind, payload)`` and never raises."""

    @abc.abstractmethod
    def handle(self, kind: str, payload) -> None:
        """Applies one ``(kind, payload)`` on the main thread."""

    def start_thread(self) -> None:
        _import_before_threads()
        self._thread = threading.Thread(target=self.work, args=(self._put,), name=f"foley-{self.label}", daemon=True)
        self._thread.start()

    def _put(self, kind: str, payload) -> None:
        self._events.put((kind, payload))

    def drain(self) -> None:
        """Apply what the worker thread reported (main thread only)."""
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                return
            self.handle(kind, payload)


class Run(Task):
    """One batch of strips: its items, where each result goes, and what happened so far.

    Each strip is its own engine job (the batch runner's default policy), so
    one unreadable strip fails alone and the others are still placed.
    """

    def __init__(self, scene_name: str, items: list, targets: list, out_dir: str, engine: EngineSpec,
                 channel: int = 0, label: str = "job", spot: bool = False):
        """``items[i]`` (typed :class:`~plugin_host.items.Item`) is placed at ``targets[i]``
        (a :class:`~.place.Target`); results stay typed until they are placed."""
        super().__init__(label)
        self.scene_name, self.items, self.targets = scene_name, items, targets
        self.out_dir, self.engine, self.channel = out_dir, engine, channel
        self.spot = spot  #: write the engine's events as timeline markers (markers.spot_placed)
        self.job_ids: list = []
        self.items_done = 0
        self.failures: list = []
        self.fraction = 0.0
        self.placed: list = []
        self.started = time.monotonic()
        self._cancel = threading.Event()

    @property
    def job_id(self) -> str:
        """The first engine job of this run (for the panel)."""
        return self.job_ids[0] if self.job_ids else ""

    # ---------------------------------------------------------------- worker side

    def work(self, sink: Callable[[str, object], None]) -> None:
        """Talk to the engine until every item ended; every outcome goes to ``sink``, never raises."""
        try:
            client = compat.client_module()
            batch = host.module("batch")
        except ImportError as exc:
            sink("error", f"the engine client cannot load ({exc}); reinstall the extension")
            return
        try:
            with client.EngineClient.open(self.engine, heartbeat=HEARTBEAT_S) as eng:
                if getattr(eng, "started", None):  # an older bundled client has no notice
                    sink("started", eng.started)
                outcome = batch.BatchRunner(eng, self.out_dir).run(
                    self.items, cancel=self._cancel.is_set,
                    on_submitted=lambda job_id: sink("submitted", job_id),
                    on_progress=lambda p: sink("progress", p.fraction),
                    on_result=lambda done: sink("result", done),
                    on_failure=lambda failed: sink("failure", failed))
            sink("finished", outcome.cancelled)
        except client.EngineError as exc:
            sink("error", str(exc))
        except Exception as exc:  # a thread has nobody to raise to; the user gets a report instead
            sink("error", f"engine connection failed: {type(exc).__name__}: {exc}")

    def cancel(self) -> None:
        self._cancel.set()

    def abandon(self) -> None:
        """The file it belongs to was closed: cancel, and place nothing into the next file."""
        self.cancel()
        self.scene_name = None

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    # ---------------------------------------------------------------- main-thread side

    def handle(self, kind: str, payload) -> None:
        if kind == "submitted":
            self.job_ids.append(payload)
            self.state = "running"
        elif kind == "started":  # the engine outlives this job: say how it stops
            self.messages.append(("INFO", f"Foley: {payload}"))
        elif kind == "error":
            self.state = "error"
            self.messages.append(("ERROR", f"Foley: {payload}"))
        elif kind == "progress":
            self.fraction = max(self.fraction, payload)
        elif kind == "result":
            self.items_done += 1
            self.fraction = max(self.fraction, self.items_done / max(1, len(self.items)))
            self._place(payload.index, payload.result, payload.job_id)
            for warning in payload.result.warnings:  # e.g. prompt words the backend does not know
                self.messages.append(("WARNING", f"Foley: {payload.item.name}: {warning}"))
        elif kind == "failure":
            self.failures.append(payload.error)
            if payload.reason != "cancelled":
                self.messages.append(("ERROR", f"Foley: {payload.error}"))
        elif kind == "finished":
            self._finish(cancelled=payload)

    def _finish(self, cancelled: bool) -> None:
        self.fraction = 1.0
        if cancelled:
            self.state = "cancelled"
            kept = f"; {len(self.placed)} finished clip(s) kept" if self.placed else ""
            self.messages.append(("WARNING", f"Foley job cancelled{kept}"))
        elif self.failures and not self.placed:
            self.state = "failed"
            self.messages.append(("ERROR", f"Foley: no clip placed ({len(self.failures)} failed)"))
        else:
            self.state = "done"
            failed = f", {len(self.failures)} failed" if self.failures else ""
            self.messages.append(("INFO" if not failed else "WARNING", f"Foley: {len(self.placed)} clip(s) placed"
                                  f"{failed}"))

    def _place(self, index: int, result, job_id: str) -> None:
        if self.scene_name is None:
            self.messages.append(("WARNING", f"Foley: the file was closed; {result.path} was not placed"))
            return
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is None or scene.sequence_editor is None:
            self.messages.append(("WARNING", f"Foley: scene {self.scene_name!r} is gone; {result.path} was not placed"))
            return
        try:
            sound, warning = place(scene, self.items[index], self.targets[index], result, job_id, self.channel)
        except (StripError, RuntimeError) as exc:
            self.messages.append(("ERROR", f"Foley: could not place {result.path}: {exc}"))
            return
        self.placed.append(sound.name)
        if warning:
            self.messages.append(("WARNING", f"Foley: {warning}"))
        if self.spot:
            from .markers import spot_placed

            self.messages.append(("INFO", f"Foley: {spot_placed(scene, self.items[index], sound, result.path)}"))

    def run_inline(self) -> None:
        """Blocking variant for ``wait=True`` (background mode, render farms)."""
        self.work(self.handle)
        if not self.finished:
            self.state = "error"
            self.messages.append(("ERROR", "Foley: the engine connection ended before the job did"))


# -------------------------------------------------------------------- the active runs

RUNS: list[Task] = []
ENGINE_STATUS: dict = {"state": "unknown", "time": 0.0}
_status_probe: list = []


def active_runs() -> list[Task]:
    return [r for r in RUNS if not r.finished]


def active_jobs() -> list[Run]:
    return [r for r in RUNS if isinstance(r, Run) and not r.finished]


def start(run: Task) -> None:
    RUNS[:] = [r for r in RUNS if not r.finished] + [run]
    run.start_thread()
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=POLL_S, persistent=True)


def cancel_all() -> int:
    """Cancel every running Foley job and range regeneration; how many."""
    runs = [r for r in active_runs() if callable(getattr(r, "cancel", None))]
    for r in runs:
        r.cancel()
    return len(runs)


def pump(reporter: Optional[Callable[[str, str], None]] = None) -> bool:
    """Apply finished work and deliver reports; True while something is still running.

    ``reporter(level, text)`` delivers the reports (the watching modal
    operator passes its own ``report``); by default :func:`report`.
    """
    reporter = reporter or report
    placed = 0
    for run in list(RUNS):
        before = len(getattr(run, "placed", ()))
        run.drain()
        placed += len(getattr(run, "placed", ())) - before
        for level, text in run.messages:
            reporter(level, text)
        run.messages.clear()
    if placed:
        _undo_push("Foley")
    redraw()
    return bool(active_runs()) or bool(_status_probe)


#: when the modal watcher last pumped; while it does, its reports reach the status bar
_watcher_seen = [0.0]


def watcher_pump(reporter: Callable[[str, str], None]) -> bool:
    _watcher_seen[0] = time.monotonic()
    return pump(reporter)


def watcher_alive() -> bool:
    return time.monotonic() - _watcher_seen[0] < 5 * POLL_S


def _tick() -> Optional[float]:
    if watcher_alive():
        return POLL_S  # the modal watcher is pumping (its reports show better than ours)
    return POLL_S if pump() else None


def report(level: str, text: str) -> None:
    """A Blender report from anywhere on the main thread (timers have no operator to report from)."""
    try:
        bpy.ops.sequencer.foley_report(level=level, message=text)
    except (RuntimeError, AttributeError):
        # ERROR reports raise when there is no UI to show them (background mode); print instead.
        print(f"{level}: {text}")


def _undo_push(message: str) -> None:
    """Strips placed by the timer get their own undo step (the operator's step ended at submit)."""
    try:
        bpy.ops.ed.undo_push(message=message)
    except RuntimeError:
        pass  # no undo stack without a UI (background mode)


def redraw() -> None:
    wm = bpy.context.window_manager
    for window in wm.windows if wm else ():
        for area in window.screen.areas:
            if area.type == "SEQUENCE_EDITOR":
                area.tag_redraw()


# -------------------------------------------------------------------- engine status / start / stop


def refresh_status(engine: EngineSpec, force: bool = False) -> None:
    """Ask the engine for its status in the background (the panel shows the last answer)."""
    if _status_probe or (not force and time.monotonic() - ENGINE_STATUS["time"] < STATUS_MAX_AGE_S):
        return
    ENGINE_STATUS["time"] = time.monotonic()

    def probe():
        client = None
        try:
            client = compat.client_module()
            info = client.discover(engine.connection_file)
            with client.EngineClient(info, timeout=1.0, retries=1) as eng:
                st = eng.status()
            be = st.get("backend", {})
            w = st.get("worker") or {}
            ENGINE_STATUS.update(state="connected", backend=be.get("name", "?"), device=be.get("device"),
                                 error=be.get("error"), queue=st.get("queue", {}).get("jobs", 0),
                                 worker=w.get("state", "restarting"), pid=st.get("engine", {}).get("pid"))
        except Exception as exc:  # any failure is shown as the engine's state
            ENGINE_STATUS.clear()
            stopped = client is not None and isinstance(exc, client.EngineNotRunning)
            ENGINE_STATUS.update(state="not running" if stopped else "error", error=str(exc))
        ENGINE_STATUS["time"] = time.monotonic()
        _status_probe.clear()

    _status_probe.append(threading.Thread(target=probe, name="foley-status", daemon=True))
    _status_probe[0].start()
    if not bpy.app.timers.is_registered(_tick):
        bpy.app.timers.register(_tick, first_interval=POLL_S, persistent=True)


def start_engine(engine: EngineSpec, timeout: float = 60.0) -> dict:
    """Start the engine (blocking; the operator runs it in a thread) and return its hello."""
    client = compat.client_module()
    try:
        info = client.discover(engine.connection_file)
    except client.EngineNotRunning:
        # Blender's executable is not a Python that could run the engine: the spec names the program.
        info = client.start_engine(engine.connection_file, engine.start_args, timeout, command=engine.command)
    with client.EngineClient(info, timeout=2.0) as eng:
        return eng.hello()


def stop_engine(engine: EngineSpec) -> int:
    client = compat.client_module()
    with client.EngineClient.connect(engine.connection_file, timeout=2.0, retries=1) as eng:
        return eng.shutdown()["pid"]


class Chore(Task):
    """A short engine errand (start, stop) whose one-line outcome becomes a report."""

    def __init__(self, label: str, fn: Callable[[], str]):
        super().__init__(label)
        self.fn = fn

    def work(self, sink) -> None:
        try:
            sink("message", ("INFO", self.fn()))
        except Exception as exc:  # reported, not raised: a thread has nobody to raise to
            sink("message", ("ERROR", f"Foley {self.label}: {exc}"))
        sink("finished", None)

    def handle(self, kind: str, payload) -> None:
        if kind == "message":
            self.messages.append(payload)
        else:
            self.state = "done"
            ENGINE_STATUS["time"] = 0.0  # refresh the panel's engine status


def background(label: str, fn: Callable[[], str]) -> None:
    start(Chore(label, fn))


@bpy.app.handlers.persistent
def _on_load_pre(*_args) -> None:
    for run in active_jobs():
        run.abandon()


def register() -> None:
    bpy.app.handlers.load_pre.append(_on_load_pre)


def unregister() -> None:
    cancel_all()
    if _on_load_pre in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(_on_load_pre)
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
