"""float8 weights against bf16, on the CPU: one full-size block, and the whole tiny model.

The reference everywhere is the released dtype: DiT weights rounded to bf16,
computed in float32 (as the CPU path runs).  The float8 model is the same
weights quantised by :func:`~foley_engine.backends.hunyuan.models.fp8.quantize_blocks`
with per-tensor or per-channel scales, in two compute paths:

* ``upcast``: float8 weights upcast per layer (what runs everywhere);
* ``emulated native``: also the activations rounded to float8 with one
  per-tensor scale, as ``torch._scaled_mm`` sees them on an fp8 GPU.

Figures:

1. one full-size XXL block of each kind (random weights, std 0.02 Gaussian,
   and a heavy-tailed variant: Student-t with 3 degrees of freedom and a
   per-row magnitude spread of 10x, closer to trained weights' outliers);
   inputs of a 10-s window (500 audio, 80 visual, 77 text tokens); relative
   error of the block's update (output minus its residual input; the
   residual alone would hide the error) — shapes and magnitudes of the real
   model, weights random;
2. the whole tiny model (tests/hunyuan_tiny.py) through the real pipeline
   with a fixed seed: the guided velocity's relative error at every step
   (both models fed the bf16 trajectory), and the decoded window's SNR
   against the bf16 window (each model on its own trajectory).

    python benchmarks/hunyuan_fp8.py [--steps 50] [--seconds 5] [--json hunyuan_fp8.json] [--quick]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the tiny models (hunyuan_tiny)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from foley_engine.backends.hunyuan import memory as planner  # noqa: E402
from foley_engine.backends.hunyuan.models.dit import (  # noqa: E402
    DiTConfig, SingleStreamBlock, TripleStreamBlock, rope_cos_sin,
)
from foley_engine.backends.hunyuan.models.fp8 import GRANULARITIES, quantize_blocks, set_activation_mode  # noqa: E402
from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline  # noqa: E402
from hunyuan_tiny import make_tiny_models  # noqa: E402

#: layers a variant leaves in bf16: the MLPs (triple blocks' audio/visual MLP, single blocks' conv SwiGLU)
MLPS = ("audio_mlp", "v_cond_mlp", "linear2")
#: (label, granularity, activation mode, layers kept in bf16) measured
VARIANTS = ([(f"fp8 per-{g}", g, "off", ()) for g in GRANULARITIES]
            + [(f"fp8 per-{g}, emulated native", g, "emulate", ()) for g in GRANULARITIES]
            + [("fp8 per-channel, MLPs in bf16", "channel", "off", MLPS)])
TARGET_VELOCITY = 0.02
TARGET_SNR_DB = 30.0


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def snr_db(test: np.ndarray, ref: np.ndarray) -> float:
    noise = float(np.sum((test.astype(np.float64) - ref) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise)


# --------------------------------------------------------------------------- one full-size block


def _fill(module: torch.nn.Module, kind: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and p.dim() == 1:
                p.fill_(1.0)
                continue
            if kind == "gaussian":
                values = torch.randn(p.shape, generator=gen) * 0.02
            else:  # heavy tails and rows of different magnitude, as trained weights have
                t = torch.distributions.StudentT(3.0).sample(p.shape)
                spread = torch.logspace(-0.5, 0.5, p.shape[0])[torch.randperm(p.shape[0], generator=gen)]
                values = 0.01 * t * spread.view(-1, *([1] * (p.dim() - 1)))
            p.copy_(values.to(torch.bfloat16).float())  # the released dtype


class _Holder(torch.nn.Module):
    """Lets quantize_blocks (which walks triple_blocks and single_blocks) quantise one block."""

    def __init__(self, block, kind):
        super().__init__()
        self.triple_blocks = torch.nn.ModuleList([block] if kind == "triple" else [])
        self.single_blocks = torch.nn.ModuleList([block] if kind == "single" else [])


def block_errors(kinds=("gaussian", "heavy-tailed"), seconds: int = 10, seed: int = 0) -> list[dict]:
    cfg = DiTConfig.xxl()
    la, lv, lt, h = 50 * seconds, 8 * seconds, cfg.text_length, cfg.hidden_size
    gen = torch.Generator().manual_seed(seed)
    audio, visual = torch.randn(1, la, h, generator=gen), torch.randn(1, lv, h, generator=gen)
    text, vec = torch.randn(1, lt, h, generator=gen), torch.randn(1, h, generator=gen)
    tokens_vec = torch.randn(1, la, h, generator=gen)
    rope = rope_cos_sin(torch.arange(la), cfg.head_dim, cfg.rope_theta)
    rows = []
    for block_kind, cls in (("triple", TripleStreamBlock), ("single", SingleStreamBlock)):
        for weights in kinds:
            block = cls(cfg).eval()
            _fill(block, weights, seed + 1)

            def run(b):
                with torch.no_grad():
                    if block_kind == "triple":
                        a, v = b(audio, text, visual, vec)
                        return torch.cat([a - audio, v - visual], dim=1)
                    return b(audio, tokens_vec, rope) - audio

            t0 = time.perf_counter()
            ref = run(block)
            seconds_ref = time.perf_counter() - t0
            for label, granularity, mode, keep in VARIANTS:
                quant = copy.deepcopy(block)
                quantize_blocks(_Holder(quant, block_kind), granularity, keep)
                set_activation_mode(quant, mode)
                rows.append({"block": f"XXL {block_kind}-stream", "weights": weights,
                             "variant": label, "granularity": granularity, "activation": mode,
                             "update_relative_error": rel(run(quant), ref), "bf16_seconds": seconds_ref})
                print(f"  {rows[-1]['block']:<22} {weights:<12} {rows[-1]['variant']:<34} "
                      f"{rows[-1]['update_relative_error']:.4f}", flush=True)
    return rows


# --------------------------------------------------------------------------- the tiny model


class VelocityProbe:
    """A forward hook on the bf16 DiT: the float8 DiT sees the same inputs; the guided velocities are compared."""

    def __init__(self, reference: torch.nn.Module, test: torch.nn.Module, guidance: float):
        self.test, self.guidance, self.errors = test, guidance, []
        self.handle = reference.register_forward_hook(self)

    def __call__(self, module, args, output):
        with torch.no_grad():
            other = self.test(*args)
        self.errors.append(rel(self._guided(other), self._guided(output)))

    def _guided(self, v):
        if v.shape[0] != 2:
            return v
        uncond, cond = v.float().chunk(2)
        return uncond + self.guidance * (cond - uncond)


def _pipeline_with(base: HunyuanFoleyPipeline, dit) -> HunyuanFoleyPipeline:
    return HunyuanFoleyPipeline(dit, base.vae, base.synchformer, base.siglip, base.clap, device="cpu")


def tiny_model_errors(steps: int, seconds: int, guidance: float = 4.5, seed: int = 11,
                      variants: list = VARIANTS) -> list[dict]:
    tmp = tempfile.TemporaryDirectory(prefix="hunyuan_fp8_")
    folder = make_tiny_models(tmp.name, size="xl", seed=0)
    base = HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu")
    fp32 = copy.deepcopy(base.dit)
    reference = base.dit.to(torch.bfloat16).float()  # the released dtype, computed in float32
    rng = np.random.default_rng(seed)
    siglip = rng.integers(0, 256, (8 * seconds, base.siglip.image_size, base.siglip.image_size, 3), dtype=np.uint8)
    size = base.synchformer.config.image_size
    sync = rng.integers(0, 256, (25 * seconds, size, size, 3), dtype=np.uint8)
    prompt, samples = "footsteps on a wooden floor, a door slams", 48000 * seconds

    def window(pipeline):
        return pipeline.generate(siglip, sync, samples, prompt, seed=seed, steps=steps, guidance=guidance)

    ref_audio = window(_pipeline_with(base, reference))
    # The floor: how far the float32 weights the tiny files hold are from their bf16 rounding.
    floor = snr_db(window(_pipeline_with(base, fp32)), ref_audio)
    print(f"  tiny model float32 weights vs bf16: decoded SNR {floor:.1f} dB (any weight rounding's floor)", flush=True)
    rows = [{"model": "tiny (tests/hunyuan_tiny.py)", "variant": "float32 weights (the bf16 rounding itself)",
             "steps": steps, "seconds": seconds, "decoded_snr_db": floor}]
    for label, granularity, mode, keep in variants:
        quant = quantize_blocks(copy.deepcopy(reference), granularity, keep).eval()
        set_activation_mode(quant, mode)
        probe = VelocityProbe(reference, quant, guidance)
        window(_pipeline_with(base, reference))  # the bf16 trajectory, float8 velocities beside it
        probe.handle.remove()
        audio = window(_pipeline_with(base, quant))
        rows.append({"model": "tiny (tests/hunyuan_tiny.py)", "variant": label, "kept_in_bf16": list(keep),
                     "xxl_dit_gb": planner.weight_bytes("xxl", "fp8", keep).dit / 1e9,
                     "granularity": granularity, "activation": mode, "steps": steps, "seconds": seconds,
                     "velocity_relative_error_max": max(probe.errors),
                     "velocity_relative_error_mean": float(np.mean(probe.errors)),
                     "velocity_relative_error_per_step": probe.errors,
                     "decoded_snr_db": snr_db(audio, ref_audio)})
        r = rows[-1]
        print(f"  tiny model {r['variant']:<34} velocity max {r['velocity_relative_error_max']:.4f} "
              f"mean {r['velocity_relative_error_mean']:.4f}  decoded SNR {r['decoded_snr_db']:.1f} dB", flush=True)
    tmp.cleanup()
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50, help="sampling steps of the tiny model (default 50)")
    ap.add_argument("--seconds", type=int, default=5, help="window length for the tiny model (default 5)")
    ap.add_argument("--quick", action="store_true", help="Gaussian block weights only, 5-s block inputs (tests)")
    ap.add_argument("--json", default="hunyuan_fp8.json", help="where to write the results")
    args = ap.parse_args(argv)
    torch.manual_seed(0)

    print("one full-size block (random weights), relative error of the block's update:", flush=True)
    blocks = block_errors(("gaussian",) if args.quick else ("gaussian", "heavy-tailed"), 5 if args.quick else 10)
    print(f"whole tiny model, {args.steps} steps, {args.seconds}-s window, fixed seed:", flush=True)
    tiny = tiny_model_errors(args.steps, args.seconds)

    print()
    print(f"float8 (e4m3) DiT weights vs bf16, CPU ({platform.processor() or platform.machine()}, torch "
          f"{torch.__version__})")
    print(f"{'variant':<42} {'block update err (gauss / heavy)':>33} {'velocity err max':>17} {'window SNR':>11} "
          f"{'XXL DiT':>8}")
    for row in tiny:
        by_weights = {}
        for b in blocks:
            if b["variant"] == row["variant"]:
                by_weights.setdefault(b["weights"], []).append(b["update_relative_error"])
        blk = " / ".join(f"{max(v):.4f}" for v in by_weights.values()) or "-"
        if "velocity_relative_error_max" not in row:  # the floor row
            print(f"{row['variant']:<42} {blk:>33} {'-':>17} {row['decoded_snr_db']:>8.1f} dB "
                  f"{planner.weight_bytes('xxl').dit / 1e9:>5.2f} GB  (bf16)")
            continue
        ok = (row["velocity_relative_error_max"] <= TARGET_VELOCITY and row["decoded_snr_db"] >= TARGET_SNR_DB)
        print(f"{row['variant']:<42} {blk:>33} {row['velocity_relative_error_max']:>17.4f} "
              f"{row['decoded_snr_db']:>8.1f} dB {row['xxl_dit_gb']:>5.2f} GB  {'meets' if ok else 'misses'} the targets")
    print(f"(targets: velocity relative error <= {TARGET_VELOCITY:.0%} per step, window SNR >= {TARGET_SNR_DB:g} dB; "
          f"block errors are the worst of the triple- and single-stream block)")
    with open(args.json, "w") as fh:
        json.dump({"device": "cpu", "torch": torch.__version__, "targets": {"velocity_relative_error": TARGET_VELOCITY,
                                                                           "decoded_snr_db": TARGET_SNR_DB},
                   "blocks": blocks, "tiny_model": tiny}, fh, indent=2)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
