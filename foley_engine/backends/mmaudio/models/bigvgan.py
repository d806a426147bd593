"""BigVGAN: the mel-spectrogram vocoder (16 kHz: ``best_netG.pt``; 44.1 kHz: NVIDIA's
``bigvgan_v2_44khz_128band_512x``, ``bigvgan_generator.pt`` + ``config.json``).

Written from the public description of BigVGAN (Lee et al., 2022); parameter names and shapes equal
the released generator files, whose convolutions carry weight normalisation as ``weight_g`` /
``weight_v`` (the layout :mod:`torch.nn.utils.weight_norm` saves; the newer parametrisation names
``parametrizations.weight.original0/1`` are accepted and renamed by the loader).  After loading,
:meth:`BigVGAN.fold_weight_norm` computes each plain weight once.

Structure: conv (mels -> C) -> for each upsampling stage: transposed conv (C -> C/2, stride r), then the
mean of three "AMP" residual blocks (kernels 3, 7, 11; dilations 1, 3, 5) -> anti-aliased SnakeBeta ->
conv to one channel -> tanh (or a clamp, per the config).  Every activation is anti-aliased: upsample
2x with a Kaiser-windowed sinc, apply ``x + sin^2(a x) / b`` per channel (a, b stored as logs),
low-pass and decimate 2x.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import nn

#: the anti-aliasing filters: 12 taps, cut-off at a quarter of the doubled rate
FILTER_TAPS = 12


@dataclass(frozen=True)
class BigVGANConfig:
    num_mels: int = 80
    upsample_rates: tuple = (4, 4, 2, 2, 2, 2)
    upsample_kernel_sizes: tuple = (8, 8, 4, 4, 4, 4)
    upsample_initial_channel: int = 1536
    resblock_kernel_sizes: tuple = (3, 7, 11)
    resblock_dilation_sizes: tuple = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    use_tanh_at_final: bool = True
    use_bias_at_final: bool = True
    extra: dict = field(default_factory=dict, compare=False)  # other keys of a config.json (rates, STFT)

    @property
    def hop(self) -> int:
        return math.prod(self.upsample_rates)

    @classmethod
    def mmaudio_16k(cls) -> "BigVGANConfig":
        """``best_netG.pt`` (Make-An-Audio 2's vocoder, as MMAudio ships it): 80 bands, hop 256."""
        return cls()

    @classmethod
    def v2_44k(cls) -> "BigVGANConfig":
        """``nvidia/bigvgan_v2_44khz_128band_512x`` (its config.json is read at load time; these are
        its values for building without the file, e.g. for ``foley models verify``)."""
        return cls(num_mels=128, upsample_rates=(8, 4, 2, 2, 2, 2), upsample_kernel_sizes=(16, 8, 4, 4, 4, 4),
                   use_tanh_at_final=False, use_bias_at_final=False)

    @classmethod
    def from_json(cls, data: dict) -> "BigVGANConfig":
        """A BigVGAN ``config.json`` (resblock type 1, SnakeBeta with log-scale parameters only)."""
        if str(data.get("resblock", "1")) != "1" or data.get("activation", "snakebeta") != "snakebeta" \
                or not data.get("snake_logscale", True):
            raise ValueError("only resblock 1 with log-scale SnakeBeta activations is supported (as released)")
        known = {f.name for f in fields(cls)} - {"extra"}
        args = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
                for k, v in data.items() if k in known}
        return cls(**args, extra={k: v for k, v in data.items() if k not in known})


def kaiser_sinc(cutoff: float, half_width: float, taps: int) -> torch.Tensor:
    """(1, 1, taps) low-pass filter: a Kaiser-windowed sinc normalised to unit DC gain (even length)."""
    half = taps // 2
    attenuation = 2.285 * (half - 1) * math.pi * (4 * half_width) + 7.95
    if attenuation > 50.0:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21.0:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21.0)
    else:
        beta = 0.0
    window = torch.kaiser_window(taps, periodic=False, beta=beta)
    t = torch.arange(-half, half) + 0.5 if taps % 2 == 0 else torch.arange(taps) - half
    taps_ = 2 * cutoff * window * torch.sinc(2 * cutoff * t)
    return (taps_ / taps_.sum()).view(1, 1, taps)


