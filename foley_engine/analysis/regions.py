"""Where in the picture things move: block motion with the camera taken out, and hits.

A hit is a *region* that was moving and stops, not the whole picture's energy
dropping: two people walking on the left do not hide a box landing on the
right, and a pan does not make every block move.  The 96x54 analysis picture
is cut into 16x9 blocks of 6x6 pixels; each new picture's change from the
previous one is measured per block after moving the previous picture by the
camera's own shift (found from the picture's row and column profiles, the
classic integral-projection estimate: cheap, and a pan or a shake of a few
pixels a frame is all it has to catch).  A region is a block and its eight
neighbours (18x18 pixels, ~6 % of the frame), so an object crossing from one
block to the next stays one region.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Optional, Sequence

import numpy as np

#: blocks across and down the 96x54 analysis picture
COLUMNS, ROWS = 16, 9
#: the largest camera shift looked for, in analysis pixels per frame (~3 % of the width)
MAX_SHIFT = 3
#: a shift is the camera's only if it explains the profiles this much better than no shift
SHIFT_GAIN = 0.7
#: a region moving at least this much (mean grey change over its 18x18 pixels) can hit
HIT_MIN_MOTION = 0.045
#: ...and it hits when the next new picture changes less than this share there (it stopped)...
HIT_DROP_RATIO = 0.3
#: ...this many times its usual motion in the shot...
HIT_OVER_LEVEL = 1.5
#: ...and stays stopped over this many new pictures...
HIT_REST = 2
#: ...having moved into this picture over at least the picture before too (not a flicker)
HIT_APPROACH_RATIO = 0.25
#: the region motion of a picture in which nothing moves
STILL = np.zeros((ROWS, COLUMNS), np.float32)
#: how fast a region's usual motion follows the picture (share of the newest picture)
LEVEL_RATE = 0.2


def camera_shift(cur: np.ndarray, ref: np.ndarray) -> tuple[int, int]:
    """(dx, dy) in pixels such that ``cur[y, x] ~ ref[y - dy, x - dx]``; (0, 0) when no shift
    explains the change clearly better (a moving object is not a moving camera)."""
    return _profile_shift(cur.sum(axis=0), ref.sum(axis=0)), _profile_shift(cur.sum(axis=1), ref.sum(axis=1))


def _profile_shift(c: np.ndarray, r: np.ndarray) -> int:
    n = c.size
    errors = {s: float(np.abs(c[max(s, 0): n + min(s, 0)] - r[max(-s, 0): n - max(s, 0)]).sum()) / (n - abs(s))
              for s in range(-MAX_SHIFT, MAX_SHIFT + 1)}
    best = min(errors, key=errors.get)
    return best if best != 0 and errors[best] < SHIFT_GAIN * errors[0] else 0


def block_change(cur: np.ndarray, ref: np.ndarray, shift: tuple[int, int],
                 diff: Optional[np.ndarray] = None) -> np.ndarray:
    """(ROWS, COLUMNS) mean absolute change per block, the camera's ``shift`` taken out.
    ``diff`` is ``|cur - ref|`` when the caller already has it (no shift)."""
    h, w = cur.shape
    dx, dy = shift
    if dx == 0 and dy == 0:
        d = np.abs(cur - ref) if diff is None else diff
    else:
        d = np.zeros_like(cur)
        ys, yr = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h - max(dy, 0))
        xs, xr = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w - max(dx, 0))
        d[ys, xs] = np.abs(cur[ys, xs] - ref[yr, xr])
    bh, bw = h // ROWS, w // COLUMNS
    blocks = d[: bh * ROWS, : bw * COLUMNS].reshape(ROWS, bh, COLUMNS, bw).sum(axis=(1, 3))
    return blocks * (1.0 / (bh * bw))


def _pad(a: np.ndarray) -> np.ndarray:
    """``a`` with a border of zeros (np.pad costs ten times as much on arrays this small)."""
    p = np.zeros((a.shape[0] + 2, a.shape[1] + 2), a.dtype)
    p[1:-1, 1:-1] = a
    return p


def regions(blocks: np.ndarray) -> np.ndarray:
    """Mean change over each block and its neighbours (3x3, edges padded with zeros)."""
    p = _pad(blocks)
    rows = p[:-2] + p[1:-1] + p[2:]  # separable: three rows, then three columns
    return (rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:]) * (1.0 / 9.0)


@lru_cache(maxsize=1)
def _centres() -> tuple[np.ndarray, np.ndarray]:
    return ((np.arange(COLUMNS) + 0.5) / COLUMNS * 2 - 1), ((np.arange(ROWS) + 0.5) / ROWS * 2 - 1)


def _max3(a: np.ndarray) -> np.ndarray:
    """The largest value over each block and its neighbours."""
    p = _pad(a)
    rows = np.maximum(np.maximum(p[:-2], p[1:-1]), p[2:])
    return np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def find_hit(before: Optional[np.ndarray], cur: np.ndarray, after: Sequence[Optional[np.ndarray]],
             level: Optional[np.ndarray]) -> Optional[tuple[float, float, float]]:
    """A hit in the picture whose region motion is ``cur`` (``before``: the picture before,
    None when unknown; ``after``: the next ``HIT_REST`` pictures), as (strength, x, y), or None.

    A region hits when it moves clearly (``HIT_MIN_MOTION``, and ``HIT_OVER_LEVEL`` times ``level``,
    its usual motion in this shot: a steady mover is not hitting every frame), was moving
    into it over the picture before too (an approach, not a flicker), and stops: the next
    pictures change little anywhere around it.  Other regions may go on moving (people
    walking elsewhere do not hide a box landing).  The strongest such region is the hit.
    """
    moving = cur >= HIT_MIN_MOTION
    if not moving.any():
        return None  # nothing moves enough to hit (most pictures: skip the rest)
    stops = np.ones_like(moving)
    for later in after:  # it stays stopped: a limb swinging through or a flicker moves again
        if later is not None:
            stops &= _max3(later) < HIT_DROP_RATIO * cur
    if not (moving & ~stops).any():
        # Everything that moved stops at once: over a wide area that is the picture pausing
        # (a repeated frame the cadence test let through, a freeze), not one thing hitting.
        rows, cols = np.nonzero(moving)
        if cols.max() - cols.min() >= COLUMNS * 3 // 4 or rows.max() - rows.min() >= ROWS * 3 // 4:
            return None
    ok = moving & stops
    if before is not None:  # unknown before the first picture of a range
        ok &= _max3(before) >= HIT_APPROACH_RATIO * cur
    if level is not None:
        ok &= cur > HIT_OVER_LEVEL * level
    if not ok.any():
        return None
    score = np.where(ok, cur, 0.0)
    r, c = np.unravel_index(int(np.argmax(score)), score.shape)
    xs, ys = _centres()
    return min(1.0, float(cur[r, c]) * 8.0), float(xs[c]), float(ys[r])


#: a partial insert changes one region by at least this much (mean grey change over it)
INSERT_MIN_REGION_CHANGE = 0.08
#: ...while the whole picture changes less than this share of that (it is confined to a part)
PARTIAL_SHARE = 0.4
#: when it has returned, no region differs from before the insert by this share of its change
ELSEWHERE_RATIO = 0.8
#: the region is back when it differs from before the insert by less than this share of the
#: insert's change (looser than the whole picture's 0.5: the shot moves on meanwhile)
RETURN_RATIO = 0.65


def region_box(r: int, c: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The pixels of the region (block and neighbours) centred on block (r, c)."""
    h, w = shape
    bh, bw = h // ROWS, w // COLUMNS
    return slice(max(0, r - 1) * bh, min(ROWS, r + 2) * bh), slice(max(0, c - 1) * bw, min(COLUMNS, c + 2) * bw)


