"""Hand contacts (analysis/hands.py): the arrival rule on scripted hands (exact frames), and the real
hand model on real footage of hands that strike nothing (opencv-doc's box.mp4)."""
from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
from fractions import Fraction

import av
import numpy as np
import pytest

from foley_engine.analysis import hands
from foley_engine.analysis.hands import Hand, HandContacts, contacts_of

HAS_VISION = importlib.util.find_spec("mediapipe") is not None
RATE = Fraction(25)
SIZE = 20.0  # hand size in pixels (wrist to middle knuckle)


def hand_at(x: float, y: float) -> Hand:
    """21 points around (x, y); wrist and middle knuckle SIZE apart, so the size is exact."""
    pts = np.tile(np.array([[x, y]], np.float32), (21, 1))
    pts[hands.WRIST] = (x, y + SIZE / 2)
    pts[hands.MIDDLE_KNUCKLE] = (x, y - SIZE / 2)
    return Hand(pts)


class Scripted:
    """A hand model that reads the frame index from the picture and returns scripted hands."""

    def __init__(self, paths):
        self.paths = paths  # list of functions frame -> (x, y) or None
        self.calls = 0

    def __call__(self, rgb):
        self.calls += 1
        i = int(rgb[0, 0, 0]) * 256 + int(rgb[0, 0, 1])
        return [hand_at(*p) for p in (path(i) for path in self.paths) if p is not None]


def picture(i: int) -> np.ndarray:
    """A 400x200 picture whose first pixel carries the frame index."""
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[0, 0, :2] = (i // 256, i % 256)
    return rgb


def run(paths, frames: int, rate: Fraction = RATE):
    model = Scripted(paths)
    onsets, _ = contacts_of([(Fraction(i) / rate, picture(i)) for i in range(frames)], model, rate)
    return onsets, model


def strike(at: int, speed: float, x0: float = 20.0, y: float = 100.0):
    """A hand moving right at ``speed`` px/frame that stops dead at frame ``at``."""
    return lambda i: (x0 + speed * min(i, at), y)


def test_a_hand_arriving_fast_and_stopping_dead_is_one_contact_at_that_frame():
    onsets, model = run([strike(at=23, speed=8.0)], frames=60)
    assert [(o.time * RATE, o.kind, o.tag) for o in onsets] == [(23, "impact", "hand")]
    o = onsets[0]
    assert isinstance(o.time, Fraction)
    assert o.x == pytest.approx(2 * (20.0 + 8.0 * 23) / 400 - 1) and o.y == pytest.approx(0.0)
    assert 0.2 < o.strength <= 1.0
    assert model.calls < 0.75 * 60  # coarse samples and a bisection, not every frame


def test_contact_frames_are_exact_at_ntsc_rate_and_faster_strikes_are_louder():
    rate = Fraction(30000, 1001)
    slow, _ = run([strike(at=31, speed=6.0)], frames=70, rate=rate)
    fast, _ = run([strike(at=31, speed=12.0, x0=5.0)], frames=70, rate=rate)
    assert [o.time * rate for o in slow] == [31] and [o.time * rate for o in fast] == [31]
    assert fast[0].strength > slow[0].strength


def test_a_hand_slowing_down_in_mid_air_makes_no_contact():
    # Speed halves every frame from 16 px/frame: it comes to rest without striking anything.
    def easing(i):
        if i < 10:
            return (20.0 + 16.0 * i, 100.0)
        travelled = 16.0 * 10 + sum(16.0 * 0.5 ** k for k in range(1, i - 9))
        return (20.0 + travelled, 100.0)
    onsets, _ = run([easing], frames=60)
    assert onsets == []


def test_a_slow_hand_and_a_still_hand_make_no_contact():
    onsets, _ = run([strike(at=40, speed=1.0), lambda i: (150.0, 50.0)], frames=70)
    assert onsets == []


def test_two_hands_meeting_are_one_clap():
    left = lambda i: (40.0 + 5.5 * min(i, 20), 100.0)   # noqa: E731
    right = lambda i: (280.0 - 5.5 * min(i, 20), 100.0)  # noqa: E731
    onsets, _ = run([left, right], frames=50)
    assert [(o.time * RATE, o.tag) for o in onsets] == [(20, "hands")]
    assert onsets[0].x == pytest.approx(2 * 160.0 / 400 - 1)


def test_a_hand_that_jumps_into_place_is_a_cut_not_a_contact():
    # Still, then 2 hand sizes away in one frame (a cut, or the model switching hands), then still.
    onsets, _ = run([lambda i: (50.0 if i < 20 else 90.0, 100.0)], frames=50)
    assert onsets == []


def opencv_clip(name: str, tmp_path) -> str:
    src = f"/usr/share/doc/opencv-doc/opencv4/html/{name}.gz"
    if not os.path.exists(src):
        pytest.skip("Debian's opencv-doc is not installed (apt-get install opencv-doc)")
    out = tmp_path / name
    with gzip.open(src, "rb") as fin, open(out, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return str(out)


@pytest.mark.skipif(not HAS_VISION, reason="the vision extra (mediapipe) is not installed")
def test_real_hands_carrying_a_box_strike_nothing(tmp_path):
    path = opencv_clip("box.mp4", tmp_path)
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        frames = [(Fraction(f.pts) * f.time_base, f.reformat(width=320, height=240, format="rgb24").to_ndarray())
                  for f in container.decode(stream)]
    tracker = HandContacts(hands.MediaPipeHands(), rate)
    onsets = [o for pts, rgb in frames for o in tracker.push(pts, rgb)] + tracker.flush()
    tracker.close()
    assert tracker.runs > 0.4 * len(frames)  # the hand was looked for throughout
    assert onsets == []
