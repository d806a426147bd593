"""The alignment pass: known injected offsets come back, lengths never change, in-sync audio is left alone."""
import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from foley_engine.longform.align import MAX_OFFSET, align_window, shift_audio
from foley_engine.backends.registry import load_backend
from foley_engine.job import Job
from foley_engine.longform.scheduler import LongformScheduler
from foley_engine.lab.samples import make_sample_video
from foley_engine.lab.seams import click_score
from foley_engine.sync import match_events, onset_times
from tests.test_sync import SR, impacts

START = 987_654


def window(delay_ms, n=10 * SR, count=4):
    times = [Fraction(START, SR) + Fraction(1) + Fraction(9, 4) * k for k in range(count)]
    return impacts(n, START, times, delay=round(delay_ms * SR / 1000), bed=0.002), times


@pytest.mark.parametrize("delay_ms", [60, -60, 25, -79.5])
def test_a_shifted_window_comes_back_within_5_ms(delay_ms):
    audio, times = window(delay_ms)
    before = audio.copy()
    aligned, offset = align_window(audio, START, SR, times)
    assert np.array_equal(audio, before), "the input must not be modified"
    assert aligned.shape == audio.shape and aligned.dtype == audio.dtype
    assert abs(offset - delay_ms * SR / 1000) <= 5 * SR / 1000
    found = onset_times(aligned, SR, start_sample=START)
    residual = [o.offset_ms for o in match_events(times, found)]
    assert all(r is not None and abs(r) <= 5.0 for r in residual), residual


def test_in_sync_audio_and_audio_without_events_are_untouched():
    audio, times = window(0)
    aligned, offset = align_window(audio, START, SR, times)
    assert offset == 0 and np.array_equal(aligned, audio)
    aligned, offset = align_window(audio, START, SR, [])
    assert offset == 0 and np.array_equal(aligned, audio)


def test_never_shifts_beyond_80_ms():
    audio, times = window(150)
    _, offset = align_window(audio, START, SR, times)
    assert abs(offset) <= MAX_OFFSET * SR


@pytest.mark.parametrize("offset", [2880, -2880])
def test_shift_keeps_length_and_joins_the_uncovered_edge_smoothly(offset):
    t = np.arange(SR, dtype=np.float64)
    audio = (0.5 * np.sin(2 * np.pi * 220 * t / SR) + 0.3 * np.sin(2 * np.pi * 97 * t / SR))[:, None].astype(np.float32)
    out = shift_audio(audio, offset, fade=480)
    assert out.shape == audio.shape
    d = abs(offset)
    if offset > 0:
        assert np.array_equal(out[: SR - d - 480], audio[d : SR - 480])
        assert np.array_equal(out[SR - d :], audio[SR - d :])
        edge = SR - d
    else:
        assert np.array_equal(out[d + 480 :], audio[480 : SR - d])
        assert np.array_equal(out[:d], audio[:d])
        edge = d
    ratio, _ = click_score(out, SR, edge - 600, edge + 600)
    assert ratio < 8.0


class Late:
    """Every window's sound ``ms`` late, alternating with early: a badly aligned model."""

    def __init__(self, inner, ms):
        self.inner, self.ms = inner, ms
        for attr in ("name", "sample_rate", "channels", "native_window", "overlap", "lookback", "frame_specs", "device"):
            setattr(self, attr, getattr(inner, attr))

    def generate(self, request):
        d = round(self.ms * request.sample_rate / 1000) * (-1 if request.window_index % 2 else 1)
        return self.inner.generate(dataclasses.replace(request, start_sample=request.start_sample - d))

    def describe(self):
        return self.inner.describe()

    def wants_people(self, prompt, negative_prompt=""):
        return self.inner.wants_people(prompt, negative_prompt)

    def close(self):
        self.inner.close()


def offsets_of(backend, video, align=False, window_offsets=None):
    scheduler = LongformScheduler(backend, window=Fraction(8), overlap=Fraction(1, 2))
    spans = list(scheduler.spans(Job(video.path, prompt="wood impacts, quiet room tone", seed=1, align=align)))
    if window_offsets is not None:
        window_offsets.extend(s.align_offset for s in spans)
    audio = np.concatenate([s.audio for s in spans])
    found = onset_times(audio, SR, start_sample=spans[0].start)
    expected = [t for t in video.impact_times if t < video.duration - Fraction(1, 5)]
    return [o.offset_ms for o in match_events(expected, found)], audio


def test_procedural_windows_off_by_60_ms_are_realigned(tmp_path):
    video = make_sample_video(str(tmp_path / "v.mp4"), duration=30, fps=Fraction(30000, 1001), width=192,
                              height=108, impacts_every=Fraction(7, 3), impact_offset=Fraction(1),
                              cuts=(Fraction(13),))
    plain = load_backend("procedural")
    before, _ = offsets_of(Late(plain, 60), video)
    assert all(o is not None for o in before) and max(abs(o) for o in before) > 55
    window_offsets = []
    after, _ = offsets_of(Late(load_backend("procedural"), 60), video, align=True, window_offsets=window_offsets)
    assert len(window_offsets) >= 4 and any(window_offsets)
    assert all(o is not None and abs(o) <= 5.0 for o in after), after
    # On audio that is already in sync the pass changes nothing, sample for sample.
    _, reference = offsets_of(load_backend("procedural"), video)
    _, same = offsets_of(load_backend("procedural"), video, align=True)
    assert np.array_equal(reference, same)
