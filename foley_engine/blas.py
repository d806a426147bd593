"""Matrix products that keep OpenBLAS on the calling thread.

OpenBLAS splits a product over threads once it exceeds ~2^18 multiply-adds.  The
products here are long and thin (thousands of rows, tens of columns); on a busy
machine the helper threads spin and wait, and the same product cost ten times
the CPU time (and more wall time) of single-threaded pieces (measured with
numpy's OpenBLAS on 2 shared cores).  Decoding already keeps the cores busy.
"""
from __future__ import annotations

import numpy as np

#: multiply-adds per piece: at or under OpenBLAS's threading threshold (65536 * 4)
PIECE_MACS = 1 << 18


def matmul_rows(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` for 2-D ``a`` (m, k) and ``b`` (k, n), computed a band of rows at a time."""
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), np.result_type(a, b))
    rows = max(1, PIECE_MACS // max(1, k * n))
    for i in range(0, m, rows):
        np.matmul(a[i: i + rows], b, out=out[i: i + rows])
    return out
