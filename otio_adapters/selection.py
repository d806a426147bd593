"""Which video clips get Foley, where they sit in the record, what they should sound like.

:func:`video_clips` walks every video track (following nested stacks) and
returns each clip with its exact record range (seconds from the start of
its top-level track, i.e. ``range_in_parent`` for top-level clips), its
source start, speed and transition handles. :class:`Selection` filters them.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterator, Optional

import opentimelineio as otio

from .timemath import exact_value, parse_timecode, seconds

FOLEY_KEY = "foley"


@dataclass
class VideoClip:
    clip: otio.schema.Clip
    track: otio.schema.Track  #: the top-level video track the clip sounds under
    track_index: int  #: 1-based among the timeline's video tracks
    track_label: str  #: the track's name, or V<n> when it has none or shares it
    record_start: Fraction  #: seconds from the top-level track's start
    record_end: Fraction
    source_start: Fraction  #: OTIO source time (seconds) shown at record_start
    speed: Fraction = Fraction(1)
    #: record seconds of picture a neighbouring transition shows beyond the cut
    handle_before: Fraction = Fraction(0)
    handle_after: Fraction = Fraction(0)
    transition_before: Optional[otio.schema.Transition] = None
    transition_after: Optional[otio.schema.Transition] = None
    nested_in: tuple = ()  #: names of the nested stacks on the way down
    skip: Optional[str] = None  #: why this clip cannot be filled (warning text)
    #: why the clip is not heard/seen (OTIO ``enabled`` false on it, its track or a nested stack), else None
    disabled: Optional[str] = None
    prompt: Optional[str] = None  #: set by the selection (marker comment or metadata)
    #: for a part of a clip cut by Foley markers: the clip's own prompt (the markers' apply on top)
    base_prompt: Optional[str] = None
    seed: Optional[int] = None

    @property
    def name(self) -> str:
        return self.clip.name or "(unnamed clip)"

    @property
    def label(self) -> str:
        """How messages name the clip: track, nesting and clip name."""
        return " / ".join((self.track_label, *self.nested_in, repr(self.name)))

    @property
    def key(self) -> str:
        """An identity: which clip, of which media, from which source frame, where in the record.

        The record start tells apart copies of one shot used twice; a clip moved
        in the record is a new clip (its old Foley is replaced, not left behind).
        """
        ref = self.clip.media_reference
        url = getattr(ref, "target_url", "") or ""
        return "|".join((self.track_label, *self.nested_in, self.name, url, str(self.source_start),
                         str(self.record_start)))


class TimelineError(ValueError):
    """The timeline itself cannot be read for timing; the message names the item."""


def _trimmed(item) -> tuple[Fraction, Fraction]:
    try:
        tr = item.trimmed_range()
    except Exception:  # OTIO's CannotComputeAvailableRangeError and kin
        if isinstance(item, otio.core.Composition):
            for clip in item.find_clips():
                _trimmed(clip)  # names the clip at fault
        raise TimelineError(f"{type(item).__name__} {item.name!r} has no source range and its media no "
                            "available range, so its length in the timeline is unknown") from None
    return seconds(tr.start_time), seconds(tr.duration)


def _time_effects(item) -> list:
    return [e for e in item.effects if isinstance(e, otio.schema.TimeEffect)]


def _speed(clip: otio.schema.Clip) -> tuple[Fraction, Optional[str]]:
    """The clip's linear speed, or a reason to skip it."""
    speed = Fraction(1)
    for effect in _time_effects(clip):
        if isinstance(effect, otio.schema.FreezeFrame):
            return speed, "freeze frame"
        if isinstance(effect, otio.schema.LinearTimeWarp):
            scalar = exact_value(effect.time_scalar)
            if scalar <= 0:
                return speed, f"reverse or frozen playback (time scalar {effect.time_scalar})"
            speed *= scalar
        else:
            return speed, f"time effect {effect.effect_name or type(effect).__name__!r} is not a linear speed change"
    return speed, None


def video_tracks(timeline: otio.schema.Timeline) -> list[tuple[str, int, otio.schema.Track]]:
    """(label, 1-based index, track) of each top-level video track; labels are unique."""
    tracks = [t for t in timeline.tracks
              if isinstance(t, otio.schema.Track) and t.kind == otio.schema.TrackKind.Video]
    names = [t.name for t in tracks]
    return [(t.name if t.name and names.count(t.name) == 1 else f"V{i}", i, t) for i, t in enumerate(tracks, 1)]


def video_clips(timeline: otio.schema.Timeline) -> list[VideoClip]:
    """Every clip on a video track, in track then record order."""
    out: list[VideoClip] = []
    for label, index, track in video_tracks(timeline):
        start = seconds(track.source_range.start_time) if track.source_range else Fraction(0)
        off = None if _enabled(track) else f"track {label} is disabled"
        for vc in _walk_track(track, (track, index, label), -start, None, None, ()):
            vc.disabled = off or vc.disabled
            out.append(vc)
    return out


