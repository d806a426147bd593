"""The long-run soak benchmark: the seed's 2-hour experiment as a repeatable test.

It makes its own videos (default 12 of 3-5 minutes, 1080p, H.264, a mix of
29.97, 23.976 and 30 fps, with scene cuts and visual impacts at exactly
known times; the last video repeats the first one's settings so that
"latency of the last / the first" compares equal work), runs them serially
through a running engine (or in-process with ``--in-process``), and records
per video: latency, worker CPU time, engine/worker RSS (current and peak),
GPU memory when CUDA is present, impact sync offsets (median, p95, max, and
their trend along the video), seam quality at every window boundary, and
whether the output has exactly the right number of samples.

Writes ``soak.json``, ``soak.md`` and PNG plots into ``--out``.

    foley bench soak                                   # the full default run
    foley bench soak --videos 3 --minutes 1 --resolution 360p --in-process
    foley bench align --inject-ms 60                   # alignment before/after on injected offsets
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import numpy as np

from plugin_host.items import Item

from .seams import Seam, check_seams
from ..sync import match_events, offset_stats, onset_times
from ..timebase import to_index
from .cli import RESOLUTIONS, add_align_arguments, add_soak_arguments

#: the folder holding the foley_engine package, so engines started here import this same copy
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FRAME_RATES = (Fraction(30000, 1001), Fraction(24000, 1001), Fraction(30))
LENGTHS_MIN = (3, 4, 5)
PROMPT = "wood impacts, quiet room tone"

#: the issue's targets
THRESHOLDS = {
    "latency_ratio": 1.03,  # last / first video (same settings)
    "rss_growth": 0.02,  # worker RSS after the last video vs after the first
    "median_offset_ms": 5.0,  # |signed median| per video and per tenth of each video
    "max_offset_frames": 1.0,  # every event of every video
}

#: what the seed's run reported (HunyuanVideo-Foley, 12 videos of 3-5 min, 1080p30)
SEED = {
    "latency": "45 s -> 68 s per video (+51%)",
    "gpu_memory": "17.8-18.3 GB, stable",
    "seams": "audible gaps at seams",
    "offset": "<80 ms (videos 1-3), 150-220 ms from video 6, 270 ms worst",
}


# --------------------------------------------------------------------- test set


@dataclass(frozen=True)
class VideoSpec:
    index: int
    duration: Fraction
    fps: Fraction
    width: int
    height: int
    impacts_every: Fraction
    impact_offset: Fraction
    cuts: tuple[Fraction, ...]
    flashes: tuple[Fraction, ...]
    first_pts: Fraction
    start_timecode: Optional[str]

    @property
    def name(self) -> str:
        fps = f"{float(self.fps):.3f}".rstrip("0").rstrip(".")
        return f"soak{self.index:02d}_{int(self.duration)}s_{self.height}p{fps}"


def plan_videos(videos: int, minutes: Optional[float], resolution: str) -> list[VideoSpec]:
    """The test set.  Settings cycle; the last video repeats the first (the latency control)."""
    width, height = RESOLUTIONS[resolution]
    specs = []
    for i in range(videos):
        k = 0 if (i == videos - 1 and videos > 1) else i
        duration = Fraction(str(minutes)) * 60 if minutes else Fraction(60 * LENGTHS_MIN[k % len(LENGTHS_MIN)])
        fps = FRAME_RATES[k % len(FRAME_RATES)]
        # Impacts every 7/3 s: they fall on every phase of the frame grid.
        cuts = tuple(Fraction(23) + 41 * j + Fraction(k, 3) for j in range(int(duration // 41) + 1)
                     if Fraction(23) + 41 * j + Fraction(k, 3) < duration - 2)
        flashes = tuple(f for f in (Fraction(12) + 47 * j for j in range(int(duration // 47) + 1))
                        if f < duration - 2 and all(abs(f - c) > 1 for c in cuts))
        specs.append(VideoSpec(
            index=i, duration=duration, fps=fps, width=width, height=height,
            impacts_every=Fraction(7, 3), impact_offset=Fraction(1) + Fraction(k % 5, 7),
            cuts=cuts, flashes=flashes,
            first_pts=Fraction(1001, 30000) if k % 2 else Fraction(0),
            start_timecode="01:00:00:00" if k % 3 == 1 else None,
        ))
    return specs


def _sidecar(path: str) -> str:
    return path + ".events.json"


def make_video(spec: VideoSpec, folder: str) -> dict:
    """Encode (or reuse) one video; returns its path and exact event times."""
    from .samples import make_sample_video

    path = os.path.join(folder, spec.name + ".mp4")
    side = _sidecar(path)
    key = repr(spec)
    if os.path.exists(path) and os.path.exists(side):
        with open(side) as f:
            cached = json.load(f)
        if cached.get("spec") == key:
            return cached
    video = make_sample_video(
        path, duration=spec.duration, fps=spec.fps, width=spec.width, height=spec.height,
        impacts_every=spec.impacts_every, impact_offset=spec.impact_offset, flashes=spec.flashes,
        cuts=spec.cuts, start_timecode=spec.start_timecode, first_pts=spec.first_pts,
    )
    record = {
        "spec": key, "path": path, "duration": str(video.duration), "fps": str(spec.fps),
        "frame_count": video.frame_count, "impact_times": [str(t) for t in video.impact_times],
        "cut_times": [str(t) for t in video.cut_times], "flash_times": [str(t) for t in video.flash_times],
    }
    with open(side, "w") as f:
        json.dump(record, f)
    return record


# ------------------------------------------------------------------ processes


def proc_rss(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def proc_peak_rss(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def proc_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a process (all its threads)."""
    if pid == os.getpid():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class MemorySampler:
    """RSS of named processes every ``interval`` seconds, in a background thread."""

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def start(self) -> "MemorySampler":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self, video: Optional[int] = None) -> None:
        row = {"t": round(time.monotonic() - self._t0, 3)}
        for name, pid in list(self.pids.items()):
            row[name] = proc_rss(pid)
        if video is not None:
            row["video"] = video
        self.samples.append(row)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Outcome:
    """One video through a runner."""

    path: str
    sample_rate: int
    start_sample: int
    num_samples: int
    spans: list  # [(start_sample, num_samples)] absolute
    wall_s: float
    cpu_s: Optional[float]
    window_offsets: list  # [(window, offset samples)] when aligning in-process


