"""Visual analysis on small grey frames, streaming, each result tied to a frame's exact PTS.

- :mod:`.events`: what it produces (onsets, per-frame features, the event log);
- :mod:`.shots`: shot boundaries (hard cuts, dissolves and fades);
- :mod:`.cadence`: repeated frames, which show no new picture;
- :mod:`.regions`: block motion with the camera removed, and hits (a region that stops);
- :mod:`.flow`: optional camera-compensated optical-flow motion (OpenCV);
- :mod:`.analyzer`: the streaming analyser that ties them together.
"""
from .analyzer import (
    FLASH_BRIGHTNESS_SHARE,
    IMPACT_MIN_MOTION,
    LOOKAHEAD,
    START_RISE_RATIO,
    Analyzer,
    analyse_frames,
)
from .events import EventLog, FrameFeatures, Onset, VisualEvents

__all__ = [
    "Analyzer", "EventLog", "FrameFeatures", "Onset", "VisualEvents", "analyse_frames", "LOOKAHEAD",
    "FLASH_BRIGHTNESS_SHARE", "IMPACT_MIN_MOTION", "START_RISE_RATIO",
]
