"""The memory plan: what a (size, weights, offload, window) combination needs on the GPU, before loading.

Weights are counted, not guessed: our own models (DiT, audio VAE,
Synchformer) are built at full size on the ``meta`` device (no memory, a
fraction of a second) and their tensors summed with the dtypes they will
have: the DiT in bf16, or with its block weights in float8 plus their scales
(the same :func:`~.models.fp8.quantize_blocks` the loader runs); the VAE and
Synchformer in float32.  SigLIP2 and CLAP come from ``transformers`` and are
counted from their released sizes (``layout.PARAMS``).

Activations are estimated per stage from the sequence lengths of a window
(see each ``*_activation_bytes``).  The peak of a plan is the largest stage:

* ``none``: every weight + the largest stage's activations;
* ``model``: the largest (stage weights + stage activations);
* ``blocks:N``: the DiT's resident part (embedders, final layer, first N
  blocks) + the larger of (two streamed blocks + the DiT's activations) and
  (an encoder or the VAE + its activations).

These are *predictions* (of ``torch.cuda.max_memory_allocated``) until
``benchmarks/hunyuan_gpu.py`` measures them on a GPU.  Fitting a card also
leaves room for the CUDA context and allocator slack (:data:`CUDA_RESERVE`).

Relative speed comes from a simple cost model with stated assumptions
(:data:`ASSUMED`): DiT matmul FLOPs per step, the float8 upcast's extra memory
traffic, and PCIe transfers (model offload: every component to the GPU and
back per window; block swap: every streamed block per step, overlapped with
compute).  1.0 is the same size, bf16, nothing offloaded, 10-s windows; a
shorter window has more overlap per second of new audio, so it is slower.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Optional

from ...errors import BackendError
from .checkpoints.layout import PARAMS, check_size, gib
from .offload import Offload, parse_offload

GIB = 2**30
#: CUDA context, cuBLAS workspaces and allocator slack, not seen by max_memory_allocated
CUDA_RESERVE = int(0.75 * GIB)
#: guided sampling runs the conditional and unconditional branch as one batch
CFG_BATCH = 2
WINDOWS = (Fraction(10), Fraction(5))
#: the scheduler's overlap between windows (backend.OVERLAP): repeated, not new, audio
OVERLAP = Fraction(1)
WEIGHT_CHOICES = ("bf16", "fp8")
#: cost-model assumptions (a 2023 desktop card on PCIe 4.0 x16); only the ratios matter for relative speed
ASSUMED = {"gpu_tflops": 60.0, "gpu_memory_gbps": 450.0, "pinned_pcie_gbps": 20.0, "pageable_pcie_gbps": 10.0,
           "steps": 50}


# --------------------------------------------------------------------------- counting weights


@dataclass(frozen=True)
class WeightBytes:
    """Bytes of each part at its runtime dtype, for one size and one weights choice."""

    blocks: tuple  # each DiT block, in execution order
    dit_rest: int  # embedders, projections, final layer, empty features
    vae: int
    synchformer: int
    siglip: int
    clap: int
    #: the largest float8 layer's upcast (bf16 weight + the product, alive together); 0 for bf16
    upcast: int
    #: parameters of the DiT's matmuls in triple / single blocks (for the FLOP count)
    triple_params: int
    single_params: int

    @property
    def dit(self) -> int:
        return sum(self.blocks) + self.dit_rest

    @property
    def everything(self) -> int:
        return self.dit + self.vae + self.synchformer + self.siglip + self.clap


def _bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


@lru_cache(maxsize=None)
def weight_bytes(size: str, weights: str = "bf16", keep: tuple = ()) -> WeightBytes:
    """Counted from the model code at full size on the meta device (``keep``: layers left in bf16 by fp8)."""
    import torch

    from ...models.synchformer import Synchformer
    from .models.dac_vae import DACConfig, DACVAE
    from .models.dit import DiTConfig, HunyuanFoleyDiT
    from .models.fp8 import fp8_layers, quantize_blocks

    size = check_size(size)
    if weights not in WEIGHT_CHOICES:
        raise BackendError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    with torch.device("meta"):
        dit = HunyuanFoleyDiT(DiTConfig.xxl() if size == "xxl" else DiTConfig.xl()).to(torch.bfloat16)
        vae = DACVAE(DACConfig())
        sync = Synchformer()
    triple = sum(_bytes(b) for b in dit.triple_blocks) // 2
    single = sum(_bytes(b) for b in dit.single_blocks) // 2
    upcast = 0
    if weights == "fp8":
        quantize_blocks(dit, keep=keep)
        upcast = 2 * 2 * max(layer.weight.numel() for layer in fp8_layers(dit))
    blocks = tuple(_bytes(b) for b in list(dit.triple_blocks) + list(dit.single_blocks))
    return WeightBytes(blocks=blocks, dit_rest=_bytes(dit) - sum(blocks), vae=_bytes(vae), synchformer=_bytes(sync),
                       siglip=4 * PARAMS["siglip"], clap=4 * PARAMS["clap"], upcast=upcast,
                       triple_params=triple, single_params=single)


@lru_cache(maxsize=None)
def parameter_count(size: str) -> int:
    """The DiT's parameters, counted on the meta device (the figure ``layout.PARAMS`` quotes)."""
    return weight_bytes(size, "bf16").dit // 2


