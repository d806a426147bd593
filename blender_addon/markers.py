"""Blender timeline markers both ways: ``foley:`` markers as prompts, the engine's events back as markers.

Blender's timeline markers are points (a frame and a name, no note, no length), so a range takes two:

- ``foley: rain on a tin roof [`` opens a range at its frame, the next ``]`` closes it (the range is
  ``[open frame, close frame)``); ``foley+: wind [`` opens an adding range; ranges nest (a ``]`` closes
  the latest open one); a range left open runs to the scene's end, and a ``]`` with nothing open is
  ignored (both are reported);
- ``foley: glass breaks`` without a bracket is a point: a one-shot of :data:`ONE_SHOT`, rounded to whole
  scene frames, from its frame.

The syntax, the precedence and the parts are :mod:`plugin_host.markers`' (the same as OTIO's and
Resolve's); record time here is scene frames over the scene's exact rate.

Events (the panel's *Mark Events*): each event of a placed Foley file becomes a timeline marker named by
its kind (events on one frame share one: ``impact, cut``).  Blender markers carry no custom data, so the
scene keeps a list of the markers we wrote (``scene["foley_spot_markers"]``, JSON ``[[frame, name], ...]``);
a re-run removes those that are still where and as we left them (one you moved or renamed is yours now)
and writes the current ones.  Markers of yours are never touched.
"""
from __future__ import annotations

import json
from fractions import Fraction
from typing import Optional

from . import host

_markers = host.module("markers")
ONE_SHOT = _markers.ONE_SHOT
#: where the scene remembers the event markers we wrote
SPOT_KEY = "foley_spot_markers"
_OPEN, _CLOSE = "[", "]"


def one_shot_frames(rate: Fraction) -> int:
    return max(1, host.timebase.to_index(ONE_SHOT, rate))


def marker_prompts(markers: list, rate: Fraction, scene_end: int) -> tuple[list, list]:
    """``(MarkerPrompt list in record seconds, warnings)`` from ``markers`` = ``[(frame, name)]``.

    ``scene_end`` is the frame after the scene's last (where an open range ends)."""
    found, warnings, open_ = [], [], []
    # At one frame, closing comes before opening: "]" then "foley: next [" hand over on that frame.
    for frame, name in sorted(markers, key=lambda m: (m[0], m[1].strip() != _CLOSE)):
        text = name.strip()
        if text == _CLOSE:
            if open_:
                start, body, adds = open_.pop()
                if frame > start:
                    found.append(_markers.MarkerPrompt(Fraction(start) / rate, Fraction(frame) / rate, body, adds))
            else:
                warnings.append(f"the marker ']' at frame {frame} closes no open 'foley: ... [' marker: ignored")
            continue
        parsed = _markers.prompt_of(text)
        if parsed is None:
            continue
        body, adds = parsed
        if body.endswith(_OPEN):
            body = body[:-1].strip()
            if body:
                open_.append((frame, body, adds))
            continue
        at = Fraction(frame) / rate
        found.append(_markers.MarkerPrompt(at, at, body, adds))
    for start, body, _adds in open_:
        warnings.append(f"the marker 'foley: {body} [' at frame {start} has no ']' after it: it runs to the "
                        f"scene's end")
        if scene_end > start:
            found.append(_markers.MarkerPrompt(Fraction(start) / rate, Fraction(scene_end) / rate, body, _adds))
    return found, warnings


def frame_parts(first: int, last: int, prompts: list, rate: Fraction, base: str) -> list:
    """The strip's visible frames ``[first, last)`` cut into ``(start frame, end frame, prompt)`` parts."""
    lo, hi = Fraction(first) / rate, Fraction(last) / rate
    one_shot = Fraction(one_shot_frames(rate)) / rate
    inside = [m for m in (_markers.clipped(m, lo, hi, one_shot) for m in prompts) if m is not None]
    # Every edge is a whole frame (markers sit on frames, one-shots are whole frames): back to frames exactly.
    return [(int(p.start * rate), int(p.end * rate), p.prompt)
            for p in _markers.parts(lo, hi, inside, base)]


def scene_prompts(scene) -> tuple[list, list]:
    """The scene's Foley markers (``marker_prompts``) read from ``scene.timeline_markers``."""
    marks = [(int(m.frame), str(m.name)) for m in scene.timeline_markers]
    return marker_prompts(marks, _rate(scene), int(scene.frame_end) + 1)


def _rate(scene) -> Fraction:
    from .strips import scene_rate

    return scene_rate(scene.render.fps, scene.render.fps_base)


# ------------------------------------------------------------------ events back as markers


def event_frames(wav: str, frame0: int, frame1: int, rate: Fraction) -> Optional[dict]:
    """``{frame: [kinds]}`` of the events in ``wav``'s sidecar for a sound strip showing it from ``frame0``
    (its first sample) to ``frame1``; None when the file has no event list."""
    found = _markers.sidecar_events(wav)
    if found is None:
        return None
    to_index = host.timebase.to_index

    def frame_of(t: Fraction):
        sample = to_index(t, found.sample_rate) - found.first_sample
        at = frame0 + to_index(Fraction(sample, found.sample_rate), rate)
        return at if sample >= 0 and frame0 <= at < frame1 else None

    return _markers.events_by_frame(found.events, frame_of)


def _written(scene) -> list:
    try:
        return [(int(f), str(n)) for f, n in json.loads(scene.get(SPOT_KEY, "[]"))]
    except (TypeError, ValueError):
        return []


def clear_spots(scene, first: int, last: int) -> int:
    """Remove the event markers we wrote on frames ``[first, last)`` that are as we left them; how many."""
    keep, removed = [], 0
    for frame, name in _written(scene):
        if not first <= frame < last:
            keep.append((frame, name))
            continue
        mine = next((m for m in scene.timeline_markers if m.frame == frame and m.name == name), None)
        if mine is not None:
            scene.timeline_markers.remove(mine)
            removed += 1
    scene[SPOT_KEY] = json.dumps(keep)
    return removed


def write_spots(scene, frames: dict) -> int:
    """Add a marker per ``{frame: [kinds]}`` (after :func:`clear_spots` of the same range); how many."""
    written = _written(scene)
    for frame, kinds in sorted(frames.items()):
        name = ", ".join(kinds)
        scene.timeline_markers.new(name, frame=frame)
        written.append((frame, name))
    scene[SPOT_KEY] = json.dumps(written)
    return len(frames)


def spot_placed(scene, item, sound, wav: str) -> str:
    """Mark the events of ``wav`` (placed as ``sound``, its first sample on the strip's first frame) as
    timeline markers, replacing ours over the strip's frames; a one-line report."""
    from . import compat

    if item.speed != 1:
        return f"{item.name}: events not marked (the strip plays at another speed than its movie)"
    first, last = compat.left_handle(sound), compat.right_handle(sound)
    frames = event_frames(wav, first, last, _rate(scene))
    if frames is None:
        return f"{item.name}: no event list beside {wav} (made by an older engine?): not marked"
    removed = clear_spots(scene, first, last)
    written = write_spots(scene, frames)
    return f"{item.name}: {written} event marker(s)" + (f" ({removed} earlier one(s) replaced)" if removed else "")
