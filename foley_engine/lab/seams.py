"""Seam quality of any output: clicks, gaps and loudness jumps where windows meet.

Give it the audio and where the seams are (each window's overlap with the
next, in file samples; :func:`seams_from_windows` turns planner windows into
these).  Per seam it reports

* ``click_ratio`` — the largest sample-to-sample jump (second difference)
  in the seam, against the local level of that quantity.  Jumps at the start
  of a sound (the level stays up afterwards) are onsets, not clicks, and are
  skipped; a step or spike that leaves the level where it was is a click.
* ``gap_ms`` — the longest run of digital silence in the seam while the
  audio around it is not silent (the seed's "audio gaps at seams").
* ``loudness_jump_lu`` — K-weighted (ITU-R BS.1770) loudness of the 3 s
  after the seam centre minus the 3 s before (EBU "short-term" length).
  Content changes too, so it is flagged only when it is also larger than
  what the same measure gives at 99% of the non-seam positions of the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np
from scipy.ndimage import median_filter
from scipy.signal import lfilter

#: flag thresholds
CLICK_RATIO = 8.0  # second-difference peak vs its local level; noise peaks at ~5
CLICK_FLOOR = 2e-3  # ignore jumps below -54 dBFS: inaudible whatever the ratio
GAP_MS = 1.0
SILENCE = 1e-6
LOUDNESS_LU = 3.0
SHORT_TERM = Fraction(3)
#: how far either side of a seam the context reaches
CONTEXT = Fraction(1, 5)
MARGIN = Fraction(5, 1000)


@dataclass(frozen=True)
class Seam:
    """A seam: the overlap ``[start, end)`` (file samples) where two windows are crossfaded."""

    start: int
    end: int

    @property
    def centre(self) -> int:
        return (self.start + self.end) // 2


@dataclass(frozen=True)
class SeamReport:
    seam: Seam
    click_ratio: float
    click_at: int  # file sample of the largest non-onset jump (-1 if none)
    gap_ms: float
    loudness_jump_lu: float
    flags: tuple[str, ...] = field(default=())

    @property
    def discontinuity(self) -> bool:
        return "click" in self.flags or "gap" in self.flags

    def to_dict(self) -> dict:
        return {
            "start": self.seam.start,
            "end": self.seam.end,
            "click_ratio": round(self.click_ratio, 2),
            "click_at": self.click_at,
            "gap_ms": round(self.gap_ms, 3),
            "loudness_jump_lu": round(self.loudness_jump_lu, 2),
            "flags": list(self.flags),
        }


def seams_from_windows(windows: Iterable, first_sample: int) -> list[Seam]:
    """Seams of planner/scheduler windows (absolute samples) in a file that starts at ``first_sample``."""
    return [Seam(w.next_start - first_sample, w.end - first_sample) for w in windows if not w.is_last]


def _mono_abs_max(x: np.ndarray) -> np.ndarray:
    return np.abs(x).max(axis=1) if x.ndim == 2 else np.abs(x)


def _as_2d(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, np.float64)
    return a[:, None] if a.ndim == 1 else a


# ---------------------------------------------------------------- clicks


def _ac_level(x: np.ndarray) -> float:
    # Without its mean, so a DC step (a classic stitching click) is not taken for a louder sound.
    return float(np.std(x, axis=0).max()) if x.shape[0] > 1 else 0.0


def _is_onset(x: np.ndarray, i: int, sample_rate: int) -> bool:
    """A sound started at or up to 5 ms before ``i``: the 10 ms after ``i`` are >= 6 dB above
    the 10 ms that end 5 ms before it (a struck object's biggest jumps come a little after its start)."""
    w, lead = max(1, sample_rate // 100), sample_rate // 200
    before = _ac_level(x[max(0, i - lead - w) : max(0, i - lead)])
    after = _ac_level(x[i + 1 : i + 1 + w])
    return after >= 2.0 * max(before, 1e-9)


def click_score(audio: np.ndarray, sample_rate: int, lo: int, hi: int) -> tuple[float, int]:
    """Largest non-onset second-difference jump in ``[lo, hi)`` over the local level, and where."""
    a = _as_2d(audio)
    ctx = int(CONTEXT * sample_rate)
    c0, c1 = max(0, lo - ctx), min(a.shape[0], hi + ctx)
    if c1 - c0 < 3:
        return 0.0, -1
    x = a[c0:c1]
    d2 = np.zeros_like(x)
    d2[2:] = x[2:] - 2 * x[1:-1] + x[:-2]
    mag = np.abs(d2).max(axis=1)
    # Local level of the jumps: a running median over 10 ms, robust to the click itself.
    level = median_filter(mag, size=max(3, sample_rate // 100), mode="nearest") / 0.6745
    level = np.maximum(level, CLICK_FLOOR / CLICK_RATIO)
    ratio = mag / level
    r0, r1 = lo - c0, hi - c0
    region = ratio[r0:r1]
    onsets: list[int] = []
    reach = sample_rate // 100
    # Largest jumps first; the first that does not belong to a sound's start is the answer.
    # (An attack has many large jumps in its first milliseconds: one onset check covers them.)
    for k in np.argsort(region)[::-1][:512]:
        i = r0 + int(k)
        if mag[i] < CLICK_FLOOR:
            break  # every remaining ratio is below CLICK_RATIO (see the level floor)
        if any(abs(i - o) <= reach for o in onsets):
            continue
        if _is_onset(x, i, sample_rate):
            onsets.append(i)
            continue
        return float(ratio[i]), c0 + i
    return 0.0, -1


# ------------------------------------------------------------------ gaps


def gap_ms(audio: np.ndarray, sample_rate: int, lo: int, hi: int) -> float:
    """Longest digital silence in ``[lo, hi)`` (ms), 0 if the surroundings are silent too."""
    a = _as_2d(audio)
    ctx = int(CONTEXT * sample_rate)
    around = np.concatenate([a[max(0, lo - ctx) : lo], a[hi : hi + ctx]])
    if around.size == 0 or np.abs(around).max() <= SILENCE:
        return 0.0
    silent = _mono_abs_max(a[lo:hi]) <= SILENCE
    if not silent.any():
        return 0.0
    edges = np.diff(np.concatenate([[0], silent.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return float((ends - starts).max()) * 1000.0 / sample_rate


# -------------------------------------------------------------- loudness


def k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """BS.1770 K-weighting biquads (exact at 48 kHz; the same analog design elsewhere)."""
    if sample_rate == 48000:
        return [
            (np.array([1.53512485958697, -2.69169618940638, 1.19839281085285]),
             np.array([1.0, -1.69065929318241, 0.73248077421585])),
            (np.array([1.0, -2.0, 1.0]), np.array([1.0, -1.99004745483398, 0.99007225036621])),
        ]
    # High shelf +4 dB at ~1.68 kHz, then a 38 Hz high-pass (RBJ forms, as pyloudnorm).
    g, q, fc = 3.999843853973347, 0.7071752369554196, 1681.974450955533
    k = np.tan(np.pi * fc / sample_rate)
    vh, vb = 10 ** (g / 20), (10 ** (g / 20)) ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (np.array([(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]),
             np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    q, fc = 0.5003270373238773, 38.13547087602444
    k = np.tan(np.pi * fc / sample_rate)
    den = 1 + k / q + k * k
    hp = (np.array([1.0, -2.0, 1.0]), np.array([1.0, 2 * (k * k - 1) / den, (1 - k / q + k * k) / den]))
    return [shelf, hp]


def block_power(audio: np.ndarray, sample_rate: int, block: int) -> np.ndarray:
    """K-weighted mean square per ``block`` samples, summed over channels."""
    y = _as_2d(audio)
    for b, a in k_weighting(sample_rate):
        y = lfilter(b, a, y, axis=0)
    n = y.shape[0] // block
    return (y[: n * block] ** 2).reshape(n, block, -1).mean(axis=1).sum(axis=1)


def lufs(power: float) -> float:
    """BS.1770 loudness of a mean square; -70 (the absolute gate) for silence."""
    return max(-70.0, -0.691 + 10 * np.log10(max(power, 1e-30)))


def loudness_jumps(power: np.ndarray, positions: np.ndarray, span: int) -> np.ndarray:
    """Loudness (LU) of ``span`` blocks after each position minus the ``span`` before."""
    cum = np.concatenate([[0.0], np.cumsum(power)])
    n = power.shape[0]
    out = np.zeros(len(positions))
    for j, p in enumerate(positions):
        b0, b1 = max(0, p - span), min(n, p + span)
        if p - b0 < 1 or b1 - p < 1:
            continue
        before = (cum[p] - cum[b0]) / (p - b0)
        after = (cum[b1] - cum[p]) / (b1 - p)
        out[j] = lufs(after) - lufs(before)
    return out


# ------------------------------------------------------------------ all


def check_seams(audio: np.ndarray, sample_rate: int, seams: Sequence[Seam]) -> list[SeamReport]:
    """One :class:`SeamReport` per seam."""
    a = _as_2d(audio)
    margin = int(MARGIN * sample_rate)
    block = max(1, sample_rate // 100)  # 10 ms loudness blocks
    power = block_power(a, sample_rate, block)
    span = int(SHORT_TERM * 100)
    centres = np.array([s.centre // block for s in seams], np.int64)
    jumps = loudness_jumps(power, centres, span)
    natural = _natural_jump(power, centres, span)
    reports = []
    for seam, jump in zip(seams, jumps):
        lo, hi = max(0, seam.start - margin), min(a.shape[0], seam.end + margin)
        ratio, at = click_score(a, sample_rate, lo, hi)
        gap = gap_ms(a, sample_rate, lo, hi)
        flags = []
        if ratio >= CLICK_RATIO:
            flags.append("click")
        if gap >= GAP_MS:
            flags.append("gap")
        if abs(jump) > max(LOUDNESS_LU, natural):
            flags.append("loudness")
        reports.append(SeamReport(seam, ratio, at, gap, float(jump), tuple(flags)))
    return reports


def _natural_jump(power: np.ndarray, seam_blocks: np.ndarray, span: int) -> float:
    """99th percentile of |loudness jump| every 0.5 s away from the seams: the content's own."""
    n = power.shape[0]
    positions = np.arange(span, n - span, 50)
    if seam_blocks.size:
        far = np.min(np.abs(positions[:, None] - seam_blocks[None, :]), axis=1) > span
        positions = positions[far]
    if positions.size < 4:
        return 0.0
    return float(np.percentile(np.abs(loudness_jumps(power, positions, span)), 99))
