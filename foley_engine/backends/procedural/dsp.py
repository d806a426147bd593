"""Shared DSP pieces: seeding, spectral noise shaping, envelopes, pan, limiter, control-rate curves.

Everything here is a pure function of its arguments, so a sample computed
for one window is the same number when another window computes it.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np

SR = 48_000
_MASK = (1 << 64) - 1

#: control-rate step: slow curves are computed every CTRL samples (at absolute
#: multiples of CTRL) and linearly interpolated, which is exact per sample and
#: cheap (a 20 s window needs 7500 curve points instead of 960 000).
CTRL = 128


# ----------------------------------------------------------------- seeding

def stable_id(name: str) -> int:
    """A per-name integer that is the same in every process (``hash()`` is salted)."""
    return zlib.crc32(name.encode("utf-8"))


def _splitmix(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def hash64(*values: int) -> int:
    """Mix integers (any sign/size) into one well-spread 64-bit value."""
    h = 0
    for v in values:
        h = _splitmix(h ^ (int(v) & _MASK))
    return h


def unit(h: int) -> float:
    """A float in [0, 1) from a 64-bit hash."""
    return (h >> 11) / float(1 << 53)


def rng_for(*values: int) -> np.random.Generator:
    """A generator seeded by (seed, kind id, absolute sample, ...): window independent."""
    return np.random.default_rng(hash64(*values))


# ------------------------------------------------------------ noise shaping

def band_magnitude(freqs: np.ndarray, lo: float, hi: float, order: float = 2.0, tilt: float = 0.0) -> np.ndarray:
    """Butterworth-like band-pass magnitude with an optional spectral tilt (dB/oct = 6*tilt)."""
    # float32: a noise colour needs no more, and float64 powers are several times slower.
    f = np.maximum(freqs, 1.0).astype(np.float32)
    power = np.float32(2 * order)
    mag = np.ones_like(f)
    if lo > 0:
        mag /= np.sqrt(1.0 + np.minimum(np.float32(lo) / f, np.float32(1e4)) ** power)
    if hi > 0:
        mag /= np.sqrt(1.0 + np.minimum(f / np.float32(hi), np.float32(1e4)) ** power)
    if tilt:
        mag *= (f / np.float32(1000.0)) ** np.float32(tilt)
    mag[0] = 0.0
    return mag.astype(np.float64)


@lru_cache(maxsize=512)
def _magnitude(size: int, lo: float, hi: float, order: float, tilt: float) -> np.ndarray:
    """Cached shaping curve for an rfft of ``size`` (recipes reuse a handful of bands)."""
    mag = band_magnitude(np.fft.rfftfreq(size, 1.0 / SR), lo, hi, order, tilt)
    mag.setflags(write=False)
    return mag


@lru_cache(maxsize=4096)
def next_fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= ``n``: a length the FFT handles fast (as scipy's
    ``next_fast_len(n, real=True)``; scipy.fft itself costs every start-up ~0.3 s to import)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35 << max(0, (-(-n // p35) - 1).bit_length())  # times the smallest power of 2 reaching n
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def shaped_noise(rng: np.random.Generator, n: int, lo: float, hi: float, order: float = 2.0,
                 tilt: float = 0.0, periodic: bool = False) -> np.ndarray:
    """Gaussian noise of length ``n`` with a band-pass spectrum, unit RMS.

    Shaping is done in the frequency domain (no filter design, no state).
    With ``periodic`` the result loops seamlessly (used for texture tiles).
    """
    if n <= 0:
        return np.zeros(0)
    size = n if periodic else next_fast_len(n + n // 8)
    mag = _magnitude(size, float(lo), float(hi), float(order), float(tilt))
    spec = rng.standard_normal(mag.size) + 1j * rng.standard_normal(mag.size)
    spec *= mag
    out = np.fft.irfft(spec, size)[:n]
    return out / max(1e-12, float(np.sqrt(np.mean(out * out))))


def convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear convolution truncated to ``len(x)`` (FFT based)."""
    n = x.size + kernel.size - 1
    size = next_fast_len(n)
    return np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(kernel, size), size)[: x.size]


# --------------------------------------------------------------- envelopes

def seconds(n_seconds: float) -> int:
    """A duration in samples (durations only; times on the timeline are Fractions)."""
    return max(1, int(round(n_seconds * SR)))


@lru_cache(maxsize=256)
def _time_axis(n: int) -> np.ndarray:
    t = np.arange(n) / SR
    t.setflags(write=False)
    return t


def time_axis(n: int) -> np.ndarray:
    """Local time in seconds of a one-shot's samples 0..n-1 (read-only, cached)."""
    return _time_axis(int(n))


#: an exponential decay is computed for this many time constants, then it is zero (e^-11 is -96 dB)
_DECAY_SPAN = 11.0


def _span(n: int, tau: float, attack: float = 0.0) -> int:
    return min(n, int(np.ceil((attack + _DECAY_SPAN * tau) * SR)) + 1)


def fast_exp(x: np.ndarray) -> np.ndarray:
    """exp() in float32 (float64 exp/sin are many times slower on some builds); envelopes only."""
    return np.exp(x.astype(np.float32)).astype(np.float64)


def decay(n: int, tau: float, attack: float = 0.0) -> np.ndarray:
    """exp(-t/tau) with an optional linear attack (seconds)."""
    m = _span(n, tau, attack)
    t = time_axis(m)
    env = np.zeros(n)
    env[:m] = fast_exp(t * (-1.0 / tau))
    if attack > 0:
        env[:m] *= np.minimum(1.0, t / attack)
    return env


