"""The streaming analyser: grey frames in, :class:`FrameFeatures` out, a little later.

Per frame: motion energy (mean absolute change from the last *new* picture),
brightness, and the centre of the motion (x: -1 left .. +1 right, used for
stereo pan; y: -1 top .. +1 bottom).  Events: shot cuts (:mod:`.shots`);
impacts, i.e. hits: a region that moved and stops, camera motion removed
(:mod:`.regions`); motion starts; and brief inserts, a change that comes back
within a few frames: ``flash`` when the picture got brighter, ``insert``
otherwise (something slamming into view, an object crossing the lens) -- one
event at its first frame, never two cuts.

Frames that repeat the last picture (:mod:`.cadence`) are skipped by the
decisions and keep the motion of the picture they repeat, so frame-rate
conversion, pulldown and freeze frames neither stop the motion nor make an
impact.  A picture is decided once :data:`LOOKAHEAD` newer pictures are
known (a cut is judged against the pictures either side of it, a dissolve
by its end), so the analyser runs about half a second behind the decoder.
With ``motion="flow"`` what sounds continuously (motion, starts, pan) comes
from camera-compensated optical flow (:mod:`.flow`) instead of differences.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Optional

import numpy as np

from . import cadence, regions, shots
from .events import EventLog, FrameFeatures, Onset, VisualEvents

#: a brief insert is a flash when this share of its change is the picture getting brighter
FLASH_BRIGHTNESS_SHARE = 0.6
#: whole-picture change below which nothing moves (no camera shift is looked for, no start)
IMPACT_MIN_MOTION = 0.004
START_RISE_RATIO = 3.0
#: a picture changing less than this has no region moving as much as a hit (a region is 1/16 of it)
REGION_MIN_CHANGE = regions.HIT_MIN_MOTION / 16
#: new pictures a decision waits for: the cut context and the longest dissolve half-span
LOOKAHEAD = max(shots.CUT_CONTEXT, max(shots.GRADUAL_HALF_SPANS))


def _mean(a: np.ndarray) -> float:
    """``a.mean()`` to the bit (the same pairwise sum and division) without its Python-level
    overhead; it runs for every frame.  (shots.change does the same for a difference.)"""
    total = np.add.reduce(a, axis=None)
    return float(total.dtype.type(total / np.intp(a.size)))


@lru_cache(maxsize=4)
def _positions(size: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, size, dtype=np.float32)


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
    y: float = 0.0  # vertical centre of the change, -1 (top) .. +1 (bottom)
    regions: Optional[np.ndarray] = None  # motion per region, camera removed (regions.py)
    repeats: list[tuple[Fraction, np.ndarray, np.ndarray]] = field(default_factory=list)  # (pts, grey, u8)
    confirmed: bool = False  # its repeats are confirmed: no new picture, not a stop
    gradual: bool = False  # the middle of a dissolve or fade
    spread: float = 1.0  # how much of the picture the change covers (shots.spread; measured if it could be a cut)

    def __post_init__(self):
        if self.motion < 0:
            self.motion = self.change


def _picture(pts: Fraction, g: np.ndarray, ref: Optional[_Picture], u8: np.ndarray, flow=None) -> _Picture:
    """``g`` as a new picture following ``ref`` (change, its centre, and its regions)."""
    if ref is None:
        return _Picture(pts, g, 0.0, _mean(g), 0.0, u8)
    diff = np.abs(g - ref.gray)
    columns = diff.sum(axis=0)
    total = float(columns.sum())
    change = total / g.size
    # Centre of the change, -1 .. +1: weights per column and per row.
    x = y = 0.0
    if total > 1e-6:
        x = float(columns @ _positions(columns.size)) / total
        y = float(diff.sum(axis=1) @ _positions(g.shape[0])) / total
    # Regions only where something moves: below REGION_MIN_CHANGE no region can reach a hit
    # or an insert; the camera only when the picture moves.  (None: the first picture, unknown.)
    blocks = regions.STILL
    if change >= REGION_MIN_CHANGE:
        shift = regions.camera_shift(g, ref.gray) if change >= IMPACT_MIN_MOTION else (0, 0)
        blocks = regions.regions(regions.block_change(g, ref.gray, shift, diff))
    motion = -1.0
    if flow is not None:
        motion, x, _ = flow.measure(ref.u8, u8)
    # Only a change this large can be a cut; only then is its spread worth measuring.
    spread = shots.spread(diff) if change >= shots.CUT_MIN_CHANGE else 1.0
    return _Picture(pts, g, change, _mean(g), x, u8, motion, y, blocks, spread=spread)


class Analyzer:
    """Feed grey uint8 frames in presentation order; get :class:`FrameFeatures` in order, later."""

    def __init__(self, motion: str = "diff"):
        if motion not in ("diff", "flow"):
            raise ValueError(f"motion must be 'diff' or 'flow', not {motion!r}")
        # Optional dense flow for what sounds (flow.py); cuts and cadence stay on differences.
        self._flow = None
        if motion == "flow":
            from .flow import FlowMotion

            self._flow = FlowMotion()
        self._pending: deque[_Picture] = deque()
        self._last: Optional[_Picture] = None  # the latest new picture
        self._decided: Optional[_Picture] = None  # the latest decided picture outside an insert
        self._recent_changes: deque[float] = deque(maxlen=shots.CUT_CONTEXT)  # of decided non-cuts
        self._window: deque[_Picture] = deque(maxlen=2 * max(shots.GRADUAL_HALF_SPANS) + 1)
        self._region_level: Optional[np.ndarray] = None  # each region's usual motion in this shot
        self._insert_end: Optional[Fraction] = None  # PTS of the picture that ends a brief insert
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
        cut = inside = False
        score = cur.change
        if self._insert_end is not None:
            # Inside a brief insert, or the picture that returns from it: no cut, no onset,
            # and the return is measured against the picture before the insert.
            inside = True
            if cur.pts >= self._insert_end:
                self._insert_end = None
                score = shots.change(cur.gray, prev.gray)
        elif prev is not None:
            insert = self._brief_insert(prev, cur, ahead, score)
            if insert is not None:
                back, strength, x, y, brighter = insert
                self._insert_end = ahead[back].pts
                inside = True
                onsets.append(Onset(cur.pts, "flash" if brighter else "insert", strength, x, y))
            elif cur.gradual or shots.is_hard_cut(
                    score, list(self._recent_changes), [p.change for p in ahead[: shots.CUT_CONTEXT]], cur.spread):
                cut = True
                onsets.append(Onset(cur.pts, "cut", 1.0, 0.0))
        next_cut = nxt is not None and (nxt.gradual or nxt.change >= shots.CUT_MIN_CHANGE and shots.is_hard_cut(
            nxt.change, list(self._recent_changes)[1:] + [score], [p.change for p in ahead[1: 1 + shots.CUT_CONTEXT]],
            nxt.spread))
        quiet = cut or inside
        if not quiet and prev is not None:
            # Hit: a region that moved into this picture stops in the next one.  The picture
            # before a cut is never one (the shot just ended), nor one next to an insert.
            if cur.regions is not None and nxt is not None and not next_cut:
                hit = regions.find_hit(prev.regions, cur.regions, [p.regions for p in ahead[: regions.HIT_REST]],
                                       self._region_level)
                if hit is not None:
                    onsets.append(Onset(cur.pts, "impact", hit[0], hit[1], hit[2]))
            m = score if self._flow is None else cur.motion
            # Start: still until this picture, moving from the next new one on.
            if not any(o.kind == "impact" for o in onsets) and nxt is not None and not next_cut \
                    and nxt.motion > IMPACT_MIN_MOTION and nxt.motion > START_RISE_RATIO * max(m, 1e-4):
                onsets.append(Onset(nxt.pts, "start", min(1.0, nxt.motion * 15.0), nxt.x, nxt.y))
        motion = 0.0 if quiet else (score if self._flow is None else cur.motion)
        if cut:
            self._region_level = None  # a new shot: its regions' usual motion is not known yet
        elif not quiet and cur.regions is not None:
            level = self._region_level
            self._region_level = cur.regions.copy() if level is None else \
                level + regions.LEVEL_RATE * (cur.regions - level)
        elif not quiet and self._region_level is not None:
            self._region_level = self._region_level * (1.0 - regions.LEVEL_RATE)
        if not quiet:
            self._recent_changes.append(score)
        if not inside or self._insert_end is None:
            self._decided = cur
        out = [FrameFeatures(cur.pts, motion, cur.brightness, cur.x, cut, tuple(onsets))]
        # Repeats show no new picture: they keep its motion.
        out.extend(FrameFeatures(t, motion, _mean(g), cur.x, repeat=True) for t, g, _ in cur.repeats)
        return out


    def _brief_insert(self, prev: _Picture, cur: _Picture, ahead: list[_Picture], score: float):
        """(index of the returning picture in ``ahead``, strength, x, y, brighter) if ``cur``
        starts a change that comes back within a few frames, whole-picture or partial."""
        if score < shots.INSERT_MIN_CHANGE and (cur.regions is None or cur.regions.max() < regions.INSERT_MIN_REGION_CHANGE):
            return None  # too small a change for either kind of insert
        later = [(p.pts - cur.pts, p.gray) for p in ahead]
        back = shots.brief_insert(prev.gray, score, list(self._recent_changes), later)
        if back is not None:
            brighter = cur.brightness - prev.brightness >= FLASH_BRIGHTNESS_SHARE * score
            return back, min(1.0, 0.3 + 5.0 * score), cur.x, cur.y, brighter
        if cur.regions is None:
            return None
        part = regions.partial_insert(prev.gray, prev.regions, cur.gray, cur.regions, score, later, shots.CUT_RATIO,
                                      shots.INSERT_MAX_PICTURES, shots.INSERT_MAX_SECONDS)
        if part is None:
            return None
        back, m, x, y = part
        ys, xs = regions.region_box(*np.unravel_index(int(np.argmax(cur.regions)), cur.regions.shape), cur.gray.shape)
        rise = float((cur.gray[ys, xs] - prev.gray[ys, xs]).mean())
        return back, min(1.0, 0.2 + 2.0 * m), x, y, rise >= FLASH_BRIGHTNESS_SHARE * m


def analyse_frames(frames: Iterable[tuple[Fraction, np.ndarray]], motion: str = "diff") -> VisualEvents:
    """Analyse a whole sequence of ``(pts, grey frame)`` at once (tests, short clips)."""
    analyzer, log = Analyzer(motion=motion), EventLog()
    for pts, gray in frames:
        log.add(analyzer.push(pts, gray))
    log.add(analyzer.flush())
    if log.analysed_until is None:
        return VisualEvents()
    return log.view(log._times[0], log.analysed_until + 1)
