"""BS.1770 loudness and true peak, and stems normalised to a target without touching timing."""
import math
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from foley_engine.backends.procedural import ProceduralBackend
from foley_engine.cli import main
from foley_engine.generate import generate_to_file
from foley_engine.job import Job
from foley_engine.longform.scheduler import LongformScheduler
from foley_engine.loudness import LoudnessMeter, Normalisation, edge_fade

pyloudnorm = pytest.importorskip("pyloudnorm")

SR = 48_000


def metered(audio, chunk=12_345):
    meter = LoudnessMeter(SR, audio.shape[1])
    for i in range(0, audio.shape[0], chunk):  # odd chunks: the state must carry across them
        meter.add(audio[i: i + chunk])
    return meter


def test_integrated_loudness_matches_pyloudnorm():
    rng = np.random.default_rng(1)
    t = np.arange(10 * SR) / SR
    # Noise that swells and fades (so the gates matter), a tone, and 2 s of near-silence.
    noise = rng.standard_normal((t.size, 2)) * (0.05 + 0.2 * (np.sin(2 * np.pi * 0.3 * t) ** 2))[:, None]
    audio = noise + 0.1 * np.sin(2 * np.pi * 440 * t)[:, None]
    audio[4 * SR: 6 * SR] *= 1e-4
    expected = pyloudnorm.Meter(SR).integrated_loudness(audio)
    assert abs(metered(audio).integrated() - expected) < 0.05


def test_true_peak_sees_between_the_samples():
    # A sine at fs/4 sampled 45 degrees off its crests: sample peak 0.707, true peak 1.0.
    n = np.arange(SR)
    audio = np.sin(np.pi / 2 * n + np.pi / 4)[:, None].repeat(2, axis=1)
    assert np.abs(audio).max() == pytest.approx(math.sqrt(0.5))
    assert metered(audio).true_peak() == pytest.approx(0.0, abs=0.2)
    whole = 20 * math.log10(np.abs(resample_poly(audio, 4, 1, axis=0)).max())
    assert metered(audio).true_peak() == pytest.approx(whole, abs=0.01)


def test_gain_goes_to_the_target_unless_the_ceiling_wins():
    norm = Normalisation(-23.0, -1.0)
    assert norm.gain_db(-30.0, -20.0) == pytest.approx(7.0)
    assert norm.gain_db(-30.0, -3.0) == pytest.approx(2.0)  # the ceiling wins: quieter than the target
    assert norm.gain_db(-math.inf, -math.inf) == 0.0
    assert Normalisation.for_job("off", None, -23.0) is None
    assert Normalisation.for_job(None, None, None) is None
    assert Normalisation.for_job("-16", -2.0, None) == Normalisation(-16.0, -2.0)


def test_edge_fades_only_where_the_file_starts_or_ends_mid_sound():
    sound = np.ones((1000, 2), np.float32)
    edge_fade(sound, SR, True)
    edge_fade(sound, SR, False)
    assert 0 < sound[0, 0] < 0.01 and 0 < sound[-1, 0] < 0.01 and sound[500, 0] == 1.0
    quiet = np.zeros((1000, 2), np.float32)
    quiet[300] = 1.0
    edge_fade(quiet, SR, True)
    assert quiet[300, 0] == 1.0  # silence at the edge: nothing to fade


def read(path):
    audio, sr = sf.read(path, dtype="float64")
    assert sr == SR
    return audio


def test_procedural_stem_lands_on_target_with_exact_length_and_no_window_dependence(clip_2997, tmp_path):
    job = Job(clip_2997.path, Fraction(1), Fraction(9), "whoosh, metal impacts, rain", "", 3)
    a = generate_to_file(job, ProceduralBackend(), str(tmp_path / "a.wav"), subtype="float")
    # Other windows, same stem: the gain is one number for the whole file.
    b = generate_to_file(job, ProceduralBackend(), str(tmp_path / "b.wav"), subtype="float",
                         scheduler=LongformScheduler(ProceduralBackend(), window=Fraction(3), overlap=Fraction(1, 4)))
    x, y = read(a.path), read(b.path)
    assert x.shape[0] == a.num_samples == 8 * SR
    assert a.windows != b.windows
    np.testing.assert_allclose(x, y, atol=2e-6)
    assert pyloudnorm.Meter(SR).integrated_loudness(x) == pytest.approx(-23.0, abs=0.3)
    assert metered(x).true_peak() <= -1.0 + 0.05
    # The range starts and ends in the rain: the edges are faded to (almost) nothing.
    assert np.abs(x[0]).max() < 1e-3 and np.abs(x[-1]).max() < 1e-3
    assert not list(tmp_path.glob(".*"))  # no first-pass files left behind


def test_cli_loudness_target_and_off(clip_24, tmp_path):
    out = tmp_path / "loud.wav"
    assert main(["generate", clip_24.path, "--prompt", "rain, wood impacts", "--loudness", "-16", "--true-peak", "-0.5",
                 "-o", str(out)]) == 0
    x = read(str(out))
    loud = pyloudnorm.Meter(SR).integrated_loudness(x)
    peak = metered(x).true_peak()
    # On target, or below it because the ceiling won.
    assert peak <= -0.5 + 0.1
    assert loud == pytest.approx(-16.0, abs=0.3) or (loud < -16.0 and peak == pytest.approx(-0.5, abs=0.1))
    raw = tmp_path / "raw.wav"
    assert main(["generate", clip_24.path, "--prompt", "rain, wood impacts", "--loudness", "off", "-o", str(raw)]) == 0
    # "off" leaves the stem as generated: not the normalised samples (the gain may be small when
    # the ceiling wins, so compare samples, not loudness).
    assert not np.allclose(read(str(raw)), x, rtol=1e-3, atol=0)
