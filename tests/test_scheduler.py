"""The long-form scheduler on real media: exact length, exact event timing, cancel, streaming."""
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from foley_engine.errors import Cancelled
from foley_engine.generate import generate_to_file
from foley_engine.job import Job
from foley_engine.longform.scheduler import LongformScheduler
from foley_engine.media.probe import probe
from foley_engine.timebase import num_samples, to_index


def run(backend, job):
    return list(LongformScheduler(backend).spans(job))


def test_spans_tile_and_total_is_exact(click_backend, clip_2997):
    job = Job(clip_2997.path, Fraction(1, 3), Fraction(11) + Fraction(1, 7))
    spans = run(click_backend, job)
    for a, b in zip(spans, spans[1:]):
        assert a.end == b.start
    assert spans[0].start == to_index(Fraction(1, 3), 48000)
    total = sum(s.audio.shape[0] for s in spans)
    assert total == num_samples(Fraction(1, 3), Fraction(11) + Fraction(1, 7), 48000)
    assert len(click_backend.requests) >= 3  # really long-form: several windows


def test_clicks_land_on_impact_frames(click_backend, clip_2997):
    spans = run(click_backend, Job(clip_2997.path))
    audio = np.concatenate([s.audio for s in spans])[:, 0]
    hits = set(np.nonzero(audio > 0.5)[0].tolist())
    for t in clip_2997.impact_times:
        assert to_index(t, 48000) in hits


def test_window_boundary_moves_to_cut(click_backend, clip_2997):
    run(click_backend, Job(clip_2997.path))
    cut = to_index(clip_2997.cut_times[0], 48000)
    starts = [r.start_sample for r in click_backend.requests]
    half = to_index(Fraction(1, 4), 48000) // 2
    assert cut - half in starts


def test_requests_carry_seed_prompt_and_previous_tail(click_backend, clip_24):
    job = Job(clip_24.path, prompt="glass", negative_prompt="rain", seed=11)
    run(click_backend, job)
    reqs = click_backend.requests
    assert reqs[0].previous_tail is None and reqs[1].previous_tail is not None
    assert reqs[1].previous_tail.shape[0] == to_index(Fraction(1, 4), 48000)
    assert len({r.seed for r in reqs}) == len(reqs)
    assert all(r.job_seed == 11 and r.prompt == "glass" and r.negative_prompt == "rain" for r in reqs)


def test_cancel_stops_and_leaves_no_file(click_backend, clip_2997, tmp_path):
    out = tmp_path / "x.wav"
    calls = []

    def cancel():
        calls.append(1)
        return len(click_backend.requests) >= 1

    with pytest.raises(Cancelled):
        generate_to_file(Job(clip_2997.path), click_backend, str(out), cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_generate_to_file_writes_exact_wav(click_backend, clip_24, tmp_path):
    out = tmp_path / "x.wav"
    result = generate_to_file(Job(clip_24.path, Fraction(1), Fraction(5, 2)), click_backend, str(out))
    info = sf.info(str(out))
    assert info.frames == result.num_samples == 72000
    assert result.start_sample == 48000


def test_progress_reports_monotonic_fraction(click_backend, clip_2997):
    seen = []
    list(LongformScheduler(click_backend).spans(Job(clip_2997.path), progress=seen.append))
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[-1].done_samples == seen[-1].total_samples == num_samples(0, probe(clip_2997.path).duration, 48000)


@pytest.mark.parametrize("speed", [Fraction(2), Fraction(1, 2), Fraction(25, 24)])
def test_speed_change_lasts_duration_over_speed_and_follows_frames(click_backend, clip_2997, speed):
    start, end = Fraction(1), Fraction(9)
    spans = run(click_backend, Job(clip_2997.path, start, end, speed=speed))
    audio = np.concatenate([s.audio for s in spans])[:, 0]
    assert audio.shape[0] == num_samples(start, start + (end - start) / speed, 48000)
    hits = set((np.nonzero(audio > 0.5)[0] + spans[0].start).tolist())
    for t in clip_2997.impact_times:
        if start <= t < end - Fraction(1, 2):
            # An impact at media time t sounds at job time start + (t - start) / speed.
            assert to_index(start + (t - start) / speed, 48000) in hits


def test_align_option_pulls_late_windows_back_into_sync(clip_2997):
    from conftest import ClickBackend

    class LateBackend(ClickBackend):
        """Clicks 60 ms after each event, like a neural model that drifted."""

        def generate(self, request):
            audio = super().generate(request)
            late = to_index(Fraction(60, 1000), request.sample_rate)
            return np.concatenate([np.zeros((late, 1), np.float32), audio[:-late]])

    def click_times(job):
        spans = list(LongformScheduler(LateBackend()).spans(job))
        audio = np.concatenate([s.audio for s in spans])[:, 0]
        return [Fraction(int(i), 48000) for i in np.nonzero(audio > 0.5)[0]]

    impacts = [t for t in clip_2997.impact_times if Fraction(1, 2) < t < 11]
    late = click_times(Job(clip_2997.path))
    aligned = click_times(Job(clip_2997.path, align=True))
    for t in impacts:
        assert min(abs(c - t - Fraction(60, 1000)) for c in late) <= Fraction(1, 48000)
        assert min(abs(c - t) for c in aligned) <= Fraction(5, 1000)
    assert len(aligned) == len(late)