class InProcessRunner:
    """The backend in this process (no engine): for development and comparison."""

    def __init__(self, backend: str, *, align: bool = False, inject_ms: float = 0.0, options: Optional[dict] = None):
        from foley_engine.backends.registry import load_backend

        inner = load_backend(backend, **(options or {}))
        if inject_ms:
            inner = ShiftedBackend(inner, inject_ms)
        self.backend = inner
        self.align = align
        self.mode = "in-process"
        self.pids = {"worker": os.getpid()}
        self.restarts = 0

    @property
    def overlap(self) -> Fraction:
        return Fraction(self.backend.overlap)

    def run(self, media: str, out_dir: str, prompt: str, seed: int) -> Outcome:
        from foley_engine.generate import generate_to_file
        from foley_engine.job import Job

        spans = []
        out = os.path.join(out_dir, os.path.splitext(os.path.basename(media))[0] + "_foley.wav")
        cpu0, t0 = proc_cpu_seconds(os.getpid()), time.perf_counter()
        offsets = []

        def on_span(span):
            spans.append((span.start, int(span.audio.shape[0])))
            if self.align:
                offsets.append((span.window.index, span.align_offset))

        result = generate_to_file(Job(media, prompt=prompt, seed=seed, align=self.align), self.backend, out,
                                  on_span=on_span)
        wall = time.perf_counter() - t0
        cpu = proc_cpu_seconds(os.getpid()) - cpu0
        return Outcome(result.path, result.sample_rate, result.start_sample, result.num_samples, spans, wall, cpu,
                       offsets)

    def memory(self) -> dict:
        from foley_engine.engine.memory import gpu_memory

        return {"engine_rss": None, "worker_rss": proc_rss(os.getpid()), "gpu": gpu_memory()}

    def close(self) -> None:
        self.backend.close()


