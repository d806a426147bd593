"""The alignment pass: move a window's audio onto its picture, within ±80 ms.

A neural backend can place sounds a few tens of milliseconds early or late,
and by a different amount in every window.  For each window we estimate that
lag (:func:`foley_engine.sync.estimate_offset`: visual event envelope
cross-correlated with the audio onset envelope, refined on sharp onsets) and
shift the window's audio by a whole number of samples.

The window keeps its exact length.  The samples a shift leaves uncovered (at
the end when moving earlier, at the start when moving later) are taken from
the unshifted audio, joined with a short crossfade, so nothing goes silent
or clicks; these edges lie inside the scheduler's overlaps, where the
neighbouring window's crossfade covers them anyway.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Sequence

import numpy as np

from .stitch import crossfade
from ..sync import SYNC_KINDS, OffsetEstimate, estimate_offset

#: the largest correction; larger errors are not timing but wrong content
MAX_OFFSET = Fraction(80, 1000)
#: crossfade between shifted and unshifted audio at the uncovered edge
EDGE_FADE = Fraction(10, 1000)
#: smaller estimates are left alone: under the onset detector's own jitter
MIN_SHIFT = Fraction(1, 1000)


def shift_audio(audio: np.ndarray, offset: int, fade: int) -> np.ndarray:
    """``out[i] = audio[i + offset]`` where defined, else ``audio[i]``, crossfaded over ``fade`` samples."""
    n = audio.shape[0]
    if offset == 0 or abs(offset) >= n:
        return audio.copy()
    out = np.empty_like(audio)
    d = abs(offset)
    fade = max(0, min(fade, n - d))
    if offset > 0:
        # Audio was late: move it earlier; the last d samples keep their own audio.
        out[: n - d] = audio[d:]
        out[n - d :] = audio[n - d :]
        a = n - d - fade
        out[a : n - d] = crossfade(audio[a + d : n], audio[a : n - d])
    else:
        # Audio was early: move it later; the first d samples keep their own audio.
        out[d:] = audio[: n - d]
        out[:d] = audio[:d]
        out[d : d + fade] = crossfade(audio[d : d + fade], audio[: fade])
    return out


def align_window(
    audio: np.ndarray,
    start_sample: int,
    sample_rate: int,
    events,
    *,
    max_offset: Fraction = MAX_OFFSET,
    kinds: Sequence[str] = SYNC_KINDS,
) -> tuple[np.ndarray, int]:
    """Align one window; returns ``(audio, offset_samples)``.

    ``start_sample`` is the absolute index of ``audio[0]``; ``events`` a
    ``VisualEvents``, ``Onset`` s or exact times (media seconds).
    ``offset_samples`` is the lateness that was removed (positive: the audio
    was late and now starts earlier); 0 when the evidence is too weak or the
    lag is under :data:`MIN_SHIFT`.  The input is never modified and the
    output has the input's shape and dtype.
    """
    estimate = estimate_window(audio, start_sample, sample_rate, events, max_offset=max_offset, kinds=kinds)
    if abs(estimate.samples) < MIN_SHIFT * sample_rate:
        return audio.copy(), 0
    fade = int(EDGE_FADE * sample_rate)
    return shift_audio(audio, estimate.samples, fade), estimate.samples


def estimate_window(audio, start_sample, sample_rate, events, *, max_offset=MAX_OFFSET, kinds=SYNC_KINDS) -> OffsetEstimate:
    """The window's lateness, clamped to ``±max_offset`` (the sample refinement may step a little past it)."""
    est = estimate_offset(audio, start_sample, sample_rate, events, max_offset=max_offset, kinds=kinds)
    limit = int(max_offset * sample_rate)
    return dataclasses.replace(est, samples=max(-limit, min(limit, est.samples)))
