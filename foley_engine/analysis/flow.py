"""Motion from dense optical flow, with the camera's own motion taken out (optional: OpenCV).

Frame differencing counts a camera pan over a textured wall as much motion
as a fist; flow measures displacement instead, and the median flow vector of
the picture is the camera's motion (pans, tilts, shake).  What is left, the
residual flow, is what moves in the scene: its mean magnitude becomes the
motion energy, its horizontal centre the pan.  OpenCV's DIS flow (ultrafast
preset) on the 96x54 analysis frames costs about 1.5 ms a frame.

Opt-in (``motion="flow"``: ``foley generate --motion flow``, engine item option
``motion``); needs ``opencv-python-headless``.  Cuts and repeated frames are
still found from frame differences (:mod:`.shots`, :mod:`.cadence`).
"""
from __future__ import annotations

import numpy as np

from ..errors import FoleyError

#: residual flow (pixels per frame at 96 px wide, averaged over the picture) -> motion energy
#: units (mean grey change): a tenth of the picture moving 5 px a frame ~ 0.01, a steady walk
PX_TO_MOTION = 0.02
#: residual flow of a pure camera pan over a real still stays under ~0.2 px a frame on average
#: (estimation noise; benchmarks/events.py measures it): that much is subtracted
NOISE = 0.005


class FlowMotion:
    """``measure(previous, current)`` on uint8 grey frames -> (motion, x, camera (dx, dy) px)."""

    def __init__(self):
        try:
            import cv2
        except ImportError:
            raise FoleyError("motion='flow' needs OpenCV: pip install opencv-python-headless") from None
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._positions: dict[int, np.ndarray] = {}

    def measure(self, previous: np.ndarray, current: np.ndarray) -> tuple[float, float, tuple[float, float]]:
        flow = self._dis.calc(np.ascontiguousarray(previous), np.ascontiguousarray(current), None)
        camera = np.median(flow.reshape(-1, 2), axis=0)
        residual = np.hypot(flow[..., 0] - camera[0], flow[..., 1] - camera[1])
        columns = residual.sum(axis=0)
        total = float(columns.sum())
        width = columns.size
        positions = self._positions.get(width)
        if positions is None:
            positions = self._positions[width] = np.linspace(-1.0, 1.0, width, dtype=np.float32)
        x = float(columns @ positions) / total if total > 1e-6 else 0.0
        motion = max(0.0, PX_TO_MOTION * total / residual.size - NOISE)
        return motion, x, (float(camera[0]), float(camera[1]))
