"""A stateful IIR filter (cascade of biquads) in plain numpy, block-parallel.

Why not ``scipy.signal.sosfilt``: importing ``scipy.signal`` costs every
``foley generate`` about a CPU second (it pulls in scipy.stats, scipy.special,
scipy.interpolate ...), more than filtering a whole hour of audio.  A sample
loop in Python is far too slow, so the recursion is evaluated in blocks of
``BLOCK`` samples, exactly (up to rounding):

* inside a block, the output is the zero-state response (a lower-triangular
  Toeplitz matrix of the impulse response: one matrix product for all blocks)
  plus the response to the two outputs before the block (two columns);
* the outputs that carry over from block to block follow a 2-dimensional
  linear recurrence ``s_k = M s_(k-1) + u_k``, solved for all blocks at once
  by a doubling scan (log2(blocks) array steps).

Checked against ``scipy.signal.sosfilt`` in tests/test_iir.py.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

#: samples per block: the matrix product costs BLOCK multiply-adds per sample
BLOCK = 32


class Biquad:
    """One section ``b0 + b1 z^-1 + b2 z^-2 / 1 + a1 z^-1 + a2 z^-2`` over ``channels`` rows."""

    def __init__(self, b: Sequence[float], a: Sequence[float], channels: int):
        b = np.asarray(b, np.float64) / a[0]
        a = np.asarray(a, np.float64) / a[0]
        self.b = b
        L = BLOCK
        # Zero-state impulse response of the all-pole part 1 / (1 + a1 z^-1 + a2 z^-2) (column 0),
        # and the responses to a previous output y[-1] = 1 (column 1) or y[-2] = 1 (column 2);
        # rows 0 and 1 hold y[-2] and y[-1].
        ext = np.zeros((L + 2, 3))
        ext[1, 1] = ext[0, 2] = 1.0
        for i in range(L):
            ext[i + 2] = -a[1] * ext[i + 1] - a[2] * ext[i]
            ext[i + 2, 0] += 1.0 if i == 0 else 0.0
        h, g = ext[2:, 0], ext[2:, 1:]
        idx = np.arange(L)
        lag = idx[:, None] - idx[None, :]
        self._toeplitz_t = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0).T.copy()  # (L, L), for v @ T
        self._g_t = g.T.copy()  # (2, L)
        # Carried outputs (y[L-1], y[L-2]) of a block from those of the block before.
        self._m = g[[L - 1, L - 2], :]  # (2, 2)
        self._x_hist = np.zeros((channels, 2))  # x[-2], x[-1]
        self._y_hist = np.zeros((channels, 2))  # y[-1], y[-2]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter ``x`` (channels, n) following on from the previous call."""
        ch, n = x.shape
        if n == 0:
            return np.zeros((ch, 0))
        b0, b1, b2 = self.b
        xp = np.concatenate([self._x_hist, x], axis=1)
        v = b0 * xp[:, 2:] + b1 * xp[:, 1:-1] + b2 * xp[:, :-2]
        L = BLOCK
        nb = -(-n // L)
        if nb * L != n:
            v = np.concatenate([v, np.zeros((ch, nb * L - n))], axis=1)
        z = (v.reshape(ch * nb, L) @ self._toeplitz_t).reshape(ch, nb, L)
        # Carried outputs after each block, then the doubling scan over blocks.
        s = z[:, :, [L - 1, L - 2]].copy()  # (ch, nb, 2)
        s[:, 0] += self._y_hist @ self._m.T
        s0, s1 = s[:, :, 0], s[:, :, 1]  # views: two plain rows scan faster than tiny matrix products
        p, d = self._m, 1
        while d < nb:
            a0, a1 = s0[:, :-d], s1[:, :-d]
            c0, c1 = p[0, 0] * a0 + p[0, 1] * a1, p[1, 0] * a0 + p[1, 1] * a1
            s0[:, d:] += c0
            s1[:, d:] += c1
            p, d = p @ p, 2 * d
        before = np.concatenate([self._y_hist[:, None, :], s[:, :-1]], axis=1)  # (ch, nb, 2)
        y = (z + before @ self._g_t).reshape(ch, nb * L)[:, :n]
        self._x_hist = xp[:, -2:].copy()
        tail = np.concatenate([self._y_hist[:, ::-1], y[:, -2:]], axis=1)  # ..., y[n-2], y[n-1]
        self._y_hist = tail[:, [-1, -2]].copy()
        return y


class BiquadCascade:
    """Sections applied in order, each keeping its own state (like ``sosfilt`` with ``zi``)."""

    def __init__(self, sections: Sequence[tuple[Sequence[float], Sequence[float]]], channels: int):
        self.sections = [Biquad(b, a, channels) for b, a in sections]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, np.float64)
        for section in self.sections:
            y = section(y)
        return y
