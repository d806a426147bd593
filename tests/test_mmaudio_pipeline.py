"""MMAudio end to end at tiny size: released file layout, strict loading, the backend protocol, exact length
and placement on the 48 kHz grid, the long-form scheduler and its seams.

The models are tiny random ones (``tests/mmaudio_tiny.py``; configurations read from their shapes) so a
window runs in well under a second on a CPU: the output is noise-like audio, not Foley.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from foley_engine.backends.base import FrameBatch, WindowRequest  # noqa: E402
from foley_engine.backends.mmaudio.files import MODES, window_lengths  # noqa: E402
from foley_engine.backends.mmaudio.pipeline import resample_to_grid  # noqa: E402
from foley_engine.backends.registry import load_backend  # noqa: E402
from foley_engine.job import Job  # noqa: E402
from foley_engine.lab.samples import make_sample_video  # noqa: E402
from foley_engine.lab.seams import check_seams, seams_from_windows  # noqa: E402
from foley_engine.longform.scheduler import LongformScheduler  # noqa: E402
from mmaudio_tiny import make_tiny_models  # noqa: E402

STEPS = 2


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmaudio_models")
    make_tiny_models(root, size="small_16k", seed=0)
    return root


@pytest.fixture(scope="module")
def backend(models_dir):
    # The real loading path: registry -> availability -> files -> strict loads -> CLIP conversion.
    b = load_backend("mmaudio", models_dir=str(models_dir), size="small_16k", device="cpu", steps=STEPS)
    yield b
    b.close()


def _request(backend, num_samples, seed=7, start=0):
    rng = np.random.default_rng(0)
    frames = {}
    for spec in backend.frame_specs:
        n = int(Fraction(num_samples, 48000) * spec.rate)
        images = rng.integers(0, 255, (n, spec.height, spec.width, 3), dtype=np.uint8)
        frames[spec.name] = FrameBatch(spec, np.arange(n, dtype=np.int64), [Fraction(i) / spec.rate for i in range(n)],
                                       images)
    return WindowRequest(media_path="x.mp4", start_sample=start, num_samples=num_samples, sample_rate=48000,
                         frames=frames, events=None, prompt="footsteps on a wooden floor", negative_prompt="",
                         seed=seed)


def test_sequence_lengths_are_the_released_ones():
    for mode, latent in (("16k", 250), ("44k", 345)):
        got = window_lengths(Fraction(8), MODES[mode])
        assert (got.latent, got.clip, got.sync) == (latent, 64, 192)
    short = window_lengths(Fraction(1, 3), MODES["16k"])  # under one Synchformer segment: one, held frames
    assert (short.latent, short.clip, short.sync) == (11, 2, 8) and short.sync_frames == 16


def test_frame_specs_follow_the_training_recipe(backend):
    clip, sync = backend.frame_specs
    assert (clip.rate, clip.fit, clip.interpolation) == (Fraction(8), "stretch", "BICUBIC")
    assert (sync.rate, sync.fit, sync.interpolation) == (Fraction(25), "cover", "BICUBIC")


def test_window_exact_length_and_deterministic(backend):
    for n in (8 * 48000, 48000 * 3 + 17, 4801):
        a = backend.generate(_request(backend, n))
        assert a.shape == (n, 1) and a.dtype == np.float32 and np.all(np.isfinite(a))
    a, b = backend.generate(_request(backend, 48000)), backend.generate(_request(backend, 48000))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, backend.generate(_request(backend, 48000, seed=8)))


def test_resampling_keeps_placement_exact():
    """An impulse at model sample k lands on the 48 kHz sample of the same instant, from either rate."""
    for rate, k in ((16000, 4000), (44100, 11025)):
        x = np.zeros(rate, dtype=np.float32)
        x[k] = 1.0
        y = resample_to_grid(x, rate, 48000)
        assert y.shape == (48000,)
        assert int(np.argmax(np.abs(y))) == round(Fraction(k * 48000, rate))


def test_timings_cover_every_stage(backend):
    backend.generate(_request(backend, 48000, seed=3))
    t = backend.pipeline.timings.as_dict()
    assert set(t) == {"clip", "synchformer", "text", "flow", "vae", "vocoder", "resample"}
    assert t["flow"] > 0 and t["vocoder"] > 0


def test_longform_any_length_seams_measured(backend, tmp_path):
    """23.976 fps, 19 s: three overlapping windows, exactly the item's samples, seams checked by the detector."""
    video = make_sample_video(str(tmp_path / "walk.mp4"), duration=Fraction(19), fps=Fraction(24000, 1001), width=64,
                              height=48, impacts_every=Fraction(2), impact_offset=Fraction(1, 2))
    job = Job(video.path, start=Fraction(1, 3), prompt="footsteps", seed=11, options={"steps": 1})
    sched = LongformScheduler(backend)
    spans = list(sched.spans(job))
    audio = np.concatenate([s.audio for s in spans])
    resolved = sched.resolved(job)
    assert audio.shape[0] == resolved.num_samples
    windows = sched.plan(job)
    assert len(windows) == 3 and all(w.num_samples <= 8 * 48000 for w in windows)
    reports = check_seams(audio, 48000, seams_from_windows(windows, windows[0].start))
    assert len(reports) == 2
    assert all(r.gap_ms == 0 for r in reports)
    again = np.concatenate([s.audio for s in LongformScheduler(backend).spans(job)])
    assert np.array_equal(audio, again)


def test_sixteen_bit_path_runs(models_dir):
    """The GPU dtypes' code path (every component in bf16, RoPE/time features in float32), run on the CPU."""
    b = load_backend("mmaudio", models_dir=str(models_dir), size="small_16k", device="cpu", precision="bf16", steps=1)
    try:
        assert b.pipeline.dtype == torch.bfloat16 and b.pipeline.network.dtype == torch.bfloat16
        a = b.generate(_request(b, 48000 + 7))
        assert a.shape == (48007, 1) and a.dtype == np.float32 and np.all(np.isfinite(a))
    finally:
        b.close()


def test_device_and_precision_choices():
    from foley_engine.backends.mmaudio.backend import device_problem, dtype_for, resolve_device
    from foley_engine.errors import BackendError

    assert dtype_for("cpu", None) == torch.float32 and dtype_for("mps", None) == torch.float16
    assert dtype_for("cpu", "fp16") == torch.float16
    with pytest.raises(BackendError, match="precision must be one of"):
        dtype_for("cpu", "int8")
    assert device_problem("cpu", "small_16k") is None
    if not torch.cuda.is_available():
        assert resolve_device(None) in ("cpu", "mps") and "no CUDA" in device_problem("cuda:0", "small_16k")
    if not torch.backends.mps.is_available():
        assert "mps" in device_problem("mps", "small_16k")
    assert "not a device" in device_problem("gpu0", "small_16k")