def glide_tone(n: int, f_start: float, f_end: float, glide_tau: float, tau: float) -> np.ndarray:
    """A decaying sine whose pitch falls exponentially (kick/thud bodies); phase is analytic."""
    m = _span(n, tau)
    t = time_axis(m)
    phase = 2 * np.pi * (f_end * t + (f_start - f_end) * glide_tau * (1.0 - fast_exp(t * (-1.0 / glide_tau))))
    out = np.zeros(n)
    out[:m] = fast_sin(phase) * fast_exp(t * (-1.0 / tau))
    return out


def fast_sin(phase: np.ndarray) -> np.ndarray:
    """sin() in float32 (about 10x faster than float64 here); phase is wrapped in float64 first.

    Only for one-shot bodies, whose values never need to match across windows
    to better than float32 anyway.
    """
    turns = phase * (1.0 / (2 * np.pi))
    turns -= np.floor(turns)
    turns *= 2 * np.pi
    return np.sin(turns.astype(np.float32)).astype(np.float64)


@lru_cache(maxsize=64)
def _fade_curve(length: int) -> np.ndarray:
    curve = np.cos(0.5 * np.pi * (np.arange(length) + 1) / length) ** 2
    curve.setflags(write=False)
    return curve


def fade_tail(x: np.ndarray, length: int) -> np.ndarray:
    """Fade the last ``length`` samples to exactly zero (sounds end before the lookback)."""
    length = min(length, x.size)
    if length > 0:
        x[-length:] *= _fade_curve(length)
    return x


def sharpen(x: np.ndarray, ramp: int = 8) -> np.ndarray:
    """A tiny linear ramp at the start: a sharp (< 1 ms) attack without a DC click."""
    ramp = min(ramp, x.size)
    x[:ramp] *= (np.arange(ramp) + 1) / (ramp + 1)
    return x


def normalise(x: np.ndarray, peak: float = 1.0) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / m) if m > 1e-12 else x


# ------------------------------------------------------------ pan, limiter

def pan_gains(x) -> tuple:
    """Constant-power pan: x=-1 left, 0 centre (both 1/sqrt 2), +1 right."""
    theta = (np.clip(x, -1.0, 1.0) + 1.0) * (np.pi / 4)
    return np.cos(theta), np.sin(theta)


KNEE = 0.75
CEILING = 0.98


def soft_limit(x: np.ndarray) -> np.ndarray:
    """Memoryless soft clip: linear below KNEE, tanh into CEILING above (never reaches 1)."""
    a = np.abs(x)
    over = a > KNEE
    if np.any(over):
        room = CEILING - KNEE
        x = x.copy()
        x[over] = np.sign(x[over]) * (KNEE + room * np.tanh((a[over] - KNEE) / room))
    return x


# ------------------------------------------------------- control-rate grid

@lru_cache(maxsize=4)
def _ramp() -> np.ndarray:
    r = (np.arange(CTRL) / CTRL).astype(np.float32)
    r.setflags(write=False)
    return r


class ControlGrid:
    """Absolute control points ``k*CTRL`` covering samples ``[start, start+n)``."""

    def __init__(self, start: int, n: int):
        self.start, self.n = start, n
        self.k0 = start // CTRL
        k1 = (start + max(n, 1) - 1) // CTRL + 1
        self.positions = np.arange(self.k0, k1 + 1, dtype=np.int64) * CTRL
        self.seconds = self.positions / SR

    def upsample(self, values: np.ndarray) -> np.ndarray:
        """Linear interpolation of control values to audio rate for this window (float32)."""
        v = np.asarray(values, dtype=np.float32)
        seg = np.multiply.outer(np.diff(v), _ramp())  # in place below: no extra temporaries
        seg += v[:-1, None]
        lo = self.start - self.k0 * CTRL
        return seg.ravel()[lo: lo + self.n]


def lfo(positions: np.ndarray, seed: int, salt: int, periods_s: tuple) -> np.ndarray:
    """A smooth seeded wobble in [-1, 1]: mean of sines with integer-sample periods.

    Phases are computed as ``(position mod period) / period``, exact for any
    absolute position, so hours into a file the curve is as precise as at 0.
    """
    out = np.zeros(positions.size)
    for i, p in enumerate(periods_s):
        h = hash64(seed, salt, i)
        period = int(p * SR * (0.85 + 0.3 * unit(h)))
        phase0 = unit(h >> 7)
        out += np.sin(2 * np.pi * ((positions % period) / period + phase0))
    return out / max(1, len(periods_s))


# ------------------------------------------------------------ noise events

def burst(rng: np.random.Generator, n: int, lo: float, hi: float, tau: float, attack: float = 0.0,
          order: float = 2.0) -> np.ndarray:
    """A band-passed noise burst with an exponential decay (clicks, scuffs, slaps)."""
    m = _span(n, tau, attack)
    out = np.zeros(n)
    out[:m] = shaped_noise(rng, m, lo, hi, order) * decay(m, tau, attack)
    return out


def grain_envelope(rng: np.random.Generator, n: int, rate: float, span: float, grain_tau: float) -> np.ndarray:
    """Crackle: Poisson grains over the first ``span`` seconds, each an exp(-t/grain_tau) blip.

    Multiplying noise by this gives gravel crunch, snow squeak, leaf crinkle.
    """
    span_n = min(n, seconds(span))
    count = rng.poisson(rate * span)
    train = np.zeros(n)
    if count:
        # Denser at the start: a foot or an object settles quickly.
        pos = (span_n * rng.power(0.6, count)).astype(np.int64)
        np.add.at(train, np.minimum(pos, n - 1), rng.uniform(0.2, 1.0, count))
    kernel = np.exp(-np.arange(seconds(grain_tau * 6)) / (grain_tau * SR))
    return convolve(train, kernel)
