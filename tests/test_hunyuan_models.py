"""HunyuanVideo-Foley model code: released shapes (meta device) and building-block math.

The parity tests restate the reference's math independently (complex-number
RoPE, explicit softmax attention, the fused-projection layouts, the
interpolate-stack-split interleaving) and compare at tiny size.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from foley_engine.backends.hunyuan.models import dit as D  # noqa: E402
from foley_engine.backends.hunyuan.models.dac_vae import DACConfig, DACVAE, WNConv1d, WNConvTranspose1d  # noqa: E402
from foley_engine.models.synchformer import DividedAttention, Synchformer, SynchformerConfig  # noqa: E402
from hunyuan_tiny import randomize  # noqa: E402

# The released checkpoints' parameter names and shapes, shipped with the tests (source: its README.md).
RELEASED = Path(__file__).resolve().parent / "data" / "hunyuan_release"


def _manifest(name):
    return json.loads((RELEASED / name).read_text())


def _shapes(model):
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("size, manifest, billions", [
    ("xxl", "hvf_dit_xxl_keys.json", 5.134), ("xl", "hvf_dit_xl_keys.json", 2.913)])
def test_dit_full_size_matches_release(size, manifest, billions):
    with torch.device("meta"):
        model = D.HunyuanFoleyDiT(getattr(D.DiTConfig, size)())
    assert _shapes(model) == _manifest(manifest)
    count = sum(p.numel() for p in model.parameters())
    assert round(count / 1e9, 3) == billions


def test_synchformer_full_size_matches_release():
    with torch.device("meta"):
        model = Synchformer()
    assert _shapes(model) == _manifest("synchformer_keys.json")
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 237.5


def test_vae_default_geometry():
    with torch.device("meta"):
        vae = DACVAE()
    assert vae.hop_length == 960 and vae.sample_rate == 48000  # 50 latent frames per second
    assert vae.config.resolved_latent_dim == 128


# --------------------------------------------------------------------------- reference math


def ref_rope(x, positions, theta=10000.0):
    """x (B, L, H, D): adjacent channel pairs are complex numbers rotated by pos * theta^(-2j/D)."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones(len(positions), d // 2, dtype=torch.float64),
                      positions.double()[:, None] * freqs[None])
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * rot[None, :, None]).flatten(-2).to(x.dtype)


def ref_attention(q, k, v):
    """(B, L, H, D) explicit softmax attention -> (B, L, H*D)."""
    w = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(q.shape[-1])
    return torch.einsum("bhlm,bmhd->blhd", w.softmax(-1), v).flatten(2)


def ref_interleaved(audio, visual):
    """Stretch visual to La (nearest-exact), interleave a0 v0 a1 v1 ..., RoPE on 0..2La-1, split, shrink back."""
    b, la, h, d = audio.shape
    lv = visual.shape[1]
    up = F.interpolate(visual.reshape(b, lv, h * d).transpose(1, 2), size=la, mode="nearest-exact")
    up = up.transpose(1, 2).reshape(b, la, h, d)
    seq = torch.stack((audio, up), dim=2).reshape(b, 2 * la, h, d)
    seq = ref_rope(seq, torch.arange(2 * la)).reshape(b, la, 2, h, d)
    a, v = seq[:, :, 0], seq[:, :, 1]
    v = F.interpolate(v.reshape(b, la, h * d).transpose(1, 2), size=lv, mode="nearest-exact")
    return a, v.transpose(1, 2).reshape(b, lv, h, d)


