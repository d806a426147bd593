"""Loudness of a finished stem: ITU-R BS.1770-4 integrated loudness and true peak, streaming.

The scheduler streams spans; the meter takes them in order and keeps only
filter states and one mean square per 100 ms, so an hour costs a few
hundred kilobytes.  The stem is then normalised by one gain for the whole
file (target LUFS, but never above the true-peak ceiling), which keeps every
sample where it was and cannot depend on window boundaries.  No limiter:
when the ceiling wins, the stem ends up quieter than the target.

Checked against ``pyloudnorm`` (BS.1770-4) and scipy's ``resample_poly`` in
tests/test_loudness.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
import soundfile as sf

from .iir import cascade


DEFAULT_TARGET_LUFS = -23.0  # EBU R 128
DEFAULT_TRUE_PEAK_DBTP = -1.0
BLOCK_SECONDS = 0.4  # gating block, 75 % overlap: four 100 ms steps
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
OVERSAMPLE = 4  # true peak: 4x oversampling (BS.1770-4 annex 2)
EDGE_FADE_SECONDS = 0.005
#: an edge "starts mid-sound" when its first (last) 5 ms reach above this (dBFS)
EDGE_SOUND_DB = -60.0


def k_weighting(sr: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads (high shelf, then RLB high-pass) for ``sr``,
    by the bilinear formulas pyloudnorm uses (exact at 48 kHz)."""
    def shelf(g, q, fc):
        a = 10 ** (g / 40.0)
        w0 = 2 * math.pi * fc / sr
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        b = [a * ((a + 1) + (a - 1) * cw + 2 * math.sqrt(a) * alpha), -2 * a * ((a - 1) + (a + 1) * cw),
             a * ((a + 1) + (a - 1) * cw - 2 * math.sqrt(a) * alpha)]
        den = [(a + 1) - (a - 1) * cw + 2 * math.sqrt(a) * alpha, 2 * ((a - 1) - (a + 1) * cw),
               (a + 1) - (a - 1) * cw - 2 * math.sqrt(a) * alpha]
        return np.array(b) / den[0], np.array(den) / den[0]

    def highpass(q, fc):
        w0 = 2 * math.pi * fc / sr
        alpha = math.sin(w0) / (2 * q)
        cw = math.cos(w0)
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        den = [1 + alpha, -2 * cw, 1 - alpha]
        return np.array(b) / den[0], np.array(den) / den[0]

    return [shelf(4.0, 1 / math.sqrt(2), 1500.0), highpass(0.5, 38.0)]


@lru_cache(maxsize=2)
def _interpolator() -> np.ndarray:
    """4x interpolation filter for true peak: Kaiser-windowed sinc (beta 5, 81 taps), the
    design of scipy's ``resample_poly`` for a factor of 4, with unity gain per phase."""
    half = 10 * OVERSAMPLE
    t = (np.arange(2 * half + 1) - half) / OVERSAMPLE
    h = np.sinc(t) * np.kaiser(2 * half + 1, 5.0)
    return h * (OVERSAMPLE / h.sum())


def _oversampled_valid(x: np.ndarray, context: int) -> float:
    """Peak of ``x`` (n, channels) interpolated 4x, over all but ``context`` samples at each end
    (there the filter would see the zero padding)."""
    h = _interpolator()
    stuffed = np.zeros(x.shape[0] * OVERSAMPLE)
    peak = 0.0
    for ch in range(x.shape[1]):
        stuffed[::OVERSAMPLE] = x[:, ch]
        y = np.convolve(stuffed, h, "same")[OVERSAMPLE * context: OVERSAMPLE * (x.shape[0] - context)]
        peak = max(peak, float(np.abs(y).max(initial=0.0)))
    return peak


