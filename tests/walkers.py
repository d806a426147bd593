"""Synthetic walkers with known heel strikes, as the pose model would report them.

A figure walks right at a steady pace; each foot alternates a stance (still on the ground) and a
swing (forward and up, landing at a known frame).  ``figure(i)`` is the :class:`Figure` the pose
model would give for frame ``i``, so the footstep rules are tested against exact strike frames
without a model; :func:`index_picture` / :func:`picture_index` carry the frame index through a real
H.264 round trip for the scheduler test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from foley_engine.analysis import pose


@dataclass
class Walker:
    """``period`` frames per step; foot ``side`` lands at ``first[side] + 2 * period * k``."""

    frames: int
    period: int = 6  # frames per step (25 fps: 0.24 s, a brisk walk)
    swing: int = 5  # frames a foot is in the air
    step: float = 0.04  # picture widths per step
    height: float = 0.6  # figure height in picture heights
    x0: float = 0.2
    feet_visible: bool = True
    bounce: float = 0.01  # hips dip this much (picture heights) at each strike

    def strikes(self, side: int) -> list[int]:
        first = 2 * self.period if side == 0 else 3 * self.period
        return list(range(first, self.frames, 2 * self.period))

    def foot(self, side: int, i: int) -> tuple[float, float]:
        ground = 0.9
        landings = [s for s in self.strikes(side)]
        # Position: where the foot stands (its last landing), or in flight to the next one.
        nxt = next((s for s in landings if s >= i), None)
        last = max((s for s in landings if s <= i), default=None)
        stand = lambda s: self.x0 + self.step * (s / self.period)  # noqa: E731  (x of a landing at frame s)
        if nxt is not None and nxt - i < self.swing and i != nxt:
            start = stand(last) if last is not None else stand(nxt) - 2 * self.step
            a = 1 - (nxt - i) / self.swing
            return start + a * (stand(nxt) - start), ground - 0.05 * np.sin(np.pi * a)
        return (stand(last) if last is not None else stand(nxt) - 2 * self.step if nxt else self.x0), ground

    def figure(self, i: int) -> pose.Figure:
        pts = np.zeros((33, 3), np.float32)
        pts[:, 2] = 1.0
        hip_x = self.x0 + self.step * (i / self.period) - self.step / 2
        landing = i in self.strikes(0) or i in self.strikes(1)
        hip_y = 0.9 - 0.5 * self.height + (self.bounce if landing else 0.0)
        top = 0.9 - self.height
        pts[pose.NOSE, :2] = hip_x, top
        for side in (0, 1):
            pts[pose.SHOULDERS[side], :2] = hip_x, top + 0.15 * self.height
            pts[pose.HIPS[side], :2] = hip_x, hip_y
            fx, fy = self.foot(side, i)
            pts[pose.ANKLES[side], :2] = fx, fy - 0.03
            pts[pose.HEELS[side], :2] = fx - 0.01, fy
            pts[pose.TOES[side], :2] = fx + 0.02, fy - 0.005
            if not self.feet_visible:
                for idx in (pose.ANKLES[side], pose.HEELS[side], pose.TOES[side]):
                    pts[idx, 1] += 0.3  # below the picture's edge
                    pts[idx, 2] = 0.1
        return pose.Figure(pts)


def index_picture(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """An RGB picture that carries ``i`` (0..255) in two flat halves (survives H.264)."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:, : w // 2] = 8 + 16 * (i // 16)
    img[:, w // 2:] = 8 + 16 * (i % 16)
    return img


def picture_index(rgb: np.ndarray) -> int:
    w = rgb.shape[1]
    hi = int(round((float(rgb[:, : w // 2].mean()) - 8) / 16))
    lo = int(round((float(rgb[:, w // 2:].mean()) - 8) / 16))
    return 16 * hi + lo


class FakePose:
    """Stands in for the pose model: the walker's figure for the frame the picture shows."""

    def __init__(self, walker: Walker, index=picture_index, missing: tuple[int, ...] = ()):
        self.walker, self.index, self.missing, self.calls = walker, index, set(missing), 0

    def __call__(self, rgb: np.ndarray) -> Optional[pose.Figure]:
        self.calls += 1
        i = self.index(rgb)
        return None if i in self.missing or i >= self.walker.frames else self.walker.figure(i)
