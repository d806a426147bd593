"""Resolve scripts against the fake Resolve (tests/fake_resolve.py) and a stand-in engine."""
from __future__ import annotations

from fractions import Fraction

import pytest

import resolve_scripts.foley_resolve as fr
from fake_resolve import FakeMediaPoolItem, FakeResolve, FakeTimeline, FakeTimelineItem
from resolve_helpers import RATES, ScriptedUI, StubEngine, build_cut, expected_range
from resolve_scripts.engine import EngineSpec
from resolve_scripts.api import context
from resolve_scripts.foley_resolve import Options, run


@pytest.fixture
def engine(monkeypatch):
    stub = StubEngine()
    monkeypatch.setattr(fr, "connect", lambda spec, autostart: stub)
    return stub


def options(tmp_path, **kw):
    return Options(EngineSpec(connection_file=str(tmp_path / "no-engine.json")), out_root=str(tmp_path / "out"), **kw)


# What each timeline must produce for clip A (+10 frames, 60 long, left offset 12), worked out by hand:
# media range in exact seconds (its first source frame, then as many samples as its record range covers:
# round(70/R*48000) - round(10/R*48000)), record frame, and the WAV's endFrame at Resolve's 24 "fps" for audio.
EXPECTED_A = {
    "24": ("1/2", "3", 86400 + 10, 60),  # 12/24 s; 60 frames = 120000 samples = 60 frames at 24
    "25": ("12/25", "72/25", 90000 + 10, 57.6),  # 23040 + 115200 samples; 2.4 s x 24
    "29.97DF": ("1001/2500", "3003/1250", 107892 + 10, 48.048),  # 12 x 1001/30000 s; + 96096 samples (60 frames)
}


@pytest.mark.parametrize("rate", list(RATES))
def test_current_clip_lands_on_its_record_frame(rate, tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, rate)
    tl.playhead = tl.start_frame + 20  # over A on V1; V2 is empty there
    ui = ScriptedUI({"prompt": "footsteps", "negative_prompt": "music", "seed": "7"})
    report = run(resolve, "current", ui, options(tmp_path))
    assert report.error is None and not report.skipped and not report.failed, report.summary()

    start, end, record_frame, end_frame = EXPECTED_A[rate]
    (item,) = engine.items
    assert (item["start"], item["end"]) == (start, end) == expected_range(tl, clips["A"])
    assert item["media"] == clips["A"].mpi.GetClipProperty("File Path")
    assert (item["prompt"], item["negative_prompt"], item["seed"]) == ("footsteps", "music", 7)
    assert item["record_start"] == {"timeline": "Cut", "track": 1, "frame": record_frame, "rate": str(tl.rate)}

    pool = resolve.project.media_pool
    (info,) = pool.appended
    assert {k: v for k, v in info.items() if k != "mediaPoolItem"} == {
        "startFrame": 0, "endFrame": end_frame, "recordFrame": record_frame, "trackIndex": 2, "mediaType": 2}
    assert type(info["endFrame"]) is type(end_frame)  # whole numbers go as int
    assert tl.GetTrackName("audio", 2) == "Foley" and tl.GetTrackName("audio", 1) == "Dialogue"
    (placed,) = tl.GetItemListInTrack("audio", 2)
    assert (placed.GetStart(), placed.GetEnd()) == (clips["A"].GetStart(), clips["A"].GetEnd())
    (foley_bin,) = [f for f in pool.GetRootFolder().GetSubFolderList() if f.GetName() == "Foley"]
    wav = info["mediaPoolItem"].GetClipProperty("File Path")
    assert [c.GetClipProperty("File Path") for c in foley_bin.GetClipList()] == [wav]
    assert pool.GetCurrentFolder() is pool.GetRootFolder()  # the user's bin is put back
    assert report.summary().startswith("Foley: 1 clip(s) placed, 0 skipped, 0 failed")
    assert ui.messages == [report.summary()]


@pytest.mark.parametrize("rate", list(RATES))
def test_direct_api_and_otio_export_send_the_same_requests(rate, tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, rate)
    ui = ScriptedUI({"colour": "Any flag"})
    tl.marks = {"in": 0, "out": 200}
    via_export = run(resolve, "range", ui, options(tmp_path))
    sent_export = list(engine.items)
    engine.items.clear()
    direct = run(resolve, "range", ui, options(tmp_path, use_export=False))
    old = run(FakeResolve(tl, export=False), "range", ui, options(tmp_path))  # no EXPORT_OTIO: the API route
    assert (via_export.route, direct.route, old.route) == ("otio", "direct", "direct")
    assert via_export.items == direct.items == old.items == sent_export
    assert [(i["start"], i["end"]) for i in sent_export] == [expected_range(tl, clips[n]) for n in "ACB"]
    assert [i["record_start"]["frame"] for i in sent_export] == [clips[n].GetStart() for n in "ACB"]
    (path, kind, subtype), *_ = tl.export_calls
    assert (kind, subtype) == (FakeResolve.EXPORT_OTIO, FakeResolve.EXPORT_NONE) and path.endswith(".otio")