def _enabled(item) -> bool:
    """OTIO's ``enabled`` ("false: the item is muted/hidden"); True where an item has no such field."""
    return getattr(item, "enabled", True) is not False


def _walk_track(track, top, offset, lo, hi, nested) -> Iterator[VideoClip]:
    """Clips of ``track`` whose internal time 0 is at record ``offset``, visible in [lo, hi)."""
    children = list(track)
    t = Fraction(0)
    for i, child in enumerate(children):
        if isinstance(child, otio.schema.Transition):
            continue
        src_start, dur = _trimmed(child)
        start, end = offset + t, offset + t + dur
        t += dur
        v0 = start if lo is None else max(start, lo)
        v1 = end if hi is None else min(end, hi)
        if v1 <= v0:
            continue
        if isinstance(child, otio.schema.Clip):
            vc = _video_clip(child, children, i, top, start, end, v0, v1, src_start, nested)
            vc.disabled = None if _enabled(child) else "the clip is disabled"
            yield vc
        elif isinstance(child, (otio.schema.Stack, otio.schema.Track)):
            name = child.name or type(child).__name__.lower()
            if not _enabled(child):
                for vc in _walk_nested(child, top, start, end, v0, v1, src_start, nested, name):
                    vc.disabled = vc.disabled or f"nested {name!r} is disabled"
                    yield vc
                continue
            yield from _walk_nested(child, top, start, end, v0, v1, src_start, nested, name)


def _walk_nested(child, top, start, end, v0, v1, src_start, nested, name) -> Iterator[VideoClip]:
    """The clips inside a nested stack or track that sits at record ``[start, end)``, visible in ``[v0, v1)``."""
    if _time_effects(child):
        yield from _skip_all(child, top, v0, v1, nested + (name,), f"speed change on nested {name!r} is not supported")
        return
    inner = start - src_start
    if isinstance(child, otio.schema.Track):
        yield from _walk_track(child, top, inner, v0, v1, nested + (name,))
        return
    for sub in child:
        if isinstance(sub, otio.schema.Track) and sub.kind == otio.schema.TrackKind.Video:
            sub_start, _ = _trimmed(sub)
            off = None if _enabled(sub) else f"nested track {sub.name or 'video'!r} is disabled"
            for vc in _walk_track(sub, top, inner - sub_start, v0, v1, nested + (name,)):
                vc.disabled = vc.disabled or off
                yield vc


def _skip_all(comp, top, v0, v1, nested, reason) -> Iterator[VideoClip]:
    for clip in comp.find_clips():
        yield VideoClip(clip, *top, v0, v1, Fraction(0), nested_in=nested, skip=reason)


def _video_clip(clip, siblings, i, top, start, end, v0, v1, src_start, nested) -> VideoClip:
    speed, skip = _speed(clip)
    vc = VideoClip(clip, *top, v0, v1, src_start + (v0 - start) * speed, speed=speed, nested_in=nested,
                   skip=skip)
    # Handles only where the cut is visible (not trimmed away by a nested stack's range).
    if v0 == start and i > 0 and isinstance(siblings[i - 1], otio.schema.Transition):
        vc.transition_before = siblings[i - 1]
        vc.handle_before = seconds(siblings[i - 1].in_offset)
    if v1 == end and i + 1 < len(siblings) and isinstance(siblings[i + 1], otio.schema.Transition):
        vc.transition_after = siblings[i + 1]
        vc.handle_after = seconds(siblings[i + 1].out_offset)
    return vc


# ------------------------------------------------------------------ selection


def foley_metadata(obj) -> dict:
    meta = obj.metadata.get(FOLEY_KEY)
    return dict(meta) if hasattr(meta, "keys") else {}


def _metadata_prompt(clip) -> Optional[str]:
    prompt = foley_metadata(clip).get("prompt")
    if prompt is None:
        prompt = clip.metadata.get("foley.prompt")
    return str(prompt) if prompt else None


def _metadata_seed(clip) -> Optional[int]:
    seed = foley_metadata(clip).get("seed", clip.metadata.get("foley.seed"))
    return int(seed) if seed is not None else None


class SelectionError(ValueError):
    """A bad --select or --range; the message quotes it."""


