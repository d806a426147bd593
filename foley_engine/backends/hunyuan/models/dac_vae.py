"""The 48 kHz audio VAE (``vae_128d_48k.pth``): a DAC-style codec with a continuous latent.

Layout of the released file (descript-audio-codec's): ``{"state_dict": ...,
"metadata": {"kwargs": {...constructor arguments...}}}``.  The architecture
is DAC's (Snake activations, weight-normalised convolutions, residual units
with dilations 1/3/9) with the vector quantiser replaced by a diagonal
Gaussian: ``quant_conv`` gives (mean, log-variance), ``post_quant_conv``
feeds the decoder.  The decoder output is mono, in [-1, 1] (tanh).

Weight norm (``weight = g * v / ||v||``, the norm over every dim but the
first) is held as plain ``weight_g`` / ``weight_v`` parameters, the names in
the file, independent of which weight-norm API a torch version offers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DACConfig:
    """DAC constructor arguments (the names in the file's ``metadata.kwargs``).

    The defaults are *assumed* values giving the released latent geometry
    (128-d, 48 kHz, hop 960 = 50 latent frames per second); real loading
    always takes the values stored in the checkpoint.
    """

    encoder_dim: int = 128
    encoder_rates: tuple = (2, 3, 4, 5, 8)
    latent_dim: Optional[int] = 128
    decoder_dim: int = 2048
    decoder_rates: tuple = (8, 5, 4, 3, 2)
    n_codebooks: int = 9
    codebook_size: int = 1024
    codebook_dim: int = 8
    quantizer_dropout: bool = False
    sample_rate: int = 48000
    continuous: bool = True
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_kwargs(cls, kwargs: dict) -> "DACConfig":
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items() if k in names}
        return cls(**known, extra={k: v for k, v in kwargs.items() if k not in names})

    def to_kwargs(self) -> dict:
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if k != "extra"}
        out.update(self.extra)
        return out

    @classmethod
    def tiny(cls) -> "DACConfig":
        return cls(encoder_dim=2, latent_dim=8, decoder_dim=32)

    @property
    def hop_length(self) -> int:
        return math.prod(self.encoder_rates)

    @property
    def resolved_latent_dim(self) -> int:
        return self.latent_dim or self.encoder_dim * 2 ** len(self.encoder_rates)


class _WeightNorm(nn.Module):
    """Mixin: ``weight = weight_g * weight_v / ||weight_v||`` (norm over all dims except 0)."""

    def _init_weight_norm(self, conv_weight: torch.Tensor) -> None:
        self.weight_v = nn.Parameter(conv_weight.detach().clone())
        norm = conv_weight.detach().flatten(1).norm(dim=1)
        self.weight_g = nn.Parameter(norm.view(-1, *([1] * (conv_weight.dim() - 1))).clone())

    def weight(self) -> torch.Tensor:
        # torch's fused weight-norm kernel (what its weight_norm hooks and
        # parametrisations call), so results match the reference bit for bit.
        return torch._weight_norm(self.weight_v, self.weight_g, 0)


class WNConv1d(_WeightNorm):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0, dilation=1):
        super().__init__()
        conv = nn.Conv1d(cin, cout, kernel_size, stride, padding, dilation)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self._init_weight_norm(conv.weight)
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def forward(self, x):
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class WNConvTranspose1d(_WeightNorm):
    def __init__(self, cin, cout, kernel_size, stride=1, padding=0, output_padding=0):
        super().__init__()
        conv = nn.ConvTranspose1d(cin, cout, kernel_size, stride, padding, output_padding)
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self._init_weight_norm(conv.weight)
        self.bias = nn.Parameter(conv.bias.detach().clone())

    def forward(self, x):
        return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding, self.output_padding)


class Snake1d(nn.Module):
    """``x + sin(alpha x)^2 / alpha`` with a learned alpha per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x):
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim), WNConv1d(dim, dim, 7, dilation=dilation, padding=3 * dilation),
            Snake1d(dim), WNConv1d(dim, dim, 1),
        )

    def forward(self, x):
        return x + self.block(x)


def _residual_stack(dim: int) -> list[nn.Module]:
    return [ResidualUnit(dim, 1), ResidualUnit(dim, 3), ResidualUnit(dim, 9)]


class _Blocks(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return self.block(x)


class Encoder(_Blocks):
    def __init__(self, dim: int, rates, latent: int):
        layers = [WNConv1d(1, dim, 7, padding=3)]
        for s in rates:
            layers.append(_Blocks(*_residual_stack(dim), Snake1d(dim),
                                  WNConv1d(dim, 2 * dim, 2 * s, stride=s, padding=math.ceil(s / 2))))
            dim *= 2
        layers += [Snake1d(dim), WNConv1d(dim, latent, 3, padding=1)]
        super().__init__(*layers)


class Decoder(nn.Module):
    def __init__(self, latent: int, channels: int, rates):
        super().__init__()
        layers = [WNConv1d(latent, channels, 7, padding=3)]
        for i, s in enumerate(rates):
            cin, cout = channels // 2 ** i, channels // 2 ** (i + 1)
            layers.append(_Blocks(Snake1d(cin), WNConvTranspose1d(cin, cout, 2 * s, stride=s, padding=math.ceil(s / 2),
                                                                   output_padding=s % 2), *_residual_stack(cout)))
        layers += [Snake1d(cout), WNConv1d(cout, 1, 7, padding=3), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class DACVAE(nn.Module):
    def __init__(self, config: Optional[DACConfig] = None):
        super().__init__()
        cfg = config or DACConfig()
        if not cfg.continuous:
            raise ValueError("only the continuous (VAE) variant of DAC is supported; this checkpoint is a quantised codec")
        self.config = cfg
        latent = cfg.resolved_latent_dim
        self.encoder = Encoder(cfg.encoder_dim, cfg.encoder_rates, latent)
        self.quant_conv = nn.Conv1d(latent, 2 * latent, 1)
        self.post_quant_conv = nn.Conv1d(latent, latent, 1)
        self.decoder = Decoder(latent, cfg.decoder_dim, cfg.decoder_rates)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def dtype(self) -> torch.dtype:
        return self.post_quant_conv.weight.dtype

    @property
    def has_encoder(self) -> bool:
        # a repacked file may leave out the encoder (generation only decodes); the loader removes it then
        return hasattr(self, "encoder") and hasattr(self, "quant_conv")

    def encode(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, T) audio, T a multiple of the hop -> (mean, log-variance), each (B, latent, T/hop)."""
        if not self.has_encoder:
            raise RuntimeError("this audio VAE was loaded without its encoder (the file has none)")
        mean, logvar = self.quant_conv(self.encoder(audio)).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent, L) -> (B, 1, L * hop) audio."""
        return self.decoder(self.post_quant_conv(z))
