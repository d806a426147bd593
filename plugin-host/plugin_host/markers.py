"""Foley prompts in editor markers, and the engine's events for markers: the rules every editor shares.

Standard library only: the OTIO adapter, the Resolve scripts and the Blender add-on (which carries
this package) all read markers with these functions, so the syntax and the precedence are one.

The syntax (docs/markers.md):

- a marker whose **name or note** starts with ``foley:`` carries a prompt (``foley: rain on a tin
  roof``); the prefix is case-insensitive and the name is read before the note;
- a marker **with a duration** sets the prompt for its range: ``foley:`` *replaces* the run's (or the
  clip's) prompt there, ``foley+:`` *adds* to it (``base, marker text``).  Replacing is the default
  because a marked stretch usually says what should sound there *instead*; ``+`` is a layer on top;
- a marker **without a duration** (a point) adds a one-shot at its frame for :data:`ONE_SHOT`;
- where ranges overlap, the one that starts later (the inner one) decides a replacing prompt, and
  every adding marker over a moment adds its text, in time order.

Each editor turns its markers into :class:`MarkerPrompt` (record seconds, exact) and calls
:func:`parts`; the parts tile the range with shared boundaries, so their samples tile exactly.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

#: how long a point marker's one-shot prompt lasts (record seconds)
ONE_SHOT = Fraction(1)
_PREFIX = re.compile(r"^\s*foley(\+?)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)

#: the sidecar beside every WAV the engine writes (``foley_engine.media.sidecar``), read here as plain JSON
SIDECAR_SUFFIX = ".foley.json"
#: a colour per event kind, in the words editors share (OTIO upper-cases them; Resolve and Blender take these)
EVENT_COLOURS = {"impact": "Red", "footstep": "Green", "flash": "Yellow", "insert": "Purple", "start": "Cyan",
                 "cut": "Blue"}


def prompt_of(*fields: str) -> Optional[tuple[str, bool]]:
    """``(text, adds)`` of the first field that carries a Foley prompt (name first, then note), or None."""
    for field in fields:
        found = _PREFIX.match(field or "")
        if found and found.group(2).strip():
            return found.group(2).strip(), bool(found.group(1))
    return None


@dataclass(frozen=True)
class MarkerPrompt:
    """One prompt-carrying marker in record time (exact seconds)."""

    start: Fraction
    end: Fraction            #: == start for a point marker (before it is given its one-shot length)
    text: str
    adds: bool               #: ``foley+:`` (or a point marker): added to the prompt, else replaces it

    @property
    def is_point(self) -> bool:
        return self.end == self.start


@dataclass(frozen=True)
class Part:
    """A record range and the prompt it is generated with."""

    start: Fraction
    end: Fraction
    prompt: str


def clipped(marker: MarkerPrompt, start: Fraction, end: Fraction,
            one_shot: Fraction = ONE_SHOT) -> Optional[MarkerPrompt]:
    """``marker`` limited to the record range ``[start, end)``, a point given its one-shot (adding)
    length; None when it does not touch the range (a point counts only when its frame is inside)."""
    a, b, adds = marker.start, marker.end, marker.adds
    if marker.is_point:
        if not start <= a < end:
            return None
        b, adds = a + one_shot, True
    lo, hi = max(a, start), min(b, end)
    return MarkerPrompt(lo, hi, marker.text, adds) if hi > lo else None


def parts(start: Fraction, end: Fraction, markers: list, base: str) -> list:
    """``[start, end)`` cut at every marker edge inside it, each piece with its prompt; equal neighbours
    are merged.  One part (the whole range, ``base``) when no marker touches it.  ``markers`` are
    already clipped to the range (:func:`clipped`)."""
    edges = sorted({start, end, *(m.start for m in markers), *(m.end for m in markers)})
    out: list = []
    for a, b in zip(edges, edges[1:]):
        over = [m for m in markers if m.start <= a and b <= m.end]
        replacing = [m for m in over if not m.adds]
        prompt = max(replacing, key=lambda m: (m.start, -m.end)).text if replacing else base
        for m in sorted((m for m in over if m.adds), key=lambda m: (m.start, m.end)):
            prompt = f"{prompt}, {m.text}" if prompt else m.text
        if out and out[-1].prompt == prompt:
            out[-1] = Part(out[-1].start, b, prompt)
        else:
            out.append(Part(a, b, prompt))
    return out


@dataclass(frozen=True)
class SpottedFile:
    """The events the engine saw over one WAV: each ``{"kind", "time"}`` on the media clock."""

    first_sample: int        #: the WAV's first sample, counted from the media's first frame
    sample_rate: int
    events: tuple


def sidecar_events(wav: str) -> Optional[SpottedFile]:
    """The events in the WAV's sidecar, or None when it has none or one this release cannot read."""
    try:
        with open(wav + SIDECAR_SUFFIX, encoding="utf-8") as f:
            side = json.load(f)
        return SpottedFile(int(side["first_sample"]), int(side["sample_rate"]), tuple(side.get("events") or ()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def events_by_frame(events, frame_of) -> dict:
    """``{frame: [kinds]}``: events that fall on the same frame share one marker (editors allow one marker
    a frame), kinds in the order seen, each once.  ``frame_of(time Fraction)`` maps an event to a frame."""
    out: dict = {}
    for ev in events:
        try:
            frame = frame_of(Fraction(str(ev["time"])))
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
        if frame is None:
            continue
        kinds = out.setdefault(frame, [])
        if str(ev["kind"]) not in kinds:
            kinds.append(str(ev["kind"]))
    return out
