"""Body landmarks from a real pose model on the CPU, behind the optional ``vision`` extra.

The model is MediaPipe's BlazePose "full" landmarker (``pose_landmark_full.tflite`` and
``pose_detection.tflite``, Apache-2.0), which the ``mediapipe==0.10.14`` wheel carries: it installs
from PyPI with its weights and runs offline.  Why this one (docs/events.md has the comparison):
rtmlib, openpifpaf and ultralytics download their weights from the web at first use, and newer
mediapipe wheels (1.x) ship no models at all.

The wheel's models drive MediaPipe's legacy ``solutions.pose`` graph, which follows **one** person
(the most prominent).  Its Tasks ``PoseLandmarker`` would follow several (``num_poses``), but needs a
``.task`` bundle with normalisation metadata that the wheel does not ship, so this module finds one
figure per picture; :mod:`.people` follows several by painting out the ones already found.

Nothing here is imported by the default install: :func:`load_pose` is the only way in, and
:func:`vision_missing` tells a caller in one line why it cannot be used.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Optional

import numpy as np

#: the extra that installs the model, as a user types it
EXTRA = "pip install 'foley-engine[vision]'"

# BlazePose landmark indices (the model's 33-point topology); "left" is the person's left.
NOSE = 0
SHOULDERS = (11, 12)
HIPS = (23, 24)
ANKLES = (27, 28)
HEELS = (29, 30)
TOES = (31, 32)
SIDES = ("left", "right")

#: below this visibility a landmark is a guess the model made about something it cannot see
VISIBLE = 0.5


@dataclass(frozen=True)
class Figure:
    """One person in one picture: ``points[i] = (x, y, visibility)``, x and y in 0..1 of the
    picture (y down), for the 33 BlazePose landmarks."""

    points: np.ndarray  # (33, 3) float32

    def visible(self, *indices: int) -> bool:
        """Seen by the model (not guessed) and inside the picture."""
        p = self.points[list(indices)]
        inside = (p[:, 0] >= 0) & (p[:, 0] <= 1) & (p[:, 1] >= 0) & (p[:, 1] <= 1)
        return bool(np.all((p[:, 2] >= VISIBLE) & inside))

    def plausible(self) -> bool:
        """A body, not a pattern the model fitted a skeleton to: shoulders and hips seen."""
        return self.visible(*SHOULDERS, *HIPS)

    def foot(self, side: int) -> tuple[float, float]:
        """The lower of heel and toe (what touches the ground first), as (x, y)."""
        heel, toe = self.points[HEELS[side]], self.points[TOES[side]]
        low = heel if heel[1] >= toe[1] else toe
        return float(low[0]), float(low[1])

    def feet_visible(self) -> bool:
        return self.visible(*HEELS, *TOES, *ANKLES)

    def hips(self) -> tuple[float, float]:
        p = self.points[list(HIPS), :2].mean(axis=0)
        return float(p[0]), float(p[1])

    def height(self) -> float:
        """The figure's size in picture heights: nose to lowest foot, or (feet unseen) three
        times the shoulder-to-hip length, about the same for an upright adult."""
        if self.feet_visible():
            return max(float(self.points[list(HEELS + TOES), 1].max() - self.points[NOSE, 1]), 1e-3)
        torso = abs(float(self.points[list(HIPS), 1].mean() - self.points[list(SHOULDERS), 1].mean()))
        return max(3.0 * torso, 1e-3)

    def box(self, pad: float = 0.0) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) around the landmarks, padded by ``pad`` of the figure's height."""
        p = self.points[:, :2]
        d = pad * self.height()
        return (float(p[:, 0].min()) - d, float(p[:, 1].min()) - d, float(p[:, 0].max()) + d, float(p[:, 1].max()) + d)


def vision_missing() -> Optional[str]:
    """None when the pose model can run here, else the one line that says why not."""
    if importlib.util.find_spec("mediapipe") is None:
        return f"the pose model is not installed ({EXTRA})"
    return None


class MediaPipePose:
    """BlazePose full on one RGB picture -> the most prominent :class:`Figure` or None.

    Tracking mode (the landmarks of one picture place the crop for the next) skips the person
    detector while a figure stays found; the pictures handed in may skip frames or go back a few
    (refinement around a candidate), which only moves that crop.  Temporal smoothing is off: it
    assumes consecutive frames, and it would delay the moment a foot stops.
    """

    def __init__(self, min_confidence: float = 0.5):
        missing = vision_missing()
        if missing:
            raise ImportError(missing)
        import mediapipe as mp  # the optional extra: imported here only

        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False, model_complexity=1, smooth_landmarks=False,
            enable_segmentation=False, min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def __call__(self, rgb: np.ndarray) -> Optional[Figure]:
        result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return None
        fig = Figure(np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32))
        return fig if fig.plausible() else None

    def close(self) -> None:
        self._pose.close()