# --------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class Lengths:
    audio: int  # latent frames (50 per second)
    visual: int  # SigLIP2 frames (8 per second)
    text: int
    sync_frames: int  # Synchformer frames (25 per second)
    samples: int  # output samples


def lengths(window: Fraction) -> Lengths:
    from .models.dit import DiTConfig

    cfg = DiTConfig()
    return Lengths(audio=math.ceil(window * cfg.audio_frame_rate), visual=math.ceil(window * 8),
                   text=cfg.text_length, sync_frames=math.ceil(window * 25), samples=math.ceil(window * 48000))


def dit_activation_bytes(size: str, window: Fraction, dtype_bytes: int = 2) -> int:
    """Live tensors inside the busiest block, for the guided batch of two.

    Triple block: both streams, their fused qkv, float32 RoPE copies of q and
    k, the joint q/k/v, the attention output and the 4x MLP hidden (13 token
    x hidden tensors).  Single block: the per-token modulation (6 + the
    conditioning vector), qkv, RoPE copies, attention output and the
    convolutional SwiGLU hidden (~2.7x, four of them): ~22.  Attention runs
    through a fused kernel (no L x L matrix).  +25 % for what this misses.
    """
    from .models.dit import DiTConfig

    cfg = DiTConfig.xxl() if check_size(size) == "xxl" else DiTConfig.xl()
    n = lengths(window)
    triple = 13 * (n.audio + n.visual) * cfg.hidden_size
    single = 22 * n.audio * cfg.hidden_size
    return int(1.25 * CFG_BATCH * max(triple, single) * dtype_bytes)


def vae_decode_activation_bytes(window: Fraction) -> int:
    """The decoder's widest stage (channels x samples, float32), ~6 tensors alive in a residual unit."""
    from .models.dac_vae import DACConfig

    cfg = DACConfig()
    length, channels, widest = lengths(window).audio, cfg.decoder_dim, 0
    for rate in cfg.decoder_rates:
        length, channels = length * rate, channels // 2
        widest = max(widest, length * channels)
    return 6 * widest * 4


def vae_encode_activation_bytes() -> int:
    """Encoding the 1-s overlap for inpainting: the encoder's first stage at full rate, float32."""
    from .models.dac_vae import DACConfig

    return 6 * DACConfig().encoder_dim * 48000 * 4


