"""Long-form throughput and memory: our pipeline vs ffmpeg's own decode of the same file.

For each length (default 1, 5 and 20 minutes of 1080p30 H.264 it makes
itself) it runs, in the same session and in fresh processes:

* ffmpeg:  ``ffmpeg -i X -vf scale=96:54,format=gray -f null -`` (decode + the
  same downscale to grey our analysis uses) — the baseline;
* foley:   ``foley generate X --backend procedural`` (decode, analysis,
  synthesis, stitching, WAV writing).

alternately ``--repeat`` times, and reports x-realtime for both, their ratio
(wall clock and CPU time: the second is steadier on a shared machine), and
the peak RSS of the foley process (from ``wait4``).  Prints a table and
writes JSON.

    python benchmarks/longform.py                   # 1, 5, 20 minutes
    python benchmarks/longform.py --minutes 1 2     # quicker
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from foley_engine.lab.samples import make_sample_video  # noqa: E402

#: the whole `foley generate` must keep up with this share of ffmpeg's own decode (issue 19)
TARGET = 0.9


def run_measured(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (bytes) of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ensure_video(folder: str, minutes: int, width: int, height: int) -> str:
    path = os.path.join(folder, f"bench_{minutes}min_{height}p30.mp4")
    if not os.path.exists(path):
        print(f"encoding {minutes}-minute {width}x{height} sample (once) ...", flush=True)
        make_sample_video(
            path, duration=60 * minutes, fps=Fraction(30), width=width, height=height,
            impacts_every=Fraction(3), impact_offset=Fraction(1), walking=True,
            cuts=tuple(Fraction(60 * k + 30) for k in range(minutes)),
        )
    return path


def compile_sources() -> None:
    """Write the bytecode of the project's packages once, as installing it does.

    A development shell may set PYTHONDONTWRITEBYTECODE (this one does); then every
    ``foley`` start would compile ~80 source files again (~0.2 s of CPU), a cost no
    installed copy pays.  Cached bytecode is still read with that variable set."""
    root = os.path.dirname(HERE)
    packages = [os.path.join(root, d) for d in ("foley_engine", "plugin-host/plugin_host", "otio_adapters", "foley_batch")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *[p for p in packages if os.path.isdir(p)]],
                   check=True, stdout=subprocess.DEVNULL)


def bench_one(path: str, minutes: int, out_dir: str, repeat: int) -> dict:
    """Alternate ffmpeg and foley runs ``repeat`` times; report the median of each."""
    seconds_of_media = 60 * minutes
    wav = os.path.join(out_dir, f"bench_{minutes}min_foley.wav")
    ffmpeg = [ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path, "-vf", "scale=96:54,format=gray", "-f", "null", "-"]
    # No footsteps in the prompt: this measures the default path, with the pose model off (issue 19);
    # benchmarks/footsteps.py measures the pose model's cost.
    foley = [sys.executable, "-m", "foley_engine.cli", "generate", path,
             "--prompt", "wood impacts, metal impacts, rain", "-o", wav]
    ff_runs, foley_runs = [], []
    for _ in range(repeat):
        ff_runs.append(run_measured(ffmpeg))
        foley_runs.append(run_measured(foley))
    ff_s, ff_cpu, ff_rss = (statistics.median(r[i] for r in ff_runs) for i in range(3))
    foley_s, foley_cpu, _ = (statistics.median(r[i] for r in foley_runs) for i in range(3))
    foley_rss = max(r[2] for r in foley_runs)
    return {
        "minutes": minutes,
        "runs": repeat,
        "ffmpeg_seconds": round(ff_s, 2),
        "ffmpeg_cpu_seconds": round(ff_cpu, 2),
        "ffmpeg_x_realtime": round(seconds_of_media / ff_s, 2),
        "foley_seconds": round(foley_s, 2),
        "foley_cpu_seconds": round(foley_cpu, 2),
        "foley_x_realtime": round(seconds_of_media / foley_s, 2),
        "ratio_to_ffmpeg": round(ff_s / foley_s, 3),
        "cpu_ratio_to_ffmpeg": round(ff_cpu / foley_cpu, 3),
        "foley_peak_rss_mb": round(foley_rss / 2**20, 1),
        "ffmpeg_peak_rss_mb": round(ff_rss / 2**20, 1),
        "load_average": round(os.getloadavg()[0], 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each command (median reported)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    compile_sources()
    rows = []
    for minutes in args.minutes:
        path = ensure_video(args.out, minutes, args.width, args.height)
        rows.append(bench_one(path, minutes, args.out, args.repeat))
        print(json.dumps(rows[-1]), flush=True)
    base_rss = rows[0]["foley_peak_rss_mb"]
    for row in rows:
        row["rss_vs_first"] = round(row["foley_peak_rss_mb"] / base_rss, 3)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}",
        "resolution": f"{args.width}x{args.height} H.264 30 fps",
        "targets": {"ratio_to_ffmpeg": f">= {TARGET}", "cpu_ratio_to_ffmpeg": f">= {TARGET}",
                    "rss_longest_vs_first": "<= 1.10"},
        "rows": rows,
        "pass": all(r["ratio_to_ffmpeg"] >= TARGET and r["cpu_ratio_to_ffmpeg"] >= TARGET for r in rows)
        and rows[-1]["rss_vs_first"] <= 1.10,
    }
    header = ("| minutes | ffmpeg x-rt | foley x-rt | throughput vs ffmpeg (wall) | (CPU time) "
              "| foley peak RSS MB | RSS vs first |")
    print("\n" + header + "\n|" + "---|" * 7)
    for r in rows:
        print(f"| {r['minutes']} | {r['ffmpeg_x_realtime']} | {r['foley_x_realtime']} | {r['ratio_to_ffmpeg']} | "
              f"{r['cpu_ratio_to_ffmpeg']} | {r['foley_peak_rss_mb']} | {r['rss_vs_first']} |")
    print(f"\ntargets: throughput >= {TARGET} x ffmpeg (wall and CPU time), RSS of longest within 10% of shortest "
          f"-> {'PASS' if result['pass'] else 'FAIL'}")
    path = os.path.join(args.out, "longform.json")
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
