"""The streaming analyser: grey frames in, :class:`FrameFeatures` out, a little later.

Per frame: motion energy (mean absolute change from the last *new* picture),
brightness, and the horizontal centre of the motion (-1 left .. +1 right,
used for stereo pan).  Events: shot cuts (:mod:`.shots`), impacts (motion
that stops suddenly), motion starts, and flashes.

Frames that repeat the last picture (:mod:`.cadence`) are skipped by the
decisions and keep the motion of the picture they repeat, so frame-rate
conversion, pulldown and freeze frames neither stop the motion nor make an
impact.  A picture is decided once :data:`LOOKAHEAD` newer pictures are
known (a cut is judged against the pictures either side of it, a dissolve
by its end), so the analyser runs about half a second behind the decoder.
With ``motion="flow"`` what sounds (motion, impacts, starts, pan) comes from
camera-compensated optical flow (:mod:`.flow`) instead of differences.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Optional

import numpy as np

from . import cadence, shots
from .events import EventLog, FrameFeatures, Onset, VisualEvents

FLASH_BRIGHTNESS_JUMP = 0.2
IMPACT_MIN_MOTION = 0.004
IMPACT_DROP_RATIO = 0.35
START_RISE_RATIO = 3.0
#: new pictures a decision waits for: the cut context and the longest dissolve half-span
LOOKAHEAD = max(shots.CUT_CONTEXT, max(shots.GRADUAL_HALF_SPANS))


@lru_cache(maxsize=4)
def _column_positions(width: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, width, dtype=np.float32)


@dataclass
class _Picture:
    """A new picture, waiting for its decision with the repeats that followed it."""

    pts: Fraction
    gray: np.ndarray
    change: float  # from the previous new picture
    brightness: float
    x: float
    u8: Optional[np.ndarray] = None  # the grey frame as decoded (for optical flow)
    motion: float = -1.0  # what sounds: the change, or camera-compensated flow (-1: same as change)
    repeats: list[tuple[Fraction, np.ndarray, np.ndarray]] = field(default_factory=list)  # (pts, grey, u8)
    confirmed: bool = False  # its repeats are confirmed: no new picture, not a stop
    gradual: bool = False  # the middle of a dissolve or fade

    def __post_init__(self):
        if self.motion < 0:
            self.motion = self.change


def _picture(pts: Fraction, g: np.ndarray, ref: Optional[_Picture], u8: np.ndarray, flow=None) -> _Picture:
    """``g`` as a new picture following ``ref`` (change, and the centre of the change)."""
    if ref is None:
        return _Picture(pts, g, 0.0, float(g.mean()), 0.0, u8)
    columns = np.abs(g - ref.gray).sum(axis=0)
    total = float(columns.sum())
    # Centre of the motion, -1 (left) .. +1 (right): weights per column.
    x = float(columns @ _column_positions(columns.size)) / total if total > 1e-6 else 0.0
    if flow is None:
        return _Picture(pts, g, total / g.size, float(g.mean()), x, u8)
    motion, x, _ = flow.measure(ref.u8, u8)
    return _Picture(pts, g, total / g.size, float(g.mean()), x, u8, motion)


class Analyzer:
    """Feed grey uint8 frames in presentation order; get :class:`FrameFeatures` in order, later."""

    def __init__(self, history: int = 15, motion: str = "diff"):
        if motion not in ("diff", "flow"):
            raise ValueError(f"motion must be 'diff' or 'flow', not {motion!r}")
        # Optional dense flow for what sounds (flow.py); cuts and cadence stay on differences.
        self._flow = None
        if motion == "flow":
            from .flow import FlowMotion

            self._flow = FlowMotion()
        self._pending: deque[_Picture] = deque()
        self._last: Optional[_Picture] = None  # the latest new picture
        self._decided: Optional[_Picture] = None  # the latest decided (non-flash) picture
        self._recent_motion: deque[float] = deque(maxlen=history)
        self._recent_changes: deque[float] = deque(maxlen=shots.CUT_CONTEXT)  # of decided non-cuts
        self._window: deque[_Picture] = deque(maxlen=2 * max(shots.GRADUAL_HALF_SPANS) + 1)
        self._after_flash = False
        self._hold_limit = Fraction(cadence.HOLD_LIMIT_SECONDS)

    def push(self, pts: Fraction, gray: np.ndarray) -> list[FrameFeatures]:
        u8 = np.asarray(gray, np.uint8)
        g = u8.astype(np.float32) * (1.0 / 255.0)
        last = self._last
        if last is not None and not last.confirmed:
            change = shots.change(g, last.gray)
            if cadence.looks_repeated(change, last.change):
                last.repeats.append((pts, g, u8))
                if pts - last.pts > self._hold_limit:
                    self._unroll(last)  # held too long: the picture has stopped
                return self._ready()
            picture = _picture(pts, g, last, u8, self._flow)
            if last.repeats:
                if cadence.motion_resumed(len(last.repeats), last.change, picture.change):
                    last.confirmed = True
                else:
                    self._unroll(last)
                    picture = _picture(pts, g, self._last, u8, self._flow)
            self._add(picture)
        else:
            self._add(_picture(pts, g, last, u8, self._flow))
        return self._ready()

    def flush(self) -> list[FrameFeatures]:
        if self._last is not None and self._last.repeats and not self._last.confirmed:
            self._unroll(self._last)  # whether motion resumes is unknown: plain frames
        out = []
        while self._pending:
            out.extend(self._decide())
        return out

    # ---------------------------------------------------------------- internals

    def _add(self, picture: _Picture) -> None:
        self._last = picture
        self._pending.append(picture)
        self._window.append(picture)
        frames = [p.gray for p in self._window]
        middle = None if any(p.gradual for p in self._window) else shots.gradual_middle(
            frames, [p.change for p in self._window])
        if middle is not None:
            self._window[middle].gradual = True

    def _unroll(self, owner: _Picture) -> None:
        """The frames after ``owner`` were not repeats after all (the motion stopped):
        they become new pictures, each following the one before."""
        run, owner.repeats = owner.repeats, []
        for pts, g, u8 in run:
            self._add(_picture(pts, g, self._last, u8, self._flow))

    def _ready(self) -> list[FrameFeatures]:
        out = []
        while len(self._pending) > LOOKAHEAD:
            out.extend(self._decide())
        return out

    def _decide(self) -> list[FrameFeatures]:
        cur = self._pending.popleft()
        ahead = list(self._pending)
        nxt = ahead[0] if ahead else None
        prev = self._decided
        onsets: list[Onset] = []
        cut = flash = False
        after_flash, self._after_flash = self._after_flash, False
        score = cur.change
        if prev is not None and after_flash:
            # A flash frame is no reference: compare with the picture before it.
            score = shots.change(cur.gray, prev.gray)
        if prev is not None and not after_flash:
            jump = cur.brightness - prev.brightness
            if jump > FLASH_BRIGHTNESS_JUMP and shots.is_flash(prev.gray, cur.gray, nxt.gray if nxt else None, score):
                flash = True
                onsets.append(Onset(cur.pts, "flash", min(1.0, jump * 2.0), cur.x))
            elif cur.gradual or shots.is_hard_cut(
                score, list(self._recent_changes), [p.change for p in ahead[: shots.CUT_CONTEXT]]
            ) and not shots.is_flash(prev.gray, cur.gray, nxt.gray if nxt else None, score):
                cut = True
                onsets.append(Onset(cur.pts, "cut", 1.0, 0.0))
        baseline = float(np.median(self._recent_motion)) if self._recent_motion else 0.0
        next_cut = nxt is not None and (nxt.gradual or nxt.change >= shots.CUT_MIN_CHANGE and shots.is_hard_cut(
            nxt.change, list(self._recent_changes)[1:] + [score], [p.change for p in ahead[1: 1 + shots.CUT_CONTEXT]]))
        if not (cut or flash or after_flash) and prev is not None:
            m = score if self._flow is None else cur.motion
            after = nxt.motion if nxt is not None else None
            # Impact: clear motion into this picture, (almost) none into the next new one.
            # The picture before a cut is never one: the shot just ended.
            if after is not None and not next_cut and m > IMPACT_MIN_MOTION and after < IMPACT_DROP_RATIO * m \
                    and m > 1.5 * baseline:
                onsets.append(Onset(cur.pts, "impact", min(1.0, m * 25.0), cur.x))
            # Start: still until this picture, moving from the next new one on.
            elif nxt is not None and not next_cut and nxt.motion > IMPACT_MIN_MOTION \
                    and nxt.motion > START_RISE_RATIO * max(m, 1e-4):
                onsets.append(Onset(nxt.pts, "start", min(1.0, nxt.motion * 15.0), nxt.x))
        self._after_flash = flash
        quiet = cut or flash or after_flash
        motion = 0.0 if quiet else (score if self._flow is None else cur.motion)
        self._recent_motion.append(motion)
        if not cut:
            self._recent_changes.append(score)
        if not flash:
            self._decided = cur
        out = [FrameFeatures(cur.pts, motion, cur.brightness, cur.x, cut, tuple(onsets))]
        # Repeats show no new picture: they keep its motion.
        out.extend(FrameFeatures(t, motion, float(g.mean()), cur.x, repeat=True) for t, g, _ in cur.repeats)
        return out


def analyse_frames(frames: Iterable[tuple[Fraction, np.ndarray]], motion: str = "diff") -> VisualEvents:
    """Analyse a whole sequence of ``(pts, grey frame)`` at once (tests, short clips)."""
    analyzer, log = Analyzer(motion=motion), EventLog()
    for pts, gray in frames:
        log.add(analyzer.push(pts, gray))
    log.add(analyzer.flush())
    if log.analysed_until is None:
        return VisualEvents()
    return log.view(log._times[0], log.analysed_until + 1)
