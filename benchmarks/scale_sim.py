"""A simulated GPU backend for benchmarks/scale.py: model time is a sleep per window.

``SimulatedGPU`` stands for a neural backend whose cost is GPU time (a 10-s window with a 1-s overlap,
``seconds_per_window`` of "model time", default 0.5 s) while the slot's CPU work is only decoding and
analysis.  Its output is a pure function of the absolute sample index and the job seed (plus a click
at each visual onset), so its windows are independent and every run writes the same bytes.
Loaded by import path: ``--backend scale_sim:SimulatedGPU`` with this folder on PYTHONPATH.
"""
from __future__ import annotations

import time
from fractions import Fraction

import numpy as np

from foley_engine.backends.base import Backend
from foley_engine.timebase import to_index


class SimulatedGPU(Backend):
    name = "simulated-gpu"
    channels = 1
    native_window = Fraction(10)
    overlap = Fraction(1)
    independent_windows = True

    def __init__(self, seconds_per_window: str = "0.5", **options):
        self.seconds_per_window = float(seconds_per_window)
        self.device = str(options.get("device", "cpu"))

    def generate(self, request):
        time.sleep(float(request.options.get("seconds_per_window", self.seconds_per_window)))
        n = np.arange(request.start_sample, request.end_sample, dtype=np.int64)
        audio = (0.1 * np.sin(2 * np.pi * ((n + request.job_seed) % 480) / 480.0)).astype(np.float32)[:, None]
        for onset in request.events.onsets:
            i = to_index(onset.time, request.sample_rate) - request.start_sample
            if 0 <= i < request.num_samples:
                audio[i] = 0.9
        return audio