def ref_rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def ref_triple_block(blk, audio, text, visual, vec, heads):
    """Independent restatement: fused projections laid out (K, H, D); visual before audio."""
    ln = lambda x: F.layer_norm(x, x.shape[-1:], eps=1e-6)  # noqa: E731
    am = blk.audio_mod.linear(F.silu(vec))[:, None].chunk(9, -1)
    vm = blk.v_cond_mod.linear(F.silu(vec))[:, None].chunk(9, -1)

    def split(y, k):
        b, l, _ = y.shape
        return y.reshape(b, l, k, heads, -1).unbind(2)

    aq, ak, av = split(blk.audio_self_attn_qkv(ln(audio) * (1 + am[1]) + am[0]), 3)
    vq, vk, vv = split(blk.v_cond_attn_qkv(ln(visual) * (1 + vm[1]) + vm[0]), 3)
    aq, ak = ref_rms(aq, blk.audio_self_q_norm.weight), ref_rms(ak, blk.audio_self_k_norm.weight)
    vq, vk = ref_rms(vq, blk.v_cond_attn_q_norm.weight), ref_rms(vk, blk.v_cond_attn_k_norm.weight)
    aq, vq = ref_interleaved(aq, vq)
    ak, vk = ref_interleaved(ak, vk)
    o = ref_attention(torch.cat((vq, aq), 1), torch.cat((vk, ak), 1), torch.cat((vv, av), 1))
    lv = visual.shape[1]
    audio = audio + blk.audio_self_proj(o[:, lv:]) * am[2]
    visual = visual + blk.v_cond_self_proj(o[:, :lv]) * vm[2]
    aq = ref_rms(split(blk.audio_cross_q(ln(audio) * (1 + am[4]) + am[3]), 1)[0], blk.audio_cross_q_norm.weight)
    vq = ref_rms(split(blk.v_cond_cross_q(ln(visual) * (1 + vm[4]) + vm[3]), 1)[0], blk.v_cond_cross_q_norm.weight)
    tk, tv = split(blk.text_cross_kv(text), 2)
    tk = ref_rms(tk, blk.text_cross_k_norm.weight)
    aq, vq = ref_rope(aq, torch.arange(aq.shape[1])), ref_rope(vq, torch.arange(vq.shape[1]))
    tk = ref_rope(tk, torch.arange(tk.shape[1]))
    o = ref_attention(torch.cat((vq, aq), 1), tk, tv)
    audio = audio + blk.audio_cross_proj(o[:, lv:]) * am[5]
    visual = visual + blk.v_cond_cross_proj(o[:, :lv]) * vm[5]
    gelu = lambda x: F.gelu(x, approximate="tanh")  # noqa: E731
    audio = audio + blk.audio_mlp.fc2(gelu(blk.audio_mlp.fc1(ln(audio) * (1 + am[7]) + am[6]))) * am[8]
    visual = visual + blk.v_cond_mlp.fc2(gelu(blk.v_cond_mlp.fc1(ln(visual) * (1 + vm[7]) + vm[6]))) * vm[8]
    return audio, visual