@dataclass
class Selection:
    """Filters, all of which a clip must pass (an empty selection takes every video clip).

    ``track:V2`` (a track's name, or the n-th video track), ``marker:NAME``,
    ``color:RED`` (marker colour), ``name:GLOB`` (clip name pattern); plus an
    optional record range in the timeline's timecode (clips overlapping it).
    """

    tracks: list = field(default_factory=list)
    marker_names: list = field(default_factory=list)
    marker_colors: list = field(default_factory=list)
    name_patterns: list = field(default_factory=list)
    record_range: Optional[tuple] = None  #: (start, end) seconds of timeline time, global start included
    #: fill clips that are disabled (or on a disabled track) too; by default they are left out, as an editor
    #: neither shows nor plays them
    include_disabled: bool = False
    left_out: list = field(default_factory=list)  #: one line per disabled clip the last apply() passed over

    @classmethod
    def parse(cls, specs: list, record_range: Optional[str] = None, timeline=None,
              include_disabled: bool = False) -> "Selection":
        sel = cls(include_disabled=include_disabled)
        for spec in specs or ():
            kind, _, value = spec.partition(":")
            kind = kind.strip().lower()
            if kind == "all" and not value:
                continue
            if not value:
                raise SelectionError(f"--select {spec!r}: expected KIND:VALUE (track:, marker:, color:, name:) or all")
            target = {"track": sel.tracks, "marker": sel.marker_names, "color": sel.marker_colors,
                      "colour": sel.marker_colors, "name": sel.name_patterns}.get(kind)
            if target is None:
                raise SelectionError(f"--select {spec!r}: unknown kind {kind!r} (use track, marker, color or name)")
            target.append(value)
        if record_range:
            sel.record_range = parse_record_range(record_range, timeline)
        return sel

    def apply(self, clips: list[VideoClip], timeline, default_prompt: Optional[str] = "",
              default_seed: Optional[int] = 0) -> list[VideoClip]:
        global_start = timeline_start(timeline)
        chosen = []
        self.left_out = []
        for vc in clips:
            if vc.disabled and not self.include_disabled:
                self.left_out.append(f"{vc.label}: not filled: {vc.disabled} (--include-disabled fills it)")
                continue
            if self.tracks and not any(_track_matches(vc, t) for t in self.tracks):
                continue
            if self.name_patterns and not any(fnmatch.fnmatchcase(vc.name, p) for p in self.name_patterns):
                continue
            if self.record_range is not None:
                lo, hi = self.record_range
                if not (global_start + vc.record_start < hi and global_start + vc.record_end > lo):
                    continue
            marker = None
            if self.marker_names or self.marker_colors:
                marker = self._marker(vc, timeline)
                if marker is None:
                    continue
            vc.prompt = (marker.comment if marker is not None and marker.comment else None) \
                or _metadata_prompt(vc.clip) or default_prompt
            seed = _metadata_seed(vc.clip)
            vc.seed = default_seed if seed is None else seed
            chosen.append(vc)
        return chosen

    def _marker_matches(self, m) -> bool:
        if self.marker_names and m.name not in self.marker_names:
            return False
        colors = {c.upper() for c in self.marker_colors}
        return not colors or (m.color or "").upper() in colors

    def _marker(self, vc: VideoClip, timeline):
        """A matching marker on the clip, or on its track / the timeline inside the clip's record range."""
        for m in vc.clip.markers:
            if self._marker_matches(m):
                return m
        # Track markers are in track time; timeline (stack) markers too, since tracks start at 0.
        for holder in (vc.track, timeline.tracks):
            for m in holder.markers:
                if self._marker_matches(m):
                    at = seconds(m.marked_range.start_time)
                    if vc.record_start <= at < vc.record_end:
                        return m
        return None


def _track_matches(vc: VideoClip, spec: str) -> bool:
    return vc.track.name == spec or vc.track_label == spec or spec.upper() == f"V{vc.track_index}"


def timeline_rate(timeline) -> Fraction:
    """The timeline's frame rate: its global start's rate, else its first video clip's."""
    from .timemath import exact_rate

    if timeline.global_start_time is not None:
        return exact_rate(timeline.global_start_time.rate)
    for clip in timeline.find_clips():
        return exact_rate(clip.trimmed_range().duration.rate)
    return Fraction(24)


def timeline_start(timeline) -> Fraction:
    gst = timeline.global_start_time
    return seconds(gst) if gst is not None else Fraction(0)


def parse_record_range(text: str, timeline) -> tuple[Fraction, Fraction]:
    """``01:00:10:00-01:02:00:00`` (timeline timecode) or seconds ``10-120`` as exact seconds."""
    start, sep, end = text.partition("-")
    if not sep:
        raise SelectionError(f"--range {text!r}: expected START-END, e.g. 01:00:10:00-01:02:00:00")
    rate = timeline_rate(timeline) if timeline is not None else Fraction(24)
    try:
        lo, hi = parse_timecode(start, rate), parse_timecode(end, rate)
    except (ValueError, ZeroDivisionError) as exc:
        raise SelectionError(f"--range {text!r}: {exc}") from None
    if hi <= lo:
        raise SelectionError(f"--range {text!r}: the end is not after the start")
    return lo, hi
