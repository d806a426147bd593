"""What to generate, and its one resolution against the media.

A request says which media, which range and which sound: the wire's typed
:class:`~plugin_host.items.Item`, or a :class:`Job` (the same request for
library callers, positional and path-friendly).  :func:`resolve` checks it
against the probed media once and returns a :class:`ResolvedItem`: the exact
media range, the output's samples at the backend's rate, the media facts and
the output path.  The engine journals that resolution (:meth:`ResolvedItem.to_journal`)
and its worker reads it back (:meth:`ResolvedItem.from_journal`); ``generate_to_file``
and the long-form scheduler take it and never probe or resolve again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Optional, Union

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

    def __post_init__(self):
        object.__setattr__(self, "media", os.fspath(self.media))
        object.__setattr__(self, "speed", Fraction(self.speed))
        if self.speed <= 0:
            raise RangeError(f"speed must be positive, got {self.speed}")


#: what may be resolved: the wire's typed item or the library's job (same field names)
Request = Union[Item, Job]


def media_range(request: Request, info: MediaInfo) -> TimeRange:
    """The request's media range, checked against the media (RangeError says what is wrong)."""
    start = Fraction(0) if request.start is None else Fraction(request.start)
    end = info.duration if request.end is None else Fraction(request.end)
    if start < 0:
        raise RangeError(f"in point {format_seconds(start)} is before the first frame")
    if end <= start:
        raise RangeError(f"in point {format_seconds(start)} is not before out point {format_seconds(end)}")
    if end > info.duration:
        raise RangeError(
            f"out point {format_seconds(end)} is beyond the end of the media ({format_seconds(info.duration)})"
        )
    return TimeRange(start, end)


def output_range(media: TimeRange, speed: Fraction) -> TimeRange:
    """The job-time range an output covers: starts with the media range, lasts duration / speed."""
    return TimeRange(media.start, media.start + output_duration(media.start, media.end, speed))


@dataclass(frozen=True)
class ResolvedItem:
    """A request resolved once: everything downstream reads these fields and probes nothing.

    ``first_sample``/``stop_sample`` are the output's samples at ``sample_rate``
    (``first`` counts from the media's first frame); everything after ``media_range``
    is in job time, which is media time unless the source plays at another ``speed``.
    """

    request: Request
    info: MediaInfo
    media_range: TimeRange
    sample_rate: int
    first_sample: int
    stop_sample: int
    #: where the WAV goes ("" when the caller names it: in-process generation)
    out_path: str = ""

    @property
    def num_samples(self) -> int:
        return self.stop_sample - self.first_sample

    @property
    def speed(self) -> Fraction:
        return Fraction(self.request.speed)

    @property
    def format(self) -> str:
        """The WAV sample format the request asked for (a :class:`Job` has none: pcm24)."""
        return getattr(self.request, "format", "pcm24")

    def to_job_time(self):
        """Media time -> job time for this item's speed."""
        origin, speed = self.media_range.start, self.speed
        if speed == 1:
            return lambda t: t
        return lambda t: origin + (t - origin) / speed

    # ------------------------------------------------------------ the journal's form

    def to_journal(self) -> dict:
        """The dict the engine journals: the item's wire form with its exact range, plus the resolution.

        The top-level keys stay the item's (``start``/``end`` resolved), so the job book and
        ``foley engine jobs`` read them as before; ``resolved`` holds what only the worker needs.
        """
        if not isinstance(self.request, Item):
            raise TypeError("only a wire Item is journalled")
        spec = dict(self.request.to_wire(), start=str(self.media_range.start), end=str(self.media_range.end))
        spec["out_path"] = self.out_path
        spec["resolved"] = {"sample_rate": self.sample_rate, "first_sample": self.first_sample,
                            "stop_sample": self.stop_sample, "media": self.info.to_dict()}
        return spec

    @classmethod
    def from_journal(cls, spec: dict, sample_rate: int) -> "ResolvedItem":
        """The resolved item a journal spec holds, read back typed: nothing probed, nothing resolved.

        ``sample_rate`` is the backend's: an item resolved at another rate (submitted before the
        worker said its rate, and the engine's 48 kHz guess was wrong) has its samples worked out
        again from the journalled media facts, still without probing.  A spec journalled by an
        engine older than this form has no ``resolved`` part: that item is resolved once more
        (its media probed) when it resumes.
        """
        wire = {k: v for k, v in spec.items() if k not in ("out_path", "resolved")}
        item = Item.from_wire(wire)
        resolved: Optional[dict[str, Any]] = spec.get("resolved")
        if resolved is None:
            return resolve_media(item, sample_rate, out_path=spec["out_path"])
        info = MediaInfo.from_dict(resolved["media"])
        if int(resolved["sample_rate"]) != sample_rate:
            return resolve(item, info, sample_rate, spec["out_path"])
        return cls(request=item, info=info, media_range=TimeRange(item.start, item.end),
                   sample_rate=sample_rate, first_sample=int(resolved["first_sample"]),
                   stop_sample=int(resolved["stop_sample"]), out_path=spec["out_path"])


def resolve(request: Request, info: MediaInfo, sample_rate: int, out_path: str = "") -> ResolvedItem:
    """The one resolution of ``request`` against its probed media (RangeError if the range does not fit)."""
    rng = media_range(request, info)
    first, stop = output_range(rng, Fraction(request.speed)).samples(sample_rate)
    return ResolvedItem(request, info, rng, sample_rate, first, stop, out_path)


def resolve_media(request: Request, sample_rate: int, info: Optional[MediaInfo] = None,
                  out_path: str = "") -> ResolvedItem:
    """:func:`resolve` for a caller that has not probed the media yet (the library path)."""
    from .media.probe import probe

    return resolve(request, info or probe(request.media), sample_rate, out_path)
