"""MMAudio's audio VAE: log-mel spectrogram frames <-> latent frames, 1-D over time (``v1-16.pth``, ``v1-44.pth``).

Written from the public description of the released model; names and shapes equal the released files.
The network is "magnitude preserving" (EDM2 style): every convolution's weight is normalised per output
channel (the files hold the raw weights: :meth:`AudioVAE.fold_weight_norm` normalises them once after
loading, and the layers refuse to run before), activations are ``silu(x) / 0.596``, residual sums are
``lerp(x, h, 0.3) / sqrt(0.3^2 + 0.7^2)``, and each residual block starts with a per-position unit-RMS
normalisation over channels.

Decoder (the generation path): latents (B, E, N) -> conv -> middle (res, attention, res) -> three
levels of three residual blocks (4D, 2D, D channels; the 2D level doubles the frame rate, nearest then
conv) -> mel (B, M, 2N), un-normalised with the per-band statistics stored in the file.
Encoder (kept so the released file loads whole; used to continue from earlier audio): the mirror image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: activations are clamped to this range after each block (as released)
CLAMP = 256.0
#: residual mix weight
RES_T = 0.3


@dataclass(frozen=True)
class VAEConfig:
    mel_bins: int = 80  # data_dim
    latent_dim: int = 20  # embed_dim
    hidden: int = 384
    channel_mult: tuple = (1, 2, 4)
    blocks: int = 2
    #: levels whose output halves (encoder) / doubles (decoder) the frame rate
    resample_levels: tuple = (0,)

    @classmethod
    def released(cls, mode: str) -> "VAEConfig":
        if mode == "16k":
            return cls(80, 20, 384)
        if mode == "44k":
            return cls(128, 40, 512)
        raise ValueError(f"unknown VAE mode {mode!r} (16k or 44k)")


def unit_norm(x: torch.Tensor, dim, eps: float = 1e-4) -> torch.Tensor:
    """x divided by its RMS over ``dim`` (computed in float32), plus eps."""
    norm = torch.linalg.vector_norm(x, dim=dim, keepdim=True, dtype=torch.float32)
    norm = eps + norm * math.sqrt(norm.numel() / x.numel())
    return x / norm.to(x.dtype)


def mp_silu(x: torch.Tensor) -> torch.Tensor:
    return F.silu(x) / 0.596


def mp_sum(a: torch.Tensor, b: torch.Tensor, t: float = RES_T) -> torch.Tensor:
    return a.lerp(b, t) / math.sqrt((1 - t) ** 2 + t ** 2)


class MPConv1d(nn.Module):
    """Bias-free 1-D convolution ("same" padding) whose weight is normalised per output channel."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin, kernel))
        self.folded = False

    def fold(self) -> None:
        """Normalise the raw weight once (unit norm per output channel, then / sqrt(fan-in))."""
        w = self.weight.detach().float()
        w = unit_norm(w, dim=list(range(1, w.ndim))) / math.sqrt(w[0].numel())
        self.weight.data.copy_(w.to(self.weight.dtype))
        self.folded = True

    def forward(self, x: torch.Tensor, gain=1) -> torch.Tensor:
        if not self.folded:
            raise RuntimeError("MPConv1d used before fold_weight_norm(): the loader must fold the raw weights")
        w = self.weight * gain
        return F.conv1d(x, w, padding=w.shape[-1] // 2)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = MPConv1d(cin, cout, 3)
        self.conv2 = MPConv1d(cout, cout, 3)
        if cin != cout:
            self.nin_shortcut = MPConv1d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = unit_norm(x, dim=1)
        h = self.conv2(mp_silu(self.conv1(mp_silu(x))))
        if hasattr(self, "nin_shortcut"):
            x = self.nin_shortcut(x)
        return mp_sum(x, h)


class SelfAttention1d(nn.Module):
    """Single-head attention over time; q/k/v interleaved innermost and each unit-normalised."""

    def __init__(self, channels: int):
        super().__init__()
        self.qkv = MPConv1d(channels, 3 * channels, 1)
        self.proj_out = MPConv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.qkv(x)
        y = unit_norm(y.reshape(y.shape[0], -1, 3, y.shape[-1]), dim=1)  # (B, C, 3, T)
        q, k, v = (y[:, :, j].transpose(1, 2)[:, None] for j in range(3))  # (B, 1, T, C)
        h = F.scaled_dot_product_attention(q, k, v)[:, 0].transpose(1, 2)
        return mp_sum(x, self.proj_out(h))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = MPConv1d(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest-exact"))


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = MPConv1d(channels, channels, 1)
        self.conv2 = MPConv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.avg_pool1d(self.conv1(x), kernel_size=2, stride=2))


class _Middle(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.block_1 = ResBlock(channels, channels)
        self.attn_1 = SelfAttention1d(channels)
        self.block_2 = ResBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x))).clamp(-CLAMP, CLAMP)


