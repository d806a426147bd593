"""Motion energy as sound: the per-frame analysis turned into curves, steps, whooshes, cloth.

Frame times are converted to absolute sample indices with
:func:`foley_engine.timebase.to_index`; curves are read at absolute
control points, so they do not depend on where a window starts.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...analysis import VisualEvents
from ...timebase import to_index
from .dsp import SR, ControlGrid, burst, pan_gains, seconds, shaped_noise
from .textures import read, scatter, texture

#: motion energy (mean absolute grey difference) below which nothing moves audibly
M_FLOOR = 0.003
#: motion of a fast, large movement (the analyser calls 0.04 a full-strength impact)
M_FULL = 0.05

STEP_MIN_MOTION = 0.0005  # a small figure in a wide shot moves little
STEP_DIP_RATIO = 0.8  # motion must dip this low within a period before the next step
STEP_MERGE = 0.2  # s: crests closer than this are one step
STEP_RHYTHM_WINDOW = 2.5  # s of motion history that must show a walking rhythm...
STEP_RHYTHM_PERIODS = (0.3, 1.2)  # ...a repeat every 0.3-1.2 s (running to strolling)...
STEP_RHYTHM_MIN = 0.45  # ...with at least this autocorrelation (white noise stays under ~0.3)

#: the fallback cadence: a step every this many seconds (~110 steps a minute)...
CADENCE_PERIOD = 0.55
#: ...while the mean motion over the last period is at least this (a figure walking in a wide shot)
CADENCE_MIN = 0.004
#: ...and uneven (standard deviation over mean at least this): a steady pan is not someone walking
CADENCE_UNEVEN = 0.15

WHOOSH_BANDS = (250.0, 500.0, 1000.0, 2000.0, 4000.0)

for _i, _c in enumerate(WHOOSH_BANDS):
    texture(f"whoosh_{_i}")(lambda rng, n, c=_c: shaped_noise(rng, n, c / 1.6, c * 1.6, 1.5, periodic=True))


@texture("cloth")
def _cloth(rng, n):
    crinkles = [burst(rng, seconds(0.006), 2000.0, 8000.0, rng.uniform(0.001, 0.003)) for _ in range(8)]
    return scatter(rng, n, 500.0, crinkles) + 0.4 * shaped_noise(rng, n, 800.0, 8000.0, periodic=True)


@lru_cache(maxsize=1 << 16)
def _sample_of(t) -> int:
    # Consecutive windows share the lookback frames; exact Fraction rounding is worth caching.
    return to_index(t, SR)


class MotionTrack:
    """Per-frame motion and horizontal position at absolute sample positions."""

    def __init__(self, events: VisualEvents):
        count = min(len(events.frame_times), len(events.motion), len(events.x))
        self.samples = np.array([_sample_of(t) for t in events.frame_times[:count]], dtype=np.int64)
        self.motion = np.asarray(events.motion[:count], dtype=np.float64)
        self.x = np.asarray(events.x[:count], dtype=np.float64)

    def __bool__(self) -> bool:
        return self.samples.size > 0

    def motion_at(self, positions: np.ndarray) -> np.ndarray:
        if not self:
            return np.zeros(positions.size)
        return np.interp(positions, self.samples, self.motion)

    def level_at(self, positions: np.ndarray) -> np.ndarray:
        """Motion mapped to 0..1 by fixed constants (a per-window normalisation would seam)."""
        return np.clip((self.motion_at(positions) - M_FLOOR) / (M_FULL - M_FLOOR), 0.0, 1.0)

    def x_at(self, positions: np.ndarray) -> np.ndarray:
        if not self:
            return np.zeros(positions.size)
        return np.interp(positions, self.samples, self.x)

    def step_frames(self) -> np.ndarray:
        """Frames where a walking rhythm puts a foot down: periodic peaks of motion energy.

        The motion before a candidate peak must repeat like a gait (period P
        between 0.3 and 1.2 s), so compression noise or a camera pan does not
        walk; the peak must be above the median of that history, top the
        previous 0.6 P and have risen from a dip within the previous P; of
        two such peaks within 0.2 s only the first counts.  Only frames from
        2.5 s before to one frame after decide, so every window that sees a
        frame makes the same choice.
        """
        m, s = self.motion, self.samples
        if m.size < 3:
            return np.zeros(0, np.int64)
        k = np.flatnonzero((m[1:-1] > m[:-2]) & (m[1:-1] >= m[2:]) & (m[1:-1] >= STEP_MIN_MOTION)) + 1
        history = seconds(STEP_RHYTHM_WINDOW)
        chosen: list[int] = []
        for i in k:
            h = int(np.searchsorted(s, s[i] - history, side="left"))
            period = self._gait_period(h, i)
            if period is None or m[i] < np.median(m[h: i + 1]):  # a step is a crest, not a ripple in a trough
                continue
            a, d = np.searchsorted(s, [s[i] - int(0.6 * period), s[i] - period], side="left")
            if m[i] >= m[a:i].max(initial=0.0) and m[d:i].min(initial=np.inf) <= STEP_DIP_RATIO * m[i]:
                chosen.append(i)
        # A flat crest can hold two maxima a frame or two apart: one foot, one step (the first).
        steps = np.asarray(chosen, np.int64)
        keep = np.ones(steps.size, bool)
        keep[1:] = np.diff(s[steps]) > seconds(STEP_MERGE)
        return steps[keep]

    def cadence_frames(self, rhythm: np.ndarray) -> np.ndarray:
        """Fallback steps where motion shows no walking rhythm: a steady cadence while
        something moves.

        A clock ticks every ``CADENCE_PERIOD`` of absolute time; a tick becomes a step at the
        first frame at or after it when the motion over the period before it is at least
        ``CADENCE_MIN`` and uneven (``CADENCE_UNEVEN``: not a steady pan) and no rhythm step fell within that period.  Only frames up to the
        step decide, so every window that sees it agrees.  Not where feet land: a cadence.
        """
        m, s = self.motion, self.samples
        if m.size < 2:
            return np.zeros(0, np.int64)
        period = seconds(CADENCE_PERIOD)
        ticks = np.arange(-(-int(s[0]) // period) + 1, int(s[-1]) // period + 1, dtype=np.int64) * period
        at = np.searchsorted(s, ticks, side="left")
        starts = np.searchsorted(s, ticks - period, side="left")
        busy = s[rhythm] if rhythm.size else np.zeros(0, np.int64)
        out = []
        for tick, k, a in zip(ticks, at, starts):
            if k >= m.size or k <= a or s[k] - tick > period // 2:
                continue
            level = float(m[a:k].mean())
            # A camera pan moves steadily; figures moving in the scene make the motion uneven.
            if level < CADENCE_MIN or float(m[a:k].std()) < CADENCE_UNEVEN * level:
                continue
            if busy.size and np.any((busy > tick - period) & (busy <= s[k])):
                continue
            out.append(int(k))
        return np.asarray(out, np.int64)

    def _gait_period(self, first: int, last: int):
        """The step period in samples if motion over frames first..last repeats like a gait, else None."""
        x = self.motion[first: last + 1]
        span = int(self.samples[last] - self.samples[first])
        if x.size < 8 or span < seconds(2 * STEP_RHYTHM_PERIODS[0]):
            return None
        frame = span / (x.size - 1)  # mean frame interval (VFR: close enough for a rhythm)
        # The rhythm is read from whether motion rises or falls, not how much: other
        # movement in the shot (an object lifted, a sudden fall) then cannot drown it.
        x = np.sign(np.diff(x))
        x -= x.mean()
        energy = float(np.dot(x, x))
        lo = max(1, int(seconds(STEP_RHYTHM_PERIODS[0]) / frame))
        hi = min(x.size - 2, int(np.ceil(seconds(STEP_RHYTHM_PERIODS[1]) / frame)))
        if energy <= 0 or lo > hi:
            return None
        ac = np.correlate(x, x, "full")[x.size - 1 + lo: x.size + hi] / energy
        best = int(np.argmax(ac))
        return (lo + best) * frame if ac[best] >= STEP_RHYTHM_MIN else None

    def strength(self, frame: int) -> float:
        """How hard a step at ``frame`` lands (0.5..1): more motion, heavier foot."""
        return float(0.5 + 0.5 * np.clip((self.motion[frame] - STEP_MIN_MOTION) / (M_FULL / 2), 0.0, 1.0))


def _panned(grid: ControlGrid, track: MotionTrack, mono: np.ndarray, gain: float) -> np.ndarray:
    """(2, n): a moving mono source, constant-power panned to the motion's x."""
    left, right = pan_gains(track.x_at(grid.positions))
    out = np.empty((2, grid.n), np.float32)
    np.multiply(mono, grid.upsample(left * gain), out=out[0])
    np.multiply(mono, grid.upsample(right * gain), out=out[1])
    return out


