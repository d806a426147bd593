"""The long-run soak benchmark: the seed's 2-hour experiment as a repeatable test.

It makes its own videos (:mod:`.videos`: default 12 of 3-5 minutes, 1080p,
H.264, a mix of 29.97, 23.976 and 30 fps, with scene cuts and visual impacts at
exactly known times; the last video repeats the first one's settings so that
"latency of the last / the first" compares equal work), runs them serially
through a private engine or in this process (:mod:`.runners`), and records per
video (:mod:`.metrics`): latency, worker CPU time, engine/worker RSS (current and
peak), GPU memory when CUDA is present, impact sync offsets (median, p95, max,
and their trend along the video), seam quality at every window boundary, and
whether the output has exactly the right number of samples.

Writes ``soak.json``, ``soak.md`` and PNG plots into ``--out`` (:mod:`.report`).

    foley bench soak                                   # the full default run
    foley bench soak --videos 3 --minutes 1 --resolution 360p --in-process
    foley bench align --inject-ms 60                   # alignment before/after on injected offsets
"""
from __future__ import annotations

import json
import os
import platform
import time
from fractions import Fraction

from .metrics import THRESHOLDS, MemorySampler, measure_output, summarize
from .report import SEED, write_outputs
from .runners import EngineRunner, InProcessRunner
from .videos import make_video, plan_videos

PROMPT = "wood impacts, quiet room tone"


def run_soak(args) -> dict:
    out = os.path.abspath(args.out)
    media_dir = os.path.abspath(args.media_dir or os.path.join(out, "media"))
    audio_dir = os.path.join(out, "audio")
    for d in (out, media_dir, audio_dir):
        os.makedirs(d, exist_ok=True)
    specs = plan_videos(args.videos, args.minutes, args.resolution)
    videos = []
    t_make = time.perf_counter()
    for spec in specs:
        print(f"[soak] video {spec.index + 1}/{len(specs)}: {spec.name}", flush=True)
        videos.append(make_video(spec, media_dir))
    make_s = time.perf_counter() - t_make
    options = dict(kv.split("=", 1) for kv in (args.option or []))
    if args.in_process:
        runner = InProcessRunner(args.backend, align=args.align, inject_ms=args.inject_ms, options=options)
    else:
        if args.inject_ms:
            raise SystemExit("--inject-ms needs --in-process (it wraps the backend object)")
        runner = EngineRunner(args.backend, os.path.join(out, "engine"), align=args.align, options=options)
    sampler = MemorySampler(args.sample_interval)
    sampler.pids = dict(runner.pids)
    sampler.start()
    rows = []
    try:
        overlap = runner.overlap
        for video in videos:
            idx = len(rows)
            sampler.pids = dict(runner.pids)
            sampler.sample(video=idx)
            started_at = sampler.elapsed()
            # The first and last videos (the latency pair) may run several times: the best
            # run is their latency, which keeps a busy machine's noise out of the ratio.
            runs = args.repeat if idx in (0, len(videos) - 1) else 1
            walls, cpus = [], []
            for _ in range(runs):
                outcome = runner.run(video["path"], audio_dir, PROMPT, args.seed)
                walls.append(outcome.wall_s)
                cpus.append(outcome.cpu_s)
                if len(walls) < runs:
                    os.unlink(outcome.path)
            mem = runner.memory()
            sampler.pids = dict(runner.pids)
            row = {
                "index": idx, "media": os.path.basename(video["path"]), "duration_s": float(Fraction(video["duration"])),
                "fps": video["fps"], "started_at_s": round(started_at, 3),
                "latency_s": round(min(walls), 3),
                "cpu_s": None if None in cpus else round(min(cpus), 3),
                "runs": {"latency_s": [round(w, 3) for w in walls], "cpu_s": [c and round(c, 3) for c in cpus]},
                "x_realtime": round(float(Fraction(video["duration"])) / min(walls), 2),
                "worker_rss": mem["worker_rss"], "engine_rss": mem["engine_rss"],
                "worker_peak_rss": runner.peak_rss("worker"),
                "engine_peak_rss": runner.peak_rss("engine"),
                "gpu": mem["gpu"], "worker_restarts": runner.restarts,
                # A busy machine stretches wall time but not CPU time: this tells which one moved.
                "load_average": round(os.getloadavg()[0], 2),
                "window_offsets": outcome.window_offsets,
            }
            row.update(measure_output(video, outcome, overlap))
            rows.append(row)
            if not args.keep_audio:
                os.unlink(outcome.path)
            s = row["sync"]
            print(f"[soak] {row['media']}: {row['latency_s']:.1f} s ({row['x_realtime']}x), "
                  f"offset median {s['median_ms']} ms, max {s['max_ms']} ms, "
                  f"seam discontinuities {row['seam_discontinuities']}, length exact {row['length_exact']}", flush=True)
    finally:
        sampler.stop()
        runner.close()
    report = {
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": {"videos": args.videos, "minutes": args.minutes, "resolution": args.resolution,
                     "backend": args.backend, "mode": runner.mode, "align": args.align, "inject_ms": args.inject_ms,
                     "prompt": PROMPT, "seed": args.seed, "repeat": args.repeat},
        "media_seconds_to_make": round(make_s, 1),
        "videos": rows,
        "memory": sampler.samples,
        "thresholds": THRESHOLDS,
        "seed_figures": SEED,
    }
    report["summary"] = summarize(report)
    return report


# ------------------------------------------------------------ alignment check


def align_check(args) -> dict:
    """Known injected offsets, measured without and with the alignment pass (in-process)."""
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    spec = plan_videos(1, args.minutes, args.resolution)[0]
    video = make_video(spec, out)
    rows = {}
    for label, align in (("before", False), ("after", True)):
        runner = InProcessRunner(args.backend, align=align, inject_ms=args.inject_ms)
        if args.alternate:
            shifted = runner.backend.inner if align else runner.backend
            shifted.alternate = True
        try:
            outcome = runner.run(video["path"], out, PROMPT, args.seed)
            m = measure_output(video, outcome, runner.overlap)
        finally:
            runner.close()
        os.unlink(outcome.path)
        rows[label] = {"sync": m["sync"], "seam_discontinuities": m["seam_discontinuities"],
                       "length_exact": m["length_exact"], "window_offsets_ms":
                       [round(o * 1000 / outcome.sample_rate, 3) for _, o in outcome.window_offsets]}
    return {"inject_ms": args.inject_ms, "alternate": args.alternate, "video": spec.name, **rows}


# ------------------------------------------------------------------------ CLI


def soak_main(args) -> int:
    report = run_soak(args)
    write_outputs(report, os.path.abspath(args.out))
    s = report["summary"]
    print(json.dumps({k: v for k, v in s.items()}, indent=1))
    print(f"[soak] wrote {os.path.join(os.path.abspath(args.out), 'soak.md')}: {'PASS' if s['passed'] else 'FAIL'}")
    return 0 if s["passed"] else 1


def align_main(args) -> int:
    result = align_check(args)
    with open(os.path.join(os.path.abspath(args.out), "align.json"), "w") as f:
        json.dump(result, f, indent=1)
    for label in ("before", "after"):
        s = result[label]["sync"]
        print(f"{label:>6}: median {s['median_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms, "
              f"missing {s['missing']}/{s['events']}, seam discontinuities {result[label]['seam_discontinuities']}")
    print(f"windows corrected by (ms): {result['after']['window_offsets_ms']}")
    return 0
