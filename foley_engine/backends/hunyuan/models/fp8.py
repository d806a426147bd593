"""float8 (e4m3) weight storage for the DiT's linear layers.

The released weights are bf16; a float8_e4m3fn copy halves the bytes a GPU
must hold (XXL: 10.3 GB -> 5.1 GB).  Each quantised layer keeps

* ``weight``: the float8 values, same shape and name as the released tensor;
* ``weight_scale``: float32, one value per tensor (``"tensor"``) or one per
  output channel (``"channel"``), so that ``weight * scale`` is the layer's
  weight (scale = amax / 448, the largest finite e4m3 value).

and computes in the compute dtype (bf16 on a GPU, float32 on a CPU): the
weight is upcast for each call and dropped after it, so it runs on any
device.  On GPUs with native fp8 matmuls (compute capability 8.9+), the
``native`` path feeds float8 weights *and* per-tensor-scaled float8
activations to ``torch._scaled_mm``; ``emulate`` does the same rounding on
any device in float32, to measure that path's error on a CPU.

Which layers: every ``nn.Linear`` and token convolution inside the triple-
and single-stream blocks (99 % of the parameters).  Embedders, the sync
projection and the final layer stay in the compute dtype: they are small and
sit at the ends of the network where errors are not averaged away.
"""
from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from .dit import TokenConv1d

log = logging.getLogger("foley_engine.hunyuan")

FP8 = torch.float8_e4m3fn
FP8_MAX = float(torch.finfo(FP8).max)  # 448
GRANULARITIES = ("tensor", "channel")
#: per-channel scales: chosen by the measured error (docs/hunyuan.md, "fp8 weights")
DEFAULT_GRANULARITY = "channel"
ACTIVATION_MODES = ("off", "native", "emulate")
_native_warned = False
#: the name suffix of the scale tensors in a state dict
SCALE_SUFFIX = "weight_scale"


def quantize(weight: torch.Tensor, granularity: str = DEFAULT_GRANULARITY) -> tuple[torch.Tensor, torch.Tensor]:
    """(float8 values, float32 scale) of a weight; ``channel``: one scale per output channel (dim 0)."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    w = weight.detach().float()
    amax = w.abs().amax() if granularity == "tensor" else w.abs().flatten(1).amax(dim=1)
    # An all-zero row keeps scale 1 (any scale is exact for zeros; 1 avoids dividing by zero).
    scale = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
    q = (w / _per_row(scale, w.dim())).clamp(-FP8_MAX, FP8_MAX).to(FP8)
    return q, scale


def dequantize(q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``q * scale`` in ``dtype`` (float8 -> bf16 is exact; the product is rounded once)."""
    return q.to(dtype) * _per_row(scale, q.dim()).to(dtype)


def _per_row(scale: torch.Tensor, ndim: int) -> torch.Tensor:
    return scale if scale.dim() == 0 else scale.view(-1, *([1] * (ndim - 1)))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    if torch.is_autocast_enabled(x.device.type):
        return torch.get_autocast_dtype(x.device.type)
    return x.dtype


def _fake_fp8_activation(x: torch.Tensor) -> torch.Tensor:
    """Per-tensor float8 rounding of an activation, in float32 (what the native path feeds the matmul)."""
    scale = (x.detach().abs().amax().float() / FP8_MAX).clamp(min=1e-12)
    return (x.float() / scale).clamp(-FP8_MAX, FP8_MAX).to(FP8).float() * scale


class Fp8Weight(nn.Module):
    """Holds a float8 ``weight`` and its ``weight_scale`` (frozen parameters, so device moves carry them)."""

    activation = "off"

    def _init_weight(self, weight: torch.Tensor, granularity: str) -> None:
        if weight.device.type == "meta":  # shapes only (verify, the planner): no values to scale
            q = torch.empty(weight.shape, dtype=FP8, device="meta")
            scale = torch.empty(() if granularity == "tensor" else weight.shape[:1], device="meta")
        else:
            q, scale = quantize(weight, granularity)
        self.weight = nn.Parameter(q, requires_grad=False)
        self.weight_scale = nn.Parameter(scale, requires_grad=False)

    @property
    def granularity(self) -> str:
        return "tensor" if self.weight_scale.dim() == 0 else "channel"

    def upcast(self, dtype: torch.dtype) -> torch.Tensor:
        return dequantize(self.weight, self.weight_scale, dtype)

    def _bias(self, dtype):
        return None if self.bias is None else self.bias.to(dtype)