class LoudnessMeter:
    """Feed blocks ``(n, channels)`` in order; read ``integrated()`` (LUFS) and ``true_peak()`` (dBTP)."""

    #: samples filtered at a time: bounds the working memory whatever the span length
    CHUNK = 1 << 16

    def __init__(self, sample_rate: int, channels: int):
        self.sr = sample_rate
        self.channels = channels
        self.step = sample_rate // 10  # 100 ms (exact at 48 kHz and 44.1 kHz)
        # Both biquads over channel-major rows, stateful (numpy only: importing scipy.signal
        # would cost every `foley generate` about a CPU second).
        self._k_filter = cascade(k_weighting(sample_rate), channels)
        self._carry = np.zeros((channels, 0))  # filtered samples short of a whole step (channel-major)
        self._steps: list[np.ndarray] = []  # sum of squares per 100 ms step, per channel
        self._context = 64  # samples either side for the oversampling filter
        self._tp_buf = np.zeros((self._context, channels))
        self._peak = 0.0
        self.samples = 0

    def add(self, block: np.ndarray) -> None:
        x = np.asarray(block).reshape(-1, self.channels)
        for i in range(0, x.shape[0], self.CHUNK):
            self._add_chunk(x[i: i + self.CHUNK])

    def _add_chunk(self, x: np.ndarray) -> None:
        n = x.shape[0]
        if n == 0:
            return
        self.samples += n
        self._true_peak_add(x)
        y = self._k_filter(x.T)
        if self._carry.shape[1]:
            y = np.concatenate([self._carry, y], axis=1)
        whole = y.shape[1] // self.step * self.step
        if whole:
            sq = (y[:, :whole] ** 2).reshape(self.channels, -1, self.step).sum(axis=2)
            self._steps.extend(sq.T)
        self._carry = y[:, whole:]

    def _true_peak_add(self, x: np.ndarray) -> None:
        c = self._context
        data = np.concatenate([self._tp_buf, x])
        n = data.shape[0]
        if n < 3 * c:
            self._tp_buf = data
            return
        inner = data[c: n - c]
        level = np.abs(inner[:, 0])
        for ch in range(1, self.channels):  # column by column: a max over a 2-wide axis is slow in numpy
            np.maximum(level, np.abs(inner[:, ch]), out=level)
        self._peak = max(self._peak, float(level.max()))  # the samples themselves bound it from below
        # Between samples a band-limited signal rises at most ~3 dB above them: only stretches
        # whose samples come within 6 dB of the peak so far need oversampling (a few per stem).
        sub = self.step
        for j in range(0, level.size, sub):
            if 2.0 * float(level[j: j + sub].max()) > self._peak:
                lo, hi = c + j, min(n - c, c + j + sub)
                up = _oversampled_valid(data[lo - c: hi + c], c)
                self._peak = max(self._peak, up)
        self._tp_buf = data[n - 2 * c:]

    def true_peak(self) -> float:
        """Maximum of the 4x oversampled signal, in dBTP (-inf for silence)."""
        c = self._context
        peak = self._peak
        data = self._tp_buf
        if data.shape[0] > c:
            peak = max(peak, float(np.abs(data[c:]).max()), _oversampled_valid(
                np.concatenate([data, np.zeros((c, self.channels))]), c))
        return 20 * math.log10(peak) if peak > 0 else -math.inf

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS (-inf when everything is below the absolute gate)."""
        steps = np.asarray(self._steps).reshape(-1, self.channels)
        per_block = 4  # 400 ms blocks, hop 100 ms
        if steps.shape[0] < per_block:
            return -math.inf
        kernel = np.ones(per_block)
        z = np.stack([np.convolve(steps[:, ch], kernel, "valid") for ch in range(self.channels)], axis=1)
        z /= per_block * self.step
        power = z.sum(axis=1)  # channel weights 1 (no surround channels here)
        with np.errstate(divide="ignore"):
            loud = -0.691 + 10 * np.log10(power)
        gated = power[loud > ABSOLUTE_GATE]
        if gated.size == 0:
            return -math.inf
        relative = -0.691 + 10 * math.log10(gated.mean()) + RELATIVE_GATE
        final = power[(loud > ABSOLUTE_GATE) & (loud > relative)]
        return -0.691 + 10 * math.log10(final.mean())


@dataclass(frozen=True)
class Normalisation:
    """What to do to a finished stem: a loudness target and a true-peak ceiling."""

    target_lufs: float = DEFAULT_TARGET_LUFS
    ceiling_dbtp: float = DEFAULT_TRUE_PEAK_DBTP

    @classmethod
    def for_job(cls, loudness: Optional[str], true_peak: Optional[float],
                default_target: Optional[float]) -> Optional["Normalisation"]:
        """A job's ``loudness`` (LUFS as text, or "off") and ``true_peak`` (dBTP); a backend
        without a default target is left alone unless the job asks for one."""
        value = default_target if loudness is None else loudness
        if value is None or str(value).strip().lower() in ("off", "none", "false", ""):
            return None
        return cls(float(value), DEFAULT_TRUE_PEAK_DBTP if true_peak is None else float(true_peak))

    def gain_db(self, integrated: float, true_peak: float) -> float:
        """The one gain for the file: to the target, but never past the ceiling."""
        if not math.isfinite(integrated) or not math.isfinite(true_peak):
            return 0.0
        return min(self.target_lufs - integrated, self.ceiling_dbtp - true_peak)


def edge_fade(audio: np.ndarray, sr: int, at_start: bool) -> None:
    """Fade in (or out) over 5 ms, in place, if the file starts (ends) mid-sound."""
    n = min(audio.shape[0], max(1, round(EDGE_FADE_SECONDS * sr)))
    edge = audio[:n] if at_start else audio[-n:]
    if edge.size == 0 or np.abs(edge).max() <= 10 ** (EDGE_SOUND_DB / 20):
        return
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    edge *= (ramp if at_start else ramp[::-1])[:, None]


def finish_file(source: str, out_path: str, subtype: str, gain_db: float, block: int = 1 << 18) -> None:
    """Copy float WAV ``source`` to ``out_path`` (atomically) times ``gain_db``, with edge fades."""
    from .media.wav import AtomicWavWriter

    gain = 10 ** (gain_db / 20)
    with sf.SoundFile(source) as src, AtomicWavWriter(out_path, src.samplerate, src.channels, subtype) as dst:
        total = src.frames
        done = 0
        while done < total:
            chunk = src.read(min(block, total - done), dtype="float32", always_2d=True) * np.float32(gain)
            if done == 0:
                edge_fade(chunk, src.samplerate, True)
            done += chunk.shape[0]
            if done == total:
                edge_fade(chunk, src.samplerate, False)
            dst.write(chunk)
