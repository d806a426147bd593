"""What the soak run measures: memory over time, and per output file sync, seams and length; the verdicts.

Process memory comes from :mod:`foley_engine.engine.memory` (the engine's own
probes), sync from :mod:`foley_engine.sync`, seam quality from :mod:`foley_engine.seams`.
"""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Optional

import numpy as np

from ..engine.memory import process_rss
from ..seams import Seam, check_seams
from ..sync import match_events, offset_stats, onset_times
from ..timebase import to_index

#: the issue's targets
THRESHOLDS = {
    "latency_ratio": 1.03,  # last / first video (same settings)
    "rss_growth": 0.02,  # worker RSS after the last video vs after the first
    "median_offset_ms": 5.0,  # |signed median| per video and per tenth of each video
    "max_offset_frames": 1.0,  # every event of every video
}


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
            row[name] = process_rss(pid)
        if video is not None:
            row["video"] = video
        self.samples.append(row)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def read_audio(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio, sr


def measure_output(video: dict, outcome, overlap: Fraction) -> dict:
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
