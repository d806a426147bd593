"""Exact time: the one home of the timing rules every package shares.

Standard library only, so it runs inside Blender's and Resolve's Python and is
vendored into the Blender extension unchanged.  The engine's core
(:mod:`foley_engine.timebase`) and every adapter import these functions; no
copy of them exists anywhere else.

The rules:

- a time is a :class:`fractions.Fraction` of seconds, or an integer count at
  an exact rational rate; floats are snapped once, at the edge;
- time ``t`` at rate ``r`` is index ``round_half_away(t * r)``, so a range
  ``[t0, t1)`` covers indices ``index(t0) .. index(t1)`` and adjacent ranges
  tile with no gap and no overlap;
- an editor's 29.97 is ``30000/1001`` (every ``n*1000/1001`` rate snaps);
- timecode counts frames at the media's own rate, drop-frame only at
  29.97 and 59.94.
"""
from __future__ import annotations

import re
from fractions import Fraction
from typing import Optional, Union

#: the engine's output rate: Foley clips are placed on this grid
SAMPLE_RATE = 48000

#: editors write n*1000/1001 as 23.976, 29.97, 47.952, 59.94, 95.904, 119.88
NTSC_BASES = (24, 30, 48, 60, 96, 120)
#: frame numbers skipped per minute (except every tenth) in drop-frame timecode
DROP_FRAMES = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}

RateLike = Union[Fraction, int, float, str]


class TimeError(ValueError):
    """A time, rate or timecode that cannot be read; the message is one line for the user."""


# ---------------------------------------------------------------- the bounded number grammar

#: digits allowed in each part of a number (integer part, decimals, numerator, denominator):
#: ``Fraction("1e-99999999")`` would build a 100-million-digit integer, so no text reaches
#: ``Fraction`` before it has matched this grammar
MAX_NUMBER_DIGITS = 18
#: characters of a number, timecode or clock time as text
MAX_TIME_TEXT = 64
#: the largest frame or sample rate accepted (768 kHz audio is the largest rate in use)
MAX_RATE = 10**6

# [0-9], not \d: \d also matches other scripts' digits ("١٢" would read as 12)
_NUMBER = re.compile(r"^([+-]?)(?:([0-9]{1,%d})(?:\.([0-9]{0,%d}))?|\.([0-9]{1,%d})|([0-9]{1,%d})/([0-9]{1,%d}))$"
                     % ((MAX_NUMBER_DIGITS,) * 5))
NUMBER_FORMS = "digits (12), a decimal (12.5) or a ratio (1001/30000)"


def parse_number(text: str, what: str = "number") -> Fraction:
    """An exact number from bounded text: digits, a decimal or a ratio, optionally signed.

    Each part has at most :data:`MAX_NUMBER_DIGITS` digits; exponents (``1e-4301``),
    ``inf``, ``nan`` and underscores are refused, so parsing and any arithmetic on
    the result take microseconds whatever the input.
    """
    if not isinstance(text, str):
        raise TimeError(f"{what}: not a number: {text!r}")
    stripped = text.strip()
    m = _NUMBER.match(stripped) if len(stripped) <= MAX_TIME_TEXT else None
    if not m:
        raise TimeError(f"{what}: not a number: {_shown(text)} (use {NUMBER_FORMS})")
    sign, whole, decimals, bare_decimals, num, den = m.groups()
    if num is not None:
        if int(den) == 0:
            raise TimeError(f"{what}: {_shown(text)} divides by zero")
        value = Fraction(int(num), int(den))
    else:
        digits = decimals if whole is not None else bare_decimals
        value = Fraction(int(whole or "0")) + (Fraction(int(digits), 10 ** len(digits)) if digits else 0)
    return -value if sign == "-" else value


def _shown(text) -> str:
    """A user's text for a message: quoted and cut short."""
    text = str(text)
    return repr(text if len(text) <= 40 else text[:40] + "...")


def exact_rate(rate: RateLike) -> Fraction:
    """An exact frame or sample rate from an editor's value.

    ``29.97``, ``"29.97"``, ``29.97002997`` and ``"30000/1001"`` all give
    ``Fraction(30000, 1001)``; ``25`` gives ``Fraction(25)``.  A float is read
    as the shortest decimal that reproduces it (what the user typed).
    """
    try:
        if isinstance(rate, bool):
            raise TypeError
        if isinstance(rate, float):
            value = parse_number(repr(rate))
        elif isinstance(rate, str):
            value = parse_number(rate)
        else:
            value = Fraction(rate)
    except (ValueError, ZeroDivisionError, TypeError, OverflowError):
        raise TimeError(f"not a frame rate: {_shown(rate)} (use e.g. 24, 25, 29.97 or 30000/1001)") from None
    if value <= 0:
        raise TimeError(f"frame rate must be positive, got {_shown(rate)}")
    if value > MAX_RATE:
        raise TimeError(f"frame rate {_shown(rate)} is above the limit of {MAX_RATE}")
    if value.denominator == 1:
        return value
    for base in NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(value - ntsc) < Fraction(1, 100):
            return ntsc
    return value.limit_denominator(1001)


