"""Exact time for OpenTimelineIO values.

OTIO stores rates and values as doubles (29.97 is 29.97002997...). Every
value is snapped to an exact rational here, once, and all arithmetic after
that is on :class:`fractions.Fraction` seconds or integer sample counts.
The rounding rule is the engine's: time ``t`` at rate ``r`` is index
``round_half_away(t * r)``.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional

import opentimelineio as otio

# The engine's exact-time rules, shared so placement matches the engine to the sample.
from plugin_host.protocol import exact_rate, to_index

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange

#: the engine's output rate; Foley clips are placed on this grid
SAMPLE_RATE = 48000


def exact_value(value: float) -> Fraction:
    """An OTIO value (a double) as the decimal it was written as."""
    if float(value).is_integer():
        return Fraction(int(value))
    return Fraction(repr(float(value)))


def seconds(t: RT) -> Fraction:
    """A RationalTime as exact seconds."""
    return exact_value(t.value) / exact_rate(t.rate)


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
