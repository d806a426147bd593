"""End-to-end sync: procedural impacts land within ±5 ms of the impact frames, at any rate, with no drift."""
from fractions import Fraction

import numpy as np
import pytest

from foley_engine.backends.registry import load_backend
from foley_engine.job import Job
from foley_engine.longform.scheduler import LongformScheduler
from foley_engine.lab.samples import make_sample_video
from foley_engine.sync import match_events, onset_times

TOLERANCE_MS = 5.0


def measure(path, impact_times, start=None, end=None):
    backend = load_backend("procedural")
    spans = list(LongformScheduler(backend).spans(Job(path, start, end, prompt="wood impacts", seed=3)))
    audio = np.concatenate([s.audio for s in spans])
    onsets = onset_times(audio, 48000, start_sample=spans[0].start)
    lo = spans[0].start
    hi = spans[-1].end
    expected = [t for t in impact_times if lo <= t * 48000 < hi - 4800]
    return match_events(expected, onsets), expected


@pytest.mark.parametrize(
    "fps,first_pts,tc",
    [
        (Fraction(24000, 1001), Fraction(0), None),
        (Fraction(25), Fraction(1, 5), "10:00:00:00"),
        (Fraction(30000, 1001), Fraction(1001, 15000), "00:59:59;28"),
        (Fraction(50), Fraction(0), None),
        (Fraction(60000, 1001), Fraction(1, 3), None),
    ],
)
def test_impacts_in_sync(tmp_path, fps, first_pts, tc):
    video = make_sample_video(
        str(tmp_path / "v.mp4"), duration=30, fps=fps, width=192, height=108,
        impacts_every=Fraction(7, 3), impact_offset=Fraction(1), start_timecode=tc, first_pts=first_pts,
    )
    offsets, expected = measure(video.path, video.impact_times)
    assert len(expected) >= 10
    missing = [o.visual_time for o in offsets if o.audio_time is None]
    assert not missing, f"no sound at impacts {missing}"
    worst = max(abs(o.offset_ms) for o in offsets)
    assert worst <= TOLERANCE_MS, [o.offset_ms for o in offsets]


@pytest.mark.slow
def test_no_drift_at_minute_50_of_an_hour(tmp_path):
    video = make_sample_video(
        str(tmp_path / "hour.mp4"), duration=3600, fps=Fraction(30000, 1001), width=128, height=72,
        impacts_every=Fraction(5), impact_offset=Fraction(2), first_pts=Fraction(1001, 30000),
    )
    start = Fraction(50 * 60)
    offsets, expected = measure(video.path, video.impact_times, start, start + 30)
    assert len(expected) >= 5
    assert all(o.audio_time is not None for o in offsets)
    assert max(abs(o.offset_ms) for o in offsets) <= TOLERANCE_MS
