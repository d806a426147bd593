"""A stand-in backend for the alignment check: another backend's sound, arriving late by a known amount."""
from __future__ import annotations

import dataclasses
from fractions import Fraction

from ..timebase import to_index


class ShiftedBackend:
    """Test wrapper: every window's sound arrives ``ms`` late (negative: early), like a misaligned model.

    The window is rendered as if it started ``ms`` earlier, so the whole
    window is a clean, shifted copy (the procedural backend is a pure
    function of absolute time).  With ``alternate`` the sign flips per window.
    """

    def __init__(self, inner, ms: float, alternate: bool = False):
        self.inner = inner
        self.ms = Fraction(str(ms))
        self.alternate = alternate
        for attr in ("name", "description", "sample_rate", "channels", "native_window", "overlap", "lookback",
                     "frame_specs", "device"):
            setattr(self, attr, getattr(inner, attr))

    def shift_samples(self, window_index: int) -> int:
        sign = -1 if self.alternate and window_index % 2 else 1
        return sign * to_index(self.ms / 1000, self.sample_rate)

    def generate(self, request):
        d = self.shift_samples(request.window_index)
        return self.inner.generate(dataclasses.replace(request, start_sample=request.start_sample - d))

    def prompt_warnings(self, prompt: str, negative_prompt: str = "") -> list:
        return self.inner.prompt_warnings(prompt, negative_prompt)

    def wants_people(self, prompt: str, negative_prompt: str = "") -> bool:
        return self.inner.wants_people(prompt, negative_prompt)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict:
        return self.inner.describe()