def ref_single_block(blk, x, vec, heads):
    """Per-token modulation; fused qkv laid out (H, D, K); conv (k=3) projections over time."""
    s1, c1, g1, s2, c2, g2 = blk.modulation.linear(F.silu(vec)).chunk(6, -1)
    b, l, h = x.shape
    y = blk.linear_qkv(F.layer_norm(x, (h,), eps=1e-5) * (1 + c1) + s1).reshape(b, l, heads, h // heads, 3)
    eps = torch.finfo(x.dtype).eps
    q, k, v = ref_rms(y[..., 0], blk.q_norm.weight, eps), ref_rms(y[..., 1], blk.k_norm.weight, eps), y[..., 2]
    pos = torch.arange(l)
    o = ref_attention(ref_rope(q, pos), ref_rope(k, pos), v)
    conv = lambda m, t: F.conv1d(t.transpose(1, 2), m.weight, m.bias, padding=m.kernel_size[0] // 2).transpose(1, 2)  # noqa: E731
    x = x + conv(blk.linear1, o) * g1
    z = F.layer_norm(x, (h,), eps=1e-5) * (1 + c2) + s2
    w = blk.linear2
    return x + conv(w.w2, F.silu(conv(w.w1, z)) * conv(w.w3, z)) * g2


@pytest.mark.parametrize("n_in, n_out", [(7, 20), (20, 7), (80, 500), (240, 500), (500, 80), (5, 5), (12, 37), (24, 37),
                                         (2, 141), (37, 12), (82, 4)])
def test_nearest_exact_index_matches_interpolate(n_in, n_out):
    x = torch.arange(n_in, dtype=torch.float32)[None, None]
    expected = F.interpolate(x, size=n_out, mode="nearest-exact")[0, 0].long()
    assert torch.equal(D.nearest_exact_index(n_in, n_out), expected)


def test_rope_is_complex_rotation_of_adjacent_pairs():
    x = torch.randn(2, 9, 3, 8)
    pos = torch.arange(9) * 2 + 1
    cos, sin = D.rope_cos_sin(pos, 8, 10000.0)
    torch.testing.assert_close(D.apply_rope(x, cos, sin), ref_rope(x, pos), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("la, lv", [(12, 12), (25, 8), (8, 25), (50, 16)])
def test_interleaved_audio_visual_rope(la, lv):
    a, v = torch.randn(1, la, 2, 8), torch.randn(1, lv, 2, 8)
    got_a, got_v = D.rope_interleaved_audio_visual(a, v, 10000.0)
    ref_a, ref_v = ref_interleaved(a, v)
    torch.testing.assert_close(got_a, ref_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_v, ref_v, atol=1e-5, rtol=1e-5)


def _tiny_blocks():
    cfg = D.DiTConfig.tiny()
    torch.manual_seed(0)
    return cfg, randomize(D.TripleStreamBlock(cfg), 1, 0.1), randomize(D.SingleStreamBlock(cfg), 2, 0.1)


def test_triple_block_matches_reference_math():
    cfg, triple, _ = _tiny_blocks()
    audio, visual = torch.randn(2, 25, cfg.hidden_size), torch.randn(2, 8, cfg.hidden_size)
    text, vec = torch.randn(2, 6, cfg.hidden_size), torch.randn(2, cfg.hidden_size)
    got = triple(audio, text, visual, vec)
    ref = ref_triple_block(triple, audio, text, visual, vec, cfg.num_heads)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, atol=1e-4, rtol=1e-4)


def test_single_block_matches_reference_math():
    cfg, _, single = _tiny_blocks()
    x, vec = torch.randn(2, 25, cfg.hidden_size), torch.randn(2, 25, cfg.hidden_size)
    rope = D.rope_cos_sin(torch.arange(25), cfg.head_dim, cfg.rope_theta)
    torch.testing.assert_close(single(x, vec, rope), ref_single_block(single, x, vec, cfg.num_heads),
                               atol=1e-4, rtol=1e-4)


def test_zero_gates_make_blocks_identities():
    # Modulation order: with every gate chunk zero, each residual branch vanishes.
    cfg, triple, single = _tiny_blocks()
    with torch.no_grad():
        for idx in (2, 5, 8):
            triple.audio_mod.linear.weight.view(9, cfg.hidden_size, -1)[idx].zero_()
            triple.audio_mod.linear.bias.view(9, -1)[idx].zero_()
        for idx in (2, 5):
            single.modulation.linear.weight.view(6, cfg.hidden_size, -1)[idx].zero_()
            single.modulation.linear.bias.view(6, -1)[idx].zero_()
    audio, visual = torch.randn(1, 10, cfg.hidden_size), torch.randn(1, 4, cfg.hidden_size)
    out_a, out_v = triple(audio, torch.randn(1, 3, cfg.hidden_size), visual, torch.randn(1, cfg.hidden_size))
    assert torch.equal(out_a, audio) and not torch.allclose(out_v, visual)
    rope = D.rope_cos_sin(torch.arange(10), cfg.head_dim, cfg.rope_theta)
    assert torch.equal(single(audio, torch.randn(1, 10, cfg.hidden_size), rope), audio)


def test_final_layer_leaves_per_token_conditioning_unapplied():
    # As released: fed (B, L, H) vectors, the final layer normalises and projects only
    # (the reference's modulate() drops 3-D shift/scale); (B, H) vectors do modulate.
    layer = randomize(D.FinalLayer(16, 4), 9, 0.3)
    x = torch.randn(2, 5, 16)
    plain = layer.linear(F.layer_norm(x, (16,), eps=1e-6))
    torch.testing.assert_close(layer(x, torch.randn(2, 5, 16)), plain)
    assert not torch.allclose(layer(x, torch.randn(2, 16)), plain)


def test_timestep_embedding_is_cos_then_sin():
    t = torch.tensor([0.0, 500.0])
    emb = D.timestep_embedding(t, 8)
    freqs = torch.exp(-math.log(10000) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[1], torch.cat([torch.cos(500 * freqs), torch.sin(500 * freqs)]))


def test_dit_forward_shapes_and_sync_resampling():
    cfg = D.DiTConfig.tiny()
    model = randomize(D.HunyuanFoleyDiT(cfg), 3).eval()
    x = torch.randn(2, cfg.audio_latent_dim, 50)
    out = model(x, torch.tensor([1000.0, 20.0]), torch.randn(2, 7, cfg.text_dim), torch.randn(2, 8, cfg.clip_dim),
                torch.randn(2, 48, cfg.sync_dim))
    assert out.shape == x.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError):
        model(x, torch.tensor([1.0, 1.0]), torch.randn(2, 7, cfg.text_dim), torch.randn(2, 8, cfg.clip_dim),
              torch.randn(2, 12, cfg.sync_dim))


# --------------------------------------------------------------------------- Synchformer


def test_divided_attention_equals_masked_full_attention():
    torch.manual_seed(0)
    frames, spatial, dim, heads = 4, 6, 16, 2
    attn = randomize(DividedAttention(dim, heads), 4, 0.2)
    x = torch.randn(2, 1 + frames * spatial, dim)
    idx = torch.arange(frames * spatial)
    f, s = idx // spatial, idx % spatial
    for over_time in (True, False):
        same = (s[:, None] == s[None]) if over_time else (f[:, None] == f[None])
        mask = torch.ones(1 + frames * spatial, 1 + frames * spatial, dtype=torch.bool)
        mask[1:, 1:] = same  # tokens see the CLS token and their own group; CLS sees everything
        q, k, v = attn.qkv(x).view(2, -1, 3, heads, dim // heads).unbind(2)
        w = torch.einsum("blhd,bmhd->bhlm", q, k) / math.sqrt(dim // heads)
        ref = torch.einsum("bhlm,bmhd->blhd", w.masked_fill(~mask, float("-inf")).softmax(-1), v).flatten(2)
        torch.testing.assert_close(attn(x, frames, over_time), attn.proj(ref), atol=1e-5, rtol=1e-5)


def test_synchformer_segments_and_tokens():
    model = randomize(Synchformer(SynchformerConfig.tiny()), 5).eval()
    frames = torch.randn(40, 3, 32, 32)
    with torch.no_grad():
        out = model.encode_frames(frames)
        # stride-8 segments of 16 frames: (40 - 16) // 8 + 1 = 4 segments of 8 tokens
        assert out.shape == (1, 32, 128)
        torch.testing.assert_close(out[0, 8:16], model(frames[None, 8:24])[0])


# --------------------------------------------------------------------------- audio VAE


def test_weight_norm_convs_match_torch_weight_norm():
    import warnings

    torch.manual_seed(0)
    ours = randomize(WNConv1d(3, 5, 7, stride=2, padding=3, dilation=1), 6, 0.3)
    ours_t = randomize(WNConvTranspose1d(5, 3, 6, stride=3, padding=2, output_padding=1), 7, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.utils.weight_norm(torch.nn.Conv1d(3, 5, 7, stride=2, padding=3))
        ref_t = torch.nn.utils.weight_norm(torch.nn.ConvTranspose1d(5, 3, 6, stride=3, padding=2, output_padding=1))
    ref.load_state_dict(ours.state_dict())
    ref_t.load_state_dict(ours_t.state_dict())
    x = torch.randn(1, 3, 40)
    torch.testing.assert_close(ours(x), ref(x))
    y = torch.randn(1, 5, 11)
    torch.testing.assert_close(ours_t(y), ref_t(y))


def test_vae_lengths():
    vae = randomize(DACVAE(DACConfig.tiny()), 8).eval()
    with torch.no_grad():
        audio = vae.decode(torch.randn(1, 8, 3))
        assert audio.shape == (1, 1, 3 * 960) and audio.abs().max() <= 1
        mean, logvar = vae.encode(audio)
        assert mean.shape == logvar.shape == (1, 8, 3)