def whoosh(seed: int, grid: ControlGrid, track: MotionTrack) -> np.ndarray:
    """Band noise whose loudness and centre frequency rise with motion energy, panned with x."""
    level = track.level_at(grid.positions)
    if not np.any(level > 0):
        return np.zeros((2, grid.n))
    amp = level ** 1.5
    pos = (len(WHOOSH_BANDS) - 1) * level ** 0.7
    mono = np.zeros(grid.n, np.float32)
    for b in range(len(WHOOSH_BANDS)):
        near = np.abs(pos - b)
        weight = np.where(near < 1.0, np.cos(0.5 * np.pi * np.minimum(near, 1.0)), 0.0) * amp
        if np.any(weight > 0):
            mono += read(f"whoosh_{b}", seed, 0, grid.start, grid.n) * grid.upsample(weight)
    return _panned(grid, track, mono, 0.35)


def rustle(seed: int, grid: ControlGrid, track: MotionTrack) -> np.ndarray:
    """Cloth and handling noise that follows motion (gentler threshold, quieter than a whoosh)."""
    level = np.clip((track.motion_at(grid.positions) - M_FLOOR / 2) / (M_FULL * 0.6), 0.0, 1.0)
    if not np.any(level > 0):
        return np.zeros((2, grid.n))
    mono = read("cloth", seed, 0, grid.start, grid.n) * grid.upsample(level ** 1.2)
    return _panned(grid, track, mono, 0.12)
