"""Exact time for OpenTimelineIO values.

OTIO stores rates and values as doubles (29.97 is 29.97002997...). Every
value is snapped to an exact rational here, once, and all arithmetic after
that is on :class:`fractions.Fraction` seconds or integer sample counts.
The rules (rate snapping, the rounding rule, timecode at any rate, the
48 kHz grid) are :mod:`plugin_host.timebase`'s, re-exported here.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional

import opentimelineio as otio

# The engine's exact-time rules, shared so placement matches the engine to the sample.
from plugin_host.timebase import (  # noqa: F401
    SAMPLE_RATE, exact_rate, is_timecode, parse_number, timecode_to_frames, to_index,
)

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


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
    """SMPTE at ``rate`` (``;`` = drop-frame, only at 29.97/59.94) or seconds, as exact seconds."""
    text = text.strip()
    if is_timecode(text):
        return Fraction(timecode_to_frames(text, rate)) / Fraction(rate)
    return parse_number(text, "time")  # bounded: digits, a decimal or a ratio


def fmt(t: Optional[Fraction]) -> str:
    """Seconds for messages, e.g. 12.345 s (display only)."""
    return "?" if t is None else f"{float(t):.3f} s"
