"""Shot boundaries: hard cuts by an adaptive content score, gradual transitions by linearity.

Hard cuts: a fixed threshold on frame differences fails both ways on real
footage (a fast pan or a car crossing the lens changes as much as a cut;
a cut between two similar shots changes little), so, like PySceneDetect's
adaptive detector, a frame's change is compared with the changes of the
new pictures around it: a cut stands out several times above its
neighbourhood.  A cut also changes most of the picture: a large object moving
fast or landing close to the lens can change the picture as much in total,
but in a few places only, so the change must be spread over the frame.
Chosen over ffmpeg's scene score, PySceneDetect and
TransNetV2 on the numbers in docs/events.md.

Gradual transitions (dissolves, fades): across a dissolve every frame is a
blend of the frames at its two ends, so the middle frame is close to the
average of the ends while the ends differ a lot; a pan or a moving object
fails that test (its average is a double image).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

#: new pictures either side whose change forms the neighbourhood of a candidate cut
CUT_CONTEXT = 3
#: a cut changes this many times more than the median of its neighbourhood...
CUT_RATIO = 3.0
#: ...and at least this mean grey change (a tenth of the picture by a third of the range)
CUT_MIN_CHANGE = 0.035
#: ...and spread: at least this share of the picture's blocks (SPREAD_GRID) change by half the
#: mean change or more.  Measured: real cuts 0.79-0.96, a large bright object thrown onto a street
#: shot 0.21-0.27 (benchmarks/events.py, docs/events.md)
CUT_MIN_SPREAD = 0.4
SPREAD_GRID = (6, 8)  # rows, columns: 9x12-pixel blocks of the 96x54 analysis picture
#: a brief insert jumps at least this much (a fifth of the picture by a tenth of the range)...
INSERT_MIN_CHANGE = 0.02
#: ...and a new picture at most this many later, and this soon (seconds), is back...
INSERT_MAX_PICTURES = 10
INSERT_MAX_SECONDS = Fraction(21, 50)  # 0.42 s: ten frames at 24 fps
#: ...within this share of the jump from the picture before it
INSERT_RETURN_RATIO = 0.5
#: dissolve test: ends at least this far apart (mean grey change)...
GRADUAL_MIN_CHANGE = 0.06
#: ...and the middle frame within this share of it from the ends' average
GRADUAL_LINEARITY = 0.25
#: half-lengths (in new pictures) of the transitions looked for: ~0.25 s to ~1 s at 25 fps
GRADUAL_HALF_SPANS = (3, 6, 12)


def change(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute grey change between two float frames (0..1)."""
    d = np.abs(a - b)
    # ndarray.mean() to the bit (the same pairwise sum, then the same division), without its
    # Python-level overhead: this runs several times per frame on small frames.
    total = np.add.reduce(d, axis=None)
    return float(total.dtype.type(total / np.intp(d.size)))


def median(values: Sequence[float]) -> float:
    """``np.median`` of a few floats, to the bit, without numpy's overhead (it runs per frame)."""
    v = sorted(float(x) for x in values)
    k = len(v) // 2
    return v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2


def spread(diff: np.ndarray) -> float:
    """The share of the picture's blocks whose mean change (``diff``: absolute grey change per
    pixel) is at least half the whole picture's: near 1 when everything changes, small when one
    object does."""
    rows, columns = SPREAD_GRID
    h, w = diff.shape[0] // rows, diff.shape[1] // columns
    if h == 0 or w == 0:
        return 1.0  # a picture too small to tell: every change counts as spread
    blocks = diff[: h * rows, : w * columns].reshape(rows, h, columns, w).mean(axis=(1, 3))
    return float((blocks >= 0.5 * float(blocks.mean())).mean())


def is_hard_cut(score: float, before: Sequence[float], after: Sequence[float], spread: float = 1.0) -> bool:
    """Whether a picture whose change is ``score`` (spread over ``spread`` of the picture, see
    :func:`spread`) is a cut, given the changes of the new pictures just before and just after
    it (cuts among them are left out)."""
    return score >= CUT_MIN_CHANGE and spread >= CUT_MIN_SPREAD and stands_out(score, list(before) + list(after))


def stands_out(score: float, before: Sequence[float]) -> bool:
    """Whether a change is far above the changes of the new pictures before it."""
    level = median(before) if len(before) else 0.0
    return score > CUT_RATIO * max(level, CUT_MIN_CHANGE / CUT_RATIO / 2)


def brief_insert(prev: np.ndarray, score: float, before: Sequence[float], ahead: Sequence[tuple]) -> Optional[int]:
    """If the picture whose change from ``prev`` is ``score`` starts a brief insert, the index
    in ``ahead`` ((pts offset, grey frame) of the next new pictures) of the picture that
    returns to ``prev``; else None.

    A change that comes back within a few frames -- a flash frame, a muzzle flash, lightning,
    something slamming into view and out, an object crossing the lens -- is one event, not two
    cuts: the picture must jump (at least ``INSERT_MIN_CHANGE`` and far above the changes just
    before it) and a picture within ``INSERT_MAX_PICTURES`` new pictures and
    ``INSERT_MAX_SECONDS`` must be back within ``INSERT_RETURN_RATIO`` of the jump.
    PySceneDetect's flash filter instead merges every cut closer than a minimum scene length,
    which would also swallow a real short shot (A -> B -> C); the return test keeps those.
    """
    if score < INSERT_MIN_CHANGE or not stands_out(score, before):
        return None
    for j, (dt, gray) in enumerate(ahead[:INSERT_MAX_PICTURES]):
        if dt > INSERT_MAX_SECONDS:
            break
        if change(gray, prev) < INSERT_RETURN_RATIO * score:
            return j
    return None


def gradual_middle(frames: Sequence[np.ndarray], changes: Sequence[float]) -> Optional[int]:
    """If the last new pictures ``frames`` end a dissolve or fade, the index of its middle.

    ``changes[i]`` is the change of ``frames[i]`` from its predecessor.  Each
    half-span h tests frames ``-1-2h`` (start), ``-1-h`` (middle), ``-1``
    (end); no hard cut may lie inside (that one is reported as a cut).
    """
    n = len(frames)
    for h in GRADUAL_HALF_SPANS:
        if n < 2 * h + 1:
            break
        inside = changes[n - 2 * h: n]
        # The ends differ by at most the sum of the steps between them (triangle inequality;
        # 1 % margin for rounding): most of the time no frame needs comparing at all.
        if sum(inside) < 0.99 * GRADUAL_MIN_CHANGE:
            continue
        a, m, b = frames[n - 1 - 2 * h], frames[n - 1 - h], frames[n - 1]
        ends = change(a, b)
        if ends < GRADUAL_MIN_CHANGE:
            continue
        # A steady blend: each step a small share of the whole change, none a jump.
        if max(inside) > 0.5 * ends or max(inside) > CUT_MIN_CHANGE * 2:
            continue
        if change(m, 0.5 * (a + b)) < GRADUAL_LINEARITY * ends and _monotone(frames[n - 1 - 2 * h:], a, b):
            return n - 1 - h
    return None


def _monotone(frames: Sequence[np.ndarray], a: np.ndarray, b: np.ndarray) -> bool:
    """Frames move steadily from ``a`` towards ``b`` (projection onto b - a increases)."""
    axis = (b - a).ravel()
    norm = float(axis @ axis)
    if norm <= 0:
        return False
    progress = [float((f - a).ravel() @ axis) / norm for f in frames]
    return all(q >= p - 0.05 for p, q in zip(progress, progress[1:]))
