"""End to end: the fake Resolve, real sample videos and a real engine (procedural backend)."""
from __future__ import annotations

import os
import sys
from fractions import Fraction

import pytest
import soundfile as sf

from fake_resolve import FakeMediaPoolItem, FakeResolve, FakeTimeline, FakeTimelineItem
from foley_engine.lab.samples import make_sample_video
from otio_adapters.timemath import to_index
from plugin_host.client import EngineClient
from resolve_helpers import ScriptedUI
from resolve_scripts.engine import EngineSpec
from resolve_scripts.foley_resolve import Options, run
from test_engine_backend import EngineProcess

RATE = Fraction(25)
SR = 48000


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("resolve_engine"), backend="procedural").start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resolve_media")
    return make_sample_video(str(folder / "shot 1.mp4"), duration=4, fps=RATE, width=320, height=180,
                             start_timecode="10:00:00:00")


def cut(video):
    tl = FakeTimeline(rate="25", start_tc="01:00:00:00")
    tl.add_track("video")
    tl.add_track("audio", "Dialogue")
    mpi = FakeMediaPoolItem(video.path, fps="25", start_tc="10:00:00:00", frames=video.frame_count)
    a = tl.add_clip(1, FakeTimelineItem("shot A", tl.start_frame + 12, 30, mpi, left_offset=7))
    b = tl.add_clip(1, FakeTimelineItem("shot B", tl.start_frame + 42, 25, mpi, left_offset=60))
    tl.marks = {"in": 0, "out": 100}
    return tl, FakeResolve(tl), (a, b)


def test_fill_in_out_range_through_the_engine(engine, video, tmp_path):
    tl, resolve, clips = cut(video)
    opts = Options(EngineSpec(connection_file=engine.connection_file), out_root=str(tmp_path / "out"))
    report = run(resolve, "range", ScriptedUI({"prompt": "wooden block falls on a floor", "seed": "3"}), opts)
    assert report.error is None and not report.failed and report.route == "otio", report.summary()
    assert len(report.placed) == 2

    infos = resolve.project.media_pool.appended
    assert [(i["recordFrame"], i["trackIndex"], i["mediaType"], i["startFrame"]) for i in infos] == [
        (90012, 2, 2, 0), (90042, 2, 2, 0)]
    assert [i["endFrame"] for i in infos] == [28.8, 24]  # 30 and 25 frames at 25 fps, in a WAV's 24 "fps"
    for info, clip in zip(infos, clips):
        path = info["mediaPoolItem"].GetClipProperty("File Path")
        assert path.startswith(str(tmp_path / "out" / "Foley test" / "Cut"))
        data = sf.info(path)
        assert data.samplerate == SR and data.frames == to_index(Fraction(clip.duration, RATE), SR)
    placed = tl.GetItemListInTrack("audio", 2)
    assert [(p.GetStart(), p.GetEnd()) for p in placed] == [(c.GetStart(), c.GetEnd()) for c in clips]

    # Again: the same slots, the earlier Foley clips replaced, nothing duplicated.
    again = run(resolve, "range", ScriptedUI(), opts)
    assert again.replaced == 2 and len(tl.GetItemListInTrack("audio", 2)) == 2 and tl.GetTrackCount("audio") == 2


def test_engine_is_started_when_the_user_agrees(video, tmp_path):
    tl, resolve, clips = cut(video)
    tl.playhead = tl.start_frame + 20
    connection = str(tmp_path / "engine" / "engine.json")
    spec = EngineSpec(connection, [sys.executable, "-m", "foley_engine.cli"],
                      ("--backend", "procedural", "--journal", str(tmp_path / "engine" / "journal.sqlite")))
    ui = ScriptedUI(confirm=True)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.dirname(os.path.dirname(__file__)), saved) if p)
    try:
        report = run(resolve, "current", ui, Options(spec, out_root=str(tmp_path / "out")))
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
        if os.path.exists(connection):
            with EngineClient.connect(connection, timeout=3) as eng:
                eng.shutdown()
    assert ui.confirms == ["The Foley engine is not running. Start it now?"]
    assert report.error is None and len(report.placed) == 1, report.summary()
    assert "FOLEY_ENGINE_COMMAND" not in os.environ
