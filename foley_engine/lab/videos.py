"""The soak test set: synthetic videos with scene cuts and impacts at exactly known times.

Settings cycle through 29.97, 23.976 and 30 fps and 3, 4, 5 minutes; the last
video repeats the first one's settings, so "latency of the last / the first"
compares equal work.  Each video is encoded once and reused (a sidecar JSON
holds its exact event times).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

RESOLUTIONS = {"1080p": (1920, 1080), "720p": (1280, 720), "540p": (960, 540), "360p": (640, 360),
               "180p": (320, 180)}
FRAME_RATES = (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(30))
LENGTHS_MIN = (3, 4, 5)


@dataclass(frozen=True)
class VideoSpec:
    index: int
    duration: Fraction
    fps: Fraction
    width: int
    height: int
    impacts_every: Fraction
    impact_offset: Fraction
    cuts: tuple[Fraction, ...]
    flashes: tuple[Fraction, ...]
    first_pts: Fraction
    start_timecode: Optional[str]

    @property
    def name(self) -> str:
        fps = f"{float(self.fps):.3f}".rstrip("0").rstrip(".")
        return f"soak{self.index:02d}_{int(self.duration)}s_{self.height}p{fps}"


def plan_videos(videos: int, minutes: Optional[float], resolution: str) -> list[VideoSpec]:
    """The test set.  Settings cycle; the last video repeats the first (the latency control)."""
    width, height = RESOLUTIONS[resolution]
    specs = []
    for i in range(videos):
        k = 0 if (i == videos - 1 and videos > 1) else i
        duration = Fraction(str(minutes)) * 60 if minutes else Fraction(60 * LENGTHS_MIN[k % len(LENGTHS_MIN)])
        fps = FRAME_RATES[k % len(FRAME_RATES)]
        # Impacts every 7/3 s: they fall on every phase of the frame grid.
        cuts = tuple(Fraction(23) + 41 * j + Fraction(k, 3) for j in range(int(duration // 41) + 1)
                     if Fraction(23) + 41 * j + Fraction(k, 3) < duration - 2)
        flashes = tuple(f for f in (Fraction(12) + 47 * j for j in range(int(duration // 47) + 1))
                        if f < duration - 2 and all(abs(f - c) > 1 for c in cuts))
        specs.append(VideoSpec(
            index=i, duration=duration, fps=fps, width=width, height=height,
            impacts_every=Fraction(7, 3), impact_offset=Fraction(1) + Fraction(k % 5, 7),
            cuts=cuts, flashes=flashes,
            first_pts=Fraction(1001, 30000) if k % 2 else Fraction(0),
            start_timecode="01:00:00:00" if k % 3 == 1 else None,
        ))
    return specs


def _sidecar(path: str) -> str:
    return path + ".events.json"


def make_video(spec: VideoSpec, folder: str) -> dict:
    """Encode (or reuse) one video; returns its path and exact event times."""
    from foley_engine.samples import make_sample_video

    path = os.path.join(folder, spec.name + ".mp4")
    side = _sidecar(path)
    key = repr(spec)
    if os.path.exists(path) and os.path.exists(side):
        with open(side) as f:
            cached = json.load(f)
        if cached.get("spec") == key:
            return cached
    video = make_sample_video(
        path, duration=spec.duration, fps=spec.fps, width=spec.width, height=spec.height,
        impacts_every=spec.impacts_every, impact_offset=spec.impact_offset, flashes=spec.flashes,
        cuts=spec.cuts, start_timecode=spec.start_timecode, first_pts=spec.first_pts,
    )
    record = {
        "spec": key, "path": path, "duration": str(video.duration), "fps": str(spec.fps),
        "frame_count": video.frame_count, "impact_times": [str(t) for t in video.impact_times],
        "cut_times": [str(t) for t in video.cut_times], "flash_times": [str(t) for t in video.flash_times],
    }
    with open(side, "w") as f:
        json.dump(record, f)
    return record
