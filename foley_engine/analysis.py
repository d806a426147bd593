"""Visual analysis on small grey frames, streaming, each result tied to a frame's exact PTS.

Per frame: motion energy (mean absolute difference to the previous frame),
brightness, and the horizontal centre of the motion (-1 left .. +1 right,
used for stereo pan).  Events: shot cuts, impacts (motion that stops
suddenly), motion starts, and flashes.  Decisions about frame N need frame
N+1 (a flash is a cut that comes back), so the analyser runs one frame
behind the decoder.
"""
from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from fractions import Fraction
from typing import Iterable, Optional

import numpy as np

# Thresholds on grey values in [0, 1]; chosen on the synthetic and real clips in tests.
CUT_HIST_DISTANCE = 0.5  # half the histogram mass moved
CUT_MOTION_RATIO = 4.0  # and far more change than the recent motion
FLASH_BRIGHTNESS_JUMP = 0.2
IMPACT_MIN_MOTION = 0.004
IMPACT_DROP_RATIO = 0.35
START_RISE_RATIO = 3.0
HIST_BINS = 16


@dataclass(frozen=True)
class Onset:
    """A visual event that should sound at ``time`` (media seconds, a frame's PTS)."""

    time: Fraction
    kind: str  # "impact" | "start" | "flash" | "cut"
    strength: float  # 0..1
    x: float  # -1 (left) .. +1 (right)


@dataclass
class VisualEvents:
    """Per-frame features and events over a span of media time."""

    frame_times: list[Fraction] = field(default_factory=list)
    motion: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    brightness: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    x: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    onsets: list[Onset] = field(default_factory=list)
    cuts: list[Fraction] = field(default_factory=list)

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
        )


@dataclass(frozen=True)
class FrameFeatures:
    pts: Fraction
    motion: float
    brightness: float
    x: float
    cut: bool = False
    onsets: tuple[Onset, ...] = ()


@lru_cache(maxsize=4)
def _column_positions(width: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, width, dtype=np.float32)


def _histogram(gray: np.ndarray) -> np.ndarray:
    hist = np.bincount((gray.ravel() >> 4).astype(np.intp), minlength=HIST_BINS).astype(np.float32)
    return hist / max(1.0, float(hist.sum()))


def _hist_distance(a: "_Raw", b: "_Raw") -> float:
    """Share of the histogram mass that moved between two frames (0..1)."""
    return 0.5 * float(np.abs(a.hist - b.hist).sum())


class _Raw:
    __slots__ = ("pts", "motion", "brightness", "x", "hist", "gray")

    def __init__(self, pts, motion, brightness, x, hist, gray):
        self.pts, self.motion, self.brightness, self.x, self.hist, self.gray = pts, motion, brightness, x, hist, gray


class Analyzer:
    """Feed grey uint8 frames in presentation order; get :class:`FrameFeatures` one frame later."""

    def __init__(self, history: int = 15):
        self._prev: Optional[_Raw] = None
        self._pending: deque[_Raw] = deque()
        self._recent_motion: deque[float] = deque(maxlen=history)
        self._last_emitted: Optional[_Raw] = None
        self._after_flash = False

    def push(self, pts: Fraction, gray: np.ndarray) -> list[FrameFeatures]:
        g = gray.astype(np.float32) * (1.0 / 255.0)
        if self._prev is None:
            motion, x = 0.0, 0.0
        else:
            columns = np.abs(g - self._prev.gray).sum(axis=0)
            total = float(columns.sum())
            motion = total / g.size
            # Centre of the motion, -1 (left) .. +1 (right): weights per column.
            x = float(columns @ _column_positions(columns.size)) / total if total > 1e-6 else 0.0
        raw = _Raw(pts, motion, float(g.mean()), x, _histogram(gray), g)
        self._prev = raw
        self._pending.append(raw)
        out = []
        # Frame N is decided once N+1 is known.
        while len(self._pending) >= 2:
            out.append(self._decide(self._pending[0], self._pending[1]))
            self._pending.popleft()
        return out

    def flush(self) -> list[FrameFeatures]:
        out = [self._decide(raw, None) for raw in self._pending]
        self._pending.clear()
        return out

    def _decide(self, cur: _Raw, nxt: Optional[_Raw]) -> FrameFeatures:
        prev = self._last_emitted
        baseline = float(np.median(self._recent_motion)) if self._recent_motion else 0.0
        onsets: list[Onset] = []
        cut = False
        if prev is not None:
            hist_distance = _hist_distance(cur, prev)
            brightness_jump = cur.brightness - prev.brightness
            returns = nxt is not None and _hist_distance(nxt, prev) < 0.5 * hist_distance
            if brightness_jump > FLASH_BRIGHTNESS_JUMP and returns:
                onsets.append(Onset(cur.pts, "flash", min(1.0, brightness_jump * 2.0), cur.x))
            elif (
                hist_distance > CUT_HIST_DISTANCE
                and cur.motion > CUT_MOTION_RATIO * max(baseline, IMPACT_MIN_MOTION)
                and not returns
            ):
                cut = True
                onsets.append(Onset(cur.pts, "cut", 1.0, 0.0))
        if not cut and not onsets and not self._after_flash and nxt is not None and prev is not None:
            m = cur.motion
            # Impact: clear motion into this frame, (almost) none after it.
            if m > IMPACT_MIN_MOTION and nxt.motion < IMPACT_DROP_RATIO * m and m > 1.5 * baseline:
                onsets.append(Onset(cur.pts, "impact", min(1.0, m * 25.0), cur.x))
            # Start: still until this frame, moving right after it.
            elif (
                nxt.motion > IMPACT_MIN_MOTION
                and nxt.motion > START_RISE_RATIO * max(m, 1e-4)
                and _hist_distance(nxt, cur) <= CUT_HIST_DISTANCE
            ):
                onsets.append(Onset(nxt.pts, "start", min(1.0, nxt.motion * 15.0), nxt.x))
        flash = any(o.kind == "flash" for o in onsets)
        after_flash = self._after_flash
        # A flash frame is no reference for the next one: compare the frame
        # after it with the frame before it, or the return looks like a cut.
        self._after_flash = flash
        quiet = cut or flash or after_flash
        self._recent_motion.append(0.0 if quiet else cur.motion)
        if not flash:
            self._last_emitted = cur
        return FrameFeatures(cur.pts, 0.0 if quiet else cur.motion, cur.brightness, cur.x, cut, tuple(onsets))



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


def analyse_frames(frames: Iterable[tuple[Fraction, np.ndarray]]) -> VisualEvents:
    """Analyse a whole sequence of ``(pts, grey frame)`` at once (tests, short clips)."""
    analyzer, log = Analyzer(), EventLog()
    for pts, gray in frames:
        log.add(analyzer.push(pts, gray))
    log.add(analyzer.flush())
    if not log._times:
        return VisualEvents()
    return log.view(log._times[0], log._times[-1] + 1)
