"""The HunyuanVideo-Foley multimodal diffusion transformer (MMDiT).

Written from the public description of the released model; parameter names
and shapes equal the released checkpoints ``hunyuanvideo_foley.pth`` (XXL)
and ``hunyuanvideo_foley_xl.pth`` (XL), so those files load strictly.

Data flow for one denoising step (B = batch, La = audio latent frames at
50 per second, Lv = SigLIP2 frames at 8 per second, Lt = CLAP tokens):

1. ``audio_embedder`` lifts the noisy 128-d latent to the hidden size; the
   Synchformer features (8 tokens per 16-frame segment) get a learned
   per-token position, pass ``sync_in`` and are resampled (nearest-exact) to
   La and *added* to the audio tokens.
2. Triple-stream blocks: audio and visual tokens attend jointly (each
   stream with its own projections; visual first in the joint sequence), with
   RoPE on an *interleaved* audio/visual sequence; then both cross-attend to
   the text; then per-stream MLPs.  The text stream is not updated.
3. Single-stream blocks on the audio tokens only, modulated per token by
   (timestep + sync) embeddings; their "linear" layers are 1-D convolutions
   (kernel 3) over time.
4. ``final_layer`` predicts the flow-matching velocity (layer norm and a
   linear map: as released, its adaLN weights are present but, fed per-token
   vectors, not applied).

Modulation order everywhere is (shift, scale, gate) per sub-layer, applied as
``norm(x) * (1 + scale) + shift`` and ``x + gate * f(...)``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DiTConfig:
    hidden_size: int = 1536
    num_heads: int = 12
    depth_triple_blocks: int = 18
    depth_single_blocks: int = 36
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    audio_latent_dim: int = 128
    text_dim: int = 768  # CLAP last hidden state
    clip_dim: int = 768  # SigLIP2 image embedding
    sync_dim: int = 768  # Synchformer visual tokens
    sync_tokens_per_segment: int = 8
    sync_in_kernel: int = 1
    rope_theta: float = 10000.0
    timestep_freq_dim: int = 256
    #: ConvMLP hidden sizes are rounded up to a multiple of this
    conv_mlp_multiple_of: int = 256
    # Lengths the released model was trained with (used for empty features and docs).
    text_length: int = 77
    clip_length: int = 64
    sync_length: int = 192
    audio_frame_rate: int = 50

    @classmethod
    def xxl(cls) -> "DiTConfig":
        return cls()

    @classmethod
    def xl(cls) -> "DiTConfig":
        return cls(hidden_size=1408, num_heads=11, depth_triple_blocks=12, depth_single_blocks=24)

    @classmethod
    def tiny(cls) -> "DiTConfig":
        """A few-hundred-thousand-parameter model with the same structure, for tests."""
        return cls(hidden_size=64, num_heads=2, depth_triple_blocks=2, depth_single_blocks=2,
                   audio_latent_dim=8, text_dim=24, clip_dim=16, sync_dim=128, conv_mlp_multiple_of=16)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- math


def nearest_exact_index(n_in: int, n_out: int, device=None) -> torch.Tensor:
    """Source indices of ``F.interpolate(mode="nearest-exact")`` from n_in to n_out samples.

    Taken from torch's own kernel on the same device: at exact ties (e.g.
    70.5 * 2/141 = 1) float rounding decides, and the reference resamples with
    that kernel, so a formula of our own could pick the neighbouring token.
    """
    ramp = torch.arange(n_in, device=device, dtype=torch.float32)[None, None]
    return F.interpolate(ramp, size=n_out, mode="nearest-exact")[0, 0].long()


def resample_tokens(x: torch.Tensor, n_out: int) -> torch.Tensor:
    """Nearest-exact resampling of a (B, L, ...) token sequence along L."""
    if x.shape[1] == n_out:
        return x
    return x[:, nearest_exact_index(x.shape[1], n_out, x.device)]


def rope_cos_sin(positions: torch.Tensor, dim: int, theta: float, freq_scale: float = 1.0):
    """Interleaved-pair RoPE tables: (cos, sin) of shape (L, dim).

    Channel pair (2i, 2i+1) rotates at frequency ``theta ** (-2i / dim)``;
    each table value is repeated for both channels of its pair.
    """
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32, device=positions.device)[: dim // 2] / dim))
    angles = torch.outer(positions.float(), freqs * freq_scale)
    return angles.cos().repeat_interleave(2, dim=1), angles.sin().repeat_interleave(2, dim=1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (B, L, H, D) by per-position tables (L, D); pairs are adjacent channels.

    Computed in float32 (as the reference does) and returned in x's dtype.
    """
    xf = x.float()
    even, odd = xf.unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack((-odd, even), dim=-1).flatten(-2)
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    return (xf * cos + rotated * sin).type_as(x)


