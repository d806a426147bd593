"""Reading a Resolve timeline through the documented scripting API, in exact frames.

Record positions are absolute timeline frames (what ``TimelineItem.GetStart``
returns and ``AppendToTimeline``'s ``recordFrame`` takes); ``GetMarkInOut``
counts from the timeline's first frame.  Timecode goes through
:mod:`plugin_host.timebase`, which handles every rate Resolve offers
(OpenTimelineIO's timecode functions raise at most non-SMPTE rates).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from plugin_host.timebase import TimeError, exact_rate, format_rate, frames_to_timecode, timecode_to_frames

#: the first Resolve whose scripting API has every call these scripts make: ``recordFrame``/``trackIndex``
#: in ``AppendToTimeline``, ``Timeline.AddTrack``/``DeleteClips``, ``EXPORT_OTIO``, ``GetIsTrackEnabled``,
#: ``GetClipEnabled`` (all new in 18.5's scripting README)
MIN_VERSION = (18, 5, 0)
#: ``startFrame``/``endFrame`` are documented as integers before 19.0.3 (float from then on)
FRACTIONAL_SOURCE_FRAMES = (19, 0, 3)


class ResolveError(Exception):
    """Something the user has to fix in Resolve; the message is one line."""


def call(obj, method: str, *args):
    """``obj.method(*args)``, or None where this Resolve version lacks the method."""
    fn = getattr(obj, method, None)
    if fn is None:
        return None
    try:
        return fn(*args)
    except TypeError:  # an older signature
        return None


def clip_property(mpi, key: str) -> str:
    value = mpi.GetClipProperty(key)
    if isinstance(value, dict):  # some versions answer with {key: value}
        value = value.get(key)
    return "" if value is None else str(value)


def version_text(version: tuple) -> str:
    return ".".join(map(str, version))


def resolve_version(resolve) -> tuple:
    """``(major, minor, patch)`` from ``GetVersion()`` (``[major, minor, patch, build, suffix]``)."""
    fields = call(resolve, "GetVersion")
    if isinstance(fields, dict):  # a Lua table can arrive as {1: major, 2: minor, ...}
        fields = [fields[k] for k in sorted(fields)]
    numbers = []
    for part in list(fields or [])[:3]:
        try:
            numbers.append(int(part))
        except (TypeError, ValueError):
            break
    if not numbers:
        numbers = [int(n) for n in re.findall(r"\d+", str(call(resolve, "GetVersionString") or ""))[:3]]
    if not numbers:
        raise ResolveError("cannot tell which DaVinci Resolve this is (no GetVersion); the Foley scripts need 18.5 "
                           "or later")
    return tuple((numbers + [0, 0, 0])[:3])


def check_version(version: tuple) -> None:
    if version < MIN_VERSION:
        raise ResolveError(f"DaVinci Resolve {version_text(version)} is too old for the Foley scripts (they need "
                           "18.5 or later); export the timeline as FCP 7 XML and use `foley otio fill`")


@dataclass
class Context:
    resolve: object
    project: object
    timeline: object
    media_pool: object
    name: str
    rate: Fraction  #: exact timeline frame rate (29.97 -> 30000/1001)
    drop_frame: bool
    start_frame: int  #: absolute frame of the timeline's first frame
    version: tuple = MIN_VERSION  #: Resolve's (major, minor, patch)

    @property
    def whole_source_frames(self) -> bool:
        """Whether ``startFrame``/``endFrame`` must be integers in this version."""
        return self.version < FRACTIONAL_SOURCE_FRAMES

    def timecode(self, frame: int) -> str:
        """Timecode of an absolute frame: frames count to the rounded rate - 1; drop-frame only at 29.97/59.94."""
        return frames_to_timecode(int(frame), self.rate, self.drop_frame)

    def frame(self, timecode: str) -> int:
        """Absolute frame of a timeline timecode (``;`` or the timeline setting means drop-frame)."""
        try:
            return timecode_to_frames(timecode, self.rate, True if self.drop_frame else None)
        except TimeError:
            raise ResolveError(f"not a timecode at {self.rate_text} fps: {timecode!r} (use HH:MM:SS:FF)") from None

    @property
    def rate_text(self) -> str:
        return format_rate(self.rate)


def context(resolve) -> Context:
    if resolve is None:
        raise ResolveError("DaVinci Resolve is not reachable from this script")
    version = resolve_version(resolve)
    check_version(version)
    project = resolve.GetProjectManager().GetCurrentProject()
    if project is None:
        raise ResolveError("no project is open")
    timeline = project.GetCurrentTimeline()
    if timeline is None:
        raise ResolveError("no timeline is open; open one on the Edit page")
    text = str(timeline.GetSetting("timelineFrameRate") or "")
    number = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", text)
    if number is None:
        raise ResolveError(f"cannot read the timeline frame rate {text!r}")
    # A stale drop-frame setting at another rate is ignored by timebase (drop-frame exists at 29.97/59.94 only).
    drop = str(timeline.GetSetting("timelineDropFrameTimecode") or "0") == "1" or "DF" in text.upper()
    return Context(resolve, project, timeline, project.GetMediaPool(), str(timeline.GetName()),
                   exact_rate(number.group(1)), drop, int(timeline.GetStartFrame()), version)


@dataclass
class Item:
    """A video clip on the timeline, at absolute record frames ``[start, end)``."""

    obj: object
    track: int
    name: str
    start: int
    end: int

    @property
    def key(self) -> tuple:
        return self.track, self.start


def video_items(ctx: Context, track: int) -> list[Item]:
    items = ctx.timeline.GetItemListInTrack("video", track) or []
    return [Item(i, track, str(i.GetName()), int(i.GetStart()), int(i.GetEnd())) for i in items]


def _track_enabled(ctx: Context, track: int) -> bool:
    return call(ctx.timeline, "GetIsTrackEnabled", "video", track) is not False


def _clip_enabled(item: Item) -> bool:
    return call(item.obj, "GetClipEnabled") is not False


def label(ctx: Context, item: Item) -> str:
    return f"V{item.track} {item.name!r} at {ctx.timecode(item.start)}"


def current_item(ctx: Context) -> Item:
    """The clip under the playhead on the topmost enabled video track that has one there."""
    tc = str(ctx.timeline.GetCurrentTimecode() or "")
    if not tc:
        raise ResolveError("cannot read the playhead position; run this from the Edit or Cut page")
    frame = ctx.frame(tc)
    for track in range(int(ctx.timeline.GetTrackCount("video")), 0, -1):
        if not _track_enabled(ctx, track):
            continue
        for item in video_items(ctx, track):
            if item.start <= frame < item.end and _clip_enabled(item):
                return item
    raise ResolveError(f"no clip under the playhead at {tc} on an enabled video track")


#: Resolve's clip colours, then the flag colours they lack, as the API spells them
COLOURS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy", "Blue", "Purple", "Violet",
           "Pink", "Tan", "Beige", "Brown", "Chocolate", "Red", "Cyan", "Fuchsia", "Rose", "Lavender", "Sky", "Mint",
           "Lemon", "Sand", "Cocoa", "Cream")
ANY_FLAG = "Any flag"


def all_items(ctx: Context) -> list[Item]:
    items = [i for t in range(1, int(ctx.timeline.GetTrackCount("video")) + 1) for i in video_items(ctx, t)]
    return sorted(items, key=lambda i: (i.start, -i.track))


def flagged_items(ctx: Context, colour: str) -> list[Item]:
    """Clips with any flag (``ANY_FLAG``), or with a flag or clip colour of ``colour``."""
    chosen = []
    for item in all_items(ctx):
        flags = [str(f).lower() for f in (call(item.obj, "GetFlagList") or [])]
        if colour == ANY_FLAG:
            if flags:
                chosen.append(item)
        elif colour.lower() in flags or str(call(item.obj, "GetClipColor") or "").lower() == colour.lower():
            chosen.append(item)
    return chosen


def mark_in_out(ctx: Context) -> Optional[tuple[int, int]]:
    """The timeline's marks as absolute frames ``[in, out]`` (out included), or None (none set / before 19.1)."""
    marks = call(ctx.timeline, "GetMarkInOut")
    if not isinstance(marks, dict):
        return None
    for kind in ("video", "all", "audio"):
        m = marks.get(kind)
        if isinstance(m, dict) and "in" in m and "out" in m:
            return ctx.start_frame + int(m["in"]), ctx.start_frame + int(m["out"])
    return None


def items_in_range(ctx: Context, first: int, last: int) -> list[Item]:
    """Clips with any frame in ``[first, last]`` (both included, as Resolve shows marks)."""
    if last < first:
        raise ResolveError(f"the mark out {ctx.timecode(last)} is before the mark in {ctx.timecode(first)}")
    return [i for i in all_items(ctx) if i.start <= last and i.end > first and _clip_enabled(i)]


def marker_note(item: Item) -> str:
    """The note of the clip's first marker that has one (its prompt), else "".  Markers in the Foley
    syntax (``foley: ...``) are prompts for their range instead (:mod:`.markers`), so they are passed over."""
    from plugin_host.markers import prompt_of

    markers = call(item.obj, "GetMarkers") or {}
    for frame in sorted(markers, key=float):
        info = markers[frame] or {}
        note = str(info.get("note") or "").strip()
        if note and prompt_of(str(info.get("name") or ""), note) is None:
            return note
    return ""
