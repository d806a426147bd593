"""Submitted items on the engine side: checked against their media, and their results.

Every item is probed when the job is submitted, so a missing file or a range
outside the media is refused at once with the field named, instead of
failing the job minutes later.  Probing opens files, and a stalled network
mount can block that for ever, so it runs off the request loop
(:class:`Probes`), with a time-out: the loop keeps answering ``status``.
Each item is resolved there, once (:func:`~foley_engine.job.resolve`): the
journal stores that :class:`~foley_engine.job.ResolvedItem` (the item's wire
form with its exact range, its output path, the samples and the probed media
facts), and the worker reads it back typed, probing nothing.

Where outputs may go (:func:`check_out_dir`): an existing, writable folder,
never inside a system folder (``/etc``, ``/usr``, ``/dev``, ...); when the
engine was started with ``--output-root DIR`` (repeatable), only inside one
of those folders.  Links are resolved first, so a link cannot lead out, and the
job keeps the resolved folder: its worker refuses to write if a link appears in
it later (swapped in while the job was queued).  Process views (``/proc/self/cwd``,
``/dev/fd/N``) are refused before resolving: they name another folder for the
engine than for the client.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

from plugin_host.items import Item
from plugin_host.fields import ProtocolError

from ..errors import FoleyError, MediaError, RangeError
from ..job import ResolvedItem, resolve
from ..media.probe import MediaInfo, probe
from ..media.wav import FREE_SPACE_RESERVE, check_output_budget, wav_bytes
from .outputs import output_name

#: folders no job may write into (with their sub-folders), unless an --output-root says otherwise
#: paths that name something else for each process (never an output folder, whatever they resolve to)
PROCESS_VIEWS = ("/proc", "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr")
SYSTEM_FOLDERS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin", "/sys",
    "/usr", "/var", "/System", "/Library", "/private/etc", "/private/var", "/Applications",
)
#: places inside those that hold user data (temp folders, removable drives, user runtime folders)
USER_FOLDERS_INSIDE_SYSTEM = ("/var/tmp", "/var/folders", "/private/var/folders", "/private/var/tmp",
                              "/run/media", "/run/user")
_WINDOWS_SYSTEM = ("\\windows", "\\program files", "\\program files (x86)", "\\programdata")


@dataclass(frozen=True)
class Limits:
    """What one job may ask of the engine's disk."""

    sample_rate: int = 48000
    channels: int = 2
    max_duration: Fraction = Fraction(6 * 3600)


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_out_dir(out_dir: str, roots: tuple[str, ...] = ()) -> str:
    """The output folder a job may write into, links resolved; ProtocolError (field ``out_dir``) if not."""
    if not os.path.isdir(out_dir):
        raise ProtocolError("output", "out_dir", f"{out_dir}: folder does not exist")
    if any(_inside(os.path.abspath(out_dir), v) for v in PROCESS_VIEWS):
        # /proc/self/cwd, /dev/fd/3: the same words name another folder for the engine than for the client
        raise ProtocolError("output", "out_dir", f"{out_dir}: a process or device view, not a folder; "
                            f"give the folder's own path")
    real = os.path.realpath(out_dir)
    if roots:
        allowed = [os.path.realpath(r) for r in roots]
        if not any(_inside(real, root) for root in allowed):
            raise ProtocolError("output", "out_dir", f"{out_dir}: outside the folders this engine writes to "
                                f"({', '.join(allowed)}; set with `foley engine serve --output-root`)")
    elif sys.platform == "win32":
        if any(real.lower()[2:].startswith(p) for p in _WINDOWS_SYSTEM):
            raise ProtocolError("output", "out_dir", f"{out_dir}: is a system folder; the engine does not write there")
    elif real == os.sep or (any(_inside(real, f) for f in SYSTEM_FOLDERS)
                            and not any(_inside(real, f) for f in USER_FOLDERS_INSIDE_SYSTEM)):
        raise ProtocolError("output", "out_dir", f"{out_dir}: is a system folder; the engine does not write there "
                            f"(start it with --output-root to allow a folder)")
    if not os.access(real, os.W_OK | os.X_OK):
        raise ProtocolError("output", "out_dir", f"{out_dir}: folder is not writable")
    return real  # the job writes here; its worker refuses it if a link appears in it later


