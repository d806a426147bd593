"""MMAudio's flow-prediction network: a multimodal diffusion transformer (MM-DiT) over mel-VAE latents.

Written from the public description and reading of the released model; parameter names and shapes equal
the released ``mmaudio_{small_16k,small_44k,medium_44k,large_44k,large_44k_v2}.pth`` files, so they load
strictly (the manifests in ``tests/data/mmaudio_manifests.json`` list every tensor).

One velocity evaluation (B = batch, N = latent frames, Nc = CLIP frames at 8 fps, Ns = 8 Synchformer
tokens per 16-frame segment at 25 fps, Nt = 77 text tokens):

1. Condition features are projected to the hidden width once per window (:meth:`prepare_conditions`):
   Synchformer tokens get a learned position within their segment, pass a convolution and are
   resampled (nearest-exact) to N, giving a *per-frame* conditioning vector; the CLIP and text sequences
   are projected and their means give a *global* conditioning vector.
2. Joint blocks: latent, CLIP and text tokens attend together (each stream with its own weights;
   RoPE on latent and CLIP tokens, the CLIP positions scaled so both streams span the same seconds).
   Latent tokens are modulated per frame (time step + global + sync), CLIP/text tokens by the global
   vector.  In the last joint block only the latent stream is updated.
3. Fused blocks: latent tokens alone, modulated per frame.
4. ``final_layer``: adaptive layer norm (global vector) and a kernel-7 convolution to the latent width.

Every "linear" inside a latent or CLIP block is a 1-D convolution over time (kernel 3); feed-forward
layers are SwiGLU with hidden width ``2/3 * 4 * D`` rounded up to a multiple of 256.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

#: feed-forward widths are rounded up to a multiple of this (as released)
FFN_MULTIPLE = 256
#: Synchformer tokens per 16-frame segment
SYNC_TOKENS_PER_SEGMENT = 8


@dataclass(frozen=True)
class NetworkConfig:
    latent_dim: int = 20
    clip_dim: int = 1024
    sync_dim: int = 768
    text_dim: int = 1024
    num_heads: int = 7
    head_dim: int = 64
    depth: int = 12  # joint + fused blocks
    fused_depth: int = 8
    mlp_ratio: float = 4.0
    text_seq_len: int = 77
    #: the large_44k_v2 variant: SiLU in the input projections, a different time-step embedding
    v2: bool = False

    @property
    def hidden_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def joint_depth(self) -> int:
        return self.depth - self.fused_depth

    @classmethod
    def released(cls, size: str) -> "NetworkConfig":
        """The configuration of a released checkpoint by its name."""
        sizes = {
            "small_16k": cls(latent_dim=20, num_heads=7, depth=12, fused_depth=8),
            "small_44k": cls(latent_dim=40, num_heads=7, depth=12, fused_depth=8),
            "medium_44k": cls(latent_dim=40, num_heads=14, depth=12, fused_depth=8),
            "large_44k": cls(latent_dim=40, num_heads=14, depth=21, fused_depth=14),
            "large_44k_v2": cls(latent_dim=40, num_heads=14, depth=21, fused_depth=14, v2=True),
        }
        if size not in sizes:
            raise ValueError(f"unknown MMAudio size {size!r} (known: {', '.join(sizes)})")
        return sizes[size]


def ffn_width(dim: int, hidden: int) -> int:
    width = int(2 * hidden / 3)
    return FFN_MULTIPLE * ((width + FFN_MULTIPLE - 1) // FFN_MULTIPLE)


class TimeConv(nn.Conv1d):
    """A 1-D convolution over the token axis of (B, N, C) sequences (channels last)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class SwiGLU(nn.Module):
    """``w2(silu(w1 x) * w3 x)``; with ``kernel > 1`` the three maps are convolutions over time."""

    def __init__(self, dim: int, hidden: int, kernel: int = 1):
        super().__init__()
        width = ffn_width(dim, hidden)
        if kernel == 1:
            self.w1, self.w2, self.w3 = (nn.Linear(a, b, bias=False) for a, b in ((dim, width), (width, dim), (dim, width)))
        else:
            pad = kernel // 2
            self.w1, self.w2, self.w3 = (TimeConv(a, b, kernel, padding=pad, bias=False)
                                         for a, b in ((dim, width), (width, dim), (dim, width)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


def rope_table(length: int, head_dim: int, scale: float = 1.0, theta: float = 10000.0,
               device=None) -> torch.Tensor:
    """(length, head_dim/2, 2) cos/sin of ``position * scale / theta**(2i/head_dim)``, float32."""
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim)
    angles = torch.arange(length, dtype=torch.float32, device=device)[:, None] * (inv * scale)[None]
    return torch.stack((angles.cos(), angles.sin()), dim=-1)


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent channel pairs (2i, 2i+1) of (B, H, N, D) by the table's angles (in float32)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    a, b = pairs[..., 0], pairs[..., 1]
    cos, sin = table[..., 0], table[..., 1]
    out = torch.stack((cos * a - sin * b, sin * a + cos * b), dim=-1)
    return out.flatten(-2).to(x.dtype)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class QKV(nn.Module):
    """Query/key/value projection with per-head RMS norm of queries and keys.

    The released weight interleaves q, k and v innermost: output channel ``(h * head_dim + d) * 3 + j``.
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = nn.RMSNorm(dim // heads)
        self.k_norm = nn.RMSNorm(dim // heads)

    def forward(self, x: torch.Tensor, rope: Optional[torch.Tensor]):
        b, n, _ = x.shape
        qkv = self.qkv(x).view(b, n, self.heads, -1, 3).permute(4, 0, 2, 1, 3)  # (3, B, H, N, hd)
        q, k, v = self.q_norm(qkv[0]), self.k_norm(qkv[1]), qkv[2]
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        return q, k, v


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(B, H, N, hd) each -> (B, N, H*hd)."""
    out = F.scaled_dot_product_attention(q.contiguous(), k.contiguous(), v.contiguous())
    return out.transpose(1, 2).flatten(2)


class StreamBlock(nn.Module):
    """One stream's half of a transformer block: adaLN, q/k/v before attention; output map and FFN after.

    ``kernel`` 3: the output map and FFN convolve over time (latent and CLIP streams); 1: linear (text).
    ``pre_only``: the stream only contributes keys/values (the last joint block's CLIP and text streams).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, kernel: int, pre_only: bool = False):
        super().__init__()
        self.pre_only = pre_only
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = QKV(dim, heads)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, (2 if pre_only else 6) * dim))
        if not pre_only:
            self.linear1 = nn.Linear(dim, dim) if kernel == 1 else TimeConv(dim, dim, kernel, padding=kernel // 2)
            self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
            self.ffn = SwiGLU(dim, int(dim * mlp_ratio), kernel)

    def before(self, x: torch.Tensor, cond: torch.Tensor, rope: Optional[torch.Tensor]):
        mod = self.adaLN_modulation(cond).chunk(2 if self.pre_only else 6, dim=-1)
        q, k, v = self.attn(modulate(self.norm1(x), mod[0], mod[1]), rope)
        return (q, k, v), mod[2:]

    def after(self, x: torch.Tensor, attn_out: torch.Tensor, mod) -> torch.Tensor:
        if self.pre_only:
            return x
        gate_attn, shift_ffn, scale_ffn, gate_ffn = mod
        x = x + self.linear1(attn_out) * gate_attn
        return x + self.ffn(modulate(self.norm2(x), shift_ffn, scale_ffn)) * gate_ffn

    def forward(self, x: torch.Tensor, cond: torch.Tensor, rope: Optional[torch.Tensor]) -> torch.Tensor:
        qkv, mod = self.before(x, cond, rope)
        return self.after(x, attend(*qkv), mod)


class JointBlock(nn.Module):
    """Latent, CLIP and text tokens in one attention; each stream keeps its own weights."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, pre_only: bool):
        super().__init__()
        self.latent_block = StreamBlock(dim, heads, mlp_ratio, kernel=3)
        self.clip_block = StreamBlock(dim, heads, mlp_ratio, kernel=3, pre_only=pre_only)
        self.text_block = StreamBlock(dim, heads, mlp_ratio, kernel=1, pre_only=pre_only)

    def forward(self, latent, clip, text, global_c, frame_c, latent_rope, clip_rope):
        x_qkv, x_mod = self.latent_block.before(latent, frame_c, latent_rope)
        c_qkv, c_mod = self.clip_block.before(clip, global_c, clip_rope)
        t_qkv, t_mod = self.text_block.before(text, global_c, None)
        joint = attend(*(torch.cat(parts, dim=2) for parts in zip(x_qkv, c_qkv, t_qkv)))
        n, nc = latent.shape[1], clip.shape[1]
        latent = self.latent_block.after(latent, joint[:, :n], x_mod)
        clip = self.clip_block.after(clip, joint[:, n:n + nc], c_mod)
        text = self.text_block.after(text, joint[:, n + nc:], t_mod)
        return latent, clip, text


class FinalLayer(nn.Module):
    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.norm = nn.LayerNorm(dim, elementwise_affine=False)
        self.conv = TimeConv(dim, out_dim, 7, padding=3)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(cond).chunk(2, dim=-1)
        return self.conv(modulate(self.norm(x), shift, scale))


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of the flow time t in [0, 1], then an MLP.

    v1: 256 features, periods up to 10000 (in units of t); v2: ``hidden`` features, frequencies 10000x
    higher (periods up to 1), so t in [0, 1] spans the whole table.
    """

    def __init__(self, dim: int, features: int, max_period: float):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(features, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.features, self.max_period = features, max_period

    def freqs(self, device) -> torch.Tensor:
        # computed in this order (1 / 10000^(2i/F), then scaled) to match the released float32 table bit for bit
        base = 1.0 / (10000 ** (torch.arange(0, self.features, 2, dtype=torch.float32, device=device) / self.features))
        return (10000 / self.max_period) * base

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        args = t[:, None].float() * self.freqs(t.device)[None]
        return self.mlp(torch.cat((args.cos(), args.sin()), dim=-1).to(t.dtype))


@dataclass
class Conditions:
    """Projected condition features of one window (reused by every flow step)."""

    clip: torch.Tensor  # (B, Nc, D)
    frame: torch.Tensor  # (B, N, D): Synchformer features on the latent grid
    text: torch.Tensor  # (B, Nt, D)
    global_c: torch.Tensor  # (B, D): projected CLIP mean + text mean

    def expand(self, batch: int) -> "Conditions":
        return Conditions(*(t.expand(batch, *t.shape[1:]) for t in (self.clip, self.frame, self.text, self.global_c)))


class MMAudioNetwork(nn.Module):
    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = cfg = config
        d = cfg.hidden_dim
        act = nn.SiLU if cfg.v2 else nn.SELU
        self.audio_input_proj = nn.Sequential(TimeConv(cfg.latent_dim, d, 7, padding=3), act(),
                                              SwiGLU(d, 4 * d, kernel=7))
        # v1 has no activation between the linear map and the FFN of the CLIP and text projections.
        between = (nn.SiLU(),) if cfg.v2 else ()
        self.clip_input_proj = nn.Sequential(nn.Linear(cfg.clip_dim, d), *between, SwiGLU(d, 4 * d, kernel=3))
        self.sync_input_proj = nn.Sequential(TimeConv(cfg.sync_dim, d, 7, padding=3), act(),
                                             SwiGLU(d, 4 * d, kernel=3))
        self.text_input_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), *between, SwiGLU(d, 4 * d))
        self.clip_cond_proj = nn.Linear(d, d)
        self.text_cond_proj = nn.Linear(d, d)
        self.global_cond_mlp = SwiGLU(d, 4 * d)
        self.sync_pos_emb = nn.Parameter(torch.zeros(1, 1, SYNC_TOKENS_PER_SEGMENT, cfg.sync_dim))
        self.final_layer = FinalLayer(d, cfg.latent_dim)
        self.t_embed = TimestepEmbedder(d, d, 1.0) if cfg.v2 else TimestepEmbedder(d, 256, 10000.0)
        self.joint_blocks = nn.ModuleList(JointBlock(d, cfg.num_heads, cfg.mlp_ratio, pre_only=i == cfg.joint_depth - 1)
                                          for i in range(cfg.joint_depth))
        self.fused_blocks = nn.ModuleList(StreamBlock(d, cfg.num_heads, cfg.mlp_ratio, kernel=3)
                                          for _ in range(cfg.fused_depth))
        # Statistics of the VAE latents (the network works on normalised latents) and the learned
        # "empty" features that replace each condition for classifier-free guidance.
        self.latent_mean = nn.Parameter(torch.zeros(1, 1, cfg.latent_dim), requires_grad=False)
        self.latent_std = nn.Parameter(torch.ones(1, 1, cfg.latent_dim), requires_grad=False)
        self.empty_string_feat = nn.Parameter(torch.zeros(cfg.text_seq_len, cfg.text_dim), requires_grad=False)
        self.empty_clip_feat = nn.Parameter(torch.zeros(1, cfg.clip_dim))
        self.empty_sync_feat = nn.Parameter(torch.zeros(1, cfg.sync_dim))
        self._ropes: dict = {}

    @property
    def dtype(self) -> torch.dtype:
        return self.latent_mean.dtype

    def ropes(self, latent_len: int, clip_len: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE tables for the latent and CLIP streams; CLIP positions are stretched to the latent's
        time scale (frequency x latent_len/clip_len) so a CLIP frame and the latents at the same instant
        share an angle."""
        key = (latent_len, clip_len, str(device))
        if key not in self._ropes:
            hd = self.config.head_dim
            self._ropes[key] = (rope_table(latent_len, hd, 1.0, device=device),
                                rope_table(clip_len, hd, latent_len / clip_len, device=device))
        return self._ropes[key]

    # ------------------------------------------------------------------ conditions

    def prepare_conditions(self, clip: torch.Tensor, sync: torch.Tensor, text: torch.Tensor,
                           latent_len: int) -> Conditions:
        """(B, Nc, clip_dim), (B, 8*S, sync_dim), (B, Nt, text_dim) -> projected :class:`Conditions`."""
        b = clip.shape[0]
        sync = (sync.view(b, -1, SYNC_TOKENS_PER_SEGMENT, sync.shape[-1]) + self.sync_pos_emb).flatten(1, 2)
        clip, sync, text = self.clip_input_proj(clip), self.sync_input_proj(sync), self.text_input_proj(text)
        frame = F.interpolate(sync.transpose(1, 2), size=latent_len, mode="nearest-exact").transpose(1, 2)
        global_c = self.clip_cond_proj(clip.mean(dim=1)) + self.text_cond_proj(text.mean(dim=1))
        return Conditions(clip, frame, text, global_c)

    def empty_conditions(self, clip_len: int, sync_len: int, latent_len: int,
                         negative_text: Optional[torch.Tensor] = None) -> Conditions:
        """The unconditional branch: learned empty CLIP/sync features, the empty (or negative) prompt."""
        text = self.empty_string_feat[None] if negative_text is None else negative_text
        clip = self.empty_clip_feat[None].expand(1, clip_len, -1)
        sync = self.empty_sync_feat[None].expand(1, sync_len, -1)
        return self.prepare_conditions(clip, sync, text, latent_len)

    # ------------------------------------------------------------------ flow

    def predict_flow(self, latent: torch.Tensor, t: torch.Tensor, cond: Conditions) -> torch.Tensor:
        """Velocity at flow time ``t`` (B,) for normalised latents (B, N, latent_dim)."""
        n = latent.shape[1]
        latent_rope, clip_rope = self.ropes(n, cond.clip.shape[1], latent.device)
        x = self.audio_input_proj(latent)
        global_c = (self.t_embed(t) + self.global_cond_mlp(cond.global_c))[:, None]  # (B, 1, D)
        frame_c = global_c + cond.frame  # (B, N, D)
        clip, text = cond.clip, cond.text
        for block in self.joint_blocks:
            x, clip, text = block(x, clip, text, global_c, frame_c, latent_rope, clip_rope)
        for block in self.fused_blocks:
            x = block(x, frame_c, latent_rope)
        # As released, the final layer is modulated by the global vector (not the per-frame one).
        return self.final_layer(x, global_c)

    def forward(self, latent, clip, sync, text, t):
        return self.predict_flow(latent, t, self.prepare_conditions(clip, sync, text, latent.shape[1]))

    def guided_flow(self, latent: torch.Tensor, t: float, cond: Conditions, empty: Conditions,
                    guidance: float) -> torch.Tensor:
        """Classifier-free guidance ``g * v(cond) + (1 - g) * v(empty)``; below 1 the conditional flow alone."""
        tt = torch.full((latent.shape[0],), float(t), device=latent.device, dtype=latent.dtype)
        if guidance < 1.0:
            return self.predict_flow(latent, tt, cond)
        return guidance * self.predict_flow(latent, tt, cond) + (1 - guidance) * self.predict_flow(latent, tt, empty)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.latent_mean) / self.latent_std

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.latent_std + self.latent_mean

    @property
    def parameters_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def count_released_parameters(size: str) -> int:
    with torch.device("meta"):
        return MMAudioNetwork(NetworkConfig.released(size)).parameters_count