def round_half_away(x: Fraction) -> int:
    """Round a rational to the nearest integer, halves away from zero (exactly)."""
    x = Fraction(x)
    if x >= 0:
        return int((x + Fraction(1, 2)) // 1)
    return -int((-x + Fraction(1, 2)) // 1)


def to_index(t: Fraction, rate) -> int:
    """The sample/frame index of time ``t`` at ``rate``: the one rounding rule."""
    return round_half_away(Fraction(t) * Fraction(rate))


def to_time(index: int, rate) -> Fraction:
    """The exact time of sample/frame ``index`` at ``rate``."""
    return Fraction(index) / Fraction(rate)


def range_to_indices(t0: Fraction, t1: Fraction, rate) -> tuple[int, int]:
    """``[t0, t1)`` as ``(first index, end index)``; end is exclusive."""
    return to_index(t0, rate), to_index(t1, rate)


def num_samples(t0: Fraction, t1: Fraction, rate) -> int:
    start, end = range_to_indices(t0, t1, rate)
    return end - start


def output_duration(start: Fraction, end: Fraction, speed: Fraction = Fraction(1)) -> Fraction:
    """How long the audio for media ``[start, end)`` played at ``speed`` (an editor retime) lasts."""
    return (Fraction(end) - Fraction(start)) / Fraction(speed)


def time_string(t: Fraction) -> str:
    """Wire form of an exact time: ``"12"`` or ``"1001/30000"``, never a float."""
    return str(Fraction(t))


# ---------------------------------------------------------------- timecode

_TIMECODE = re.compile(r"^([0-9]{1,3}):([0-9]{2}):([0-9]{2})([:;])([0-9]{1,3})$")


def timecode_base(rate: Fraction) -> int:
    """Frames counted per timecode second: the rate rounded (29.97 counts 30, 23.976 counts 24)."""
    return max(1, round_half_away(Fraction(rate)))


def drop_frame_count(rate: Fraction) -> int:
    """Frame numbers dropped per minute at ``rate``: 2 at 29.97, 4 at 59.94, else 0."""
    return DROP_FRAMES.get(Fraction(rate), 0)


def is_timecode(text: str) -> bool:
    return bool(_TIMECODE.match(text.strip()))


def timecode_to_frames(timecode: str, rate: Fraction, drop_frame: Optional[bool] = None) -> int:
    """Frames from ``HH:MM:SS:FF`` at the media's own ``rate``.

    ``;`` before the frames marks drop-frame and is refused at rates without
    it, unless ``drop_frame`` (a host's own setting, which overrides the
    separator) is given.  Drop-frame applies only at 29.97 and 59.94, whatever
    a stale setting says.
    """
    m = _TIMECODE.match(timecode.strip())
    if not m:
        raise TimeError(f"not a timecode: {timecode!r} (use HH:MM:SS:FF)")
    hours, minutes, secs, sep, frames = int(m[1]), int(m[2]), int(m[3]), m[4], int(m[5])
    base, drop = timecode_base(rate), drop_frame_count(rate)
    # Typed text: ';' at a rate without drop-frame would silently mean another frame than the user's.
    # A host that states its setting (drop_frame given) formats with ';' from a stale setting: accepted.
    if sep == ";" and not drop and drop_frame is None:
        raise TimeError(f"bad timecode {timecode!r}: ';' marks drop-frame timecode, which exists only at "
                        f"29.97 and 59.94 fps, not at {format_rate(rate)} (use ':')")
    if drop_frame is None:
        drop_frame = sep == ";"
    if minutes >= 60 or secs >= 60 or frames >= base:
        raise TimeError(f"bad timecode {timecode!r} at {format_rate(rate)} fps: "
                        f"minutes and seconds count to 59, frames to {base - 1}")
    total_minutes = hours * 60 + minutes
    count = (total_minutes * 60 + secs) * base + frames
    if drop_frame and drop:
        if secs == 0 and frames < drop and minutes % 10:
            raise TimeError(f"bad timecode {timecode!r}: drop-frame timecode skips frames 0-{drop - 1} "
                            f"at the start of minute {minutes}")
        count -= drop * (total_minutes - total_minutes // 10)
    return count


def frames_to_timecode(frames: int, rate: Fraction, drop_frame: Optional[bool] = None) -> str:
    """``HH:MM:SS:FF`` (``;`` before the frames when drop-frame) of a frame count at ``rate``."""
    if frames < 0:
        raise TimeError(f"timecode of a negative frame count ({frames})")
    base, drop = timecode_base(rate), drop_frame_count(rate)
    drop = drop if (drop_frame is None or drop_frame) else 0
    if drop:
        per_ten = base * 600 - drop * 9
        per_minute = base * 60 - drop
        tens, rest = divmod(frames, per_ten)
        frames += drop * 9 * tens + (drop * ((rest - drop) // per_minute) if rest >= drop else 0)
    secs, ff = divmod(frames, base)
    mins, ss = divmod(secs, 60)
    hh, mm = divmod(mins, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def format_rate(rate: Fraction) -> str:
    """``25``, ``29.97`` or ``23.976`` for messages (display only)."""
    rate = Fraction(rate)
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")
