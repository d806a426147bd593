"""HunyuanVideo-Foley end to end at tiny size: real files, the backend protocol, the long-form scheduler."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")

from foley_engine.backends.base import FrameBatch, WindowRequest  # noqa: E402
from foley_engine.backends.hunyuan.pipeline import make_scheduler  # noqa: E402
from hunyuan_tiny import make_tiny_models  # noqa: E402
from foley_engine.backends.registry import load_backend  # noqa: E402
from foley_engine.job import Job  # noqa: E402
from foley_engine.longform.scheduler import LongformScheduler  # noqa: E402
from foley_engine.lab.samples import make_sample_video  # noqa: E402

STEPS = 2


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("hunyuan_models")
    make_tiny_models(root, size="xl", seed=0)
    return root


@pytest.fixture(scope="module")
def backend(models_dir):
    # The real loading path: registry -> availability -> files -> strict loads -> transformers folders.
    b = load_backend("hunyuan", models_dir=str(models_dir), size="xl", device="cpu", steps=STEPS)
    yield b
    b.close()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("hunyuan_media") / "walk.mp4"
    return make_sample_video(str(path), duration=Fraction(3), fps=Fraction(25), width=64, height=48,
                             impacts_every=Fraction(1), impact_offset=Fraction(1, 2))


def _request(backend, num_samples, seed=7, tail=None, start=0):
    rng = np.random.default_rng(0)
    frames = {}
    for spec in backend.frame_specs:
        n = int(Fraction(num_samples, 48000) * spec.rate)
        images = rng.integers(0, 255, (n, spec.height, spec.width, 3), dtype=np.uint8)
        frames[spec.name] = FrameBatch(spec, np.arange(n, dtype=np.int64), [Fraction(i) / spec.rate for i in range(n)], images)
    return WindowRequest(media_path="x.mp4", start_sample=start, num_samples=num_samples, sample_rate=48000,
                         frames=frames, events=None, prompt="footsteps on wooden floor", negative_prompt="",
                         seed=seed, previous_tail=tail)


def test_frame_specs_follow_the_training_recipe(backend):
    siglip, sync = backend.frame_specs
    assert (siglip.rate, siglip.fit) == (Fraction(8), "stretch")
    assert (sync.rate, sync.fit, sync.interpolation) == (Fraction(25), "cover", "BICUBIC")
    assert backend.native_window == Fraction(10) and backend.channels == 1 and backend.sample_rate == 48000


def test_window_exact_length_and_deterministic(backend):
    n = 24000 + 123  # not a whole number of latent frames
    a = backend.generate(_request(backend, n, seed=3))
    b = backend.generate(_request(backend, n, seed=3))
    c = backend.generate(_request(backend, n, seed=4))
    assert a.shape == (n, 1) and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_short_window_below_one_segment(backend):
    out = backend.generate(_request(backend, 9600))  # 0.2 s: 1 SigLIP frame, 5 Synchformer frames
    assert out.shape == (9600, 1)
    out = backend.generate(_request(backend, 2400))  # 0.05 s: no SigLIP frame at all
    assert out.shape == (2400, 1) and np.isfinite(out).all()


def test_inpainting_holds_the_previous_audio_latents(backend):
    pipe = backend.pipeline
    cond = pipe.encode_conditions(*(_request(backend, 28800).frames[k].images for k in ("siglip", "sync")),
                                  "rain", "noisy, harsh")
    known = torch.randn(1, pipe.dit.config.audio_latent_dim, 12)
    latents = pipe.sample(cond, 30, seed=1, steps=STEPS, known=known)
    # The overlap ends exactly on the given audio's latents; the rest is sampled around them.
    assert torch.equal(latents[:, :, :12], known)
    free = pipe.sample(cond, 30, seed=1, steps=STEPS)
    assert not torch.equal(latents[:, :, 12:], free[:, :, 12:])
    tail = np.random.default_rng(1).standard_normal((12000, 1)).astype(np.float32) * 0.1
    assert pipe.encode_audio(tail).shape[2] == 12000 // 960 - 2
    out = backend.generate(_request(backend, 28800, tail=tail))
    assert out.shape == (28800, 1)


def test_scheduler_is_the_released_euler_flow():
    sched = make_scheduler(50)
    assert torch.allclose(sched.sigmas, torch.linspace(1, 0, 51), atol=1e-6)
    assert torch.allclose(sched.timesteps, 1000 * torch.linspace(1, 0, 51)[:-1], atol=1e-3)
    x, v = torch.randn(1, 4, 5), torch.randn(1, 4, 5)
    stepped = sched.step(v, sched.timesteps[0], x, return_dict=False)[0]
    torch.testing.assert_close(stepped, x - 0.02 * v)


def test_guidance_combines_unconditional_and_conditional(backend):
    pipe = backend.pipeline
    cond = pipe.encode_conditions(*(_request(backend, 9600).frames[k].images for k in ("siglip", "sync")), "a", "b")
    real = pipe.dit
    seen = []

    class Probe(torch.nn.Module):
        config, dtype = real.config, real.dtype

        def empty_clip(self, b, n):
            return real.empty_clip(b, n)

        def empty_sync(self, b, n):
            return real.empty_sync(b, n)

        def forward(self, x, t, text, clip, sync):
            seen.append(x.shape[0])
            return torch.stack([torch.full_like(x[0], 1.0), torch.full_like(x[0], 3.0)])[: x.shape[0]]

    pipe.dit = Probe()
    try:
        noise = torch.randn((1, real.config.audio_latent_dim, 10), generator=torch.Generator().manual_seed(5))
        out = pipe.sample(cond, 10, seed=5, steps=1, guidance=4.5)
        torch.testing.assert_close(out, noise - (1 + 4.5 * 2))  # one Euler step from sigma 1 to 0
        pipe.sample(cond, 10, seed=5, steps=1, guidance=1.0)
        assert seen == [2, 1]
    finally:
        pipe.dit = real


def test_longform_scheduler_end_to_end(backend, video):
    job = Job(video.path, prompt="footsteps", seed=11, options={"steps": 1})
    sched = LongformScheduler(backend, window=Fraction(2), overlap=Fraction(1, 2))
    spans = list(sched.spans(job))
    total = sum(s.audio.shape[0] for s in spans)
    assert total == 3 * 48000 and len(spans) == 2
    assert spans[0].start == 0 and spans[1].start == spans[0].end
    again = np.concatenate([s.audio for s in LongformScheduler(backend, window=Fraction(2), overlap=Fraction(1, 2)).spans(job)])
    assert np.array_equal(np.concatenate([s.audio for s in spans]), again)


def test_generate_to_file_with_crossfade_continuity(models_dir, video, tmp_path):
    import soundfile as sf

    from foley_engine.generate import generate_to_file

    b = load_backend("hunyuan", models_dir=str(models_dir), size="xl", device="cpu", steps=1, guidance=1.0,
                     continuity="crossfade")
    job = Job(video.path, start=Fraction(1, 3), end=Fraction(2), prompt="glass breaks", seed=2)
    result = generate_to_file(job, b, str(tmp_path / "out.wav"))
    data, sr = sf.read(result.path)
    assert sr == 48000 and data.shape[0] == result.num_samples == 80000
