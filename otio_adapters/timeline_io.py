"""Reading and writing timelines in any installed OTIO format, atomically.

``.otio`` keeps the Foley tracks at 48 kHz.  Frame-based interchange formats
(FCP 7 XML, ...) cannot hold sample times, so for those the Foley tracks are
conformed to the timeline's frame rate: record starts of clips at the
timeline rate are whole frames, so they land on the same frame exactly.
"""
from __future__ import annotations

import copy
import os
import re
from fractions import Fraction

import opentimelineio as otio

from plugin_host.atomic import atomic_path

from .selection import foley_metadata, timeline_rate
from .timemath import RT, TR, seconds, to_index

NATIVE = "otio_json"
#: 0.17 writes wrong 59.94 drop-frame timecode (216 frames off at one hour), and adapters write timecode with it
MIN_OTIO = (0, 18)


def check_otio_version(version: str = "") -> None:
    """Refuse an OpenTimelineIO older than :data:`MIN_OTIO` with one line saying what to install."""
    version = version or getattr(otio, "__version__", "0")
    numbers = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    if numbers < MIN_OTIO:
        raise ValueError(f"OpenTimelineIO {version} is too old: foley needs 0.18 or later "
                         "(pip install -U 'opentimelineio>=0.18')")


def adapter_for(path: str) -> str:
    try:
        return otio.adapters.from_filepath(path).name
    except Exception as exc:  # OTIO raises its own NoKnownAdapterForExtensionError
        formats = ", ".join(otio.adapters.suffixes_with_defined_adapters(read=True, write=True))
        raise ValueError(f"{path}: no OpenTimelineIO adapter for this file type (installed: {formats})") from exc


def read_timeline(path: str) -> otio.schema.Timeline:
    check_otio_version()
    adapter = adapter_for(path)
    result = otio.adapters.read_from_file(path, adapter_name=adapter)
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if len(timelines) != 1:
            raise ValueError(f"{path}: holds {len(timelines)} timelines; expected one")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise ValueError(f"{path}: not a timeline")
    return result


def write_timeline(timeline: otio.schema.Timeline, path: str) -> None:
    """Write via a temporary file and rename, so an importer never sees half a file."""
    adapter = adapter_for(path)
    if adapter != NATIVE:
        timeline = conform_to_frames(timeline)
    with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
        otio.adapters.write_to_file(timeline, tmp, adapter_name=adapter)


def _frames(t: Fraction, rate: Fraction) -> RT:
    return RT(to_index(t, rate), float(rate))


def conform_to_frames(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """A copy whose Foley tracks are timed in whole frames of the timeline rate."""
    rate = timeline_rate(timeline)
    out = copy.deepcopy(timeline)
    for i, track in enumerate(out.tracks):
        if not foley_metadata(track).get("track"):
            continue
        new = otio.schema.Track(name=track.name, kind=track.kind, metadata=copy.deepcopy(track.metadata))
        pos = Fraction(0)  # exact record time of the next item
        for item in list(track):
            item = item.clone()
            if isinstance(item, otio.schema.Transition):
                item.in_offset = _frames(seconds(item.in_offset), rate)
                item.out_offset = _frames(seconds(item.out_offset), rate)
                new.append(item)
                continue
            dur = seconds(item.trimmed_range().duration)
            start_f, end_f = to_index(pos, rate), to_index(pos + dur, rate)
            pos += dur
            src = seconds(item.trimmed_range().start_time)
            item.source_range = TR(_frames(src, rate), RT(end_f - start_f, float(rate)))
            ref = getattr(item, "media_reference", None)
            if isinstance(ref, otio.schema.ExternalReference) and ref.available_range is not None:
                avail = ref.available_range
                ref.available_range = TR(_frames(seconds(avail.start_time), rate),
                                         _frames(seconds(avail.duration), rate))
            new.append(item)
        out.tracks[i] = new
    return out
