"""Backends for the scale-out tests, loaded by import path (``scale_backends:EnvPulse``) in engine workers
and Ray actors: the pulse backend plus what a slot needs to show (its environment) or do (fail)."""
from __future__ import annotations

import os

from foley_engine.errors import BackendError

from test_engine_backend import PulseBackend


class EnvPulse(PulseBackend):
    """The pulse backend, reporting the GPU its process may see and failing on request."""

    independent_windows = True  # its output is a pure function of the absolute sample index

    def __init__(self, **options):
        super().__init__(**{k: v for k, v in options.items() if k in ("delay", "window")})
        self.device = f"{options.get('device', 'cpu')} (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')})"

    def generate(self, request):
        if request.options.get("fail"):
            raise BackendError(f"failing on request at window {request.window_index}")
        return super().generate(request)
