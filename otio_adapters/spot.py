"""``--spot``: the events the engine saw, written back as markers on the Foley clips.

Every WAV the engine writes has a sidecar, ``<file>.wav.foley.json`` (``foley_engine.media.sidecar``),
listing the visual events of its range (``impact``, ``footstep``, ``flash``, ``insert``, ``start``,
``cut``; see docs/events.md) at exact frame times on the file's clock.  Here each event inside the
visible part of a Foley clip becomes a point marker on that clip, named by its kind, at the event's
frame (its first sample, in the clip's source time).  Our markers carry ``foley.spot`` metadata, so a
re-run removes exactly those and adds the current ones: the user's own markers are never touched.
"""
from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio

from plugin_host.markers import EVENT_COLOURS, sidecar_events

from .selection import foley_metadata
from .timeline_jobs import url_to_path
from .timemath import SAMPLE_RATE, samples, to_index

COLORS = {kind: colour.upper() for kind, colour in EVENT_COLOURS.items()}


def is_spot_marker(marker) -> bool:
    meta = marker.metadata.get("foley")
    return hasattr(meta, "get") and bool(meta.get("spot"))


def _events(wav: str) -> tuple[int, list] | None:
    """(first sample, events) from the WAV's sidecar, or None when it has none or a bad one."""
    found = sidecar_events(wav)
    if found is None or found.sample_rate != SAMPLE_RATE:
        return None
    return found.first_sample, list(found.events)


def spot_markers(timeline: otio.schema.Timeline, base_dir: str = ".") -> tuple[int, list[str]]:
    """Replace our event markers on every Foley clip we made; (markers written, warnings)."""
    written, warnings = 0, []
    for track in timeline.tracks:
        if not isinstance(track, otio.schema.Track) or not foley_metadata(track).get("track"):
            continue
        for clip in track.find_clips(shallow_search=True):
            if not foley_metadata(clip).get("generated"):
                continue
            mine = [m for m in clip.markers if is_spot_marker(m)]
            for m in mine:
                clip.markers.remove(m)
            try:
                wav = url_to_path(clip.media_reference.target_url, base_dir)
            except (AttributeError, ValueError):
                continue
            found = _events(wav)
            if found is None:
                warnings.append(f"{clip.name}: no event list beside {wav} (made by an older engine?): not spotted")
                continue
            first, events = found
            shown = clip.source_range
            lo, hi = samples(shown.start_time), samples(shown.end_time_exclusive())
            for ev in events:
                at = to_index(Fraction(ev["time"]), SAMPLE_RATE) - first
                if not lo <= at < hi:
                    continue
                kind = str(ev["kind"])
                marker = otio.schema.Marker(
                    name=kind, color=COLORS.get(kind, "WHITE"),
                    marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(at, SAMPLE_RATE),
                                                         otio.opentime.RationalTime(0, SAMPLE_RATE)))
                marker.metadata["foley"] = {"spot": True, "kind": kind, "time": str(ev["time"])}
                clip.markers.append(marker)
                written += 1
    return written, warnings
