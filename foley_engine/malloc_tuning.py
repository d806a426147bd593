"""Keep memory flat over long jobs (glibc only; a no-op elsewhere).

glibc raises its mmap threshold each time a large block is freed, so after
the first window the synthesiser's multi-megabyte buffers come from the
heap instead of mmap, fragment it, and resident memory creeps up for
minutes.  Two remedies, used where each pays:

* :func:`trim_heap` after every window (the scheduler) and every job (the
  engine worker) returns freed memory; it costs a few milliseconds.  With it
  the engine's worker RSS grows 0.35 % over 100 jobs at 3 % overhead.
* :func:`pin_mmap_threshold` fixes the threshold, so glibc never moves it;
  the ``foley`` command line uses it because one long job would otherwise
  peak 12 % higher at 20 minutes than at 1 (1080p, measured with 20-s
  windows).  At 16 MiB the procedural backend's 10-s window buffers
  (~7.5 MiB) stay on the heap and are reused from window to window; at
  4 MiB (the value until the segment-decoding round) each window mapped
  them afresh: ~30 000 more page faults and ~0.2 s more system time per
  minute of 1080p, 10 % of the whole run.  Peak RSS at 20 minutes is
  1.10x the 1-minute run either way (``benchmarks/longform.py``).
  (128 KiB cost 25 % even at 1080p.)  The engine does not pin: its worker
  trims after every job instead.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 16 * 1024 * 1024  # above one 10-s window's buffers


@functools.lru_cache(maxsize=None)
def _glibc_function(name: str):
    """glibc's ``name``, looked up once: ``find_library`` runs ``ldconfig -p`` in a child process and
    ``CDLL`` builds a new function-pointer class on every call, and ``trim_heap`` runs after every window."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None  # not glibc (e.g. musl)


def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold; returns whether it was applied."""
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def trim_heap() -> None:
    """Return freed heap memory to the OS (between jobs in a long-lived worker)."""
    malloc_trim = _glibc_function("malloc_trim")
    if malloc_trim is not None:
        if malloc_trim.argtypes is None:
            malloc_trim.argtypes = [ctypes.c_size_t]
        malloc_trim(0)