def partial_insert(prev: np.ndarray, prev_regions: Optional[np.ndarray], cur: np.ndarray, cur_regions: np.ndarray,
                   change: float, ahead: list[tuple], stand_out: float, max_pictures: int, max_seconds) -> Optional[tuple[int, float, float, float]]:
    """A brief change confined to part of the picture (a muzzle flash, something slamming
    into view and out): the region that changed most jumped far above how it changed just
    before, and within a few new pictures that region is back to ``prev``; ``change`` is
    the whole picture's change from ``prev`` (a partial insert is confined).  Returns
    (index in ``ahead`` of the return, the region's change, x, y) or None."""
    r, c = np.unravel_index(int(np.argmax(cur_regions)), cur_regions.shape)
    m = float(cur_regions[r, c])
    # Confined to part of the picture: a change everywhere is a cut or a whole-picture insert.
    if m < INSERT_MIN_REGION_CHANGE or change > PARTIAL_SHARE * m:
        return None
    if prev_regions is not None and m <= stand_out * max(float(prev_regions[r, c]), INSERT_MIN_REGION_CHANGE / stand_out / 2):
        return None
    ys, xs = region_box(r, c, prev.shape)
    before = prev[ys, xs]
    # It stays a moment (or comes back at once): something flying through the region is
    # somewhere else by the next picture, far from this one too.
    if ahead and float(np.abs(ahead[0][1][ys, xs] - cur[ys, xs]).mean()) >= RETURN_RATIO * m \
            and float(np.abs(ahead[0][1][ys, xs] - before).mean()) >= RETURN_RATIO * m:
        return None
    for j, (dt, gray) in enumerate(ahead[:max_pictures]):
        if dt > max_seconds:
            break
        # Back in the region, and nowhere else is there a change of that size (an object
        # flying on through the picture has not gone, it is elsewhere).
        if float(np.abs(gray[ys, xs] - before).mean()) < RETURN_RATIO * m \
                and float(regions(block_change(gray, prev, (0, 0))).max()) < ELSEWHERE_RATIO * m:
            cx, cy = _centres()
            return j, m, float(cx[c]), float(cy[r])
    return None
