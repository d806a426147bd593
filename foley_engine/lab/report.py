"""The soak run's report: ``soak.json``, ``soak.md`` (targets, the seed's figures, a row per video) and PNG plots."""
from __future__ import annotations

import json
import os
from fractions import Fraction

#: what the seed's run reported (HunyuanVideo-Foley, 12 videos of 3-5 min, 1080p30)
SEED = {
    "latency": "45 s -> 68 s per video (+51%)",
    "gpu_memory": "17.8-18.3 GB, stable",
    "seams": "audible gaps at seams",
    "offset": "<80 ms (videos 1-3), 150-220 ms from video 6, 270 ms worst",
}


def _mib(n) -> str:
    return "–" if n is None else f"{n / 2**20:.0f}"


def write_markdown(report: dict, path: str) -> None:
    s, st, t = report["summary"], report["settings"], report["thresholds"]
    ok = lambda b: "**pass**" if b else "**FAIL**"  # noqa: E731
    gpu = s["peak_gpu_allocated"]
    lines = [
        f"# Soak run: {len(report['videos'])} videos, backend `{st['backend']}` ({st['mode']}"
        + (", alignment on" if st["align"] else "") + (f", {st['inject_ms']} ms injected" if st["inject_ms"] else "")
        + ")",
        "",
        f"{report['machine']['platform']}, {report['machine']['cpus']} CPUs, Python {report['machine']['python']}. "
        f"Resolution {st['resolution']}, " + (f"{st['minutes']} min each" if st["minutes"] else "3-5 min each") + ".",
        "",
        "| measure | target | ours | seed's run | verdict |",
        "|---|---|---|---|---|",
        "| latency, last / first video (same settings" + (f", best of {st['repeat']}" if st["repeat"] > 1 else "")
        + f") | ≤ {t['latency_ratio']} | {s['latency_ratio']} "
        f"(CPU time {s['cpu_ratio']}) | {SEED['latency']} | {ok(s['checks']['latency_ratio'])} |",
        f"| worker RSS growth over the run | ≤ {t['rss_growth']:.0%} | "
        + ("–" if s["rss_growth"] is None else f"{s['rss_growth']:+.2%}")
        + " (peak " + ("–" if s["peak_rss_growth"] is None else f"{s['peak_rss_growth']:+.2%}")
        + f"; {s['worker_restarts']} worker restarts) | – | {ok(s['checks']['rss_growth'])} |",
        "| GPU memory | stable | " + ("no CUDA" if gpu is None else f"{gpu / 2**30:.2f} GiB peak allocated")
        + f" | {SEED['gpu_memory']} | – |",
        f"| worst \\|median offset\\| (per video and per tenth) | ≤ {t['median_offset_ms']} ms | "
        f"{s['worst_median_offset_ms']} ms | – | {ok(s['checks']['median_offset'])} |",
        f"| worst offset (any event, any video) | ≤ {t['max_offset_frames']} frame | {s['max_offset_ms']} ms = "
        f"{s['max_offset_frames']} frame; {s['missing_events']} of {s['events']} impacts silent | {SEED['offset']} | "
        f"{ok(s['checks']['max_offset'])} |",
        f"| seam discontinuities (clicks, gaps) | 0 | {s['seam_discontinuities']} of {s['seams']} seams "
        f"({s['seam_loudness_flags']} loudness notes) | {SEED['seams']} | {ok(s['checks']['seams'])} |",
        f"| output lengths exact | all | {'all' if s['lengths_exact'] else 'NOT all'} | – | {ok(s['checks']['lengths'])} |",
        "",
        f"Overall: {'PASS' if s['passed'] else 'FAIL'}.",
        "",
        "| # | media | length | fps | latency | x realtime | CPU | load | worker RSS | worker peak | median | p95 | "
        "max | trend | seams (flags) | max jump | length |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["videos"]:
        y = r["sync"]
        fps = f"{float(Fraction(r['fps'])):.3f}".rstrip("0").rstrip(".")
        lines.append(
            f"| {r['index'] + 1} | {r['media']} | {r['duration_s']:.0f} s | {fps} | {r['latency_s']:.1f} s | "
            f"{r['x_realtime']} | {r['cpu_s']} s | {r['load_average']} | {_mib(r['worker_rss'])} MiB | "
            f"{_mib(r['worker_peak_rss'])} MiB | "
            f"{y['median_ms']} ms | {y['p95_ms']} ms | {y['max_ms']} ms | {y['trend_ms_per_min']} ms/min | "
            f"{len(r['seams'])} ({r['seam_discontinuities']}) | {r['max_loudness_jump_lu']} LU | "
            f"{'exact' if r['length_exact'] else 'WRONG'} |")
    lines += ["", "Load: the 1-minute load average when the video finished. Wall latency well above CPU time "
              "under a high load means the worker waited for a core, not that it worked longer.",
              "", "Plots: `latency.png`, `memory.png`, `offset_vs_position.png`, `offsets_by_video.png`.", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_plots(report: dict, folder: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["videos"]
    idx = [r["index"] + 1 for r in rows]
    paths = []

    def save(fig, name):
        p = os.path.join(folder, name)
        fig.tight_layout()
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(idx, [r["latency_s"] for r in rows], color="#4878a8", label="wall latency")
    if all(r["cpu_s"] is not None for r in rows):
        ax.plot(idx, [r["cpu_s"] for r in rows], "o-", color="#d08030", label="worker CPU time")
    ax.set_xlabel("video")
    ax.set_ylabel("seconds")
    ax.set_title("Latency per video")
    ax.set_xticks(idx)
    ax.legend()
    save(fig, "latency.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    mem = report["memory"]
    for name in ("worker", "engine"):
        pts = [(m["t"], m[name]) for m in mem if m.get(name)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] / 2**20 for p in pts], label=f"{name} RSS")
    for r in rows:
        ax.axvline(r["started_at_s"], color="grey", lw=0.5)
    ax.set_xlabel("seconds since start (grey: a video starts)")
    ax.set_ylabel("MiB")
    ax.set_title("Memory over the run")
    ax.legend()
    save(fig, "memory.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    for r in rows:
        pts = [(p[0] / 60, p[1]) for p in r["offsets"] if p[1] is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ".", ms=3, label=f"video {r['index'] + 1}")
    frame = min(r["frame_ms"] for r in rows)
    for y, style in ((5, ":"), (-5, ":"), (frame, "--"), (-frame, "--")):
        ax.axhline(y, color="grey", ls=style, lw=0.8)
    ax.set_xlabel("position in the video (min)")
    ax.set_ylabel("audio - picture (ms)")
    ax.set_title("Impact offset vs position (dotted ±5 ms, dashed ±1 frame)")
    if len(rows) <= 12:
        ax.legend(fontsize=6, ncol=4)
    save(fig, "offset_vs_position.png")

    fig, ax = plt.subplots(figsize=(7, 3.5))
    data = [[p[1] for p in r["offsets"] if p[1] is not None] or [0.0] for r in rows]
    ax.boxplot(data, positions=idx, widths=0.6)
    ax.axhline(80, color="#c04040", ls="--", lw=0.8)
    ax.text(idx[0], 82, "seed: 80 ms (its best videos); 270 ms worst", fontsize=7, color="#c04040")
    ax.set_ylim(-max(100, frame * 1.5), 100)
    ax.set_xlabel("video")
    ax.set_ylabel("audio - picture (ms)")
    ax.set_title("Offsets by video")
    save(fig, "offsets_by_video.png")
    return paths


def write_outputs(report: dict, out: str) -> None:
    with open(os.path.join(out, "soak.json"), "w") as f:
        json.dump(report, f, indent=1)
    write_markdown(report, os.path.join(out, "soak.md"))
    write_plots(report, out)
