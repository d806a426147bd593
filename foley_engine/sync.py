"""Sync measurement: audio onset times, and their offsets from visual event times.

The onset detector works on a 1 ms peak envelope: an onset is a block whose
peak jumps well above the quiet level of the preceding 30 ms; it is then
refined to the first sample that reaches half that block's peak, so sharp
transients are timed to well under a millisecond.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
from scipy.ndimage import minimum_filter1d



@dataclass(frozen=True)
class SyncOffset:
    visual_time: Fraction
    audio_time: Fraction | None  # None: no sound near the event

    @property
    def offset_ms(self) -> float | None:
        if self.audio_time is None:
            return None
        return float((self.audio_time - self.visual_time) * 1000)


def onset_samples(
    audio: np.ndarray,
    sample_rate: int,
    *,
    rise_db: float = 12.0,
    floor: float = 1e-3,
    refractory: float = 0.05,
) -> np.ndarray:
    """Sample indices of transient onsets in ``audio`` (mono or (n, channels))."""
    x = np.abs(np.asarray(audio, np.float32))
    if x.ndim == 2:
        x = x.max(axis=1)
    hop = max(1, sample_rate // 1000)
    blocks = x.shape[0] // hop
    if blocks < 2:
        return np.zeros(0, np.int64)
    env = x[: blocks * hop].reshape(blocks, hop).max(axis=1)
    look = max(1, int(round(0.03 * sample_rate / hop)))
    # Quiet level just before each block: the minimum over the previous 30 ms.
    quiet = minimum_filter1d(env, size=look, origin=(look - 1) // 2, mode="nearest")
    quiet = np.concatenate([[env[0]], quiet[:-1]])
    ratio = 10 ** (rise_db / 20)
    candidates = np.nonzero((env > floor) & (env > ratio * np.maximum(quiet, floor / ratio)))[0]
    onsets = []
    gap = max(1, int(round(refractory * sample_rate / hop)))
    last = -gap
    for b in candidates:
        if b - last < gap:
            continue
        last = b
        lo = max(0, (b - 1) * hop)
        seg = x[lo : (b + 1) * hop]
        first = int(np.argmax(seg >= 0.5 * env[b]))
        onsets.append(lo + first)
    return np.asarray(onsets, np.int64)


def onset_times(audio: np.ndarray, sample_rate: int, start_sample: int = 0, **kwargs) -> list[Fraction]:
    """Onsets as exact media times (``start_sample`` is the absolute index of ``audio[0]``)."""
    return [Fraction(int(s) + start_sample, sample_rate) for s in onset_samples(audio, sample_rate, **kwargs)]


def match_events(
    visual_times: Sequence[Fraction], audio_times: Sequence[Fraction], *, max_offset: Fraction = Fraction(1, 10)
) -> list[SyncOffset]:
    """Pair each visual event with the nearest audio onset within ``max_offset``."""
    audio_sorted = sorted(audio_times)
    result = []
    for v in visual_times:
        best = None
        for a in audio_sorted:
            if abs(a - v) <= max_offset and (best is None or abs(a - v) < abs(best - v)):
                best = a
        result.append(SyncOffset(v, best))
    return result

