"""Window pools: generate the windows of one item side by side (backends with independent windows).

The scheduler plans, decodes and analyses the item once, in order, hands up to
``width`` window requests to a pool and stitches the results in order, so the
output is the one a single generator writes, sample for sample.  This module has
the in-process pool (threads, one backend instance each: for backends that release
the GIL, such as a GPU model or a remote call); the engine's ray slots have one over
Ray actors (:mod:`foley_engine.engine.ray_slots`).
"""
from __future__ import annotations

import queue
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Sequence

from ..backends.base import Backend, WindowRequest


class ThreadWindowPool:
    """``width`` threads, each generating with its own backend instance."""

    def __init__(self, backends: Sequence[Backend]):
        if not backends:
            raise ValueError("a pool needs at least one backend")
        self.width = len(backends)
        self._free: queue.Queue = queue.Queue()
        for b in backends:
            self._free.put(b)
        self._executor = ThreadPoolExecutor(self.width, thread_name_prefix="window")

    def _generate(self, request: WindowRequest):
        backend = self._free.get()
        try:
            return backend.generate(request)
        finally:
            self._free.put(backend)

    def submit(self, request: WindowRequest) -> Future:
        return self._executor.submit(self._generate, request)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "ThreadWindowPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