def test_topmost_enabled_track_under_the_playhead(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25")
    tl.playhead = tl.start_frame + 35  # A on V1, C on V2
    ui = ScriptedUI()
    run(resolve, "current", ui, options(tmp_path))
    assert ui.asked[0][0] == "Generate for Current Clip: C"
    assert ui.asked[0][1][0] == ("prompt", "glass breaks")  # the marker note is offered as the prompt
    tl.tracks["video"][1]["enabled"] = False
    run(resolve, "current", ui, options(tmp_path))
    assert ui.asked[1][0] == "Generate for Current Clip: A"
    clips["A"].enabled = False
    tl.playhead = tl.start_frame + 5
    report = run(resolve, "current", ui, options(tmp_path))
    assert report.error == "no clip under the playhead at 01:00:00:05 on an enabled video track"


def test_drop_frame_playhead(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "29.97DF")
    tl.start_tc, tl.start_frame = "00:00:59;00", 1770  # the next minute skips frames ;00 and ;01
    for name, off in (("A", 10), ("B", 70), ("C", 30)):
        clips[name].start = tl.start_frame + off
    tl.playhead = tl.start_frame + 32  # 00:01:00;04
    assert tl.GetCurrentTimecode() == "00:01:00;04"
    run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert engine.items[0]["record_start"]["frame"] == clips["C"].GetStart() == 1800
    ctx = context(resolve)
    assert (ctx.frame("00:01:00;04"), ctx.frame("00:01:00:04"), ctx.timecode(1800)) == (1802, 1802, "00:01:00;02")
    assert ctx.frame("00:10:00;00") == 17982  # 10 minutes drop-frame: 9 x 2 frames skipped


def test_flagged_clips_take_their_marker_note(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24")
    run(resolve, "flagged", ScriptedUI({"colour": "Red", "prompt": "wind"}), options(tmp_path))
    assert [(i["prompt"], i["record_start"]["frame"]) for i in engine.items] == [("glass breaks", clips["C"].start)]
    engine.items.clear()
    run(resolve, "flagged", ScriptedUI({"colour": "Orange", "prompt": "wind"}), options(tmp_path))  # clip colour
    assert [i["prompt"] for i in engine.items] == ["wind"]
    report = run(resolve, "flagged", ScriptedUI({"colour": "Teal"}), options(tmp_path))
    assert report.error == "no clip on the timeline has a Teal flag or clip colour"


def test_in_out_range(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25")
    tl.marks = {"in": 60, "out": 69}  # relative to the timeline start, out frame included
    run(resolve, "range", ScriptedUI({"prompt": "rain"}), options(tmp_path))
    assert [i["record_start"]["frame"] for i in engine.items] == [clips["A"].start]
    engine.items.clear()
    tl.marks = {"in": 60, "out": 70}  # now B's first frame is inside too
    run(resolve, "range", ScriptedUI(), options(tmp_path))
    assert [i["record_start"]["frame"] for i in engine.items] == [clips["A"].start, clips["B"].start]


def test_in_out_asked_for_before_resolve_19_1(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24", has_mark_in_out=False)
    ui = ScriptedUI({"in": "01:00:03:00", "out": "01:00:04:00"})
    run(resolve, "range", ui, options(tmp_path))
    fields = dict(ui.asked[0][1])
    assert (fields["in"], fields["out"]) == ("01:00:00:00", "01:00:04:09")  # the whole timeline by default
    assert [i["record_start"]["frame"] for i in engine.items] == [clips["B"].start]
    report = run(resolve, "range", ScriptedUI({"in": "01:00:04:00", "out": "01:00:03:00"}), options(tmp_path))
    assert report.error == "the mark out 01:00:03:00 is before the mark in 01:00:04:00"


def test_rerun_replaces_its_own_foley_and_keeps_yours(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24")
    tl.playhead = tl.start_frame + 20
    first = run(resolve, "current", ScriptedUI(), options(tmp_path))
    (old,) = tl.GetItemListInTrack("audio", 2)
    second = run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert (first.replaced, second.replaced) == (0, 1) and tl.deleted == [old]
    (new,) = tl.GetItemListInTrack("audio", 2)
    assert new is not old and new.GetStart() == clips["A"].start
    assert "1 earlier Foley clip(s) replaced" in second.summary()

    # A clip of yours where the Foley goes: it stays, the Foley goes on "Foley 2".
    mine = FakeTimelineItem("my whoosh", clips["A"].start + 5, 10, FakeMediaPoolItem(str(tmp_path / "whoosh.wav")))
    tl.tracks["audio"][1]["items"].append(mine)
    run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert mine in tl.GetItemListInTrack("audio", 2)
    assert tl.GetTrackName("audio", 3) == "Foley 2"
    assert [i.GetStart() for i in tl.GetItemListInTrack("audio", 3)] == [clips["A"].start]


def test_overlapping_clips_on_two_video_tracks_get_two_foley_tracks(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24")
    tl.marks = {"in": 0, "out": 100}
    run(resolve, "range", ScriptedUI(), options(tmp_path))
    assert [tl.GetTrackName("audio", i) for i in (2, 3)] == ["Foley", "Foley 2"]
    assert [i.GetStart() for i in tl.GetItemListInTrack("audio", 2)] == [clips["A"].start, clips["B"].start]
    assert [i.GetStart() for i in tl.GetItemListInTrack("audio", 3)] == [clips["C"].start]


def test_offline_media_and_speed_change_are_skipped_with_a_note(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25")
    gone = str(tmp_path / "gone.mov")
    clips["B"].mpi = FakeMediaPoolItem(gone, fps="25", start_tc="00:00:00:00", frames=100)
    clips["C"].speed = Fraction(2)
    tl.marks = {"in": 0, "out": 200}
    report = run(resolve, "range", ScriptedUI(), options(tmp_path))
    assert report.skipped == [
        "V2 'C' at 01:00:01:05: skipped: speed change (200 %) is not supported in Resolve; export the timeline "
        "and use `foley otio fill`",
        f"V1 'B' at 01:00:02:20: media offline: {gone}",
    ]
    assert [i["record_start"]["frame"] for i in engine.items] == [clips["A"].start]
    assert report.summary().splitlines()[0] == "Foley: 1 clip(s) placed, 2 skipped, 0 failed"

    clips["A"].mpi = FakeMediaPoolItem("", fps="25")  # a title or generator has no file
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI(), options(tmp_path, use_export=False))
    assert report.summary().splitlines() == [
        "Foley: nothing to generate",
        "  V1 'A' at 01:00:00:10: skipped: not a media file (a title, generator or compound clip)"]


def test_engine_not_running(tmp_path):
    tl, resolve, clips = build_cut(tmp_path, "24")
    tl.playhead = tl.start_frame + 20
    ui = ScriptedUI(confirm=False)
    report = run(resolve, "current", ui, options(tmp_path))
    assert ui.confirms == ["The Foley engine is not running. Start it now?"]
    assert report.error == "no engine is running; start one with `foley engine serve`"
    assert ui.messages == ["Foley: no engine is running; start one with `foley engine serve`"]
    assert resolve.project.media_pool.appended == []


def test_nothing_open_and_cancelled_dialog(tmp_path, engine):
    ui = ScriptedUI()
    assert run(FakeResolve(None), "current", ui, options(tmp_path)).error == "no project is open"
    tl = FakeTimeline()
    resolve = FakeResolve(tl)
    resolve.project.timeline = None
    assert run(resolve, "current", ui, options(tmp_path)).error == "no timeline is open; open one on the Edit page"
    tl, resolve, _ = build_cut(tmp_path, "24")
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI(cancel_dialog=True), options(tmp_path))
    assert report.cancelled and engine.items == []
    report = run(resolve, "current", ScriptedUI({"seed": "x"}), options(tmp_path))
    assert report.error == "the seed must be a whole number, not 'x'"


def test_a_failed_clip_fails_alone_and_cancel_stops_the_rest(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24")
    tl.marks = {"in": 0, "out": 200}
    engine.fail = {"job0002"}  # the second clip (C)
    report = run(resolve, "range", ScriptedUI(), options(tmp_path))
    assert report.failed == ["V2 'C' at 01:00:01:06: cannot decode frame 12"]
    assert [p.split(" -> ")[0] for p in report.placed] == ["V1 'A' at 01:00:00:10", "V1 'B' at 01:00:02:22"]
    assert engine.closed

    engine.fail = set()
    report = run(resolve, "range", ScriptedUI(cancel_progress=True), options(tmp_path))
    assert report.cancelled and len(report.placed) == 1  # what finished before the cancel is kept
    assert engine.cancelled == ["job0004", "job0005", "job0006"]
    assert report.summary().splitlines()[0] == "Foley: 1 clip(s) placed (1 earlier Foley clip(s) replaced), " \
        "0 skipped, 0 failed, cancelled"


def test_failed_export_falls_back_to_the_scripting_api(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25")
    tl.playhead = tl.start_frame + 20
    tl.Export = lambda path, kind, subtype=None: False
    assert run(resolve, "current", ScriptedUI(), options(tmp_path)).route == "direct"

    def broken(path, kind, subtype=None):
        with open(path, "w") as f:
            f.write("{not json")
        return True

    tl.Export = broken
    report = run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert report.route == "direct" and len(report.placed) == 1
    assert report.warnings[0].startswith("the timeline's OTIO export could not be read (")
