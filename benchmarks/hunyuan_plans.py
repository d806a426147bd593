"""Every memory plan of ``foley models plan``, measured: XXL and XL at full size with random weights.

Run through ``python benchmarks/hunyuan_gpu.py --plans`` (or directly).  For
each size the components are built once on the GPU; each plan then places
them as it says (:class:`HunyuanFoleyPipeline` with that offload), the
float8 plans after the DiT's blocks are quantised in place.  Per plan:

* a 1-step window and a 6-step window of the plan's length (after a 1-step
  warm-up for the first plan of each kind of DiT): seconds per step =
  difference / 5, fixed part (encoders, VAE, transfers per window) = the
  1-step time - 1 step; a 50-step window is extrapolated from those (said in
  the table);
* the peak of ``torch.cuda.max_memory_allocated`` over those windows
  (statistics reset once the plan's weights are placed, so the peak includes
  them), against the planner's prediction;
* x-realtime on a 5-minute video, extrapolated from the window time and the
  scheduler's window count (1-s overlap), not run.

``--dry-run``: the same loop with the tiny models on the CPU, three plans with
2-s windows (checks the script; peaks are the process's RSS there, the
predictions full-size ones).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from foley_engine.backends.hunyuan import memory as planner  # noqa: E402
from foley_engine.backends.hunyuan.models.fp8 import native_fp8_supported, quantize_blocks, set_activation_mode  # noqa: E402
from foley_engine.backends.hunyuan.offload import Offload  # noqa: E402
from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline  # noqa: E402

STEPS = 50
SHORT, LONG = 1, 6
VIDEO_SECONDS = 300


def _frames(pipeline: HunyuanFoleyPipeline, window: Fraction, seed: int):
    rng = np.random.default_rng(seed)
    s, y = pipeline.siglip.image_size, pipeline.synchformer.config.image_size
    siglip = rng.integers(0, 256, (int(window * 8), s, s, 3), dtype=np.uint8)
    sync = rng.integers(0, 256, (int(window * 25), y, y, 3), dtype=np.uint8)
    return siglip, sync


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device) -> int:
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def windows_for(video: Fraction, window: Fraction, overlap: Fraction = planner.OVERLAP) -> int:
    return max(1, math.ceil((video - overlap) / (window - overlap)))


def measure(pipeline: HunyuanFoleyPipeline, window: Fraction, device, guidance: float = 4.5,
            short: int = SHORT, long: int = LONG, warm_up: bool = True) -> dict:
    siglip, sync = _frames(pipeline, window, 0)
    samples = int(window * 48000)

    def run(steps, seed):
        _sync(device)
        t0 = time.perf_counter()
        audio = pipeline.generate(siglip, sync, samples, "footsteps on a wooden floor", seed=seed, steps=steps,
                                  guidance=guidance)
        _sync(device)
        assert audio.shape == (samples,) and np.isfinite(audio).all()
        return time.perf_counter() - t0

    if warm_up:  # first kernels, cuBLAS handles, the allocator's first blocks
        run(1, 0)
    t_short, t_long = run(short, 1), run(long, 2)
    per_step = max(0.0, (t_long - t_short) / (long - short))
    fixed = max(0.0, t_short - short * per_step)
    seconds = fixed + STEPS * per_step
    n = windows_for(Fraction(VIDEO_SECONDS), window)
    return {"seconds_per_step": per_step, "fixed_seconds": fixed, "seconds_per_window": seconds,
            "measured_windows": {f"{short}_steps": t_short, f"{long}_steps": t_long},
            "video_windows": n, "x_realtime_5min": VIDEO_SECONDS / (n * seconds) if seconds else float("inf")}


def release(pipeline: HunyuanFoleyPipeline) -> None:
    """Unhook the block streamer and bring every component home to the CPU before the next plan."""
    if pipeline.streamer is not None:
        pipeline.streamer.detach()
    for part in (pipeline.dit, pipeline.vae, pipeline.synchformer, pipeline.siglip, pipeline.clap):
        part.to("cpu")
    if pipeline.device.type == "cuda":
        torch.cuda.empty_cache()


def plans_for(size: str, native: bool, with_compile: bool) -> list[tuple[planner.Plan, str]]:
    """(plan, extra) pairs: every planner candidate; fp8 native and compile rows where asked."""
    rows = [(p, "") for p in planner.candidates(size)]
    # A block-swap plan with half the blocks resident, between "all streamed" and "all resident".
    half = len(planner.weight_bytes(size).blocks) // 2
    rows += [(planner.predict(size, w, Offload("blocks", half)), "") for w in planner.WEIGHT_CHOICES]
    if native:
        rows.append((planner.predict(size, "fp8", "none"), "native"))
    if with_compile:
        rows.append((planner.predict(size, "bf16", "none"), "compile"))
    # bf16 first (the DiT is quantised in place afterwards); within, the extras last
    return sorted(rows, key=lambda r: (r[0].weights != "bf16", bool(r[1])))


#: the dry run: one plan per offload mode, 2-s windows, 1- and 3-step runs (checks the loop, not the numbers)
DRY_RUN_PLANS = (("bf16", "none"), ("bf16", "blocks:1"), ("fp8", "model"))
DRY_RUN_WINDOW = Fraction(2)
DRY_RUN_STEPS = (1, 3)


def run_size(size: str, device, components, args, rows: list, save, deadline: float) -> None:
    """Measure every plan of ``size``, appending to ``rows`` and saving after each; plans not started by
    ``deadline`` (perf_counter seconds) are listed as skipped, so a time limit still leaves a whole file."""
    dit, vae, sync, siglip, clap = components
    quantised, warm = False, set()
    if args.dry_run:
        todo = [(planner.predict(size, w, o, DRY_RUN_WINDOW), "") for w, o in DRY_RUN_PLANS]
    else:
        todo = plans_for(size, native_fp8_supported(device), args.compile)
    for plan, extra in todo:
        label = f"{plan.size.upper()} {plan.weights}{' native' if extra == 'native' else ''}" \
                f"{' compiled' if extra == 'compile' else ''}"
        row = {"size": size, "weights": plan.weights, "extra": extra, "label": label, "offload": str(plan.offload),
               "window_seconds": float(plan.window), "predicted_peak_bytes": plan.peak,
               "predicted_relative_speed": plan.relative_speed}
        if time.perf_counter() > deadline:
            rows.append(dict(row, error="skipped: the --budget ran out"))
            _print_row(rows[-1], args.dry_run)
            save()
            continue
        if plan.weights == "fp8" and not quantised:
            dit.to(device)  # quantise on the GPU (fast), then home again
            quantize_blocks(dit)
            dit.to("cpu")
            quantised = True
        if extra == "compile":  # patches each block's forward; undone after the row
            from foley_engine.backends.hunyuan.compile import compile_blocks

            compile_blocks(dit)
        started = time.perf_counter()
        pipeline = HunyuanFoleyPipeline(dit, vae, sync, siglip, clap, device=device, offload=plan.offload)
        set_activation_mode(dit, "native" if extra == "native" else "off")
        _reset_peak(device)
        try:
            short, long = DRY_RUN_STEPS if args.dry_run else (SHORT, LONG)
            key = (plan.weights, extra)  # a new kind of DiT: warm its kernels up once
            result = measure(pipeline, plan.window, device, short=short, long=long, warm_up=key not in warm)
            warm.add(key)
        except Exception as exc:  # one plan failing (out of memory, a compile error) must not lose the others
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            result = {"error": f"{type(exc).__name__}: {first}"[:300]}
        peak = _peak(device)
        release(pipeline)
        if extra == "compile":
            for block in list(dit.triple_blocks) + list(dit.single_blocks):
                block.__dict__.pop("forward", None)  # back to the class's eager forward
        row.update(measured_peak_bytes=peak, wall_seconds=time.perf_counter() - started, **result)
        if "error" not in row:
            row["peak_error"] = (plan.peak - peak) / peak
        rows.append(row)
        _print_row(row, args.dry_run)
        save()


HEADER = (f"{'plan':<22} {'offload':<10} {'window':>6} {'s/10-s window*':>15} {'s/step':>7} {'peak':>9} "
          f"{'predicted':>9} {'pred-meas':>9} {'x RT 5 min**':>12}")


def _print_row(row: dict, dry_run: bool) -> None:
    if "error" in row:
        print(f"{row['label']:<22} {row['offload']:<10} {row['window_seconds']:>5g}s  {row['error']}", flush=True)
        return
    per_10 = row["seconds_per_window"] * 10 / row["window_seconds"]  # a 5-s plan: two windows' worth
    print(f"{row['label']:<22} {row['offload']:<10} {row['window_seconds']:>5g}s {per_10:>15.2f} "
          f"{row['seconds_per_step']:>7.3f} {row['measured_peak_bytes'] / 2**30:>5.2f} GiB "
          f"{row['predicted_peak_bytes'] / 2**30:>5.2f} GiB {row['peak_error']:>+8.0%} "
          f"{row['x_realtime_5min']:>11.2f}x", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="xxl,xl", help="comma-separated sizes (default xxl,xl)")
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--compile", action="store_true", help="also a torch.compile row (XXL/XL bf16, no offload)")
    ap.add_argument("--dry-run", action="store_true", help="tiny models on the CPU: checks the script")
    ap.add_argument("--budget", type=float, default=540.0, metavar="SECONDS",
                    help="start no plan after this many seconds (default 540: the table arrives within a 10-minute "
                         "limit; later plans are listed as skipped)")
    ap.add_argument("--json", default="hunyuan_plans.json")
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    tmp = tempfile.TemporaryDirectory(prefix="hunyuan_plans_")
    if args.dry_run:
        from hunyuan_tiny import make_tiny_models

        device, gpu = torch.device("cpu"), "cpu (dry run, tiny models)"
        folder = make_tiny_models(tmp.name, size="xl")
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device; use --dry-run to check the script on a CPU")
        device = torch.device(args.device)
        torch.backends.cuda.matmul.allow_tf32 = True
        gpu = torch.cuda.get_device_name(device)
    print(f"memory plans on {gpu}, torch {torch.__version__}", flush=True)
    print(HEADER, flush=True)
    rows = []
    started = time.perf_counter()
    steps_used = list(DRY_RUN_STEPS if args.dry_run else (SHORT, LONG))

    def save():
        with open(args.json, "w") as fh:
            json.dump({"device": gpu, "torch": torch.__version__, "platform": platform.platform(),
                       "dry_run": args.dry_run, "steps": STEPS,
                       "extrapolated": {"window_from_steps": steps_used, "video_seconds": VIDEO_SECONDS},
                       "cost_model_assumptions": planner.ASSUMED, "total_seconds": time.perf_counter() - started,
                       "plans": rows}, fh, indent=2)

    for size in sizes:
        if args.dry_run:
            base = HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu")
            components = (base.dit, base.vae, base.synchformer, base.siglip, base.clap)
        else:
            from hunyuan_full_size import full_size_components

            t0 = time.perf_counter()
            components = full_size_components(size, device)
            for part in components:
                part.to("cpu")
            print(f"(built {size.upper()} with random weights in {time.perf_counter() - t0:.1f} s)", flush=True)
        run_size(size, device, components, args, rows, save, started + args.budget)
        del components
    total = time.perf_counter() - started
    print(f"* 50-step window extrapolated from {steps_used[0]}- and {steps_used[1]}-step windows (fixed part + "
          f"50 x per-step); "
          f"a 5-s plan's figure is two windows' worth")
    print(f"** {VIDEO_SECONDS // 60}-minute video: extrapolated from the window time and the scheduler's window "
          f"count (1-s overlap), not run")
    print(f"predicted = the planner (`foley models plan`), measured = torch.cuda.max_memory_allocated; "
          f"total {total:.0f} s")
    save()
    print(f"wrote {args.json}")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