def synchformer_activation_bytes(window: Fraction, batch: int = 16) -> int:
    """Segments of 16 frames (stride 8), ``batch`` at a time under fp16 autocast: ~12 token x dim tensors,
    the float32 frames (three copies while normalising), and autocast's fp16 copy of the weights."""
    from ...models.synchformer import SynchformerConfig

    cfg = SynchformerConfig()
    frames = lengths(window).sync_frames
    segments = max(1, (frames - cfg.segment_frames) // (cfg.segment_frames // 2) + 1)
    tokens = cfg.frames_out * cfg.grid ** 2 + 1
    blocks = 12 * min(batch, segments) * tokens * cfg.embed_dim * 2
    pixels = 3 * frames * 3 * cfg.image_size ** 2 * 4
    return blocks + pixels + weight_bytes("xl").synchformer // 2


def siglip_activation_bytes(window: Fraction, batch: int = 32, image: int = 512, patch: int = 16,
                            dim: int = 768) -> int:
    """Frames at 8 fps, ``batch`` at a time in float32: ~14 token x dim tensors (4x MLP) and the frames."""
    frames = lengths(window).visual
    tokens = (image // patch) ** 2
    return 14 * min(batch, frames) * tokens * dim * 4 + 3 * frames * 3 * image * image * 4


CLAP_ACTIVATION_BYTES = 64 * 2**20  # two prompts of <= 77 tokens


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class Plan:
    size: str
    weights: str
    offload: Offload
    window: Fraction
    peak: int  # predicted max_memory_allocated, bytes
    stages: tuple  # (stage, bytes) the peak is the largest of
    relative_speed: float

    @property
    def needs(self) -> int:
        """What a card must have: the peak plus the CUDA context and allocator slack."""
        return self.peak + CUDA_RESERVE

    def fits(self, budget: int) -> bool:
        return self.needs <= budget

    def describe(self) -> str:
        return (f"{self.size.upper()} {self.weights} offload {self.offload} window {_seconds(self.window)} s: "
                f"peak {gib(self.peak)} predicted, needs {gib(self.needs)} with the CUDA context, "
                f"relative speed {self.relative_speed:.2f}")

    def to_dict(self) -> dict:
        return {"size": self.size, "weights": self.weights, "offload": str(self.offload),
                "window_seconds": float(self.window), "predicted_peak_bytes": self.peak,
                "predicted_needs_bytes": self.needs, "relative_speed": round(self.relative_speed, 4),
                "stages": {name: value for name, value in self.stages}}


def _seconds(window: Fraction) -> str:
    return str(window.numerator) if window.denominator == 1 else f"{float(window):g}"


def _stage_loads(size: str, weights: str, window: Fraction) -> dict:
    """stage -> (weights on the device for it, its activations), the DiT's weights excluded."""
    w = weight_bytes(size, weights)
    return {
        "text": (w.clap, CLAP_ACTIVATION_BYTES),
        "siglip": (w.siglip, siglip_activation_bytes(window)),
        "synchformer": (w.synchformer, synchformer_activation_bytes(window)),
        "vae encode": (w.vae, vae_encode_activation_bytes()),
        "vae decode": (w.vae, vae_decode_activation_bytes(window)),
    }


def _streamed_pair(blocks: tuple, resident: int) -> int:
    """The most two consecutive streamed blocks hold (the current one and the one prefetched)."""
    streamed = list(blocks[resident:])
    if len(streamed) <= 1:
        return sum(streamed)
    return max(a + b for a, b in zip(streamed, streamed[1:] + streamed[:1]))


def predict(size: str, weights: str = "bf16", offload="none", window: Fraction = WINDOWS[0]) -> Plan:
    """The predicted peak and relative speed of one combination."""
    size, offload, window = check_size(size), parse_offload(offload), Fraction(window)
    w = weight_bytes(size, weights)
    dit_act = dit_activation_bytes(size, window) + w.upcast
    loads = _stage_loads(size, weights, window)
    if offload.mode == "none":
        stages = [(name, w.everything + act) for name, (_, act) in loads.items()]
        stages.append(("dit", w.everything + dit_act))
    elif offload.mode == "model":
        stages = [(name, weights_ + act) for name, (weights_, act) in loads.items()]
        stages.append(("dit", w.dit + dit_act))
    else:
        resident = min(offload.resident, len(w.blocks))
        fixed = w.dit_rest + sum(w.blocks[:resident])
        stages = [(name, fixed + weights_ + act) for name, (weights_, act) in loads.items()]
        stages.append(("dit", fixed + _streamed_pair(w.blocks, resident) + dit_act))
        offload = Offload("blocks", resident)
    peak = max(value for _, value in stages)
    return Plan(size, weights, offload, window, peak, tuple(stages), relative_speed(size, weights, offload, window))


def relative_speed(size: str, weights: str, offload: Offload, window: Fraction) -> float:
    """New audio per second of work, against the same size in bf16, nothing offloaded, 10-s windows.

    Each window after the first repeats the scheduler's 1-s overlap, so a
    window of W seconds adds W - 1 seconds of audio.
    """
    def throughput(weights_, offload_, window_):
        return float(window_ - OVERLAP) / _seconds_per_window(size, weights_, offload_, window_)

    return throughput(weights, offload, window) / throughput("bf16", Offload(), WINDOWS[0])


def _seconds_per_window(size: str, weights: str, offload: Offload, window: Fraction) -> float:
    """The cost model's seconds for one window's sampling (see the module docstring)."""
    w = weight_bytes(size, weights)
    n = lengths(window)
    from .models.dit import DiTConfig

    cfg = DiTConfig.xxl() if size == "xxl" else DiTConfig.xl()
    b, h = CFG_BATCH, cfg.hidden_size
    flops = (2 * w.triple_params * b * (n.audio + n.visual) + 2 * w.single_params * b * n.audio
             + cfg.depth_triple_blocks * 4 * b * (n.audio + n.visual) ** 2 * h
             + cfg.depth_single_blocks * 4 * b * n.audio ** 2 * h)
    step = flops / (ASSUMED["gpu_tflops"] * 1e12)
    if weights == "fp8":  # read float8, write and re-read the bf16 upcast: 4 extra bytes per weight
        step += 4 * (w.triple_params + w.single_params) / (ASSUMED["gpu_memory_gbps"] * 1e9)
    steps = ASSUMED["steps"]
    if offload.mode == "blocks":
        streamed = sum(w.blocks[offload.resident:])
        step = max(step, streamed / (ASSUMED["pinned_pcie_gbps"] * 1e9))
    total = steps * step
    if offload.mode == "model":  # every component to the GPU and back, once per window
        total += 2 * w.everything / (ASSUMED["pageable_pcie_gbps"] * 1e9)
    return total


def max_resident(size: str, weights: str, window: Fraction, budget: int) -> Optional[int]:
    """The most blocks that can stay resident within ``budget`` (None: not even with all streamed)."""
    blocks = len(weight_bytes(size, weights).blocks)
    lo, hi = 0, blocks
    if not predict(size, weights, Offload("blocks", 0), window).fits(budget):
        return None
    while lo < hi:  # peaks grow with every resident block: bisect
        mid = (lo + hi + 1) // 2
        if predict(size, weights, Offload("blocks", mid), window).fits(budget):
            lo = mid
        else:
            hi = mid - 1
    return lo


def candidates(size: str, budget: Optional[int] = None, weights: Iterable[str] = WEIGHT_CHOICES,
               offloads: Optional[Iterable] = None, windows: Iterable[Fraction] = WINDOWS) -> list[Plan]:
    """Every combination for one size: no offload, model offload, and block swap with as many resident
    blocks as ``budget`` allows (all streamed when no budget is given or none fits)."""
    plans = []
    for weight in weights:
        for window in windows:
            for offload in (offloads or ("none", "model", "blocks")):
                offload = parse_offload(offload)
                if offload.mode == "blocks" and offload == Offload("blocks") and budget is not None:
                    offload = Offload("blocks", max_resident(size, weight, window, budget) or 0)
                plans.append(predict(size, weight, offload, window))
    return plans


def choose(size: str, budget: int, weights: Optional[str] = None, offload=None,
           window: Optional[Fraction] = None, where: str = "the GPU") -> Plan:
    """The fastest plan that fits ``budget``; ties go to bf16, then the longer window.  Fixed choices
    (``weights``, ``offload``, ``window``) are kept.  Raises BackendError, in one line, when nothing fits."""
    plans = candidates(size, budget, [weights] if weights else WEIGHT_CHOICES,
                       [offload] if offload is not None else None, [Fraction(window)] if window else WINDOWS)
    fitting = [p for p in plans if p.fits(budget)]
    if not fitting and len(plans) == 1:  # everything was fixed: say what that one plan needs
        refuse_unless_fits(plans[0], budget, where)
    if not fitting:
        smallest = min(plans, key=lambda p: p.needs)
        hint = "another GPU" if size == "xl" else "--size xl or another GPU"
        raise BackendError(f"no HunyuanVideo-Foley {size.upper()} plan fits {gib(budget)}: the smallest "
                           f"({smallest.weights}, offload {smallest.offload}, {_seconds(smallest.window)}-s windows) "
                           f"needs {gib(smallest.needs)} (predicted); try {hint}")
    return max(fitting, key=lambda p: (round(p.relative_speed, 3), p.weights == "bf16", p.window))


def refuse_unless_fits(plan: Plan, budget: int, where: str) -> None:
    """One line, before anything loads, when ``plan`` cannot fit."""
    if plan.fits(budget):
        return
    raise BackendError(f"HunyuanVideo-Foley {plan.size.upper()} ({plan.weights}, offload {plan.offload}) needs about "
                       f"{gib(plan.needs)} (predicted peak {gib(plan.peak)} + CUDA context), {where} has "
                       f"{gib(budget)} free; --memory auto picks a plan that fits "
                       f"(`foley models plan --vram {budget / GIB:.0f}GB` lists them)")


_UNITS = {"": GIB, "g": GIB, "gb": GIB, "gib": GIB, "m": 2**20, "mb": 2**20, "mib": 2**20}


def parse_memory(text: str) -> int:
    """``8GB``, ``8 GiB``, ``7.5g``, ``12000MB`` -> bytes.  A card sold as "8 GB" has 8 GiB, so GB means GiB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise BackendError(f"memory size must look like 8GB, 7.5GiB or 12000MB, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_table(plans: list[Plan], budget: Optional[int] = None) -> str:
    """One line per plan: size, weights, offload, window, predicted peak, need, speed, and whether it fits."""
    head = f"{'size':<4} {'weights':<7} {'offload':<10} {'window':>6} {'peak*':>10} {'needs':>10} {'speed':>6}"
    lines = [head + ("  fits" if budget is not None else "")]
    for p in plans:
        row = (f"{p.size.upper():<4} {p.weights:<7} {str(p.offload):<10} {_seconds(p.window) + ' s':>6} "
               f"{p.peak / GIB:>6.2f} GiB {p.needs / GIB:>6.2f} GiB {p.relative_speed:>6.2f}")
        if budget is not None:
            row += "  yes" if p.fits(budget) else "  no"
        lines.append(row)
    lines.append(f"* predicted peak of torch.cuda.max_memory_allocated (not yet measured on a GPU); needs = peak + "
                 f"{CUDA_RESERVE / GIB:.2f} GiB for the CUDA context and allocator slack. Speed: new audio per second relative to "
                 f"the same size in bf16, nothing offloaded, 10-s windows; from a cost model assuming "
                 f"{ASSUMED['gpu_tflops']:g} TFLOPS and {ASSUMED['pinned_pcie_gbps']:g} GB/s pinned PCIe.")
    return "\n".join(lines)