def rope_1d(x: torch.Tensor, theta: float) -> torch.Tensor:
    """RoPE with positions 0..L-1 on a (B, L, H, D) tensor."""
    cos, sin = rope_cos_sin(torch.arange(x.shape[1], device=x.device), x.shape[-1], theta)
    return apply_rope(x, cos, sin)


def rope_interleaved_audio_visual(audio: torch.Tensor, visual: torch.Tensor, theta: float):
    """RoPE on the sequence a0 v0 a1 v1 ... of length 2*La (the released model's layout).

    The visual stream is first stretched to La tokens (nearest-exact), so
    audio token i sits at position 2i and its visual partner at 2i+1; the
    rotated visual tokens are then sampled back to Lv (nearest-exact).
    """
    la, lv = audio.shape[1], visual.shape[1]
    dim = audio.shape[-1]
    idx = torch.arange(la, device=audio.device)
    cos_a, sin_a = rope_cos_sin(2 * idx, dim, theta)
    cos_v, sin_v = rope_cos_sin(2 * idx + 1, dim, theta)
    audio = apply_rope(audio, cos_a, sin_a)
    if lv == la:
        return audio, apply_rope(visual, cos_v, sin_v)
    up = nearest_exact_index(lv, la, audio.device)
    down = nearest_exact_index(la, lv, audio.device)
    # Only the stretched tokens that survive the way back need rotating.
    visual = apply_rope(visual[:, up[down]], cos_v[down], sin_v[down])
    return audio, visual


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Softmax attention on (B, L, H, D) tensors, returning (B, L, H*D)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    return out.transpose(1, 2).flatten(2)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [cos | sin] of (possibly fractional) timesteps in [0, 1000]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    if shift.ndim == 2:  # one vector per batch item, broadcast over tokens
        shift, scale = shift[:, None], scale[:, None]
    return x * (1 + scale) + shift


def gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return x * (g[:, None] if g.ndim == 2 else g)


# --------------------------------------------------------------------------- layers


class RMSNorm(nn.Module):
    """RMS norm over the last dim, computed in float32, eps 1e-6 (the triple blocks' qk-norm)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        out = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x)
        return out * self.weight


class Modulation(nn.Module):
    """SiLU then one linear layer giving ``factor`` vectors of the hidden size."""

    def __init__(self, hidden: int, factor: int):
        super().__init__()
        self.linear = nn.Linear(hidden, factor * hidden)

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        return self.linear(F.silu(c))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class SwiGLU(nn.Module):
    """``w2(silu(w1 x) * w3 x)`` without biases (the visual projection)."""

    def __init__(self, dim: int, hidden: int, out: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, out, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TokenConv1d(nn.Conv1d):
    """A Conv1d applied to (B, L, C) token sequences (convolving over L)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ConvSwiGLU(nn.Module):
    """SwiGLU whose projections are convolutions over time; hidden = ceil(2/3 * hidden, multiple_of)."""

    def __init__(self, dim: int, hidden: int, kernel_size: int, multiple_of: int):
        super().__init__()
        hidden = int(2 * hidden / 3)
        hidden = multiple_of * ((hidden + multiple_of - 1) // multiple_of)
        pad = kernel_size // 2
        self.w1 = TokenConv1d(dim, hidden, kernel_size, padding=pad, bias=False)
        self.w2 = TokenConv1d(hidden, dim, kernel_size, padding=pad, bias=False)
        self.w3 = TokenConv1d(dim, hidden, kernel_size, padding=pad, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int, freq_dim: int):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(t, self.freq_dim).to(self.mlp[0].weight.dtype))


