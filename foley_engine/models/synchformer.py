"""Synchformer: the visual synchronisation encoder (``synchformer_state_dict.pth``).

Only the visual branch runs at inference: a MotionFormer-style video ViT
with *divided* space-time attention over 16-frame segments (tubelets of
2 frames x 16 x 16 pixels), followed by a per-frame attention pooling layer,
giving 8 tokens of 768 per segment.  The released file also holds the audio
branch (an AST spectrogram transformer), the projections and the offset
classifier used to train the model; they are built here as parameter
containers with the released names so the file loads strictly, and are
not run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SynchformerConfig:
    embed_dim: int = 768
    num_heads: int = 12
    depth: int = 12
    mlp_ratio: int = 4
    image_size: int = 224
    patch_size: int = 16
    tubelet: int = 2  # frames per 3-D patch
    segment_frames: int = 16
    # audio branch (not run; shapes only)
    audio_depth: int = 12
    audio_heads: int = 12
    audio_mel_bins: int = 128
    audio_frames: int = 66
    audio_patch: int = 16
    audio_stride: int = 10
    # global offset transformer (not run; shapes only)
    global_depth: int = 3
    global_positions: int = 198
    offset_classes: int = 21

    @classmethod
    def tiny(cls) -> "SynchformerConfig":
        return cls(embed_dim=128, num_heads=2, depth=2, image_size=32, audio_depth=1, audio_heads=2,
                   audio_mel_bins=26, global_depth=1, global_positions=20)

    @property
    def frames_out(self) -> int:
        """Feature tokens per segment."""
        return self.segment_frames // self.tubelet

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


def _ln(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)


class DividedAttention(nn.Module):
    """Attention within groups of tokens (same frame, or same spatial position); the
    CLS token attends to every token and is a key/value in every group."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, frames: int, over_time: bool) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)  # each (b, h, n, hd)
        cls_out = F.scaled_dot_product_attention(q[:, :, :1], k, v)

        def groups(t):
            t = t[:, :, 1:]  # (b, h, f*s, hd), token index = frame * s + spatial
            t = t.unflatten(2, (frames, -1))  # (b, h, f, s, hd)
            return t.transpose(2, 3) if over_time else t  # group by spatial position or by frame

        qg, kg, vg = groups(q), groups(k), groups(v)
        cls_k = k[:, :, None, :1].expand(-1, -1, kg.shape[2], -1, -1)
        cls_v = v[:, :, None, :1].expand(-1, -1, vg.shape[2], -1, -1)
        out = F.scaled_dot_product_attention(qg, torch.cat((cls_k, kg), 3), torch.cat((cls_v, vg), 3))
        if over_time:
            out = out.transpose(2, 3)
        out = torch.cat((cls_out, out.flatten(2, 3)), dim=2)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class DividedSpaceTimeBlock(nn.Module):
    """Time attention, then space attention, then MLP, each pre-norm and residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = _ln(dim)
        self.attn = DividedAttention(dim, heads)
        self.timeattn = DividedAttention(dim, heads)
        self.norm2 = _ln(dim)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.norm3 = _ln(dim)

    def forward(self, x, frames: int):
        x = x + self.timeattn(self.norm3(x), frames, over_time=True)
        x = x + self.attn(self.norm1(x), frames, over_time=False)
        return x + self.mlp(self.norm2(x))


class ClsPoolingLayer(nn.TransformerEncoderLayer):
    """One pre-norm transformer encoder layer over [CLS, tokens]; returns the CLS output."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int):
        super().__init__(d_model=dim, nhead=heads, dim_feedforward=mlp_ratio * dim, dropout=0.0,
                         activation=nn.GELU(), layer_norm_eps=1e-6, batch_first=True, norm_first=True)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, L, D) -> (N, D)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return super().forward(x)[:, 0]


class _Proj(nn.Module):
    def __init__(self, conv: nn.Module):
        super().__init__()
        self.proj = conv


