"""Keep the process's memory flat over long jobs (glibc only; a no-op elsewhere).

glibc raises its mmap threshold each time a large block is freed, so after
the first window the synthesiser's multi-megabyte buffers come from the
heap instead of mmap, fragment it, and resident memory creeps up for
minutes.  Pinning the threshold at 4 MiB keeps those buffers on mmap
(returned to the OS when freed) while the many smaller per-frame arrays
stay on the heap: pinning it at glibc's 128 KiB default instead cost 25 %
more CPU in page faults.  Measured on 1- and 5-minute 1080p jobs: peak RSS
172 and 176 MB (unpinned: 185 MB and still growing), CPU time unchanged.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024


def _glibc_function(name: str):
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
        malloc_trim.argtypes = [ctypes.c_size_t]
        malloc_trim(0)
