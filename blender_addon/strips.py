"""Strip <-> job time math, exact, in pure functions (no bpy import).

Blender keeps strip positions as floats and rates as ``fps / fps_base``
(``fps_base`` is a float32, 1.001 for NTSC).  Everything here turns those
into exact Fractions first and never accumulates floats.  A movie strip
shows movie time ``(F - frame_start) / scene_rate + anim_start / movie_rate``
at scene frame ``F`` when Blender adjusts its playback rate to the scene (the
default when a movie is added from the UI); that is the range we send to the
engine, so the Foley plays in real time exactly under the picture.  A strip
added by a script without that adjustment shows one movie frame per scene
frame, ``(F - frame_start + anim_start) / movie_rate``: its picture plays at
``scene_rate / movie_rate`` speed (a 25 fps movie in a 24 fps scene at 96 %),
and the engine is asked for Foley at that speed, so it follows what the
viewer sees.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Iterable, Optional

from .host import timebase

# The one set of timing rules (plugin_host.timebase), under the names this add-on uses.
SAMPLE_RATE = timebase.SAMPLE_RATE
round_half_away = timebase.round_half_away
to_index = timebase.to_index
time_string = timebase.time_string
exact_rate = timebase.exact_rate

#: channels a sequencer has (Blender's MAXSEQ)
MAX_CHANNEL = 128


class StripError(Exception):
    """A strip that cannot be turned into a job; the message is a one-line user report."""


def scene_rate(fps: int, fps_base: float) -> Fraction:
    """``scene.render.fps / scene.render.fps_base`` exactly (30 / 1.001f -> 30000/1001)."""
    base = Fraction(fps_base)
    if base.denominator != 1:
        base = base.limit_denominator(10000)  # float32 1.001 is 1.00100004673; the user typed 1.001
    return exact_rate(Fraction(int(fps)) / base)


@dataclass(frozen=True)
class StripTiming:
    """What Blender knows about one movie strip's timing, as plain values."""

    name: str
    frame_start: Fraction   # timeline frame of the content's first frame
    final_start: int        # first visible timeline frame
    final_end: int          # one past the last visible timeline frame
    frame_duration: int     # content length in timeline frames (before handles)
    anim_start: int         # movie frames cut from the head of the file
    anim_end: int           # movie frames cut from the tail
    movie_rate: Fraction
    scene_rate: Fraction
    movie_frames: Optional[int] = None  # frames in the file, to tell Blender's two playback modes apart
    reversed: bool = False
    retimed: bool = False


def check_playback(t: StripTiming) -> None:
    """Refuse strips whose picture does not play at one steady speed (their sound could not follow)."""
    playback_speed(t)


def playback_speed(t: StripTiming) -> Fraction:
    """Media seconds shown per second of the scene: 1 when Blender adjusts the playback rate, else
    ``scene_rate / movie_rate`` (one movie frame per scene frame)."""
    if t.retimed:
        raise StripError(f"{t.name}: the strip is retimed (speed keys); Foley follows a steady speed only, "
                         "remove the retiming to generate")
    if t.reversed:
        raise StripError(f"{t.name}: the strip plays its frames in reverse; Foley follows forward playback only")
    ratio = t.movie_rate / t.scene_rate
    if ratio == 1 or t.movie_frames is None:
        return Fraction(1)
    content = t.movie_frames - t.anim_start - t.anim_end
    # Blender truncates the adjusted length to whole frames (in float32), so allow one frame.
    adjusted = Fraction(content) / ratio
    if abs(t.frame_duration - adjusted) <= 1:
        return Fraction(1)
    if t.frame_duration == content:
        return t.scene_rate / t.movie_rate
    raise StripError(f"{t.name}: the strip's length ({t.frame_duration} frames) does not match its movie "
                     f"({content} frames at {_rate_text(t.movie_rate)} fps); reload the strip")


def _rate_text(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3f}".rstrip("0")


def visible_media_range(t: StripTiming) -> tuple[Fraction, Fraction]:
    """The movie-time range ``[t0, t1)`` (seconds from the first frame) the strip shows.

    At speed ``s`` (:func:`playback_speed`) it lasts ``(t1 - t0) / s`` on the timeline.
    """
    speed = playback_speed(t)
    if t.final_end <= t.final_start:
        raise StripError(f"{t.name}: the strip shows no frames")
    offset = Fraction(t.anim_start) / t.movie_rate
    per_frame = speed / t.scene_rate  # media seconds per timeline frame
    t0 = (Fraction(t.final_start) - t.frame_start) * per_frame + offset
    t1 = (Fraction(t.final_end) - t.frame_start) * per_frame + offset
    if t0 < offset:
        raise StripError(f"{t.name}: the strip starts before its movie (hold frames); trim it to the movie")
    return t0, t1


def expected_samples(t0: Fraction, t1: Fraction, rate: int = SAMPLE_RATE) -> tuple[int, int]:
    """``(start_sample, num_samples)`` the engine writes for ``[t0, t1)`` (the one rounding rule)."""
    first = to_index(t0, rate)
    return first, to_index(t1, rate) - first


def record_frames(frames: int, rate: Fraction) -> Fraction:
    """Seconds of ``frames`` timeline frames at ``rate``."""
    return Fraction(frames) / rate


def overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def free_channel(occupied: Iterable[tuple[int, int, int]], first: int, start: int, end: int) -> int:
    """The lowest channel >= ``first`` with nothing in ``[start, end)``.

    ``occupied`` holds ``(channel, frame_start, frame_end)`` of the strips to avoid.
    """
    busy = {}
    for channel, s0, s1 in occupied:
        busy.setdefault(channel, []).append((s0, s1))
    for channel in range(max(1, first), MAX_CHANNEL + 1):
        if not any(overlaps(start, end, s0, s1) for s0, s1 in busy.get(channel, ())):
            return channel
    raise StripError(f"no free channel at or above {first} for frames {start}-{end}")
