"""What the analysis hands on: onsets, per-frame features, and a log that forgets the past."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Optional

import numpy as np


@dataclass(frozen=True)
class Onset:
    """A visual event that should sound at ``time`` (media seconds, a frame's PTS)."""

    time: Fraction
    kind: str  # "impact" | "start" | "flash" | "insert" | "cut" | "footstep" (see docs/events.md)
    strength: float  # 0..1
    x: float  # -1 (left) .. +1 (right)
    y: float = 0.0  # -1 (top) .. +1 (bottom)
    tag: str = ""  # e.g. "left"/"right" foot, "hand"


@dataclass
class VisualEvents:
    """Per-frame features and events over a span of media time.

    ``cuts`` are shot boundaries (hard cuts, and the middle of gradual
    transitions): a change of picture, never an impact.  ``repeats`` are
    frames that showed no new picture (frame-rate conversion, pulldown,
    freeze frames); their motion is held from the last new frame.
    """

    frame_times: list[Fraction] = field(default_factory=list)
    motion: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    brightness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    x: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    onsets: list[Onset] = field(default_factory=list)
    cuts: list[Fraction] = field(default_factory=list)
    repeats: list[Fraction] = field(default_factory=list)

    def slice(self, t0: Fraction, t1: Fraction) -> "VisualEvents":
        """Frames and events with ``t0 <= time < t1``."""
        i0 = bisect.bisect_left(self.frame_times, t0)
        i1 = bisect.bisect_left(self.frame_times, t1)
        return VisualEvents(
            frame_times=self.frame_times[i0:i1],
            motion=self.motion[i0:i1],
            brightness=self.brightness[i0:i1],
            x=self.x[i0:i1],
            onsets=[o for o in self.onsets if t0 <= o.time < t1],
            cuts=[c for c in self.cuts if t0 <= c < t1],
            repeats=[r for r in self.repeats if t0 <= r < t1],
        )


@dataclass(frozen=True)
class FrameFeatures:
    pts: Fraction
    motion: float
    brightness: float
    x: float
    cut: bool = False
    onsets: tuple[Onset, ...] = ()
    repeat: bool = False


class EventLog:
    """Accumulates :class:`FrameFeatures` and forgets everything before a time (O(window) memory)."""

    def __init__(self):
        self.events = VisualEvents()
        self._times: list[Fraction] = []
        self._motion: list[float] = []
        self._brightness: list[float] = []
        self._x: list[float] = []

    def add(self, features: Iterable[FrameFeatures]) -> None:
        for f in features:
            self._times.append(f.pts)
            self._motion.append(f.motion)
            self._brightness.append(f.brightness)
            self._x.append(f.x)
            if f.cut:
                self.events.cuts.append(f.pts)
            if f.repeat:
                self.events.repeats.append(f.pts)
            self.events.onsets.extend(o for o in f.onsets if o.kind != "cut")

    @property
    def analysed_until(self) -> Optional[Fraction]:
        return self._times[-1] if self._times else None

    def view(self, t0: Fraction, t1: Fraction) -> VisualEvents:
        ev = VisualEvents(
            frame_times=list(self._times),
            motion=np.asarray(self._motion, np.float32),
            brightness=np.asarray(self._brightness, np.float32),
            x=np.asarray(self._x, np.float32),
            onsets=list(self.events.onsets),
            cuts=list(self.events.cuts),
            repeats=list(self.events.repeats),
        )
        return ev.slice(t0, t1)

    def cuts_between(self, t0: Fraction, t1: Fraction) -> list[Fraction]:
        return [c for c in self.events.cuts if t0 <= c < t1]

    def forget_before(self, t: Fraction) -> None:
        i = bisect.bisect_left(self._times, t)
        if i:
            del self._times[:i], self._motion[:i], self._brightness[:i], self._x[:i]
        self.events.onsets = [o for o in self.events.onsets if o.time >= t]
        self.events.cuts = [c for c in self.events.cuts if c >= t]
        self.events.repeats = [r for r in self.events.repeats if r >= t]


def first_arrival(before: int, at: int, arrived: Callable[[int], bool]) -> int:
    """The first frame in ``(before, at]`` from which something (a foot, a hand) stays where it
    stands at ``at``, by bisection: ``arrived(at)`` holds and ``arrived(before)`` is taken as
    false (it was still moving there); in between, it moves until it lands, then stays."""
    a, b = before, at
    while b - a > 1:
        mid = (a + b) // 2
        if arrived(mid):
            b = mid
        else:
            a = mid
    return b