class Fp8Linear(Fp8Weight):
    """``nn.Linear`` with float8 weights; see the module docstring for the compute paths."""

    def __init__(self, linear: nn.Linear, granularity: str = DEFAULT_GRANULARITY):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self._init_weight(linear.weight, granularity)
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = _compute_dtype(x)
        if self.activation == "native" and x.is_cuda:
            out = self._native(x, dtype)
            if out is not None:
                return out
        x, work = (_fake_fp8_activation(x), torch.float32) if self.activation == "emulate" else (x, dtype)
        return F.linear(x.to(work), self.upcast(work), self._bias(work)).to(dtype)

    def _native(self, x: torch.Tensor, dtype: torch.dtype):
        """``torch._scaled_mm`` on float8 activations and weights; None (and the upcast path from then on)
        when this GPU or shape is not supported."""
        x2 = x.reshape(-1, self.in_features)
        x_scale = (x2.detach().abs().amax().float() / FP8_MAX).clamp(min=1e-12)
        xq = (x2.float() / x_scale).clamp(-FP8_MAX, FP8_MAX).to(FP8)
        if self.weight_scale.dim() == 0:
            scale_a, scale_b = x_scale, self.weight_scale
        else:  # row-wise scaling: one scale per activation row and per weight channel
            scale_a = x_scale.expand(x2.shape[0], 1).contiguous()
            scale_b = self.weight_scale.view(1, -1)
        try:
            out = torch._scaled_mm(xq, self.weight.t(), scale_a=scale_a, scale_b=scale_b, out_dtype=dtype)
        except (RuntimeError, TypeError) as exc:
            global _native_warned
            if not _native_warned:  # once, not once per layer
                _native_warned = True
                log.warning("fp8: native matmul unavailable here (%s); upcasting weights instead",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            self.activation = "off"
            return None
        if self.bias is not None:
            out = out + self.bias.to(dtype)
        return out.view(*x.shape[:-1], self.out_features)


class Fp8TokenConv1d(Fp8Weight):
    """A :class:`~.dit.TokenConv1d` (convolution over the tokens of a (B, L, C) sequence) with float8 weights."""

    def __init__(self, conv: TokenConv1d, granularity: str = DEFAULT_GRANULARITY):
        super().__init__()
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self._init_weight(conv.weight, granularity)
        self.bias = conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = _compute_dtype(x)
        x, work = (_fake_fp8_activation(x), torch.float32) if self.activation == "emulate" else (x, dtype)
        out = F.conv1d(x.to(work).transpose(1, 2), self.upcast(work), self._bias(work), self.stride, self.padding,
                       self.dilation, self.groups)
        return out.transpose(1, 2).to(dtype)


def quantizable(module: nn.Module) -> bool:
    return type(module) in (nn.Linear, TokenConv1d)


def quantize_blocks(dit: nn.Module, granularity: str = DEFAULT_GRANULARITY, keep: tuple = ()) -> nn.Module:
    """Replace every linear layer and token convolution inside the DiT's blocks by its float8 form, in place.

    ``keep``: layers whose name (inside its block, e.g. ``audio_mod.linear``)
    starts with one of these stay in the compute dtype.  One layer at a time,
    so the extra memory is one layer's float32 copy.  On the meta device this
    builds the float8 model's shapes (for verify and the planner).
    """
    for stack in (dit.triple_blocks, dit.single_blocks):
        for block in stack:
            for prefix, parent in list(block.named_modules()):
                for name, child in list(parent.named_children()):
                    full = f"{prefix}.{name}" if prefix else name
                    if quantizable(child) and not full.startswith(tuple(keep)):
                        cls = Fp8Linear if isinstance(child, nn.Linear) else Fp8TokenConv1d
                        setattr(parent, name, cls(child, granularity))
    dit.weights = f"fp8-{granularity}"
    return dit


def fp8_layers(model: nn.Module) -> list[Fp8Weight]:
    return [m for m in model.modules() if isinstance(m, Fp8Weight)]


def set_activation_mode(model: nn.Module, mode: str) -> None:
    """``off`` (upcast weights), ``native`` (``torch._scaled_mm`` where supported) or ``emulate``."""
    if mode not in ACTIVATION_MODES:
        raise ValueError(f"activation mode must be one of {ACTIVATION_MODES}, got {mode!r}")
    for layer in fp8_layers(model):
        layer.activation = mode


def native_fp8_supported(device) -> bool:
    """Whether ``torch._scaled_mm`` runs on this device: CUDA compute capability 8.9 (Ada) or newer."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available() or not hasattr(torch, "_scaled_mm"):
        return False
    return torch.cuda.get_device_capability(device) >= (8, 9)
