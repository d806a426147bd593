"""Exact time: rational seconds, sample and frame indices, timecode.

Every time in the engine is a :class:`fractions.Fraction` of seconds or an
integer count at an exact rational rate.  Floats only appear at the edges
(user input, OpenTimelineIO's float rates) and are snapped to exact values
there, never accumulated.

The one rounding rule: time ``t`` at rate ``r`` is index ``round_half_away(t*r)``.
A range ``[t0, t1)`` covers indices ``index(t0) .. index(t1)`` (end exclusive),
so adjacent ranges tile with no gap and no overlap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

from .errors import RangeError

TimeLike = Union[Fraction, int, str]

# Rates editors use; floats near n*1000/1001 are NTSC rates.
_NTSC_BASES = (24, 30, 48, 60, 120)


def exact_rate(rate: Union[float, int, str, Fraction]) -> Fraction:
    """An exact rational frame or sample rate from a float/str such as 29.97.

    ``29.97``, ``"29.97"``, ``"30000/1001"`` and ``29.970029...`` all give
    ``Fraction(30000, 1001)``; ``25`` gives ``Fraction(25)``.
    """
    if isinstance(rate, Fraction):
        value = rate
    elif isinstance(rate, str):
        text = rate.strip()
        try:
            value = Fraction(text)
        except ValueError:
            raise RangeError(f"not a frame rate: {rate!r} (use e.g. 24, 25, 29.97 or 30000/1001)") from None
    else:
        value = Fraction(rate)
    if value <= 0:
        raise RangeError(f"frame rate must be positive, got {rate!r}")
    if value.denominator == 1:
        return value
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - ntsc) < Fraction(1, 100):
            return ntsc
    return value.limit_denominator(1001)


def as_fraction(value: TimeLike) -> Fraction:
    """Seconds as an exact Fraction. Strings are parsed as decimals, never via float."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except ValueError:
            raise RangeError(f"not a time in seconds: {value!r}") from None
    if isinstance(value, float):
        # Floats reach us only from outside APIs; take the shortest decimal that
        # reproduces them, which is what the user typed.
        return Fraction(repr(value))
    raise TypeError(f"cannot make an exact time from {type(value).__name__}")


def round_half_away(x: Fraction) -> int:
    """Round a rational to the nearest integer, halves away from zero (exactly)."""
    x = Fraction(x)
    if x >= 0:
        return int((x + Fraction(1, 2)) // 1)
    return -int((-x + Fraction(1, 2)) // 1)


def to_index(t: Fraction, rate: Fraction | int) -> int:
    """The sample/frame index of time ``t`` at ``rate`` (the one rounding rule)."""
    return round_half_away(Fraction(t) * Fraction(rate))


def to_time(index: int, rate: Fraction | int) -> Fraction:
    """The exact time of sample/frame ``index`` at ``rate``."""
    return Fraction(index) / Fraction(rate)


def range_to_indices(t0: Fraction, t1: Fraction, rate: Fraction | int) -> tuple[int, int]:
    """``[t0, t1)`` as ``(first index, end index)``; end is exclusive."""
    return to_index(t0, rate), to_index(t1, rate)


def num_samples(t0: Fraction, t1: Fraction, rate: Fraction | int) -> int:
    start, end = range_to_indices(t0, t1, rate)
    return end - start


@dataclass(frozen=True)
class TimeRange:
    """A half-open media time range ``[start, end)`` in exact seconds."""

    start: Fraction
    end: Fraction

    def __post_init__(self):
        if self.end <= self.start:
            raise RangeError(
                f"empty or reversed range: in {format_seconds(self.start)} is not before out {format_seconds(self.end)}"
            )

    @property
    def duration(self) -> Fraction:
        return self.end - self.start

    def samples(self, rate: int) -> tuple[int, int]:
        return range_to_indices(self.start, self.end, rate)


# ---------------------------------------------------------------- timecode

_SMPTE = re.compile(r"^\d{1,2}:\d{2}:\d{2}[:;.]\d{1,3}$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def _otio_rate(rate: Fraction) -> float:
    import opentimelineio as otio

    return otio.opentime.RationalTime.nearest_valid_timecode_rate(float(rate))


def timecode_to_frames(timecode: str, rate: Fraction) -> int:
    """Frame count of a SMPTE timecode at ``rate`` (``;`` marks drop-frame), via OTIO."""
    import opentimelineio as otio

    try:
        rt = otio.opentime.from_timecode(timecode.strip(), _otio_rate(rate))
    except ValueError as exc:
        raise RangeError(f"bad timecode {timecode!r} at {format_rate(rate)} fps: {exc}") from None
    return int(round(rt.value))


def frames_to_timecode(frames: int, rate: Fraction, drop_frame: bool | None = None) -> str:
    """SMPTE timecode of a frame count at ``rate`` via OTIO (drop-frame inferred for 29.97/59.94)."""
    import opentimelineio as otio

    r = _otio_rate(rate)
    rt = otio.opentime.RationalTime(frames, r)
    if drop_frame is None:
        return otio.opentime.to_timecode(rt, r)
    return otio.opentime.to_timecode(rt, r, drop_frame)


def timecode_to_seconds(timecode: str, rate: Fraction) -> Fraction:
    return to_time(timecode_to_frames(timecode, rate), rate)


def is_timecode(text: str) -> bool:
    return bool(_SMPTE.match(text.strip())) and text.count(":") + text.count(";") == 3


def parse_clock(text: str) -> Fraction:
    """Seconds from ``12.5``, ``1:02.250`` or ``01:02:03.500`` (exact decimal)."""
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        hours, minutes, seconds = m.group(1), m.group(2), m.group(3)
        total = Fraction(seconds) + 60 * int(minutes) + 3600 * int(hours or 0)
        return total
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise RangeError(
            f"not a time: {text!r} (use seconds like 12.5, HH:MM:SS.mmm, or SMPTE HH:MM:SS:FF with --fps)"
        ) from None
    return value


def format_seconds(t: Fraction) -> str:
    """``HH:MM:SS.mmm`` for messages (display only)."""
    sign = "-" if t < 0 else ""
    t = abs(Fraction(t))
    ms = round_half_away(t * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def format_rate(rate: Fraction) -> str:
    rate = Fraction(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def parse_media_time(
    text: str,
    *,
    fps: Fraction | None,
    start_timecode: str | None,
) -> Fraction:
    """A user's ``--in``/``--out`` value as seconds from the media's first frame.

    Seconds and ``HH:MM:SS.mmm`` count from the first frame.  SMPTE timecode
    ``HH:MM:SS:FF`` is in the media's own timecode: its start timecode (if
    any) is subtracted, at ``fps``.
    """
    if is_timecode(text):
        if fps is None:
            raise RangeError(f"timecode {text!r} needs a frame rate: the media does not state one, pass --fps")
        frames = timecode_to_frames(text, fps)
        if start_timecode:
            frames -= timecode_to_frames(start_timecode, fps)
            if frames < 0:
                raise RangeError(
                    f"timecode {text} is before the media's start timecode {start_timecode}"
                )
        return to_time(frames, fps)
    return parse_clock(text)
