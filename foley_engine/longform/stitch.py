"""Crossfades whose weights sum to exactly 1.

The previous window's weight falls along a raised cosine; the next
window's weight is ``1 - w``.  Mixing as ``next + w * (prev - next)`` makes
two identical signals come out sample for sample identical (``prev - next``
is exactly 0), which a plain ``w*prev + (1-w)*next`` does not guarantee.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def fade_out_weights(length: int) -> np.ndarray:
    """Weights of the outgoing window over an overlap of ``length`` samples (1 -> 0)."""
    if length <= 0:
        return np.zeros(0, np.float64)
    phase = (np.arange(length, dtype=np.float64) + 0.5) / length
    w = 0.5 * (1.0 + np.cos(np.pi * phase))
    w.setflags(write=False)
    return w


def crossfade(previous: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Blend the overlap: ``previous`` fades out, ``following`` fades in."""
    if previous.shape != following.shape:
        raise ValueError(f"overlap shapes differ: {previous.shape} vs {following.shape}")
    w = fade_out_weights(previous.shape[0])
    if previous.ndim == 2:
        w = w[:, None]
    prev64 = previous.astype(np.float64)
    next64 = following.astype(np.float64)
    return (next64 + w * (prev64 - next64)).astype(following.dtype)
