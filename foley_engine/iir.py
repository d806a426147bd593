"""A stateful IIR filter in plain numpy, block-parallel.

Why not ``scipy.signal.sosfilt``: importing ``scipy.signal`` costs every
``foley generate`` about a CPU second (it pulls in scipy.stats, scipy.special,
scipy.interpolate ...), more than filtering a whole hour of audio.  A sample
loop in Python is far too slow, so the difference equation is evaluated in
blocks of ``BLOCK`` samples, exactly up to rounding:

* inside a block, the output is the zero-state response to the block (a
  lower-triangular Toeplitz matrix of the impulse response: one matrix
  product for all blocks), plus the responses to the ``order`` inputs and
  the ``order`` outputs before the block (a few columns each);
* the inputs before each block are known; the outputs carried from block to
  block follow a linear recurrence ``s_k = M s_(k-1) + u_k`` (``order``
  dimensions), solved for all blocks at once by a doubling scan (log2 of the
  number of blocks array steps).

Checked against ``scipy.signal.sosfilt`` in tests/test_iir.py.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .blas import matmul_rows

#: samples per block: the matrix product costs BLOCK multiply-adds per sample
BLOCK = 32


def _respond(b: np.ndarray, a: np.ndarray, x_before: np.ndarray, y_before: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The difference equation sample by sample (``a[0] == 1``); histories newest first."""
    p = a.size - 1
    xs = list(x_before[::-1]) + list(x)  # chronological
    ys = list(y_before[::-1])
    for n in range(x.size):
        i = p + n
        acc = sum(b[j] * xs[i - j] for j in range(b.size))
        acc -= sum(a[j] * ys[i - j] for j in range(1, p + 1))
        ys.append(acc)
    return np.array(ys[p:])


class IIRFilter:
    """``B(z) / A(z)`` over ``channels`` rows, state kept from call to call."""

    def __init__(self, b: Sequence[float], a: Sequence[float], channels: int):
        a = np.asarray(a, np.float64)
        b = np.asarray(b, np.float64) / a[0]
        a = a / a[0]
        p = max(a.size, b.size) - 1
        self.b, self.a = np.pad(b, (0, p + 1 - b.size)), np.pad(a, (0, p + 1 - a.size))
        self.order = p
        L = BLOCK
        zeros = np.zeros(p)
        impulse = np.zeros(L)
        impulse[0] = 1.0
        h = _respond(self.b, self.a, zeros, zeros, impulse)
        unit = np.eye(p)
        # Columns: the block's response to x[-1-j] = 1 (gx) or y[-1-j] = 1 (gy), nothing else.
        gx = np.stack([_respond(self.b, self.a, unit[j], zeros, np.zeros(L)) for j in range(p)], axis=1)
        gy = np.stack([_respond(self.b, self.a, zeros, unit[j], np.zeros(L)) for j in range(p)], axis=1)
        lag = np.arange(L)[None, :] - np.arange(L)[:, None]  # row j (input), column i (output)
        self._toeplitz = np.where(lag >= 0, h[np.clip(lag, 0, None)], 0.0)  # (L, L): z = x @ T
        self._gx_t, self._gy_t = gx.T.copy(), gy.T.copy()  # (p, L)
        self._last = L - 1 - np.arange(p)  # a block's outputs y[L-1-j]: what it carries on
        self._m = gy[self._last, :]  # (p, p): carried outputs from those of the block before
        self._x_hist = np.zeros((channels, p))  # chronological: x[-p] ... x[-1]
        self._y_hist = np.zeros((channels, p))  # newest first: y[-1] ... y[-p]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Filter ``x`` (channels, n) following on from the previous call."""
        x = np.asarray(x, np.float64)
        ch, n = x.shape
        if n == 0:
            return np.zeros((ch, 0))
        p, L = self.order, BLOCK
        nb = -(-n // L)
        flat = np.zeros((ch, p + nb * L))
        flat[:, :p] = self._x_hist
        flat[:, p: p + n] = x
        # Inputs before each block, newest first: (ch, nb, p).
        x_before = np.stack([flat[:, p - 1 - j: p - 1 - j + nb * L: L] for j in range(p)], axis=2)
        z = matmul_rows(flat[:, p:].reshape(ch * nb, L), self._toeplitz).reshape(ch, nb, L) + x_before @ self._gx_t
        # Outputs carried after each block, then the doubling scan over blocks.
        s = z[:, :, self._last]  # (ch, nb, p), a copy
        s[:, 0] += self._y_hist @ self._m.T
        m, d = self._m, 1
        while d < nb:
            s[:, d:] += s[:, :-d] @ m.T
            m, d = m @ m, 2 * d
        before = np.concatenate([self._y_hist[:, None, :], s[:, :-1]], axis=1)  # (ch, nb, p)
        y = (z + before @ self._gy_t).reshape(ch, nb * L)[:, :n]
        self._x_hist = flat[:, n: n + p].copy()
        self._y_hist = np.concatenate([self._y_hist[:, ::-1], y[:, -p:]], axis=1)[:, :-p - 1:-1].copy()
        return y


class Cascade:
    """Filters in series, each with its own state (like ``sosfilt`` with ``zi``).  Biquads stay
    separate sections: multiplied out into one 4th-order filter they lose precision (poles near 1)."""

    def __init__(self, filters: Sequence[IIRFilter]):
        self.filters = list(filters)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for f in self.filters:
            x = f(x)
        return x


def cascade(sections: Sequence[tuple[Sequence[float], Sequence[float]]], channels: int) -> Cascade:
    """Biquads ``(b, a)`` in series."""
    return Cascade([IIRFilter(b, a, channels) for b, a in sections])