class ConditionProjection(nn.Module):
    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, hidden)
        self.linear_2 = nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class PatchEmbed1D(nn.Module):
    """(B, C, L) latents to (B, L, hidden) tokens with a kernel-1 convolution (patch size 1)."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.proj = nn.Conv1d(in_dim, hidden, kernel_size=1)

    def forward(self, x):
        return self.proj(x).transpose(1, 2)


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(hidden, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x, c):
        x = F.layer_norm(x, x.shape[-1:], eps=1e-6)
        if c.ndim == 2:
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
            x = modulate(x, shift, scale)
        # With per-token conditioning (how the model calls it) the released code
        # leaves the normalised tokens unmodulated: its modulate() drops 3-D
        # shift/scale.  The checkpoint was trained that way, so we do the same.
        return self.linear(x)


def _split_heads(x: torch.Tensor, parts: int, heads: int) -> list[torch.Tensor]:
    """(B, L, parts*H*D) with layout (parts, heads, dim) to ``parts`` tensors (B, L, H, D)."""
    b, l, _ = x.shape
    return list(x.view(b, l, parts, heads, -1).unbind(2))


class TripleStreamBlock(nn.Module):
    """Joint audio-visual self-attention, cross-attention to text, per-stream MLPs."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        h, d = cfg.hidden_size, cfg.head_dim
        bias = cfg.qkv_bias
        mlp_hidden = int(h * cfg.mlp_ratio)
        self.num_heads = cfg.num_heads
        self.rope_theta = cfg.rope_theta
        # Parameter names follow the released checkpoint.
        self.audio_mod = Modulation(h, 9)
        self.audio_self_attn_qkv = nn.Linear(h, 3 * h, bias=bias)
        self.audio_self_q_norm = RMSNorm(d)
        self.audio_self_k_norm = RMSNorm(d)
        self.audio_self_proj = nn.Linear(h, h, bias=bias)
        self.v_cond_mod = Modulation(h, 9)
        self.v_cond_attn_qkv = nn.Linear(h, 3 * h, bias=bias)
        self.v_cond_attn_q_norm = RMSNorm(d)
        self.v_cond_attn_k_norm = RMSNorm(d)
        self.v_cond_self_proj = nn.Linear(h, h, bias=bias)
        self.audio_cross_q = nn.Linear(h, h, bias=bias)
        self.v_cond_cross_q = nn.Linear(h, h, bias=bias)
        self.text_cross_kv = nn.Linear(h, 2 * h, bias=bias)
        self.audio_cross_q_norm = RMSNorm(d)
        self.v_cond_cross_q_norm = RMSNorm(d)
        self.text_cross_k_norm = RMSNorm(d)
        self.audio_cross_proj = nn.Linear(h, h, bias=bias)
        self.v_cond_cross_proj = nn.Linear(h, h, bias=bias)
        self.audio_mlp = MLP(h, mlp_hidden)
        self.v_cond_mlp = MLP(h, mlp_hidden)

    @staticmethod
    def _ln(x):
        return F.layer_norm(x, x.shape[-1:], eps=1e-6)

    def forward(self, audio, text, visual, vec):
        heads, theta = self.num_heads, self.rope_theta
        a_mod = self.audio_mod(vec).chunk(9, dim=-1)
        v_mod = self.v_cond_mod(vec).chunk(9, dim=-1)

        # 1. joint self-attention, visual tokens first
        a_q, a_k, a_v = _split_heads(self.audio_self_attn_qkv(modulate(self._ln(audio), a_mod[0], a_mod[1])), 3, heads)
        a_q, a_k = self.audio_self_q_norm(a_q).to(a_v), self.audio_self_k_norm(a_k).to(a_v)
        v_q, v_k, v_v = _split_heads(self.v_cond_attn_qkv(modulate(self._ln(visual), v_mod[0], v_mod[1])), 3, heads)
        v_q, v_k = self.v_cond_attn_q_norm(v_q).to(v_v), self.v_cond_attn_k_norm(v_k).to(v_v)
        a_q, v_q = rope_interleaved_audio_visual(a_q, v_q, theta)
        a_k, v_k = rope_interleaved_audio_visual(a_k, v_k, theta)
        out = attention(torch.cat((v_q, a_q), 1), torch.cat((v_k, a_k), 1), torch.cat((v_v, a_v), 1))
        v_out, a_out = out.split([visual.shape[1], audio.shape[1]], dim=1)
        audio = audio + gate(self.audio_self_proj(a_out), a_mod[2])
        visual = visual + gate(self.v_cond_self_proj(v_out), v_mod[2])

        # 2. cross-attention of (visual, audio) queries to the text; each sequence has its own 1-D RoPE
        a_q = self.audio_cross_q(modulate(self._ln(audio), a_mod[3], a_mod[4])).unflatten(-1, (heads, -1))
        v_q = self.v_cond_cross_q(modulate(self._ln(visual), v_mod[3], v_mod[4])).unflatten(-1, (heads, -1))
        a_q, v_q = self.audio_cross_q_norm(a_q), self.v_cond_cross_q_norm(v_q)
        t_k, t_v = _split_heads(self.text_cross_kv(text), 2, heads)
        t_k = self.text_cross_k_norm(t_k).to(t_v)
        a_q, v_q, t_k = rope_1d(a_q, theta), rope_1d(v_q, theta), rope_1d(t_k, theta)
        out = attention(torch.cat((v_q, a_q), 1), t_k, t_v)
        v_out, a_out = out.split([visual.shape[1], audio.shape[1]], dim=1)
        audio = audio + gate(self.audio_cross_proj(a_out), a_mod[5])
        visual = visual + gate(self.v_cond_cross_proj(v_out), v_mod[5])

        # 3. MLPs
        audio = audio + gate(self.audio_mlp(modulate(self._ln(audio), a_mod[6], a_mod[7])), a_mod[8])
        visual = visual + gate(self.v_cond_mlp(modulate(self._ln(visual), v_mod[6], v_mod[7])), v_mod[8])
        return audio, visual