class _Level(nn.Module):
    """One resolution: residual blocks, an (unused, empty in the release) attention list, a resampler."""

    def __init__(self, cin: int, cout: int, count: int):
        super().__init__()
        self.block = nn.ModuleList(ResBlock(cin if i == 0 else cout, cout) for i in range(count))
        self.attn = nn.ModuleList()

    def blocks(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x).clamp(-CLAMP, CLAMP)
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        d = cfg.hidden
        self.resample_levels = cfg.resample_levels
        self.conv_in = MPConv1d(cfg.mel_bins, d, 3)
        mults = (1,) + tuple(cfg.channel_mult)
        self.down = nn.ModuleList()
        for i, m in enumerate(cfg.channel_mult):
            level = _Level(d * mults[i], d * m, cfg.blocks)
            if i in cfg.resample_levels:
                level.downsample = Downsample(d * m)
            self.down.append(level)
        top = d * cfg.channel_mult[-1]
        self.mid = _Middle(top)
        self.conv_out = MPConv1d(top, 2 * cfg.latent_dim, 3)
        self.learnable_gain = nn.Parameter(torch.zeros([]))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(mel)
        for i, level in enumerate(self.down):
            h = level.blocks(h)
            if i in self.resample_levels:
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(mp_silu(h), gain=self.learnable_gain + 1)


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        d = cfg.hidden
        # the decoder doubles the rate one level above where the encoder halved it
        self.resample_levels = tuple(i + 1 for i in cfg.resample_levels)
        top = d * cfg.channel_mult[-1]
        self.conv_in = MPConv1d(cfg.latent_dim, top, 3)
        self.mid = _Middle(top)
        levels = []
        cin = top
        for i in reversed(range(len(cfg.channel_mult))):
            cout = d * cfg.channel_mult[i]
            level = _Level(cin, cout, cfg.blocks + 1)
            if i in self.resample_levels:
                level.upsample = Upsample(cout)
            levels.insert(0, level)
            cin = cout
        self.up = nn.ModuleList(levels)
        self.conv_out = MPConv1d(cin, cfg.mel_bins, 3)
        self.learnable_gain = nn.Parameter(torch.zeros([]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for i in reversed(range(len(self.up))):
            h = self.up[i].blocks(h)
            if i in self.resample_levels:
                h = self.up[i].upsample(h)
        return self.conv_out(mp_silu(h), gain=self.learnable_gain + 1)


class AudioVAE(nn.Module):
    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = config
        # per-band statistics of the training mels (stored in the file)
        self.register_buffer("data_mean", torch.zeros(1, config.mel_bins, 1))
        self.register_buffer("data_std", torch.ones(1, config.mel_bins, 1))
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)

    @property
    def has_encoder(self) -> bool:
        return hasattr(self, "encoder")

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.conv_in.weight.dtype

    def fold_weight_norm(self) -> "AudioVAE":
        for module in self.modules():
            if isinstance(module, MPConv1d) and not module.folded:
                module.fold()
        return self

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim, N) latents -> (B, mel_bins, 2N) log-mel frames."""
        return self.decoder(z) * self.data_std + self.data_mean

    def encode_mean(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, mel_bins, 2N) log-mel frames -> (B, latent_dim, N) posterior means."""
        moments = self.encoder((mel - self.data_mean) / self.data_std)
        return moments[:, : self.config.latent_dim]