class EngineRunner:
    """A private engine (own connection file and journal under ``folder``), driven by the thin client."""

    def __init__(self, backend: str, folder: str, *, align: bool = False, options: Optional[dict] = None):
        from plugin_host.client import EngineClient, start_engine

        os.makedirs(folder, mode=0o700, exist_ok=True)
        self.connection_file = os.path.join(folder, "engine.json")
        serve = ["--backend", backend, "--journal", os.path.join(folder, "journal.sqlite")]
        self.align = align
        for key, value in (options or {}).items():
            serve += ["--option", f"{key}={value}"]
        self.backend_name = backend
        self.mode = "engine"
        # The engine and its worker are child processes: let them import this checkout from any cwd.
        saved = os.environ.get("PYTHONPATH")
        paths = [p for p in (saved or "").split(os.pathsep) if p]
        os.environ["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in paths if p != ROOT])
        try:
            info = start_engine(self.connection_file, tuple(serve), timeout=300)
        finally:
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
        self.client = EngineClient(info, connection_file=self.connection_file, timeout=30)
        self.client.hello()
        self._wait_ready()
        self.pids: dict[str, int] = {}
        self.refresh_pids()

    def _wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.client.status()
            if st["backend"].get("error"):
                raise RuntimeError(f"engine backend failed: {st['backend']['error']}")
            if st["worker"] and st["worker"]["state"] in ("ready", "idle"):
                return
            time.sleep(0.1)
        raise RuntimeError("engine worker did not become ready")

    def refresh_pids(self) -> dict:
        st = self.client.status()
        self.pids = {"engine": st["engine"]["pid"]}
        if st["worker"]:
            self.pids["worker"] = st["worker"]["pid"]
        self.restarts = st["workers"]["restarts"] + st["workers"]["recycles"]
        return st

    @property
    def overlap(self) -> Fraction:
        """The backend's window overlap, read from its class (the backend itself lives in the worker)."""
        import importlib

        from foley_engine.backends.registry import discover

        if ":" in self.backend_name:
            module, _, attr = self.backend_name.partition(":")
            return Fraction(getattr(importlib.import_module(module), attr).overlap)
        return Fraction(discover()[self.backend_name].load_class().overlap)

    def run(self, media: str, out_dir: str, prompt: str, seed: int) -> Outcome:
        self.refresh_pids()
        worker = self.pids.get("worker")
        cpu0 = proc_cpu_seconds(worker) if worker else None
        spans = []
        t0 = time.perf_counter()
        job = self.client.submit([Item(media, prompt=prompt, seed=seed, format="float", align=self.align)], out_dir)
        for event in job.events():
            if event.type == "span":
                spans.append((event.content["start_sample"], event.content["num_samples"]))
        result = job.results()[0]
        wall = time.perf_counter() - t0
        cpu1 = proc_cpu_seconds(worker) if worker else None
        cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
        return Outcome(result["path"], result["sample_rate"], result["start_sample"], result["num_samples"], spans,
                       wall, cpu, [])

    def memory(self) -> dict:
        st = self.refresh_pids()
        return {"engine_rss": st["memory"]["engine_rss"], "worker_rss": st["memory"]["worker_rss"],
                "gpu": st["memory"]["gpu"]}

    def close(self) -> None:
        from plugin_host.client import _pid_alive

        pid = self.pids.get("engine")
        try:
            self.client.shutdown()
        finally:
            self.client.close()
        deadline = time.monotonic() + 30
        while pid and time.monotonic() < deadline:
            try:
                # start_engine spawned it from this process: reap it, or it stays a zombie that looks alive.
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            except ChildProcessError:
                if not _pid_alive(pid):
                    return
            time.sleep(0.05)


class ShiftedBackend:
    """Test wrapper: every window's sound arrives ``ms`` late (negative: early), like a misaligned model.

    The window is rendered as if it started ``ms`` earlier, so the whole
    window is a clean, shifted copy (the procedural backend is a pure
    function of absolute time).  With ``alternate`` the sign flips per window.
    """

    def __init__(self, inner, ms: float, alternate: bool = False):
        self.inner = inner
        self.ms = Fraction(str(ms))
        self.alternate = alternate
        for attr in ("name", "description", "sample_rate", "channels", "native_window", "overlap", "lookback",
                     "frame_specs", "device"):
            setattr(self, attr, getattr(inner, attr))

    def shift_samples(self, window_index: int) -> int:
        sign = -1 if self.alternate and window_index % 2 else 1
        return sign * to_index(self.ms / 1000, self.sample_rate)

    def generate(self, request):
        d = self.shift_samples(request.window_index)
        return self.inner.generate(dataclasses.replace(request, start_sample=request.start_sample - d))

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict:
        return self.inner.describe()


# ------------------------------------------------------------------- measuring


def read_audio(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio, sr


def measure_output(video: dict, outcome: Outcome, overlap: Fraction) -> dict:
    """Sync, seams and length of one output file."""
    audio, sr = read_audio(outcome.path)
    duration = Fraction(video["duration"])
    fps = Fraction(video["fps"])
    expected_len = to_index(duration, sr) - to_index(0, sr)
    onsets = onset_times(audio, sr, start_sample=outcome.start_sample)
    end_t = Fraction(outcome.start_sample + audio.shape[0], sr)
    # Impacts whose sound would run past the end cannot be judged.
    impacts = [Fraction(t) for t in video["impact_times"] if Fraction(t) < end_t - Fraction(1, 10)]
    offsets = match_events(impacts, onsets)
    stats = offset_stats(offsets, duration)
    ov = to_index(overlap, sr)
    seams = [Seam(s + n - outcome.start_sample, s + n - outcome.start_sample + ov) for s, n in outcome.spans[:-1]]
    reports = check_seams(audio, sr, seams)
    frame_ms = float(1000 / fps)
    return {
        "samples": int(audio.shape[0]),
        "expected_samples": expected_len,
        "length_exact": int(audio.shape[0]) == expected_len == outcome.num_samples,
        "windows": len(outcome.spans),
        "frame_ms": round(frame_ms, 3),
        "sync": stats.to_dict(),
        "offsets": [[round(float(o.visual_time), 4), None if o.offset_ms is None else round(o.offset_ms, 3)]
                    for o in offsets],
        "seams": [r.to_dict() for r in reports],
        "seam_discontinuities": sum(r.discontinuity for r in reports),
        "seam_loudness_flags": sum("loudness" in r.flags for r in reports),
        "max_loudness_jump_lu": round(max((abs(r.loudness_jump_lu) for r in reports), default=0.0), 2),
    }


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
                "worker_peak_rss": proc_peak_rss(runner.pids["worker"]) if "worker" in runner.pids else None,
                "engine_peak_rss": proc_peak_rss(runner.pids["engine"]) if "engine" in runner.pids else None,
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


# -------------------------------------------------------------------- verdicts


def _ratio(a, b) -> Optional[float]:
    return round(a / b, 4) if a is not None and b else None


def summarize(report: dict) -> dict:
    rows = report["videos"]
    first, last = rows[0], rows[-1]
    same_work = len(rows) > 1 and first["duration_s"] == last["duration_s"] and first["fps"] == last["fps"]
    growth = None
    if len(rows) > 1 and first["worker_rss"] and last["worker_rss"]:
        growth = round((last["worker_rss"] - first["worker_rss"]) / first["worker_rss"], 4)
    peak_growth = None
    if len(rows) > 1 and first["worker_peak_rss"] and last["worker_peak_rss"]:
        peak_growth = round((last["worker_peak_rss"] - first["worker_peak_rss"]) / first["worker_peak_rss"], 4)
    worst_median = max((abs(v) for r in rows for v in [r["sync"]["median_ms"]] + r["sync"]["by_position"]
                        if v is not None), default=None)
    max_frames = max((r["sync"]["max_ms"] / r["frame_ms"] for r in rows if r["sync"]["max_ms"] is not None),
                     default=None)
    s = {
        "latency_ratio": _ratio(last["latency_s"], first["latency_s"]) if same_work else None,
        "cpu_ratio": _ratio(last["cpu_s"], first["cpu_s"]) if same_work else None,
        "rss_growth": growth,
        "peak_rss_growth": peak_growth,
        "worker_restarts": last["worker_restarts"],
        "worst_median_offset_ms": worst_median,
        "max_offset_ms": max((r["sync"]["max_ms"] for r in rows if r["sync"]["max_ms"] is not None), default=None),
        "max_offset_frames": None if max_frames is None else round(max_frames, 3),
        "missing_events": sum(r["sync"]["missing"] for r in rows),
        "events": sum(r["sync"]["events"] for r in rows),
        "seams": sum(len(r["seams"]) for r in rows),
        "seam_discontinuities": sum(r["seam_discontinuities"] for r in rows),
        "seam_loudness_flags": sum(r["seam_loudness_flags"] for r in rows),
        "lengths_exact": all(r["length_exact"] for r in rows),
        "peak_gpu_allocated": max((r["gpu"]["allocated"] for r in rows if r.get("gpu")), default=None),
    }
    t = THRESHOLDS
    s["checks"] = {
        "latency_ratio": s["latency_ratio"] is not None and s["latency_ratio"] <= t["latency_ratio"],
        "rss_growth": s["rss_growth"] is not None and s["rss_growth"] <= t["rss_growth"] and not s["worker_restarts"],
        "median_offset": worst_median is not None and worst_median <= t["median_offset_ms"],
        "max_offset": max_frames is not None and max_frames <= t["max_offset_frames"] and not s["missing_events"],
        "seams": s["seam_discontinuities"] == 0,
        "lengths": s["lengths_exact"],
    }
    s["passed"] = all(s["checks"].values())
    return s


# --------------------------------------------------------------------- output


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/soak.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what")
    add_soak_arguments(sub.add_parser("soak"))
    add_align_arguments(sub.add_parser("align"))
    args = parser.parse_args(argv if argv is not None else (sys.argv[1:] or ["soak"]))
    return soak_main(args) if args.what == "soak" else align_main(args)


if __name__ == "__main__":
    sys.exit(main())
