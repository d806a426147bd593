"""Shared fixtures: real sample videos encoded with PyAV, made once per test worker."""
from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest

from foley_engine.backends.base import Backend
from foley_engine.lab.samples import make_sample_video
from foley_engine.timebase import to_index


@pytest.fixture(autouse=True)
def blender_stays_out_of_this_process():
    """Blender runs as a child process of the test (tests/blender_scenarios.py), never in pytest's own: bpy
    beside PyAV/FFmpeg, torch and Ray has crashed test workers.  The test that imports it fails here."""
    before = "bpy" in sys.modules
    yield
    assert before or "bpy" not in sys.modules, \
        "this test imported bpy into the pytest process: run Blender through tests/blender_scenarios.py"


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def clip_2997(media_dir):
    """12 s, 29.97 fps, impacts every 2 s, non-zero first PTS, start timecode 01:00:00;00."""
    return make_sample_video(
        str(media_dir / "clip_2997.mp4"), duration=12, fps=Fraction(30000, 1001), width=320, height=180,
        impacts_every=Fraction(2), impact_offset=Fraction(1), cuts=(Fraction(7),), flashes=(Fraction(5, 2),),
        start_timecode="01:00:00;00", first_pts=Fraction(1, 10),
    )


@pytest.fixture(scope="session")
def clip_24(media_dir):
    return make_sample_video(
        str(media_dir / "clip_24.mp4"), duration=8, fps=Fraction(24), width=320, height=180,
        impacts_every=Fraction(3, 2), impact_offset=Fraction(1), start_timecode="00:10:00:00",
    )


@pytest.fixture(scope="session")
def clip_vfr(media_dir):
    return make_sample_video(
        str(media_dir / "clip_vfr.mp4"), duration=6, fps=Fraction(30), width=320, height=180, vfr=True,
        impacts_every=Fraction(2), impact_offset=Fraction(1),
    )


class ClickBackend(Backend):
    """A test backend: a unit click at every visual onset, so timing is easy to read back."""

    name = "clicks"
    channels = 1
    native_window = Fraction(4)
    overlap = Fraction(1, 4)

    def __init__(self, **options):
        self.requests = []

    def generate(self, request):
        self.requests.append(request)
        audio = np.zeros((request.num_samples, 1), np.float32)
        for onset in request.events.onsets:
            i = to_index(onset.time, request.sample_rate) - request.start_sample
            if 0 <= i < request.num_samples:
                audio[i] = 1.0
        return audio


@pytest.fixture
def click_backend():
    return ClickBackend()


@pytest.fixture
def engines():
    """Start real engine processes (``engines(folder, *serve_args, backend=...)``); all stopped afterwards."""
    from test_engine_backend import EngineProcess

    started = []

    def start(folder, *args, **kwargs):
        eng = EngineProcess(folder, *args, **kwargs).start()
        started.append(eng)
        return eng

    yield start
    for eng in started:
        eng.stop()