class UpSample2x(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("filter", kaiser_sinc(0.25, 0.3, FILTER_TAPS))
        self.pad = FILTER_TAPS // 2 - 1
        self.crop_left = self.pad * 2 + (FILTER_TAPS - 2) // 2
        self.crop_right = self.pad * 2 + (FILTER_TAPS - 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = 2 * F.conv_transpose1d(x, self.filter.expand(c, -1, -1), stride=2, groups=c)
        return x[..., self.crop_left:-self.crop_right]


class _LowPass(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("filter", kaiser_sinc(0.25, 0.3, FILTER_TAPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        x = F.pad(x, (FILTER_TAPS // 2 - 1, FILTER_TAPS // 2), mode="replicate")
        return F.conv1d(x, self.filter.expand(c, -1, -1), stride=2, groups=c)


class DownSample2x(nn.Module):
    def __init__(self):
        super().__init__()
        self.lowpass = _LowPass()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class SnakeBeta(nn.Module):
    """``x + sin^2(exp(alpha) x) / (exp(beta) + 1e-9)`` per channel."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.exp()[None, :, None]
        beta = self.beta.exp()[None, :, None]
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)


class AntiAliasedSnake(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = UpSample2x()
        self.downsample = DownSample2x()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


class WNConv(nn.Module):
    """A (transposed) 1-D convolution with weight normalisation: ``weight = g * v / ||v||`` (per dim 0)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1, padding: int = 0,
                 transposed: bool = False, bias: bool = True):
        super().__init__()
        self.transposed, self.stride, self.dilation, self.padding = transposed, stride, dilation, padding
        shape = (cin, cout, kernel) if transposed else (cout, cin, kernel)
        self.weight_g = nn.Parameter(torch.ones(shape[0], 1, 1))
        self.weight_v = nn.Parameter(torch.empty(shape))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self._weight = None

    def fold(self) -> None:
        v = self.weight_v.detach()
        self._weight = self.weight_g.detach() * v / v.flatten(1).norm(dim=1).view(-1, 1, 1)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self._weight is not None:  # keep the folded weight on the module's device/dtype
            self._weight = fn(self._weight)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._weight is None:
            raise RuntimeError("BigVGAN used before fold_weight_norm(): the loader must fold the weights")
        if self.transposed:
            return F.conv_transpose1d(x, self._weight, self.bias, self.stride, self.padding)
        return F.conv1d(x, self._weight, self.bias, self.stride, self.padding, self.dilation)


def _same(kernel: int, dilation: int) -> int:
    return (kernel * dilation - dilation) // 2


class AMPBlock(nn.Module):
    """Residual pairs: (snake, dilated conv, snake, conv) added back, once per dilation."""

    def __init__(self, channels: int, kernel: int, dilations: tuple):
        super().__init__()
        self.convs1 = nn.ModuleList(WNConv(channels, channels, kernel, dilation=d, padding=_same(kernel, d))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(WNConv(channels, channels, kernel, padding=_same(kernel, 1)) for _ in dilations)
        self.activations = nn.ModuleList(AntiAliasedSnake(channels) for _ in range(2 * len(dilations)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, (c1, c2) in enumerate(zip(self.convs1, self.convs2)):
            x = x + c2(self.activations[2 * i + 1](c1(self.activations[2 * i](x))))
        return x


class BigVGAN(nn.Module):
    def __init__(self, config: BigVGANConfig):
        super().__init__()
        self.config = cfg = config
        ch = cfg.upsample_initial_channel
        self.conv_pre = WNConv(cfg.num_mels, ch, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ModuleList([WNConv(ch // 2 ** i, ch // 2 ** (i + 1), k, stride=r, padding=(k - r) // 2, transposed=True)])
            for i, (r, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)))
        self.resblocks = nn.ModuleList(
            AMPBlock(ch // 2 ** (i + 1), k, tuple(d))
            for i in range(len(cfg.upsample_rates))
            for k, d in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes))
        last = ch // 2 ** len(cfg.upsample_rates)
        self.activation_post = AntiAliasedSnake(last)
        self.conv_post = WNConv(last, 1, 7, padding=3, bias=cfg.use_bias_at_final)

    @property
    def hop(self) -> int:
        return self.config.hop

    @property
    def dtype(self) -> torch.dtype:
        return self.conv_pre.weight_v.dtype

    def fold_weight_norm(self) -> "BigVGAN":
        for module in self.modules():
            if isinstance(module, WNConv):
                module.fold()
        return self

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, num_mels, F) log-mel frames -> (B, 1, F * hop) audio in [-1, 1]."""
        x = self.conv_pre(mel)
        kinds = len(self.config.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up[0](x)
            blocks = self.resblocks[i * kinds:(i + 1) * kinds]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / kinds
        x = self.conv_post(self.activation_post(x))
        return torch.tanh(x) if self.config.use_tanh_at_final else x.clamp(-1.0, 1.0)
