"""HunyuanVideo-Foley on a GPU: full-size model, random weights, real pipeline.

Builds every component at the released size (DiT XXL or XL in bf16, the
audio VAE, Synchformer, SigLIP2-base-512 and the CLAP text tower) with
random weights directly on the device (no downloads: nothing here needs the
hub), then measures through the same code the backend runs:

* seconds per 10-s window (features + 50 guided Euler steps + VAE decode),
  median of ``--runs`` after one warm-up;
* peak GPU memory (``torch.cuda.max_memory_allocated``) over the window runs;
* end-to-end x-realtime for a ``--minutes`` (default 5) video it encodes
  itself, through the long-form scheduler and the WAV writer.

``--plans`` instead runs every memory plan of ``foley models plan`` (weights
bf16/fp8 x offload none/model/blocks x 10-s and 5-s windows, plus fp8 with
the native ``_scaled_mm`` path and ``--compile`` where asked) on XXL and XL
and prints one table: seconds per 10-s window, peak memory measured against
the planner's prediction, and x-realtime on a 5-minute video.  To finish well
under 10 minutes on an H100, each plan runs a 1-step and a 6-step window;
the per-step time is their difference / 5 and a 50-step window is
extrapolated from it (encoders and decode are the fixed part); the 5-minute figure is extrapolated from that window time and the
scheduler's window count (1-s overlap).  Both extrapolations are said in the
output.

Random weights give noise, not Foley; timings and memory are those of the
real model because shapes, dtypes and sequence lengths are.  The VAE uses
the assumed default geometry of :class:`DACConfig` (hop 960 at 48 kHz).
With ``--models-dir`` the released weights are loaded instead, and
``--seams`` then compares the two long-form continuity modes (inpainting on
the previous window's latents vs plain crossfade) with the seam detector.

    python benchmarks/hunyuan_gpu.py                          # XXL on cuda:0
    python benchmarks/hunyuan_gpu.py --size xl --offload model --weights fp8
    python benchmarks/hunyuan_gpu.py --models-dir ~/models --size xl --seams 2
    python benchmarks/hunyuan_gpu.py --dry-run                # tiny models on the CPU (checks the script)
    python benchmarks/hunyuan_gpu.py --plans --json hunyuan_plans.json   # every memory plan, XXL and XL
    python benchmarks/hunyuan_gpu.py --plans --dry-run        # the plans loop with tiny models on the CPU
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # the tiny models (hunyuan_tiny) for --dry-run

import numpy as np  # noqa: E402
import torch  # noqa: E402

from foley_engine.backends.base import FrameBatch, WindowRequest  # noqa: E402
from foley_engine.backends.hunyuan.backend import HunyuanBackend  # noqa: E402
from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline  # noqa: E402
from foley_engine.generate import generate_to_file  # noqa: E402
from foley_engine.job import Job  # noqa: E402
from foley_engine.lab.samples import make_sample_video  # noqa: E402
from foley_engine.lab.seams import check_seams, seams_from_windows  # noqa: E402
from foley_engine.longform.scheduler import LongformScheduler  # noqa: E402
from hunyuan_full_size import full_size_components  # noqa: E402
from hunyuan_tiny import make_tiny_models  # noqa: E402

WINDOW_SAMPLES = 10 * 48000


def full_size_pipeline(size: str, device: str, offload) -> HunyuanFoleyPipeline:
    home = device if str(offload) in ("False", "none") else "cpu"
    return HunyuanFoleyPipeline(*full_size_components(size, home), device=device, offload=offload)


def window_request(backend: HunyuanBackend, num_samples: int, seed: int) -> WindowRequest:
    rng = np.random.default_rng(seed)
    frames = {}
    for spec in backend.frame_specs:
        n = int(Fraction(num_samples, backend.sample_rate) * spec.rate)
        images = rng.integers(0, 256, (n, spec.height, spec.width, 3), dtype=np.uint8)
        frames[spec.name] = FrameBatch(spec, np.arange(n, dtype=np.int64), [Fraction(i) / spec.rate for i in range(n)],
                                       images)
    return WindowRequest(media_path="bench", start_sample=0, num_samples=num_samples, sample_rate=backend.sample_rate,
                         frames=frames, events=None, prompt="footsteps on a wooden floor, a door slams",
                         negative_prompt="", seed=seed)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(torch.device(device))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # CPU dry run: process RSS


def seam_comparison(backend: HunyuanBackend, media: str, seed: int = 1) -> dict:
    """Seam detector results for each continuity mode on the same video, prompt and seeds."""
    out = {}
    for mode in ("crossfade", "inpaint"):
        backend.continuity = mode
        spans = list(LongformScheduler(backend).spans(Job(media, prompt="footsteps on a wooden floor", seed=seed)))
        audio = np.concatenate([span.audio for span in spans])
        reports = check_seams(audio, backend.sample_rate, seams_from_windows([s.window for s in spans], spans[0].start))
        out[mode] = {
            "seams": len(reports),
            "flagged": sum(bool(r.flags) for r in reports),
            "median_click_ratio": float(np.median([r.click_ratio for r in reports])) if reports else 0.0,
            "max_abs_loudness_jump_lu": max((abs(r.loudness_jump_lu) for r in reports), default=0.0),
        }
    backend.continuity = "inpaint"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="xxl", choices=["xxl", "xl"])
    ap.add_argument("--device", default="cuda:0")
    ap.add_argument("--offload", default="none", metavar="none|model|blocks[:N]", help="what waits in CPU memory")
    ap.add_argument("--weights", default="bf16", choices=["bf16", "fp8"], help="DiT weights")
    ap.add_argument("--plans", action="store_true",
                    help="every memory plan on XXL and XL (benchmarks/hunyuan_plans.py): one table, predicted vs "
                         "measured peaks")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--guidance", type=float, default=4.5)
    ap.add_argument("--runs", type=int, default=3, help="timed 10-s windows after one warm-up")
    ap.add_argument("--minutes", type=float, default=5.0, help="length of the end-to-end video (0 skips it)")
    ap.add_argument("--models-dir", help="load the released weights from this models folder instead of random ones")
    ap.add_argument("--seams", type=float, default=0.0, metavar="MINUTES",
                    help="also compare inpaint vs crossfade continuity with the seam detector on a video this long")
    ap.add_argument("--onnx", action="store_true",
                    help="visual encoders through ONNX Runtime: reports parity (max abs error) and the speed difference")
    ap.add_argument("--dry-run", action="store_true", help="tiny random models on the CPU: checks the script, not the GPU")
    ap.add_argument("--json", default="hunyuan_gpu.json", help="where to write the results")
    args, rest = ap.parse_known_args(argv)
    if args.plans:
        import hunyuan_plans

        return hunyuan_plans.main(rest + (["--dry-run"] if args.dry_run else []) + ["--json", args.json]
                                  + (["--device", args.device] if not args.dry_run else []))
    if rest:
        ap.error(f"unrecognized arguments: {' '.join(rest)}")

    tmp = tempfile.TemporaryDirectory(prefix="hunyuan_bench_")
    if args.dry_run:
        args.device, args.size = "cpu", "xl"
        models = make_tiny_models(tmp.name, size="xl")
        pipeline = HunyuanFoleyPipeline.from_folder(models, "xl", device="cpu", offload=args.offload,
                                                    weights=args.weights)
        label = "tiny random models (dry run)"
    elif args.models_dir:
        from foley_engine.backends.hunyuan.checkpoints.layout import hunyuan_dir

        started = time.perf_counter()
        pipeline = HunyuanFoleyPipeline.from_folder(hunyuan_dir(args.models_dir), args.size,
                                                    device=args.device, offload=args.offload, weights=args.weights)
        print(f"loaded {args.size.upper()} in {time.perf_counter() - started:.1f} s", flush=True)
        label = f"{args.size.upper()} released weights, DiT {args.weights}"
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no CUDA device; use --dry-run to check the script on a CPU")
        torch.backends.cuda.matmul.allow_tf32 = True
        started = time.perf_counter()
        pipeline = full_size_pipeline(args.size, args.device, args.offload)
        if args.weights == "fp8":
            from foley_engine.backends.hunyuan.models.fp8 import quantize_blocks

            quantize_blocks(pipeline.dit)
        print(f"built {args.size.upper()} with random weights in {time.perf_counter() - started:.1f} s", flush=True)
        label = f"{args.size.upper()} full size, random weights, DiT {args.weights}"
    backend = HunyuanBackend(pipeline=pipeline, steps=args.steps, guidance=args.guidance, onnx=args.onnx,
                             onnx_cache=os.path.join(tmp.name, "onnx"))
    device = args.device
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else platform.processor() or "cpu"

    backend.generate(window_request(backend, WINDOW_SAMPLES, 0))  # warm-up: kernels, allocator
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(torch.device(device))
    times = []
    for run in range(args.runs):
        _sync(device)
        t0 = time.perf_counter()
        audio = backend.generate(window_request(backend, WINDOW_SAMPLES, run + 1))
        _sync(device)
        times.append(time.perf_counter() - t0)
        assert audio.shape == (WINDOW_SAMPLES, 1) and np.isfinite(audio).all()
        print(f"window {run + 1}: {times[-1]:.2f} s", flush=True)
    peak = _peak_bytes(device)

    result = {
        "device": gpu, "torch": torch.__version__, "model": label, "size": args.size, "offload": str(pipeline.offload),
        "weights": pipeline.weights,
        "steps": args.steps, "guidance": args.guidance,
        "seconds_per_10s_window": statistics.median(times), "window_runs": times,
        "peak_gpu_memory_gib" if device.startswith("cuda") else "peak_rss_gib": peak / 2**30,
    }
    if backend.onnx_reports:
        result["onnx"] = [r.to_dict() for r in backend.onnx_reports]
    if args.minutes > 0:
        seconds = Fraction(round(args.minutes * 60))
        video = make_sample_video(os.path.join(tmp.name, "long.mp4"), duration=seconds, fps=Fraction(25),
                                  width=320, height=180, impacts_every=Fraction(2), crf=35)
        job = Job(video.path, prompt="footsteps on a wooden floor", seed=1)
        t0 = time.perf_counter()
        out = generate_to_file(job, backend, os.path.join(tmp.name, "long.wav"))
        wall = time.perf_counter() - t0
        assert out.num_samples == seconds * 48000
        result.update(video_seconds=float(seconds), end_to_end_seconds=wall, x_realtime=float(seconds) / wall,
                      windows=out.windows)

    if args.seams > 0:
        seconds = Fraction(round(args.seams * 60))
        video = make_sample_video(os.path.join(tmp.name, "seams.mp4"), duration=seconds, fps=Fraction(25),
                                  width=320, height=180, impacts_every=Fraction(3, 2), walking=True, crf=35)
        result["seams"] = seam_comparison(backend, video.path)

    print()
    print(f"HunyuanVideo-Foley {label} on {gpu}")
    print(f"  seconds per 10-s window : {result['seconds_per_10s_window']:.2f}  ({args.steps} steps, guidance {args.guidance})")
    mem_key = "peak_gpu_memory_gib" if device.startswith("cuda") else "peak_rss_gib"
    print(f"  {mem_key.replace('_', ' '):<24}: {result[mem_key]:.2f}")
    if "x_realtime" in result:
        print(f"  {result['video_seconds'] / 60:.1f}-min video end to end: {result['end_to_end_seconds']:.1f} s = "
              f"{result['x_realtime']:.2f}x realtime ({result['windows']} windows)")
    for row in result.get("onnx", []):
        print(f"  onnx {row['name']:<11}: max abs error {row['max_abs_error']:.2e}, torch {row['torch_seconds']:.3f} s, "
              f"onnx {row['onnx_seconds']:.3f} s ({row['speedup']:.2f}x, {row['provider']})")
    for mode, row in result.get("seams", {}).items():
        print(f"  seams, {mode:<9}: {row['flagged']}/{row['seams']} flagged, median click ratio "
              f"{row['median_click_ratio']:.2f}, max loudness jump {row['max_abs_loudness_jump_lu']:.2f} LU")
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {args.json}")
    backend.close()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
