"""Seamless noise textures laid on an absolute time grid.

A *texture* (rain hiss, fire crackle, babble, ...) is a bank of ``TILES``
loops of ``TILE`` samples, made once per process from a fixed seed.  The
timeline is cut into 1 s blocks at absolute sample ``b * BLOCK``; block
``b`` plays one loop from an offset, both picked by hashing
``(job seed, texture, channel, b)``, with ``XFADE``-sample equal-power
crossfades centred on the block boundaries.  So sample ``n`` is a fixed
function of ``n`` and the seed: any window that contains it computes the
same value, and a 20 s bed costs a few slices instead of fresh filtering.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from .dsp import SR, hash64, stable_id

TILE = 1 << 16  # 1.37 s loops (a power of two keeps the FFTs fast)
TILES = 8
BLOCK = SR  # one block per second of timeline
XFADE = 1024
_HALF = XFADE // 2

#: name -> maker(rng, TILE) returning one periodic loop
TEXTURES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {}


def texture(name: str):
    """Register a texture maker under ``name``."""
    def register(maker):
        TEXTURES[name] = maker
        return maker
    return register


@lru_cache(maxsize=None)
def bank(name: str) -> np.ndarray:
    """The loops of texture ``name``, (TILES, TILE) float32, each with unit RMS."""
    maker = TEXTURES[name]
    rng = np.random.default_rng(stable_id(name))
    loops = np.empty((TILES, TILE), np.float32)
    for i in range(TILES):
        loop = np.asarray(maker(rng, TILE), np.float64)
        loop -= loop.mean()
        loops[i] = loop / max(1e-12, float(np.sqrt(np.mean(loop * loop))))
    loops.setflags(write=False)
    return loops


@lru_cache(maxsize=2)
def _fades() -> tuple[np.ndarray, np.ndarray]:
    phase = (np.arange(XFADE) + 0.5) / XFADE * (np.pi / 2)
    # sin^2 + cos^2 = 1: constant power across a seam
    return np.sin(phase).astype(np.float32), np.cos(phase).astype(np.float32)


def read(name: str, seed: int, channel: int, start: int, n: int) -> np.ndarray:
    """Texture ``name`` for absolute samples ``[start, start+n)`` (float32: beds are noise
    at -20 dBFS or below, and half the memory traffic is most of their cost)."""
    loops = bank(name)
    fade_in, fade_out = _fades()
    tex_id = stable_id(name)
    out = np.zeros(n, np.float32)
    end = start + n
    for b in range((start - _HALF) // BLOCK - 1, (end - 1 + _HALF) // BLOCK + 1):
        seg_lo, seg_hi = b * BLOCK - _HALF, (b + 1) * BLOCK + _HALF
        lo, hi = max(seg_lo, start), min(seg_hi, end)
        if lo >= hi:
            continue
        h = hash64(seed, tex_id, channel, b)
        loop = loops[h % TILES]
        offset = h >> 8
        sign = -1.0 if (h >> 40) & 1 else 1.0
        # Middle of the block: a plain copy.  Seams: add with the fade weights,
        # the earlier block first (the same order in every window).
        core_lo, core_hi = max(lo, seg_lo + XFADE), min(hi, seg_hi - XFADE)
        if core_lo < core_hi:
            _copy(out[core_lo - start: core_hi - start], loop, core_lo + offset, sign)
        for a, z, fade, f0 in ((lo, min(hi, seg_lo + XFADE), fade_in, seg_lo),
                               (max(lo, seg_hi - XFADE), hi, fade_out, seg_hi - XFADE)):
            if a < z:
                piece = np.empty(z - a, np.float32)
                _copy(piece, loop, a + offset, sign)
                out[a - start: z - start] += piece * fade[a - f0: z - f0]
    return out


def _copy(dest: np.ndarray, loop: np.ndarray, position: int, sign: float) -> None:
    """dest[:] = sign * loop[position ...] with wrap-around (dest is shorter than a loop)."""
    p = position % TILE
    first = min(dest.size, TILE - p)
    dest[:first] = loop[p: p + first]
    if first < dest.size:
        dest[first:] = loop[: dest.size - first]
    if sign < 0:
        np.negative(dest, out=dest)


def scatter(rng: np.random.Generator, n: int, rate: float, kernels: list, amp=(0.2, 1.0)) -> np.ndarray:
    """A loop of ``n`` samples with Poisson-timed copies of the given short sounds.

    Copies that run past the end wrap round to the start, so the result
    loops without a seam (rain drops, crackles, bubbles, pings).
    """
    longest = max(k.size for k in kernels)
    out = np.zeros(n + longest)
    count = rng.poisson(rate * n / SR)
    which = rng.integers(0, len(kernels), count)
    gains = rng.uniform(*amp, count) * rng.choice([-1.0, 1.0], count)
    for pos, k, g in zip(rng.integers(0, n, count), which, gains):
        kernel = kernels[k]
        out[pos: pos + kernel.size] += g * kernel
    out[:longest] += out[n:]
    return out[:n]