def resolve_items(items: list[Item], out_dir: str, job_id: str, limits: Optional[Limits] = None) -> list[dict]:
    """The items resolved, in the form the journal stores; ProtocolError names a bad item.

    Each item must make at least one sample and at most ``limits.max_duration`` seconds,
    and the folder's disk must hold all of the job's files.
    """
    limits = limits or Limits()
    probes: dict[str, MediaInfo] = {}  # timeline items often share a few source files: probe each once
    specs, total = [], 0
    for i, item in enumerate(items):
        resolved = _resolve(i, item, out_dir, job_id, probes, limits)
        specs.append(resolved.to_journal())
        total += wav_bytes(resolved.num_samples, limits.channels, item.format)
    try:
        free = _free_bytes(out_dir)
    except OSError:
        free = None
    if free is not None and total + FREE_SPACE_RESERVE > free:
        raise ProtocolError("output", "out_dir", f"{out_dir}: not enough free disk space: the job needs "
                            f"{total / 1048576:.1f} MiB, {free / 1048576:.1f} MiB free "
                            f"(keeping {FREE_SPACE_RESERVE // 1048576} MiB spare)")
    return specs


def _free_bytes(folder: str) -> int:
    import shutil

    usage = shutil.disk_usage(folder)
    if usage.total == 0:
        raise OSError("no size reported")  # a pseudo file system: cannot tell
    return usage.free


def _resolve(i: int, item: Item, out_dir: str, job_id: str, probes: dict, limits: Limits) -> ResolvedItem:
    name = f"items[{i}]"
    if not os.path.isabs(item.media):
        raise ProtocolError("schema", f"{name}.media", "must be an absolute path")
    try:
        info = probes.get(item.media) or probe(item.media)
    except MediaError as exc:
        raise ProtocolError("media", f"{name}.media", str(exc)) from None
    probes[item.media] = info
    try:
        resolved = resolve(item, info, limits.sample_rate)
        check_output_budget(resolved.num_samples, limits.sample_rate, max_duration=limits.max_duration,
                            what="the range" + (f" at speed {item.speed}" if item.speed != 1 else ""))
    except RangeError as exc:
        beyond = item.end is not None and item.end > info.duration
        field = f"{name}.end" if beyond or "0 samples" in str(exc) else f"{name}.start"
        raise ProtocolError("range", field, str(exc)) from None
    except FoleyError as exc:
        raise ProtocolError("range", f"{name}.speed" if item.speed != 1 else f"{name}.end", str(exc)) from None
    rng = resolved.media_range
    return dataclasses.replace(resolved, out_path=os.path.join(
        out_dir, output_name(item.media, rng.start, rng.end, job_id, i)))


class Probes:
    """Submits being probed off the request loop, each on its own daemon thread with a deadline.

    A thread stuck on a stalled mount is abandoned at its deadline (the submit is
    refused); being a daemon it never keeps the engine from exiting.
    """

    def __init__(self, timeout: float = 30.0, max_in_flight: int = 8, wake: Optional[Callable[[], None]] = None):
        """``wake()`` is called from a probe's thread when it finishes, so the loop answers at once
        instead of at its next poll time-out."""
        self.timeout = timeout
        self.wake = wake
        self.max_in_flight = max_in_flight
        #: key -> (future, deadline, context the server keeps for the reply)
        self.pending: dict[str, tuple[Future, float, dict]] = {}
        self.stuck = 0

    def __contains__(self, key: str) -> bool:
        return key in self.pending

    def start(self, key: str, context: dict, items: list[Item], out_dir: str, job_id: str, limits: Limits) -> None:
        if len(self.pending) >= self.max_in_flight:
            raise ProtocolError("busy", "", f"the engine is checking {len(self.pending)} other submits; "
                                "send this one again shortly")
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(resolve_items(items, out_dir, job_id, limits))
            except BaseException as exc:  # delivered to the loop, which answers the client
                future.set_exception(exc)
            if self.wake is not None:
                self.wake()

        threading.Thread(target=run, name=f"probe-{job_id[:8]}", daemon=True).start()
        self.pending[key] = (future, time.monotonic() + self.timeout, context)

    def update(self, key: str, msg) -> None:
        """A resend of a submit still being probed: answer the newest request."""
        future, deadline, context = self.pending[key]
        self.pending[key] = (future, deadline, dict(context, msg=msg))

    def finished(self, now: float) -> list[tuple[dict, Optional[list], Optional[BaseException]]]:
        """``(context, specs, error)`` for each submit done or past its deadline."""
        out = []
        for key, (future, deadline, context) in list(self.pending.items()):
            if future.done():
                del self.pending[key]
                exc = future.exception()
                out.append((context, None if exc else future.result(), exc))
            elif now > deadline:
                del self.pending[key]
                self.stuck += 1
                out.append((context, None, ProtocolError(
                    "media", "items", f"reading the media took longer than {self.timeout:g} s (a stalled network "
                    "mount, or a file that blocks?); the job was not accepted")))
        return out
