"""Results -> the timeline: a "Foley" bin, "Foley" audio tracks, ``AppendToTimeline`` at record frames.

A Foley clip starts on its video clip's record frame (``recordFrame`` is an
absolute timeline frame, like ``GetStart``).  ``startFrame``/``endFrame``
count in the WAV's own frames: Resolve gives audio files a rate of their
own (the media pool item's ``FPS``, 24 for a WAV), so the exact sample
range is converted with that rate, and passed as a whole number when it is one.
Before 19.0.3 those two must be integers: the WAV is first padded with silence
so that the range starts and ends on whole frames (:mod:`.wavpad`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Union

from otio_adapters.timemath import SAMPLE_RATE, exact_rate

from .api import Context, call, clip_property, version_text
from .clips import Target
from .wavpad import WholeFrames, pad_wav, wav_length, whole_frames

BIN_NAME = "Foley"
#: the media-pool rate Resolve gives an imported WAV (checked after import)
WAV_POOL_FPS = Fraction(24)
TRACK_NAME = "Foley"
_TRACK_NAMES = re.compile(r"^Foley(?: (\d+))?$")


@dataclass
class Placement:
    placed: list = field(default_factory=list)  #: (label, track index, record frame)
    files: list = field(default_factory=list)  #: (target, WAV path) of every file placed
    replaced: int = 0
    warnings: list = field(default_factory=list)


def foley_bin(ctx: Context):
    root = ctx.media_pool.GetRootFolder()
    for folder in root.GetSubFolderList() or []:
        if folder.GetName() == BIN_NAME:
            return folder
    folder = ctx.media_pool.AddSubFolder(root, BIN_NAME)
    if folder is None:
        raise RuntimeError(f"Resolve did not create the {BIN_NAME!r} bin")
    return folder


def import_wav(ctx: Context, folder, path: str):
    """The media pool item for ``path``, imported into ``folder`` unless it is there already."""
    for clip in folder.GetClipList() or []:
        if os.path.normcase(clip_property(clip, "File Path")) == os.path.normcase(path):
            return clip
    previous = ctx.media_pool.GetCurrentFolder()
    ctx.media_pool.SetCurrentFolder(folder)  # ImportMedia imports into the current bin
    try:
        items = ctx.media_pool.ImportMedia([path]) or []
    finally:
        if previous is not None:
            ctx.media_pool.SetCurrentFolder(previous)
    if not items:
        raise RuntimeError(f"Resolve could not import {path}")
    return items[0]


def wav_frames(samples: int, fps: Fraction) -> Union[int, float]:
    """``samples`` at 48 kHz in the WAV item's frames; a float only at this API boundary."""
    value = Fraction(samples, SAMPLE_RATE) * fps
    return int(value) if value.denominator == 1 else float(value)


def clip_info(target: Target, mpi, track: int, fps: Fraction, whole: Optional[WholeFrames] = None) -> dict:
    plan = target.plan
    if whole is not None:
        start, end = whole.start_frame, whole.end_frame
    else:
        start, end = wav_frames(plan.offset, fps), wav_frames(plan.offset + plan.record_samples, fps)
    return {"mediaPoolItem": mpi, "startFrame": start, "endFrame": end,
            "recordFrame": int(target.record_frame), "trackIndex": track, "mediaType": 2}


def to_whole_frames(target: Target, path: str) -> WholeFrames:
    """Pad the WAV so its placed range is whole ``WAV_POOL_FPS`` frames (before it is imported)."""
    plan = target.plan
    whole = whole_frames(plan.offset, plan.record_samples, wav_length(path), WAV_POOL_FPS)
    pad_wav(path, whole.pad_front, whole.pad_back)
    return whole


