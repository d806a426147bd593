"""Prompts from the timeline's markers: a clip is split into parts that each get their prompt.

The syntax and precedence are :mod:`plugin_host.markers`' (the same in every editor, see docs/markers.md):

- a marker whose **name or note** starts with ``foley:`` carries a prompt (``foley: rain on a tin
  roof``); the prefix is case-insensitive and the name is read before the note (an FCP 7 XML
  marker's ``<comment>`` is its note);
- a marker **with a duration** sets the prompt for its range: ``foley:`` *replaces* the run's
  (or the clip's) prompt there, ``foley+:`` *adds* to it (``base, marker text``).  Replacing is
  the default because a marked stretch usually says what should sound there *instead* ("silence
  the room tone, rain here"); the ``+`` form is for a layer on top;
- a marker **without a duration** (a point) adds a one-shot at its frame: the part from that frame
  for :data:`ONE_SHOT` (or to the clip's end) has the marker's text added to its prompt;
- where ranges overlap, the one that starts later (the inner one) decides a replacing prompt, and
  every adding marker over a moment adds its text, in time order.

Markers are read on the clip (in the clip's source time: a clip marker moves with the clip's
media), on its top-level track (track time) and on the timeline's stack (timeline time).
Markers on nested stacks are not read.  The parts are plain record ranges on the clip: each is
planned like a clip of its own (:func:`otio_adapters.timeline_jobs.plan_clip`), so their samples
are ``to_index`` of shared boundaries and tile the clip exactly, with no gap and no overlap.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import opentimelineio as otio

from plugin_host.markers import ONE_SHOT, MarkerPrompt, Part, clipped, prompt_of
from plugin_host.markers import parts as range_parts

from .selection import VideoClip
from .timemath import seconds

__all__ = ["ONE_SHOT", "MarkerPrompt", "Part", "clip_markers", "marker_text", "parts", "split_at", "split_clip"]


def marker_text(marker):
    """``(text, adds)`` of a Foley marker (name first, then note), or None for any other marker."""
    return prompt_of(marker.name or "", marker.comment or "", _fcp_xml_comment(marker))


def _fcp_xml_comment(marker) -> str:
    """An FCP 7 XML marker's ``<comment>``: OTIO's adapter keeps it in the marker's metadata, not its comment."""
    meta = marker.metadata.get("fcp_xml")
    comment = meta.get("comment") if hasattr(meta, "get") else None
    return comment if isinstance(comment, str) else ""


def _start_of(item) -> Fraction:
    """Where an item's own time 0 is shown: its trimmed start (0 without a source range)."""
    return seconds(item.source_range.start_time) if item.source_range is not None else Fraction(0)


def clip_markers(vc: VideoClip, timeline: otio.schema.Timeline) -> list[MarkerPrompt]:
    """The Foley markers that touch ``vc``, in its record time, clipped to its record range."""
    found = []
    # (holder, record time of the holder's time 0, speed through it)
    track_zero = -_start_of(vc.track)
    stack_zero = -_start_of(timeline.tracks)
    holders = [(vc.clip, vc.record_start - vc.source_start / vc.speed, vc.speed),
               (vc.track, track_zero, Fraction(1)), (timeline.tracks, stack_zero, Fraction(1))]
    for holder, zero, speed in holders:
        for m in holder.markers:
            parsed = marker_text(m)
            if parsed is None:
                continue
            text, adds = parsed
            a = zero + seconds(m.marked_range.start_time) / speed
            b = a + seconds(m.marked_range.duration) / speed
            inside = clipped(MarkerPrompt(a, b, text, adds), vc.record_start, vc.record_end)
            if inside is not None:
                found.append(inside)
    return found


def parts(vc: VideoClip, markers: list, base: str) -> list:
    """The clip's record range cut at every marker edge (:func:`plugin_host.markers.parts`)."""
    return range_parts(vc.record_start, vc.record_end, markers, base)


def split_clip(vc: VideoClip, timeline: otio.schema.Timeline) -> list[VideoClip]:
    """``vc`` as one video clip per prompt part of the timeline's Foley markers (:func:`split_at`)."""
    return split_at(vc, clip_markers(vc, timeline))


def split_at(vc: VideoClip, markers: list) -> list[VideoClip]:
    """``vc`` as one video clip per prompt part (just ``[vc]`` when no marker touches it).

    ``markers`` are :class:`MarkerPrompt` in ``vc``'s record time, clipped to it (every editor's
    markers end up here: OTIO's, Resolve's).  Each part is the same clip over a shorter record
    range (its source start moved with it), so its key, its plan and its Foley clip are its own;
    transition handles stay on the outer parts only."""
    base = vc.prompt or ""
    if not markers:
        return [vc]
    pieces = parts(vc, markers, base)
    out = []
    for i, p in enumerate(pieces):
        first, last = i == 0, i == len(pieces) - 1
        out.append(dataclasses.replace(
            vc, record_start=p.start, record_end=p.end,
            source_start=vc.source_start + (p.start - vc.record_start) * vc.speed, prompt=p.prompt, base_prompt=base,
            handle_before=vc.handle_before if first else Fraction(0),
            transition_before=vc.transition_before if first else None,
            handle_after=vc.handle_after if last else Fraction(0),
            transition_after=vc.transition_after if last else None))
    return out