class MotionFormer(nn.Module):
    """Visual feature extractor: (N, C, T, H, W) segments -> (N, T/2, D) tokens."""

    def __init__(self, cfg: SynchformerConfig):
        super().__init__()
        d, p = cfg.embed_dim, cfg.patch_size
        self.cfg = cfg
        n = cfg.grid * cfg.grid
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, d))
        self.temp_embed = nn.Parameter(torch.zeros(1, cfg.frames_out, d))
        # The 2-D patch embedding is in the released file but unused (tubelets replace it).
        self.patch_embed = _Proj(nn.Conv2d(3, d, p, p))
        self.patch_embed_3d = _Proj(nn.Conv3d(3, d, (cfg.tubelet, p, p), (cfg.tubelet, p, p)))
        self.blocks = nn.ModuleList(DividedSpaceTimeBlock(d, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = _ln(d)
        self.spatial_attn_agg = ClsPoolingLayer(d, cfg.num_heads, cfg.mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed_3d.proj(x)  # (N, D, t, h, w)
        nb, d, t, gh, gw = tokens.shape
        tokens = tokens.flatten(2).transpose(1, 2)  # (N, t*h*w, D), frame-major
        # Position = spatial embedding (shared by frames) + temporal embedding (shared by positions).
        pos = (self.pos_embed[:, 1:, None] + self.temp_embed[:, None, :t]).transpose(1, 2).flatten(1, 2)
        cls = self.cls_token.expand(nb, -1, -1) + self.pos_embed[:, :1]
        x = torch.cat((cls, tokens + pos), dim=1)
        for block in self.blocks:
            x = block(x, frames=t)
        x = self.norm(x[:, 1:])  # (N, t*h*w, D)
        x = x.view(nb, t, gh * gw, d).flatten(0, 1)  # one sequence per frame
        return self.spatial_attn_agg(x).view(nb, t, d)


class _ASTEmbeddings(nn.Module):
    def __init__(self, cfg: SynchformerConfig):
        super().__init__()
        d = cfg.embed_dim
        f = (cfg.audio_mel_bins - cfg.audio_patch) // cfg.audio_stride + 1
        t = (cfg.audio_frames - cfg.audio_patch) // cfg.audio_stride + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.distillation_token = nn.Parameter(torch.zeros(1, 1, d))
        self.position_embeddings = nn.Parameter(torch.zeros(1, f * t + 2, d))
        self.patch_embeddings = nn.Module()
        self.patch_embeddings.projection = nn.Conv2d(1, d, cfg.audio_patch, cfg.audio_stride)


class _ASTLayer(nn.Module):
    def __init__(self, d: int, mlp: int):
        super().__init__()
        self.attention = nn.Module()
        self.attention.attention = nn.Module()
        for name in ("query", "key", "value"):
            setattr(self.attention.attention, name, nn.Linear(d, d))
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(d, d)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, mlp)
        self.output = nn.Module()
        self.output.dense = nn.Linear(mlp, d)
        self.layernorm_before = nn.LayerNorm(d)
        self.layernorm_after = nn.LayerNorm(d)


class _GlobalBlock(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.attn = nn.Module()
        for name in ("key", "query", "value", "proj"):
            setattr(self.attn, name, nn.Linear(d, d))
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))


class Synchformer(nn.Module):
    def __init__(self, config: Optional[SynchformerConfig] = None):
        super().__init__()
        cfg = config or SynchformerConfig()
        self.config = cfg
        d = cfg.embed_dim
        self.vfeat_extractor = MotionFormer(cfg)
        # Training-only parts, kept for a strict load of the released file; the loader
        # removes them when a repacked file leaves them out.
        self.afeat_extractor = nn.Module()
        self.afeat_extractor.ast = nn.Module()
        self.afeat_extractor.ast.embeddings = _ASTEmbeddings(cfg)
        self.afeat_extractor.ast.encoder = nn.Module()
        self.afeat_extractor.ast.encoder.layer = nn.ModuleList(_ASTLayer(d, 4 * d) for _ in range(cfg.audio_depth))
        self.afeat_extractor.ast.layernorm = nn.LayerNorm(d)
        self.afeat_extractor.freq_attn_agg = ClsPoolingLayer(d, cfg.audio_heads, cfg.mlp_ratio)
        self.vproj = nn.Linear(d, d)
        self.aproj = nn.Linear(d, d)
        self.transformer = nn.Module()
        self.transformer.OFF_tok = nn.Parameter(torch.zeros(1, 1, d))
        self.transformer.MOD_tok = nn.Parameter(torch.zeros(1, 1, d))
        self.transformer.vis_in_lnorm = nn.LayerNorm(d)
        self.transformer.aud_in_lnorm = nn.LayerNorm(d)
        self.transformer.pos_emb_cfg = nn.Module()
        self.transformer.pos_emb_cfg.pos_emb = nn.Parameter(torch.zeros(1, cfg.global_positions, d))
        self.transformer.blocks = nn.Sequential(*(_GlobalBlock(d) for _ in range(cfg.global_depth)))
        self.transformer.ln_f = nn.LayerNorm(d)
        self.transformer.off_head = nn.Linear(d, cfg.offset_classes)

    @property
    def dtype(self) -> torch.dtype:
        return self.vfeat_extractor.cls_token.dtype  # the training-only parts may have been removed

    @property
    def has_audio_branch(self) -> bool:
        return hasattr(self, "afeat_extractor")

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        """(N, T, C, H, W) normalised segments -> (N, T/2, D) visual sync tokens."""
        return self.vfeat_extractor(segments.permute(0, 2, 1, 3, 4))

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        """(T, C, H, W) normalised frames at 25 fps -> (1, 8*S, D) tokens (see :func:`encode_in_segments`)."""
        return encode_in_segments(self, self.config, frames, batch_size)


def encode_in_segments(encode, config: SynchformerConfig, frames: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Frames -> sync tokens through ``encode`` ((N, T, C, H, W) segments -> (N, T/2, D) tokens).

    Segments of 16 frames with stride 8, as trained: S = (T - 16) // 8 + 1, run
    ``batch_size`` at a time.  Any encoder of segments can use it (the PyTorch
    model, an ONNX Runtime session), so the segmenting exists once.
    """
    seg, step = config.segment_frames, config.segment_frames // 2
    if frames.shape[0] < seg:
        raise ValueError(f"need at least {seg} frames for one Synchformer segment, got {frames.shape[0]}")
    count = (frames.shape[0] - seg) // step + 1
    segments = torch.stack([frames[i * step: i * step + seg] for i in range(count)])
    out = [encode(segments[i: i + batch_size]) for i in range(0, count, batch_size)]
    return torch.cat(out).flatten(0, 1)[None]
