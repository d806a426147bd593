"""The seam detector: clean crossfades pass; hard joins, gaps, DC steps and level jumps are flagged."""
from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from foley_engine.longform.planner import plan_windows
from foley_engine.longform.stitch import crossfade
from foley_engine.lab.seams import Seam, block_power, check_seams, lufs, seams_from_windows

SR = 48000
OVERLAP = SR // 2


def bed(n, seed, level=0.05):
    """Room-tone-like noise: low-passed, so a waveform break stands out as it does to the ear."""
    b, a = butter(2, 3000 / (SR / 2))
    x = lfilter(b, a, np.random.default_rng(seed).standard_normal((n, 2)), axis=0)
    return (x * (level / x.std())).astype(np.float32)


def stitched(join="crossfade", gain=1.0, level=0.05):
    """Two 10 s windows of different noise, joined at 9.5-10 s the way the scheduler does (or not)."""
    first, second = bed(10 * SR, 1, level), bed(10 * SR, 2, level) * gain
    head = first[: 10 * SR - OVERLAP]
    if join == "crossfade":
        mid = crossfade(first[-OVERLAP:], second[:OVERLAP])
    else:  # a hard switch half way through the overlap
        mid = np.concatenate([first[-OVERLAP:][: OVERLAP // 2], second[:OVERLAP][OVERLAP // 2 :]])
    return np.concatenate([head, mid, second[OVERLAP:]]), Seam(10 * SR - OVERLAP, 10 * SR)


def flags(audio, seam):
    (report,) = check_seams(audio, SR, [seam])
    return report


def test_a_proper_crossfade_is_clean():
    audio, seam = stitched()
    r = flags(audio, seam)
    assert r.flags == () and not r.discontinuity
    assert r.click_ratio < 8 and r.gap_ms == 0 and abs(r.loudness_jump_lu) < 1


def test_a_hard_join_is_a_click():
    audio, seam = stitched("hard")
    r = flags(audio, seam)
    assert "click" in r.flags and r.discontinuity
    assert abs(r.click_at - (seam.start + OVERLAP // 2)) <= 2


def test_a_dc_step_is_a_click():
    audio, seam = stitched(level=0.01)  # a -40 dBFS room tone
    audio[seam.start + 1000 :] += 0.03
    assert "click" in flags(audio, seam).flags


def test_a_dropout_is_a_gap():
    audio, seam = stitched()
    audio[seam.start + 5000 : seam.start + 5000 + 96] = 0.0
    r = flags(audio, seam)
    assert "gap" in r.flags and r.gap_ms == pytest.approx(2.0)


def test_a_sound_that_starts_on_the_seam_is_not_a_click():
    audio, seam = stitched()
    i = seam.start + 4000
    env = np.exp(-np.arange(SR // 4) / (0.05 * SR))
    audio[i : i + SR // 4] += (np.sin(2 * np.pi * 300 * np.arange(SR // 4) / SR + 1.2) * env * 0.6)[:, None]
    assert "click" not in flags(audio, seam).flags


def test_a_level_mismatch_between_windows_is_a_loudness_jump():
    audio, seam = stitched(gain=2.0)
    r = flags(audio, seam)
    assert "loudness" in r.flags and r.loudness_jump_lu == pytest.approx(6.0, abs=0.7)
    assert not r.discontinuity


@pytest.mark.parametrize("rate", [48000, 44100])
def test_k_weighted_loudness_is_calibrated(rate):
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS.
    t = np.arange(5 * rate)
    sine = np.sin(2 * np.pi * 997 * t / rate)
    power = block_power(sine, rate, rate // 10)
    assert lufs(float(power[5:].mean())) == pytest.approx(-3.01, abs=0.05)


def test_seams_follow_the_planner_windows():
    windows = plan_windows(1000, 1000 + 50 * SR, 20 * SR, OVERLAP, cuts=[1000 + 33 * SR])
    seams = seams_from_windows(windows, first_sample=1000)
    assert len(seams) == len(windows) - 1
    for w, s in zip(windows, seams):
        assert (s.start, s.end) == (w.next_start - 1000, w.end - 1000)
        assert s.end - s.start == OVERLAP
    assert seams[1].centre == 33 * SR


def test_procedural_output_has_clean_seams(tmp_path):
    from foley_engine.backends.registry import load_backend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.lab.samples import make_sample_video

    video = make_sample_video(str(tmp_path / "v.mp4"), duration=Fraction(40), fps=Fraction(24000, 1001), width=192,
                              height=108, impacts_every=Fraction(7, 3), cuts=(Fraction(15), Fraction(29)))
    spans = list(LongformScheduler(load_backend("procedural"), window=Fraction(6)).spans(
        Job(video.path, prompt="wood impacts, quiet room tone, wind", seed=5)))
    audio = np.concatenate([s.audio for s in spans])
    reports = check_seams(audio, SR, seams_from_windows([s.window for s in spans], spans[0].start))
    assert len(reports) >= 6
    assert not [r.to_dict() for r in reports if r.discontinuity]