def record_end(ctx: Context, target: Target, whole: Optional[WholeFrames]) -> int:
    """The timeline frame where the placed clip ends (a silent tail of under one WAV frame may pass the video)."""
    if whole is None:
        return target.end
    seconds = Fraction(whole.end_frame - whole.start_frame) / WAV_POOL_FPS
    return max(target.end, target.record_frame + -(-seconds * ctx.rate // 1))


class FoleyTracks:
    """The audio tracks named "Foley", "Foley 2", ... (or another family: "Foley Feet", "Foley Feet 2");
    what is on them; new ones on demand."""

    def __init__(self, ctx: Context, out_root: str, name: str = TRACK_NAME):
        self.ctx = ctx
        self.name = name
        self.out_root = os.path.realpath(out_root)
        self.tracks = []  # (index, name)
        names = _TRACK_NAMES if name == TRACK_NAME else re.compile(rf"^{re.escape(name)}(?: (\d+))?$")
        for i in range(1, int(ctx.timeline.GetTrackCount("audio")) + 1):
            m = names.match(str(ctx.timeline.GetTrackName("audio", i) or ""))
            if m:
                self.tracks.append((i, int(m.group(1) or 1)))
        self.tracks.sort(key=lambda t: t[1])
        self.items = {i: list(ctx.timeline.GetItemListInTrack("audio", i) or []) for i, _ in self.tracks}
        self.new = {i: [] for i, _ in self.tracks}  # (start, end) placed in this run

    def ours(self, item) -> bool:
        """An earlier Foley clip of these scripts: its WAV is under the Foley output folder."""
        mpi = item.GetMediaPoolItem()
        path = clip_property(mpi, "File Path") if mpi is not None else ""
        if not path:
            return False
        try:
            return os.path.commonpath([os.path.realpath(path), self.out_root]) == self.out_root
        except ValueError:  # another drive
            return False

    def _add(self) -> int:
        number = self.tracks[-1][1] + 1 if self.tracks else 1
        if not self.ctx.timeline.AddTrack("audio", "stereo"):
            raise RuntimeError("Resolve did not add an audio track")
        index = int(self.ctx.timeline.GetTrackCount("audio"))
        self.ctx.timeline.SetTrackName("audio", index, self.name if number == 1 else f"{self.name} {number}")
        self.tracks.append((index, number))
        self.items[index], self.new[index] = [], []
        return index

    def slot(self, start: int, end: int) -> tuple[int, list]:
        """A track for record frames ``[start, end)`` and the earlier Foley clips of ours to delete there.

        The first Foley track where only our own earlier clips are in the way;
        a new track when every one holds something else there.
        """
        for index, _ in self.tracks:
            if any(s < end and start < e for s, e in self.new[index]):
                continue
            hits = [it for it in self.items[index] if int(it.GetStart()) < end and start < int(it.GetEnd())]
            if all(self.ours(it) for it in hits):
                return index, hits
        return self._add(), []

    def take(self, index: int, start: int, end: int, removed: list) -> None:
        self.items[index] = [it for it in self.items[index] if it not in removed]
        self.new[index].append((start, end))


def place(ctx: Context, results: list, out_root: str, report: Optional[Placement] = None) -> Placement:
    """Put each (target, WAV path) on a Foley track at its record frame, replacing our earlier clips there
    (items with stems or takes: :func:`.place_sets.place_sets`)."""
    report = report or Placement()
    if not results:
        return report
    folder = foley_bin(ctx)
    tracks = FoleyTracks(ctx, out_root)
    for target, path in results:
        try:
            place_one(ctx, report, tracks, folder, target, path)
        except RuntimeError as exc:  # Resolve refused an import or a new track: the other clips still go
            report.warnings.append(f"{target.label}: {exc}")
    return report


def place_one(ctx: Context, report: Placement, tracks: FoleyTracks, folder, target: Target, path: str):
    """Place one WAV; (the new timeline item, the take the earlier clip there had selected, 0 if none)."""
    whole = to_whole_frames(target, path) if ctx.whole_source_frames else None
    mpi = import_wav(ctx, folder, path)
    fps = exact_rate(clip_property(mpi, "FPS") or ctx.rate)
    if whole is not None and fps != WAV_POOL_FPS:
        raise RuntimeError(f"Resolve {version_text(ctx.version)} gave the WAV {clip_property(mpi, 'FPS')} fps, not "
                           f"{WAV_POOL_FPS}, so it cannot be placed in whole frames; update Resolve to 19.0.3 or later")
    start, end = target.record_frame, record_end(ctx, target, whole)
    index, old = tracks.slot(start, end)
    # The take an earlier clip here had selected (the user's choice): a re-run selects it again.
    chosen = max([int(call(o, "GetSelectedTakeIndex") or 0) for o in old], default=0)
    if old and not ctx.timeline.DeleteClips(old, False):
        report.warnings.append(f"{target.label}: Resolve did not remove the earlier Foley clip; placed anyway")
    report.replaced += len(old)
    appended = ctx.media_pool.AppendToTimeline([clip_info(target, mpi, index, fps, whole)]) or []
    if not appended:
        raise RuntimeError(f"Resolve did not place the Foley clip ({os.path.basename(path)})")
    tracks.take(index, start, end, old)
    at = call(appended[0], "GetStart")
    if at is not None and int(at) != start:
        report.warnings.append(f"{target.label}: Resolve placed the Foley clip at {ctx.timecode(int(at))}, "
                               f"not {ctx.timecode(start)}")
    report.placed.append((target.label, index, start))
    report.files.append((target, path))
    return appended[0], chosen


def track_label(ctx: Context, index: Optional[int]) -> str:
    return f"A{index} {ctx.timeline.GetTrackName('audio', index)!r}" if index else "?"
