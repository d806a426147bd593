"""Footsteps from the picture's motion where no pose figure is found: a foot seen settling on the ground.

Some shots show feet but no body a pose model can fit (bikes.mp4's walker seen from the knees down:
BlazePose's detector needs a head and torso).  There, a heel strike is still visible as motion: the
swinging shoe *arrives* in the lower part of the picture and from then on *stays* while the leg goes
on moving above it.  The rule, on a grey picture of about 160 pixels across (the pose picture binned
2x2; a shoe is ~12x5 pixels there, ~6x3 in the 96-pixel analysis picture: too coarse, measured), cut
into 8x8-pixel blocks in the lower :data:`BAND` of the picture:

1. *arrived*: the block changed by at least :data:`ARRIVE` (mean grey) over the last two frames;
2. *stays*: over the next :data:`REST_SECONDS` nothing at that height within :data:`REACH` blocks
   either side (nor in the row below) changes by more than :data:`REST_RATIO` of that arrival,
   against the picture at the contact -- a swinging foot, a leg's edge or a car moving on is
   somewhere near by the next frames; a stance foot is not;
3. *something that could be seen to move*: the block has texture (grey spread >= :data:`TEXTURE`)
   and changes less than a move of :data:`SIDEWAYS` pixels would change it: inside a blurred or
   uniform moving thing (a white van's side) nothing can be seen to stop;
4. *the leg goes on moving above it*: some block above (its column or the two beside) changes by
   :data:`LEG_MOTION` during the rest -- background left behind by a car's tail is still above too;
5. *new*: the block does not look as it did at any frame of the last :data:`RECALL_SECONDS` of the
   shot (within :data:`RECALL_RATIO` of the arrival): that is background coming back after a leg
   or a car passed, not something arriving;
6. the camera is steady from the frame before the arrival to the end of the rest (no shift found by
   :func:`~.regions.camera_shift`) and no cut or flash (whole-picture change < :data:`CUT_CHANGE`)
   lies in it; blocks at the left and right edges are left out (a leg leaving the picture reveals
   background that stays); one contact per :data:`MIN_GAP` (a walker's steps are >= 0.25 s apart).

(:class:`~.people.PeopleTracker` adds two rules from outside: a shot in which the pose model follows
a figure is left to it, and a contact whose arrival straddles a cut or brief insert that the shot
analyser finds later is taken out again.)

The contact is the first frame from which the block stays (the foot settled: on bikes one frame
after the heel touches, within the +-2 frames footsteps are scored at).  Its onset: kind
``footstep``, tag ``"contact"``, the frame's exact PTS, x/y from the block, strength from the
arrival (how much of the block changed: speed and size of the shoe).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np

from .events import Onset
from .regions import camera_shift

#: the picture the rule works on is about this wide (pixels); blocks are BLOCK x BLOCK pixels there
WIDTH = 160
BLOCK = 8
#: the lower share of the picture where feet are looked for
BAND = 0.4
#: a block arrived when it changed this much (mean absolute grey, 0..1) over the last two frames
ARRIVE = 0.1
#: ...and stays when nothing near it changes more than this share of that for REST_SECONDS
REST_RATIO = 0.3
REST_SECONDS = Fraction(3, 25)
#: blocks either side (same row and the row below) that must stay too: ~0.1 of the picture's width
REACH = 2
#: grey spread inside the block below which nothing can be seen to stop (a uniform surface)
TEXTURE = 0.05
#: the block stays when it changes less than a move of this many pixels sideways would change it
SIDEWAYS = 3
#: the leg goes on moving: some block above the contact (its column or the two beside) changes this much
LEG_MOTION = 0.15
#: background coming back: the block looked like this (within this share of the arrival) before...
RECALL_RATIO = 0.5
#: ...at some frame of the shot this far back
RECALL_SECONDS = Fraction(1)
#: a second contact this soon after one is the same foot still settling
MIN_GAP = Fraction(1, 4)
#: a whole-picture change this large is a cut, a flash or an insert: the rule starts again after it
CUT_CHANGE = 0.08
#: the tag that tells these footsteps from the pose model's ("left"/"right") and the bounce's
TAG = "contact"


def contact_picture(rgb: np.ndarray) -> np.ndarray:
    """The rule's grey picture (float32, 0..1) from the pose picture (uint8 RGB) or a grey one:
    channels averaged and binned down to about :data:`WIDTH` pixels across.  Sums of strided
    views in 16 bits (a reduction over the colour axis costs five times as much)."""
    channels = [rgb[:, :, k] for k in range(rgb.shape[2])] if rgb.ndim == 3 else [rgb]
    f = max(1, rgb.shape[1] // WIDTH)
    h, w = rgb.shape[0] // f * f, rgb.shape[1] // f * f
    total = np.zeros((h // f, w // f), np.uint16)
    for plane in channels:
        for dy in range(f):
            for dx in range(f):
                total += plane[dy:h:f, dx:w:f]
    return total.astype(np.float32) * (1.0 / (255 * len(channels) * f * f))


@dataclass
class _Frame:
    index: int
    pts: Fraction
    gray: np.ndarray  # the whole rule picture
    shot: int
    steady: bool  # no camera shift and no cut from the frame before


class GroundContacts:
    """Push every frame's picture in order; get footstep :class:`Onset` s (tag ``"contact"``).

    ``saw_figure()`` tells it a pose model found a body at the latest frame: contacts in the rest of
    that shot are left to the pose model (its heel strikes are better).  Onsets come out
    ``REST_SECONDS`` after their frame (the time it takes to see that the foot stays).
    """

    def __init__(self, fps: Optional[Fraction]):
        rate = Fraction(fps) if fps else Fraction(25)
        self._rest = max(2, round(REST_SECONDS * rate))
        self._recall = max(self._rest + 3, round(RECALL_SECONDS * rate))
        self._gap = max(1, round(MIN_GAP * rate))
        self._frames: deque[_Frame] = deque(maxlen=self._recall + self._rest + 2)
        self._count = 0
        self._shot = 0
        self._figure_shot: Optional[int] = None
        self._last_ok: Optional[np.ndarray] = None  # blocks that passed at the frame decided last
        self._last: Optional[tuple[int, int]] = None  # (frame index, shot) of the latest contact
        #: contacts handed out (the result's notes)
        self.count = 0
        #: for each contact handed out (by its time): the time of the frame its arrival is measured
        #: from (two frames before), so a caller can drop one whose arrival straddles a cut or insert
        self.arrival_from: dict[Fraction, Fraction] = {}

    def saw_figure(self) -> None:
        self._figure_shot = self._shot

    @property
    def decided_after(self) -> int:
        """Frames after a contact's frame before it is decided (it must be seen to stay)."""
        return self._rest + 1

    def push(self, pts: Fraction, picture: np.ndarray) -> list[Onset]:
        g = contact_picture(picture)
        if g.shape[0] < 3 * BLOCK or g.shape[1] < 2 * (REACH + 1) * BLOCK:
            return []  # too small a picture to see a foot in
        n = self._count
        self._count += 1
        prev = self._frames[-1] if self._frames else None
        steady = False
        if prev is not None and prev.gray.shape == g.shape:
            change = float(np.abs(g - prev.gray).mean())
            if change >= CUT_CHANGE:
                self._shot += 1
            else:
                steady = camera_shift(g, prev.gray) == (0, 0)
        self._frames.append(_Frame(n, pts, g, self._shot, steady))
        if len(self._frames) < self._rest + 3:
            return []
        onset = self._decide(self._frames[-1 - self._rest].index)
        if onset is None:
            return []
        self.count += 1
        self.arrival_from[onset.time] = self._frame(self._frames[-1 - self._rest].index - 2).pts
        return [onset]

    def forget(self, onset: Onset) -> None:
        """``onset`` turned out to be the picture changing (a cut, a brief insert), not a foot."""
        self.count -= 1
        self.arrival_from.pop(onset.time, None)

    # ---------------------------------------------------------------- internals

    def _frame(self, i: int) -> _Frame:
        return self._frames[i - self._frames[0].index]

    def _decide(self, t: int) -> Optional[Onset]:
        cur = self._frame(t)
        span = [self._frame(i) for i in range(t - 1, t + self._rest + 1)]
        if cur.shot == self._figure_shot or any(f.shot != cur.shot or not f.steady for f in span):
            self._last_ok = None
            return None
        g = _whole(cur.gray)
        band = g[-_band_rows(cur.gray) * BLOCK:]
        arrived = _blocks(np.abs(band - _whole(self._frame(t - 2).gray)[-band.shape[0]:]))
        if arrived.max() < ARRIVE:
            self._last_ok = None
            return None
        # The rest: first in the band (the foot; most pictures stop here), then above it (the leg).
        later = [_whole(f.gray) for f in span[2:]]
        still = np.zeros_like(arrived)
        for w in later:
            np.maximum(still, _blocks(np.abs(w[-band.shape[0]:] - band)), out=still)
        ok = (arrived >= ARRIVE) & (_around(still) < REST_RATIO * arrived)
        ok[:, 0] = ok[:, -1] = False  # the picture's edges: something leaving reveals what stays
        if ok.any():
            # Something that could be seen to move sideways stays (not the inside of a uniform
            # moving thing), and the leg above it goes on moving (not background left behind).
            ok &= (_texture(band) >= TEXTURE) & (still < _sideways(band))
        if ok.any():
            above = g[: g.shape[0] - band.shape[0]]
            rest = np.zeros((above.shape[0] // BLOCK, above.shape[1] // BLOCK), np.float32)
            for w in later:
                np.maximum(rest, _blocks(np.abs(w[: above.shape[0]] - above)), out=rest)
            ok &= _leg_moving(np.concatenate([rest, still]), rest.shape[0]) >= LEG_MOTION
        first = self._frames[0].index
        for i in range(max(first, t - self._recall), t - 2):
            if not ok.any():
                break
            old = self._frame(i)
            if old.shot == cur.shot:
                ok &= _blocks(np.abs(band - _whole(old.gray)[-band.shape[0]:])) >= RECALL_RATIO * arrived
        new = ok if self._last_ok is None else ok & ~self._last_ok  # the first frame it stays
        self._last_ok = ok
        if not new.any() or (self._last is not None and self._last[1] == cur.shot and t - self._last[0] < self._gap):
            return None
        self._last = (t, cur.shot)
        r, c = np.unravel_index(int(np.argmax(np.where(new, arrived, 0.0))), arrived.shape)
        rows = cur.gray.shape[0]
        x = ((c + 0.5) * BLOCK / g.shape[1]) * 2 - 1
        y = ((rows - band.shape[0] + (r + 0.5) * BLOCK) / rows) * 2 - 1
        strength = min(1.0, 0.3 + 1.5 * float(arrived[r, c]) * min(1.0, int(new.sum()) / 2) ** 0.5)
        return Onset(cur.pts, "footstep", strength, float(x), y=float(y), tag=TAG)


def _whole(g: np.ndarray) -> np.ndarray:
    """The picture in whole blocks, aligned on its bottom row (where the feet are)."""
    rows, cols = g.shape[0] // BLOCK * BLOCK, g.shape[1] // BLOCK * BLOCK
    return g[g.shape[0] - rows:, :cols]


def _band_rows(g: np.ndarray) -> int:
    """Block rows of the lower BAND of the picture."""
    return max(1, int(g.shape[0] * BAND) // BLOCK)


def _sideways(band: np.ndarray) -> np.ndarray:
    """Per block: the change a SIDEWAYS-pixel move would make (what a stop is measured against:
    inside a blurred or uniform surface moving sideways nothing changes, so nothing can be seen
    to stop there)."""
    d = np.zeros_like(band)
    d[:, SIDEWAYS:] = np.abs(band[:, SIDEWAYS:] - band[:, :-SIDEWAYS])
    return _blocks(d)


def _leg_moving(rest: np.ndarray, top: int) -> np.ndarray:
    """Per band block: the largest rest change in the rows above it (its column and the two beside)."""
    above = np.zeros_like(rest)
    np.maximum.accumulate(rest[:-1], axis=0, out=above[1:])  # above[r] = max of rows < r
    p = np.zeros((above.shape[0], above.shape[1] + 2), above.dtype)
    p[:, 1:-1] = above
    return np.maximum(np.maximum(p[:, :-2], p[:, 1:-1]), p[:, 2:])[top:]


def _tiles(d: np.ndarray) -> np.ndarray:
    """``d`` (whole blocks) as (block row, pixel row, block column, pixel column)."""
    h, w = d.shape
    return d.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK)


def _blocks(d: np.ndarray) -> np.ndarray:
    return _tiles(d).mean(axis=(1, 3))


def _texture(band: np.ndarray) -> np.ndarray:
    return _tiles(band).std(axis=(1, 3))


def _around(rest: np.ndarray) -> np.ndarray:
    """The largest rest change over each block, REACH blocks either side, and the row below."""
    rows, cols = rest.shape
    p = np.zeros((rows + 1, cols + 2 * REACH), rest.dtype)
    p[:rows, REACH: REACH + cols] = rest
    out = np.zeros_like(rest)
    for dy in (0, 1):
        for dx in range(2 * REACH + 1):
            np.maximum(out, p[dy: dy + rows, dx: dx + cols], out=out)
    return out