class SingleStreamBlock(nn.Module):
    """Audio-only block with per-token modulation and convolutional projections."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        h = cfg.hidden_size
        self.num_heads = cfg.num_heads
        self.rope_theta = cfg.rope_theta
        self.modulation = Modulation(h, 6)
        self.linear_qkv = nn.Linear(h, 3 * h)
        self.linear1 = TokenConv1d(h, h, kernel_size=3, padding=1)
        self.linear2 = ConvSwiGLU(h, int(h * cfg.mlp_ratio), 3, cfg.conv_mlp_multiple_of)
        # torch's RMSNorm with its default eps (machine epsilon of the input dtype), as released.
        self.q_norm = nn.RMSNorm(cfg.head_dim)
        self.k_norm = nn.RMSNorm(cfg.head_dim)

    def forward(self, x, vec, rope):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(vec).chunk(6, dim=-1)
        b, l, _ = x.shape
        # Unlike the triple blocks, the fused qkv layout here is (heads, dim, 3).
        qkv = self.linear_qkv(modulate(F.layer_norm(x, x.shape[-1:]), shift1, scale1))
        q, k, v = qkv.view(b, l, self.num_heads, -1, 3).unbind(-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        x = x + gate(self.linear1(attention(q, k, v)), gate1)
        x = x + gate(self.linear2(modulate(F.layer_norm(x, x.shape[-1:]), shift2, scale2)), gate2)
        return x


class HunyuanFoleyDiT(nn.Module):
    """The diffusion transformer.  ``forward`` predicts the flow velocity for (B, C, La) latents."""

    def __init__(self, config: Optional[DiTConfig] = None):
        super().__init__()
        cfg = config or DiTConfig()
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"hidden size {cfg.hidden_size} is not divisible by {cfg.num_heads} heads")
        self.config = cfg
        h = cfg.hidden_size
        self.audio_embedder = PatchEmbed1D(cfg.audio_latent_dim, h)
        self.visual_proj = SwiGLU(cfg.clip_dim, h, h)
        self.cond_in = ConditionProjection(cfg.text_dim, h)
        self.time_in = TimestepEmbedder(h, cfg.timestep_freq_dim)
        self.sync_in = nn.Sequential(
            nn.Linear(cfg.sync_dim, h),
            nn.SiLU(),
            ConvSwiGLU(h, 4 * h, cfg.sync_in_kernel, cfg.conv_mlp_multiple_of),
        )
        self.sync_pos_emb = nn.Parameter(torch.zeros(1, 1, cfg.sync_tokens_per_segment, cfg.sync_dim))
        self.triple_blocks = nn.ModuleList(TripleStreamBlock(cfg) for _ in range(cfg.depth_triple_blocks))
        self.single_blocks = nn.ModuleList(SingleStreamBlock(cfg) for _ in range(cfg.depth_single_blocks))
        self.final_layer = FinalLayer(h, cfg.audio_latent_dim)
        # Learned stand-ins for "no video", used as the unconditional branch of guidance.
        self.empty_clip_feat = nn.Parameter(torch.zeros(1, cfg.clip_dim))
        self.empty_sync_feat = nn.Parameter(torch.zeros(1, cfg.sync_dim))

    @property
    def dtype(self) -> torch.dtype:
        return self.audio_embedder.proj.weight.dtype

    def empty_clip(self, batch: int, length: int) -> torch.Tensor:
        return self.empty_clip_feat[None].expand(batch, length, -1)

    def empty_sync(self, batch: int, length: int) -> torch.Tensor:
        return self.empty_sync_feat[None].expand(batch, length, -1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, clip: torch.Tensor,
                sync: torch.Tensor) -> torch.Tensor:
        """x: (B, C, La) noisy latents; t: (B,) timesteps in [0, 1000];
        text: (B, Lt, text_dim); clip: (B, Lv, clip_dim); sync: (B, 8*S, sync_dim)."""
        cfg = self.config
        b, _, la = x.shape
        n = cfg.sync_tokens_per_segment
        if sync.shape[1] % n:
            raise ValueError(f"sync features must come in groups of {n} tokens, got {sync.shape[1]}")
        vec = self.time_in(t)
        sync = (sync.reshape(b, -1, n, cfg.sync_dim) + self.sync_pos_emb).reshape(b, -1, cfg.sync_dim)
        sync = resample_tokens(self.sync_in(sync), la)

        text = self.cond_in(text)
        audio = self.audio_embedder(x)
        visual = self.visual_proj(clip)

        audio = audio + sync  # the sync features are added before the first block
        for block in self.triple_blocks:
            audio, visual = block(audio, text, visual, vec)

        # From here on every audio token has its own modulation vector: timestep + sync.
        vec = sync + vec[:, None]
        rope = rope_cos_sin(torch.arange(la, device=x.device), cfg.head_dim, cfg.rope_theta)
        for block in self.single_blocks:
            audio = block(audio, vec, rope)
        return self.final_layer(audio, vec).transpose(1, 2)
