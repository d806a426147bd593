"""Stems and takes on a timeline: one named track per stem, other takes as disabled alternates.

A fill whose items ask for stems or takes still builds one Foley track per video track (the
"main" track, :mod:`otio_adapters.roundtrip`) holding each clip's take 1, first stem; that
clip's metadata lists its whole output set (``outputs``).  :func:`add_set_tracks` derives every
other track from the main one, clip by clip (same record position, same trim, same
transitions), pointing at the matching file of the set:

- stems: "Foley Feet", "Foley Props", "Foley Moves", "Foley BG" (the main track takes the first
  stem's name); with several video tracks the label follows ("Foley Feet V2");
- takes: "Foley take 2", ... (with stems: "Foley Feet take 2"), **disabled**, at the same
  record times: the user picks a take by enabling its tracks and disabling the others.

Set tracks are rebuilt from the main track on every run, so they follow reuse, kept edits
and replacements there; each Foley track keeps the ``enabled`` state the user gave it (by
name), so a re-run never undoes a take choice.
"""
from __future__ import annotations

import os
import pathlib

import opentimelineio as otio

from plugin_host.items import stem_track_name

from .selection import FOLEY_KEY, foley_metadata

#: the metadata key a set track carries (its take and stem), apart from the main tracks' ``track``
SET_KEY = "set_track"


def is_set_track(track) -> bool:
    """A track this module made (never matched as a main Foley track)."""
    return isinstance(track, otio.schema.Track) and bool(foley_metadata(track).get(SET_KEY))


def set_track_name(base: str, suffix: str, take: int, stem: str) -> str:
    """"Foley Feet V2 take 3": the stem's track name, the video track's label, the take."""
    head = stem_track_name(stem) if stem else base
    return f"{head}{suffix}" + (f" take {take}" if take > 1 else "")


def outputs_metadata(outputs) -> list:
    """The set as a main clip's metadata records it (``plugin_host.items.Output`` -> plain dicts)."""
    return [{"take": o.take, "stem": o.stem, "path": os.path.abspath(o.path)} for o in outputs]


def add_set_tracks(timeline: otio.schema.Timeline, source: otio.schema.Timeline, base_name: str) -> None:
    """Replace the set tracks of ``timeline`` with ones derived from its main Foley tracks (in place)."""
    enabled = {t.name: t.enabled for t in source.tracks if _foley(t)}
    kept = [t for t in timeline.tracks if not is_set_track(t)]
    new = []
    for track in kept:
        if not (_foley(track) and foley_metadata(track).get("track")):
            continue
        sets = _keys(track)
        if not sets:
            continue
        suffix = _suffix(track.name, base_name, sets[0][1])
        first = sets[0]
        track.name = set_track_name(base_name, suffix, *first)
        for take, stem in sets[1:]:
            alt = _derived(track, take, stem)
            alt.name = set_track_name(base_name, suffix, take, stem)
            alt.enabled = take == 1
            new.append(alt)
    while len(timeline.tracks):
        timeline.tracks.pop()
    for track in kept + new:
        if track.name in enabled and _foley(track):
            track.enabled = enabled[track.name]  # the user's take choice survives a re-run
        timeline.tracks.append(track)


def _foley(track) -> bool:
    return isinstance(track, otio.schema.Track) and track.kind == otio.schema.TrackKind.Audio and \
        bool(foley_metadata(track))


def _keys(track) -> list:
    """(take, stem) of every output any clip of ``track`` has, take 1's first stem first."""
    keys = set()
    for clip in track.find_clips(shallow_search=True):
        keys.update((o["take"], o["stem"]) for o in foley_metadata(clip).get("outputs", ()))
    order = {s: i for i, s in enumerate(("", "feet", "props", "moves", "bg"))}
    return sorted(keys, key=lambda k: (k[0], order.get(k[1], 9)))


def _suffix(name: str, base: str, stem: str) -> str:
    """What follows the base (or first stem's) name on the main track: the video track label."""
    for head in (base, stem_track_name(stem) if stem else base):
        if name.startswith(head):
            return name[len(head):]
    return ""


def _derived(track: otio.schema.Track, take: int, stem: str) -> otio.schema.Track:
    """``track`` with each clip pointing at its ``(take, stem)`` file; a clip without one becomes a gap."""
    out = otio.schema.Track(kind=otio.schema.TrackKind.Audio)
    out.metadata[FOLEY_KEY] = {SET_KEY: True, "take": take, "stem": stem,
                               "source_track": foley_metadata(track).get("source_track")}
    children = list(track)
    for i, child in enumerate(children):
        if isinstance(child, otio.schema.Clip):
            path = next((o["path"] for o in foley_metadata(child).get("outputs", ())
                         if (o["take"], o["stem"]) == (take, stem)), None)
            if path is None:
                out.append(otio.schema.Gap(source_range=child.trimmed_range()))
                continue
            clip = child.clone()
            clip.media_reference.target_url = pathlib.Path(path).as_uri()
            clip.name = f"{child.name} ({set_track_name('Foley', '', take, stem)})"
            out.append(clip)
        elif isinstance(child, otio.schema.Transition):
            # A transition joins two clips; next to a gap it would be invalid.
            neighbours = children[i - 1: i] + children[i + 1: i + 2]
            if len(neighbours) == 2 and all(isinstance(c, otio.schema.Clip) for c in neighbours) and \
                    isinstance(out[-1], otio.schema.Clip):
                out.append(child.clone())
        else:
            out.append(child.clone())
    return out
