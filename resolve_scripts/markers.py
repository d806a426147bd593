"""Resolve markers both ways: ``foley:`` markers as prompts, the engine's events back as timeline markers.

Read (``GetMarkers()``, ``{frameId: {"color", "duration", "note", "name", "customData"}}``):

- **timeline markers**: ``frameId`` counts from the timeline's first frame (the README's "timeline
  offset"), so a marker is at absolute frame ``GetStartFrame() + frameId``;
- **clip markers** (``TimelineItem.GetMarkers``): ``frameId`` is the README's "clip offset", taken here
  as frames from the clip's first media frame, like ``GetLeftOffset()``: absolute frame
  ``GetStart() - GetLeftOffset() + frameId`` (a clip marker stays on its picture when the clip is trimmed);
- a marker's ``duration`` is in frames; Resolve has no zero-length marker, so a marker **one frame**
  long is a point (a one-shot of :data:`plugin_host.markers.ONE_SHOT`, rounded to whole frames so
  every part starts on a frame ``recordFrame`` can take) and a longer one is a range.

The syntax and precedence are the shared ones (:mod:`plugin_host.markers`); the parts go through
:func:`otio_adapters.markers.split_at` like an OTIO clip's.

Write (``--spot``: the dialog's *Mark events*): each event of a placed Foley WAV (its sidecar) becomes a
timeline marker named by kind (events on one frame share one: ``impact, cut``), coloured by kind, one
frame long, with ``customData`` ``foley-spot:<frameId>`` (unique, as there is one marker a frame:
Resolve's ``DeleteMarkerByCustomData`` deletes the first match only).  A re-run deletes our markers inside the
range it placed again (``GetMarkers`` then ``DeleteMarkerByCustomData``) and writes the current
ones; markers without our ``customData`` are never touched.  Resolve allows one marker a frame: where
a marker of yours is already on an event's frame, that event is not marked (the summary counts it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

from plugin_host.markers import EVENT_COLOURS, ONE_SHOT, MarkerPrompt, clipped, events_by_frame, prompt_of, \
    sidecar_events
from plugin_host.timebase import SAMPLE_RATE, to_index

from .api import Context, Item, call

#: the start of ``customData`` on every marker these scripts write
SPOT_TAG = "foley-spot:"


def _markers(obj) -> dict:
    """``{frame (int): info}`` from ``GetMarkers()`` (frame ids arrive as floats: ``96.0``)."""
    found = call(obj, "GetMarkers") or {}
    out = {}
    for frame, info in found.items() if isinstance(found, dict) else ():
        try:
            out[int(round(float(frame)))] = info if isinstance(info, dict) else {}
        except (TypeError, ValueError):
            continue
    return out


def one_shot_frames(ctx: Context) -> int:
    """A point marker's one-shot in whole timeline frames (at least one)."""
    return max(1, to_index(ONE_SHOT, ctx.rate))


def _prompt(ctx: Context, frame: int, info: dict):
    """A :class:`MarkerPrompt` (record seconds) for a Foley marker at absolute ``frame``, else None."""
    parsed = prompt_of(str(info.get("name") or ""), str(info.get("note") or ""))
    if parsed is None or str(info.get("customData") or "").startswith(SPOT_TAG):
        return None
    text, adds = parsed
    try:
        length = max(1, int(round(float(info.get("duration") or 1))))
    except (TypeError, ValueError):
        length = 1
    start = Fraction(frame - ctx.start_frame, ctx.rate)
    end = start if length == 1 else Fraction(frame + length - ctx.start_frame, ctx.rate)
    return MarkerPrompt(start, end, text, adds)


def timeline_prompts(ctx: Context) -> list:
    """The timeline's Foley markers, unclipped, in record seconds."""
    found = (_prompt(ctx, ctx.start_frame + f, info) for f, info in sorted(_markers(ctx.timeline).items()))
    return [m for m in found if m is not None]


def clip_prompts(ctx: Context, item: Item, timeline_markers: list) -> list:
    """Every Foley marker touching ``item`` (its own and the timeline's), clipped to its record range."""
    zero = item.start - int(call(item.obj, "GetLeftOffset") or 0)
    own = (_prompt(ctx, zero + f, info) for f, info in sorted(_markers(item.obj).items()))
    lo, hi = Fraction(item.start - ctx.start_frame, ctx.rate), Fraction(item.end - ctx.start_frame, ctx.rate)
    one_shot = Fraction(one_shot_frames(ctx), ctx.rate)
    inside = (clipped(m, lo, hi, one_shot) for m in [*(m for m in own if m is not None), *timeline_markers])
    return [m for m in inside if m is not None]


def is_prompt_marker(info: dict) -> bool:
    return prompt_of(str(info.get("name") or ""), str(info.get("note") or "")) is not None


# ------------------------------------------------------------------ events back as markers


@dataclass
class Spotting:
    written: int = 0
    removed: int = 0
    blocked: int = 0  #: events whose frame already had a marker of the user's
    warnings: list = field(default_factory=list)


def _ours(info: dict) -> bool:
    return str(info.get("customData") or "").startswith(SPOT_TAG)


def clear_spots(ctx: Context, ranges: list) -> int:
    """Delete our event markers on absolute frames inside any ``[start, end)`` of ``ranges``; how many."""
    removed = 0
    for frame, info in _markers(ctx.timeline).items():
        at = ctx.start_frame + frame
        if _ours(info) and any(a <= at < b for a, b in ranges):
            if call(ctx.timeline, "DeleteMarkerByCustomData", str(info["customData"])):
                removed += 1
    return removed


def spot(ctx: Context, placed: list) -> Spotting:
    """Mark the events of each placed ``(wav path, record frame, record end frame, first sample shown)``.

    ``first sample shown`` is the WAV sample on the record frame (the plan's offset: a WAV with handles
    starts before its clip)."""
    report = Spotting()
    report.removed = clear_spots(ctx, [(start, end) for _, start, end, _ in placed])
    taken = {ctx.start_frame + f for f in _markers(ctx.timeline)}
    for path, start, end, offset in placed:
        found = sidecar_events(path)
        if found is None or found.sample_rate != SAMPLE_RATE:
            report.warnings.append(f"{os.path.basename(path)}: no event list beside it (made by an older engine?): "
                                   "not spotted")
            continue

        def frame_of(t: Fraction, found=found, start=start, offset=offset):
            # The event's first sample, on the timeline: the nearest frame (events sit on frame starts).
            sample = to_index(t, SAMPLE_RATE) - found.first_sample - offset
            at = start + to_index(Fraction(sample, SAMPLE_RATE), ctx.rate)
            return at if sample >= 0 and start <= at < end else None

        for at, kinds in sorted(events_by_frame(found.events, frame_of).items()):
            if at in taken:
                report.blocked += 1
                continue
            name = ", ".join(kinds)
            data = f"{SPOT_TAG}{at - ctx.start_frame}"
            if call(ctx.timeline, "AddMarker", at - ctx.start_frame, EVENT_COLOURS.get(kinds[0], "Blue"), name,
                    f"Foley event ({name}) seen by the engine", 1, data):
                report.written += 1
                taken.add(at)
            else:
                report.blocked += 1
    return report
