"""Sync measurement: audio onset times, and their offsets from visual event times.

The onset detector works on a 1 ms peak envelope: an onset is a block whose
peak jumps well above the typical level of the preceding 30 ms; it is then
refined to the first sample that reaches half that block's peak, so sharp
transients are timed to well under a millisecond.

Also here: per-window offset estimation for the alignment pass
(:func:`estimate_offset`, used by :mod:`foley_engine.longform.align`) and per-output
offset statistics for the soak benchmark (:func:`offset_stats`).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

from .timebase import round_half_away


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
    # Quiet level just before each block: the median over the previous 30 ms.
    # (A minimum would sit in the dips of a noise bed, whose block peaks then
    # pass for onsets and, through the refractory time, hide the real one.)
    from scipy.ndimage import median_filter  # here: importing scipy.ndimage costs every `foley generate` ~0.25 s

    quiet = median_filter(env, size=look, origin=(look - 1) // 2, mode="nearest")
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



# ------------------------------------------------- envelopes and offset estimation
#
# The alignment pass and the soak benchmark need one number per window: how
# late the audio is relative to the picture.  It is found in two steps: a
# cross-correlation of 1 ms envelopes (robust: uses every event at once, any
# kind of sound) gives the lag to the nearest millisecond, then the sample-
# accurate onset detector refines it where the sounds are sharp transients.

#: event kinds whose sound should start on the frame (hits, flashes, brief inserts, heel strikes;
#: motion "start" sounds swell in)
SYNC_KINDS = ("impact", "flash", "insert", "footstep")


def event_times(events, kinds: Sequence[str] = SYNC_KINDS) -> list[Fraction]:
    """Exact times from a ``VisualEvents``, a list of ``Onset`` s, or plain times."""
    onsets = getattr(events, "onsets", events)
    out = []
    for e in onsets:
        if hasattr(e, "time"):
            if e.kind in kinds:
                out.append(Fraction(e.time))
        else:
            out.append(Fraction(e))
    return sorted(out)


def _hop(sample_rate: int) -> int:
    return max(1, sample_rate // 1000)


def onset_envelope(audio: np.ndarray, sample_rate: int, *, floor: float = 1e-4) -> np.ndarray:
    """Onset strength per 1 ms block: how many dB the peak level rose over the previous 3 ms.

    A rise, not a level: a sound's energy stays high for a while after its
    onset, but only the first blocks of its attack score here.
    """
    x = np.abs(np.asarray(audio, np.float32))
    if x.ndim == 2:
        x = x.max(axis=1)
    hop = _hop(sample_rate)
    blocks = x.shape[0] // hop
    if blocks < 2:
        return np.zeros(max(blocks, 0), np.float32)
    level = 20 * np.log10(np.maximum(x[: blocks * hop].reshape(blocks, hop).max(axis=1), floor))
    padded = np.concatenate([np.full(3, level[0]), level])
    before = np.maximum(np.maximum(padded[2:-1], padded[1:-2]), padded[:-3])
    return np.maximum(0.0, level - before).astype(np.float32)


def event_envelope(times: Sequence[Fraction], start_sample: int, blocks: int, sample_rate: int) -> np.ndarray:
    """Unit spikes at each event's 1 ms block (``start_sample`` is block 0's first sample)."""
    hop = _hop(sample_rate)
    env = np.zeros(blocks, np.float32)
    for t in times:
        b = (round_half_away(t * sample_rate) - start_sample) // hop
        if 0 <= b < blocks:
            env[b] = 1.0
    return env


@dataclass(frozen=True)
class OffsetEstimate:
    """How late the audio is (positive) relative to the picture, in samples."""

    samples: int
    #: events used, and those with a sharp onset within 5 ms of the coarse estimate
    events: int
    matched: int
    #: "onsets" (sample accurate), "envelope" (1 ms), or "none" (too little evidence: 0)
    method: str

    @property
    def reliable(self) -> bool:
        return self.method != "none"


def estimate_offset(
    audio: np.ndarray,
    start_sample: int,
    sample_rate: int,
    events,
    *,
    max_offset: Fraction = Fraction(80, 1000),
    kinds: Sequence[str] = SYNC_KINDS,
    min_prominence: float = 3.0,
) -> OffsetEstimate:
    """Estimate the audio's lag behind the visual ``events`` within ``±max_offset``.

    Only events at least ``max_offset`` inside the window count, so the sound
    of each is inside ``audio`` at every lag tried.
    """
    n = audio.shape[0]
    max_lag = int(max_offset * sample_rate)
    lo = start_sample + max_lag
    hi = start_sample + n - max_lag
    times = [t for t in event_times(events, kinds) if lo <= t * sample_rate < hi]
    if not times:
        return OffsetEstimate(0, 0, 0, "none")
    hop = _hop(sample_rate)
    novelty = onset_envelope(audio, sample_rate)
    visual = event_envelope(times, start_sample, novelty.shape[0], sample_rate)
    lags = np.arange(-(max_lag // hop), max_lag // hop + 1)
    # score[k] = sum_b visual[b] * novelty[b + lag_k]; the visual spikes are few.
    idx = np.nonzero(visual)[0]
    score = np.array([novelty[np.clip(idx + lag, 0, novelty.shape[0] - 1)].sum() for lag in lags])
    best = float(score.max())
    if best <= 0:
        return OffsetEstimate(0, len(times), 0, "none")
    # Ties go to the smallest shift: never move audio without a reason.
    candidates = np.nonzero(score == best)[0]
    coarse = int(lags[candidates[np.argmin(np.abs(lags[candidates]))]]) * hop
    refined, matched = _refine(audio, start_sample, sample_rate, times, coarse, hop)
    if 2 * matched >= len(times):
        return OffsetEstimate(refined, len(times), matched, "onsets")
    prominence = best / max(float(np.median(score)), 1e-3)
    if prominence >= min_prominence:
        return OffsetEstimate(coarse, len(times), matched, "envelope")
    return OffsetEstimate(0, len(times), matched, "none")


def _refine(audio, start_sample, sample_rate, times, coarse, hop) -> tuple[int, int]:
    """Median lag of sharp onsets within 5 ms of ``event + coarse``."""
    onsets = onset_samples(audio, sample_rate)
    if onsets.size == 0:
        return coarse, 0
    reach = sample_rate // 200  # 5 ms: the coarse lag is good to a few blocks
    lags = []
    for t in times:
        expected = round_half_away(t * sample_rate) - start_sample + coarse
        j = int(np.argmin(np.abs(onsets - expected)))
        if abs(int(onsets[j]) - expected) <= reach:
            lags.append(int(onsets[j]) - (expected - coarse))
    if not lags:
        return coarse, 0
    # The median of integers is an integer or a half; halves round away from zero.
    return round_half_away(Fraction(float(np.median(lags)))), len(lags)


# ------------------------------------------------------------- offset statistics


@dataclass(frozen=True)
class OffsetStats:
    """Offsets of one output (ms): signed median, |offset| p95 and max, drift per minute."""

    events: int
    missing: int
    median_ms: Optional[float]
    p95_ms: Optional[float]
    max_ms: Optional[float]
    #: least-squares slope of offset against position, ms per minute of media
    trend_ms_per_min: Optional[float]
    #: signed median offset in each tenth of the media (None where no event)
    by_position: list

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def offset_stats(offsets: Sequence[SyncOffset], duration: Fraction, parts: int = 10) -> OffsetStats:
    found = [o for o in offsets if o.audio_time is not None]
    missing = len(offsets) - len(found)
    if not found:
        return OffsetStats(len(offsets), missing, None, None, None, None, [None] * parts)
    ms = np.array([o.offset_ms for o in found], np.float64)
    pos_min = np.array([float(o.visual_time) / 60 for o in found], np.float64)
    trend = float(np.polyfit(pos_min, ms, 1)[0]) if len(found) >= 2 and np.ptp(pos_min) > 0 else 0.0
    by_position = []
    for k in range(parts):
        lo, hi = duration * k / parts, duration * (k + 1) / parts
        sel = [o.offset_ms for o in found if lo <= o.visual_time < hi]
        by_position.append(round(float(np.median(sel)), 3) if sel else None)
    return OffsetStats(
        events=len(offsets),
        missing=missing,
        median_ms=round(float(np.median(ms)), 3),
        p95_ms=round(float(np.percentile(np.abs(ms), 95)), 3),
        max_ms=round(float(np.abs(ms).max()), 3),
        trend_ms_per_min=round(trend, 4),
        by_position=by_position,
    )
