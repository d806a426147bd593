"""Re-do a range of a Foley sound strip in place, from the sequencer (right-click › Regenerate Foley Range).

The range is the scene's **preview range** (Blender's in/out: ``P`` in the timeline, or
``frame_preview_start``/``frame_preview_end``, the end frame included), else the span between **two
selected timeline markers** (the second marker's frame excluded); it is cut to the strip's visible
frames.  The strip's WAV is re-done over that range by ``foley regenerate --engine`` (see
:mod:`plugin_host.regenerate`): everything outside it stays bit-identical, the previous file is kept
as ``<name>.before-regenerate-<k>.wav``, and every sound strip showing a changed file is reloaded.
A file of a stems/takes set re-does the whole set unless *This File Only* is on.
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable

import bpy

from . import compat, host
from .jobs import Task
from .place import LINK, rate_of
from .strips import StripError

_regen = host.module("regenerate")


def frame_range(scene, strip) -> tuple[int, int]:
    """The frames ``[a, b)`` to re-do: the preview range, else two selected markers, cut to ``strip``."""
    if scene.use_preview_range:
        a, b = int(scene.frame_preview_start), int(scene.frame_preview_end) + 1
    else:
        chosen = sorted(int(m.frame) for m in scene.timeline_markers if m.select)
        if len(chosen) != 2:
            raise StripError("set a preview range (the in and out of the range to re-do) or select two timeline "
                             "markers around it")
        a, b = chosen
    first, last = compat.left_handle(strip), compat.right_handle(strip)
    a, b = max(a, first), min(b, last)
    if b <= a:
        raise StripError(f"{strip.name}: the range to re-do is outside the strip (frames {first}-{last - 1})")
    return a, b


def media_range(scene, strip, a: int, b: int) -> tuple[Fraction, Fraction]:
    """The media seconds frames ``[a, b)`` of ``strip`` show: the WAV's first sample is on its content start."""
    if not strip.get(LINK):
        raise StripError(f"{strip.name}: not a Foley strip of this add-on")
    wav = os.path.normpath(bpy.path.abspath(strip.sound.filepath))
    start, _end = _regen.file_range(wav)
    zero = int(round(compat.content_start(strip)))  # Foley strips are placed on whole frames
    rate = rate_of(scene)
    return start + (a - zero) / rate, start + (b - zero) / rate


def reload_sounds(scene, paths: list) -> int:
    """Reload every sound showing one of ``paths`` (setting its file path makes Blender read it again)."""
    wanted = {os.path.normcase(os.path.normpath(p)) for p in paths}
    done = 0
    for sound in bpy.data.sounds:
        if os.path.normcase(os.path.normpath(bpy.path.abspath(sound.filepath))) in wanted:
            sound.filepath = sound.filepath
            done += 1
    return done


class Regenerate(Task):
    """One ``foley regenerate`` on a worker thread; the report and the reload on the main thread."""

    def __init__(self, scene_name: str, job, engine):
        super().__init__(f"regenerate {os.path.basename(job.wav)}")
        self.scene_name, self.job, self.engine = scene_name, job, engine
        self._cancel = False

    def cancel(self) -> None:
        self._cancel = True

    def work(self, sink: Callable[[str, object], None]) -> None:
        try:
            sink("done", _regen.run(self.job, self.engine, cancelled=lambda: self._cancel))
        except _regen.RegenerateError as exc:
            sink("failed", str(exc))
        except Exception as exc:  # a thread has nobody to raise to
            sink("failed", f"{type(exc).__name__}: {exc}")

    def handle(self, kind: str, payload) -> None:
        if kind == "failed":
            self.state = "failed"
            self.messages.append(("ERROR", f"Foley: {os.path.basename(self.job.wav)}: {payload}"))
            return
        self.state = "done"
        files = [f["path"] for f in payload.get("files") or [{"path": payload["path"]}]]
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is not None:
            reload_sounds(scene, files)
        more = f" (and {len(files) - 1} other file(s) of its set)" if len(files) > 1 else ""
        self.messages.append(("INFO", f"Foley: re-did {os.path.basename(payload['path'])}{more}, seed "
                                      f"{payload['seed']}; the previous file is {os.path.basename(payload['backup'])}"))

    def run_inline(self) -> None:
        self.work(self.handle)
