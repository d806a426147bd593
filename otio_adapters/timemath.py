"""Exact time for OpenTimelineIO values.

OTIO stores rates and values as doubles (29.97 is 29.97002997...). Every
value is snapped to an exact rational here, once, and all arithmetic after
that is on :class:`fractions.Fraction` seconds or integer sample counts.
The rounding rule is the engine's: time ``t`` at rate ``r`` is index
``round_half_away(t * r)``.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional, Union

import opentimelineio as otio

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

#: the engine's output rate; Foley clips are placed on this grid
SAMPLE_RATE = 48000

# Integer rates n*1000/1001 that editors write as 23.976, 29.97, 59.94 ...
_NTSC_BASES = (24, 30, 48, 60, 120)


def exact_rate(rate: Union[float, int, str, Fraction]) -> Fraction:
    """29.97 / 29.97002997 / "30000/1001" -> Fraction(30000, 1001); 25.0 -> 25."""
    value = Fraction(rate) if not isinstance(rate, float) else Fraction(repr(rate))
    if value <= 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    if value.denominator == 1:
        return value
    for base in _NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - ntsc) < Fraction(1, 100):
            return ntsc
    return value.limit_denominator(1001)


def exact_value(value: float) -> Fraction:
    """An OTIO value (a double) as the decimal it was written as."""
    if float(value).is_integer():
        return Fraction(int(value))
    return Fraction(repr(float(value)))


def seconds(t: RT) -> Fraction:
    """A RationalTime as exact seconds."""
    return exact_value(t.value) / exact_rate(t.rate)


def round_half_away(x: Fraction) -> int:
    if x >= 0:
        return int((x + Fraction(1, 2)) // 1)
    return -int((-x + Fraction(1, 2)) // 1)


def to_index(t: Fraction, rate: Union[int, Fraction]) -> int:
    """The sample/frame index of ``t`` seconds at ``rate`` (the one rounding rule)."""
    return round_half_away(Fraction(t) * Fraction(rate))


def samples(t: RT, rate: int = SAMPLE_RATE) -> int:
    return to_index(seconds(t), rate)


def sample_range(start: int, duration: int, rate: int = SAMPLE_RATE) -> TR:
    return TR(RT(start, rate), RT(duration, rate))


def parse_timecode(text: str, rate: Fraction) -> Fraction:
    """SMPTE (``;`` = drop-frame) or seconds, as exact seconds, via OTIO's timecode code."""
    text = text.strip()
    if text.count(":") + text.count(";") == 3:
        rt = otio.opentime.from_timecode(text, otio.opentime.RationalTime.nearest_valid_timecode_rate(float(rate)))
        return Fraction(int(round(rt.value))) / rate
    return Fraction(text)


def fmt(t: Optional[Fraction]) -> str:
    """Seconds for messages, e.g. 12.345 s (display only)."""
    return "?" if t is None else f"{float(t):.3f} s"
