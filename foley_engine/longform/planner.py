"""Window planning in integer samples.

Windows ``[a_k, b_k)`` overlap by ``overlap`` samples: ``a_{k+1} = b_k - overlap``.
A window is at most ``window`` samples long.  When a shot cut lies in the
last half of a window, the overlap is centred on the cut instead, because a
cut is where a change of sound is natural and a seam is least audible.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional


@dataclass(frozen=True)
class Window:
    index: int
    start: int  # absolute sample index, inclusive
    end: int  # exclusive
    #: where the next window starts (== end for the last window)
    next_start: int
    is_last: bool = False
    at_cut: bool = False

    @property
    def num_samples(self) -> int:
        return self.end - self.start


def check_sizes(window: int, overlap: int) -> None:
    if window <= 0:
        raise ValueError("window must be positive")
    if overlap < 0 or 2 * overlap >= window:
        raise ValueError("overlap must be non-negative and under half the window")


def cut_search_range(start: int, window: int, overlap: int) -> tuple[int, int]:
    """Sample range in which a cut may become the centre of the next seam."""
    half = overlap // 2
    return start + window // 2, start + window - (overlap - half)


def next_window(
    index: int, start: int, stop: int, window: int, overlap: int, cuts: Iterable[int] = ()
) -> Window:
    """Plan the window that begins at ``start`` in a job ending at ``stop``.

    ``cuts`` are cut positions (samples) known so far; only those inside
    :func:`cut_search_range` matter, so a streaming caller needs analysis
    only up to ``start + window``.
    """
    check_sizes(window, overlap)
    if stop - start <= window:
        return Window(index, start, stop, stop, is_last=True)
    lo, hi = cut_search_range(start, window, overlap)
    candidates = [c for c in cuts if lo <= c <= hi]
    half = overlap // 2
    if candidates:
        cut = max(candidates)
        next_start = cut - half
        return Window(index, start, next_start + overlap, next_start, at_cut=True)
    end = start + window
    return Window(index, start, end, end - overlap)


def plan_windows(
    start: int, stop: int, window: int, overlap: int, cuts: Optional[Iterable[int]] = None
) -> list[Window]:
    """The full plan (tests and previews; the scheduler plans lazily)."""
    cuts = sorted(cuts or ())
    plan = []
    a = start
    while True:
        w = next_window(len(plan), a, stop, window, overlap, cuts)
        plan.append(w)
        if w.is_last:
            return plan
        a = w.next_start
