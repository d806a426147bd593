"""A time and memory bound around one hostile case (used by the fuzz and hostile-input tests).

Time: a real-time interval timer raises in the main thread, so a loop that would never end fails the
test instead of hanging the suite.  Memory: tracemalloc's peak of Python allocations (bytes objects,
lists, dicts: what a zip bomb or a growing loop makes) during the case.
"""
from __future__ import annotations

import contextlib
import signal
import tracemalloc


class OverBound(AssertionError):
    pass


@contextlib.contextmanager
def bounded(seconds: float = 5.0, megabytes: float = 64.0):
    def expire(*_):
        raise OverBound(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    tracemalloc.start()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if peak > megabytes * 2**20:
        raise OverBound(f"allocated {peak / 2**20:.0f} MiB at peak (bound {megabytes:g} MiB)")
