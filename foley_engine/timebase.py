"""Exact time in the engine: ranges, user time input and display.

The rules themselves (rate snapping, the rounding rule, index helpers,
timecode at any rate) live once, in :mod:`plugin_host.timebase`, which the
editor adapters share; this module re-exports them and adds what only the
engine needs.  Every time is a :class:`fractions.Fraction` of seconds or an
integer count at an exact rational rate; floats are snapped at the edges
and never accumulated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Union

from plugin_host.timebase import (  # noqa: F401  (re-exported: the engine's one import site)
    MAX_TIME_TEXT, NUMBER_FORMS, SAMPLE_RATE, TimeError, exact_rate, parse_number, format_rate, frames_to_timecode, is_timecode, num_samples, output_duration, range_to_indices,
    round_half_away, time_string, timecode_to_frames, to_index, to_time,
)

from .errors import RangeError

TimeLike = Union[Fraction, int, str]


def as_fraction(value: TimeLike) -> Fraction:
    """Seconds as an exact Fraction. Strings are parsed as decimals, never via float."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        try:
            return parse_number(value, "time")
        except TimeError:
            raise RangeError(f"not a time in seconds: {value[:40]!r} (use {NUMBER_FORMS})") from None
    if isinstance(value, float):
        # Floats reach us only from outside APIs; take the shortest decimal that
        # reproduces them, which is what the user typed.
        return Fraction(repr(value))
    raise TypeError(f"cannot make an exact time from {type(value).__name__}")


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

_CLOCK = re.compile(r"^(?:([0-9]{1,6}):)?([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,18}))?$")


def timecode_to_seconds(timecode: str, rate: Fraction) -> Fraction:
    return to_time(timecode_to_frames(timecode, rate), rate)


def parse_clock(text: str) -> Fraction:
    """Seconds from ``12.5``, ``1:02.250`` or ``01:02:03.500`` (exact decimal)."""
    text = text.strip()
    m = _CLOCK.match(text) if len(text) <= MAX_TIME_TEXT else None
    if m:
        hours, minutes, seconds, decimals = m.groups()
        total = Fraction(int(seconds)) + 60 * int(minutes) + 3600 * int(hours or 0)
        if decimals:
            total += Fraction(int(decimals), 10 ** len(decimals))
        return total
    try:
        return parse_number(text, "time")
    except TimeError:
        shown = repr(text if len(text) <= 40 else text[:40] + "...")
        raise RangeError(
            f"not a time: {shown} (use seconds like 12.5 or 1001/30000, HH:MM:SS.mmm, "
            f"or SMPTE HH:MM:SS:FF with --fps)"
        ) from None


def format_seconds(t: Fraction) -> str:
    """``HH:MM:SS.mmm`` for messages (display only)."""
    sign = "-" if t < 0 else ""
    t = abs(Fraction(t))
    ms = round_half_away(t * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


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
        try:
            frames = timecode_to_frames(text, fps)
            if start_timecode:
                frames -= timecode_to_frames(start_timecode, fps)
        except TimeError as exc:
            raise RangeError(str(exc)) from None
        if start_timecode:
            if frames < 0:
                raise RangeError(
                    f"timecode {text} is before the media's start timecode {start_timecode}"
                )
        return to_time(frames, fps)
    return parse_clock(text)
