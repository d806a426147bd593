"""Timeline items -> exact engine requests, by two routes that must agree.

*Direct*: ``GetStart``/``GetEnd``/``GetLeftOffset`` (timeline frames) and the
media pool item's ``File Path``, ``Start TC``, ``FPS`` and ``Frames``.
*Export*: ``Timeline.Export(path, resolve.EXPORT_OTIO)`` (Resolve 18.5+) read
by ``otio_adapters``; it also carries speed changes, which the direct API
does not show.  Both routes build an ``otio_adapters`` :class:`VideoClip`
and go through :func:`otio_adapters.timeline_jobs.plan_clip`, so the media
range and record samples come from the one rounding rule.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

import opentimelineio as otio

from otio_adapters.markers import split_at
from otio_adapters.selection import VideoClip, video_clips
from otio_adapters.timeline_io import read_timeline
from otio_adapters.timeline_jobs import ClipError, Plan, plan_clip, url_to_path
from otio_adapters.timemath import RT, TR, exact_rate, parse_timecode, to_index
from plugin_host.fields import ProtocolError
from plugin_host.items import Item as EngineItem

from .api import Context, Item, ResolveError, clip_property, label


@dataclass
class Target:
    """One clip (or one marker part of it) to fill: where it is in Resolve and what the engine is asked for."""

    item: Item
    label: str
    plan: Plan
    prompt: str
    #: absolute record frames ``[start, end)`` of this part (the whole clip unless markers split it)
    start: int = -1
    end: int = -1

    def __post_init__(self):
        if self.start < 0:
            self.start, self.end = self.item.start, self.item.end

    @property
    def record_frame(self) -> int:
        return self.start


def direct_clip(ctx: Context, item: Item) -> VideoClip:
    """The clip as ``otio_adapters`` sees it, from the direct API."""
    name = label(ctx, item)
    mpi = item.obj.GetMediaPoolItem()
    path = clip_property(mpi, "File Path") if mpi is not None else ""
    if not path:
        raise ClipError(f"{name}: skipped: not a media file (a title, generator or compound clip)")
    media_rate = exact_rate(clip_property(mpi, "FPS") or ctx.rate)
    start_tc, frames = clip_property(mpi, "Start TC"), clip_property(mpi, "Frames")
    # Media time in OTIO's terms: the media's own timecode, so the range starts at Start TC.
    zero = parse_timecode(start_tc, media_rate) if start_tc else Fraction(0)
    avail = None
    if frames.isdigit():
        avail = TR(RT(to_index(zero, media_rate), float(media_rate)), RT(int(frames), float(media_rate)))
    ref = otio.schema.ExternalReference(target_url=path, available_range=avail)
    clip = otio.schema.Clip(name=item.name, media_reference=ref)
    track = otio.schema.Track(name=f"V{item.track}", kind=otio.schema.TrackKind.Video)
    # GetLeftOffset counts timeline frames into the media, whatever the media's own rate.
    left = Fraction(int(item.obj.GetLeftOffset()), ctx.rate)
    source_start = (zero if avail is not None else Fraction(0)) + left
    return VideoClip(clip, track, item.track, f"V{item.track}", Fraction(item.start - ctx.start_frame, ctx.rate),
                     Fraction(item.end - ctx.start_frame, ctx.rate), source_start)


def exported_clips(ctx: Context, folder: Optional[str] = None) -> Optional[dict]:
    """Top-level clips of ``Timeline.Export(EXPORT_OTIO)`` by (video track, record frame); None if unavailable."""
    kind = getattr(ctx.resolve, "EXPORT_OTIO", None)
    if kind is None:
        return None
    with tempfile.TemporaryDirectory(prefix="foley-resolve-", dir=folder) as tmp:
        path = os.path.join(tmp, "timeline.otio")
        none = getattr(ctx.resolve, "EXPORT_NONE", None)
        ok = ctx.timeline.Export(path, kind, none) if none is not None else ctx.timeline.Export(path, kind)
        if not ok or not os.path.isfile(path):
            return None
        timeline = read_timeline(path)
    out = {}
    for vc in video_clips(timeline):
        if not vc.nested_in:
            out[(vc.track_index, ctx.start_frame + to_index(vc.record_start, ctx.rate))] = vc
    return out


def plan_item(ctx: Context, item: Item, prompt: str, exported: Optional[dict], markers: Sequence = ()) -> list:
    """The clip's :class:`Target` (one per prompt part where Foley ``markers``, :class:`MarkerPrompt` in
    record seconds clipped to the clip, split it), or :class:`ClipError` naming the clip (offline media,
    speed change, ...)."""
    name = label(ctx, item)
    vc = exported.get(item.key) if exported is not None else None
    if vc is None:
        vc = direct_clip(ctx, item)
    if vc.skip:
        raise ClipError(f"{name}: skipped: {vc.skip}")
    if vc.speed != 1:
        raise ClipError(f"{name}: skipped: speed change ({float(vc.speed) * 100:g} %) is not supported in Resolve; "
                        "export the timeline and use `foley otio fill`")
    ref = vc.clip.media_reference
    try:
        path = url_to_path(getattr(ref, "target_url", "") or "", "/")
    except ValueError as exc:
        raise ClipError(f"{name}: {exc}") from None
    if not os.path.isfile(path):
        raise ClipError(f"{name}: media offline: {path}")
    # AppendToTimeline cannot add crossfades, so no handles under transitions.
    vc.handle_before = vc.handle_after = Fraction(0)
    vc.transition_before = vc.transition_after = None
    vc.prompt = prompt
    pieces = split_at(vc, list(markers))
    targets = []
    for i, piece in enumerate(pieces):
        part = name if len(pieces) == 1 else f"{name} part {i + 1}/{len(pieces)}"
        try:
            plan = plan_clip(piece, "/")
        except ClipError as exc:
            raise ClipError(str(exc).replace(vc.label, part, 1)) from None
        # Marker edges are whole frames (a one-shot is rounded to frames), so every part starts on one.
        start, end = (ctx.start_frame + to_index(t, ctx.rate) for t in (piece.record_start, piece.record_end))
        targets.append(Target(item, part, plan, piece.prompt or "", start, end))
    return targets


def engine_item(ctx: Context, target: Target, negative_prompt: str, seed: int) -> EngineItem:
    """The plan's item (``Request.to_item``, the one conversion), with Resolve's prompts and record position."""
    try:
        return dataclasses.replace(
            target.plan.request.to_item(), prompt=target.prompt, negative_prompt=negative_prompt, seed=seed,
            label=target.label,
            record_start={"timeline": ctx.name, "track": target.item.track, "frame": target.record_frame,
                          "rate": str(ctx.rate)})
    except ProtocolError as exc:  # the item's own checks (a prompt over the limit, ...): this clip alone fails
        raise ClipError(f"{target.label}: {exc}") from None


__all__ = ["ClipError", "ResolveError", "Target", "direct_clip", "engine_item", "exported_clips", "plan_item"]
