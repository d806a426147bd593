"""A generation job: which media, which range, which sound."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from plugin_host.items import Item

from .errors import RangeError
from .media.probe import MediaInfo
from .timebase import TimeRange, format_seconds, output_duration


@dataclass(frozen=True)
class Job:
    media: str
    #: media seconds from the first frame; None = from the start / to the end
    start: Optional[Fraction] = None
    end: Optional[Fraction] = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    #: playback speed of the source (2 = twice as fast): the output lasts
    #: (end - start) / speed and follows the source frames at that speed
    speed: Fraction = Fraction(1)
    #: backend options (steps, guidance, ...), passed to every window request unchanged
    options: dict = field(default_factory=dict, hash=False, compare=False)
    #: scheduler switch: re-align each window to the visual events (see foley_engine.longform.align)
    align: bool = False
    #: analysis switch: "diff" (frame differences) or "flow" (camera-compensated optical flow)
    motion: str = "diff"
    #: finishing: loudness target in LUFS as text, "off", or None for the backend's default
    loudness: Optional[str] = None
    #: finishing: true-peak ceiling in dBTP (None: the default, -1)
    true_peak: Optional[float] = None

    @classmethod
    def from_item(cls, item: Item) -> "Job":
        """The one conversion from the wire's typed item to the core's job."""
        return cls(media=item.media, start=item.start, end=item.end, prompt=item.prompt,
                   negative_prompt=item.negative_prompt, seed=item.seed, speed=item.speed,
                   options=dict(item.options), align=item.align, motion=item.motion, loudness=item.loudness,
                   true_peak=item.true_peak)

    def __post_init__(self):
        object.__setattr__(self, "media", os.fspath(self.media))
        object.__setattr__(self, "speed", Fraction(self.speed))
        if self.speed <= 0:
            raise RangeError(f"speed must be positive, got {self.speed}")

    def resolve_range(self, info: MediaInfo) -> TimeRange:
        """The job's range, checked against the media."""
        start = Fraction(0) if self.start is None else Fraction(self.start)
        end = info.duration if self.end is None else Fraction(self.end)
        if start < 0:
            raise RangeError(f"in point {format_seconds(start)} is before the first frame")
        if end <= start:
            raise RangeError(f"in point {format_seconds(start)} is not before out point {format_seconds(end)}")
        if end > info.duration:
            raise RangeError(
                f"out point {format_seconds(end)} is beyond the end of the media ({format_seconds(info.duration)})"
            )
        return TimeRange(start, end)

    def output_range(self, media_range: TimeRange) -> TimeRange:
        """The job-time range the output covers: starts with the media range, lasts duration / speed."""
        return TimeRange(media_range.start, media_range.start + output_duration(media_range.start, media_range.end, self.speed))

    def to_job_time(self, media_range: TimeRange):
        """Media time -> job time for this job's speed."""
        origin, speed = media_range.start, self.speed
        if speed == 1:
            return lambda t: t
        return lambda t: origin + (t - origin) / speed
