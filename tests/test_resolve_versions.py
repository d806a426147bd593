"""Resolve as it really is, 18.5 to 21: the version gate, integer frames, free mode, the UI thread, every rate."""
from __future__ import annotations

import json
import threading
import wave
from fractions import Fraction

import pytest

import resolve_scripts.foley_resolve as fr
from fake_resolve import RESOLVE_RATES, FakeBmd, FakeFusion, FakeMediaPoolItem, FakeResolve, FakeTimeline, \
    FakeTimelineItem
from resolve_helpers import ScriptedUI, StubEngine, build_cut
from resolve_scripts import cli as resolve_cli
from resolve_scripts.api import context
from resolve_scripts.detect import Installed, installed
from resolve_scripts.engine import EngineSpec
from resolve_scripts.foley_resolve import Options, run, run_from_menu
from resolve_scripts.ui import FileUI, ResolveUI
from resolve_scripts.wavpad import pad_wav, wav_length, whole_frames

#: the versions the tests run at: the first supported, the last with integer-only source frames, the first
#: without UIManager in free, and current ones
VERSIONS = [(18, 5, 0), (19, 0, 2), (19, 1, 0), (20, 2, 0), (21, 0, 2)]


@pytest.fixture
def engine(monkeypatch):
    stub = StubEngine()
    monkeypatch.setattr(fr, "connect", lambda spec, autostart: stub)
    return stub


def options(tmp_path):
    return Options(EngineSpec(connection_file=str(tmp_path / "no-engine.json")), out_root=str(tmp_path / "out"))


# ------------------------------------------------------------------ version gate


@pytest.mark.parametrize("version", [(17, 4, 6), (18, 1, 4)])
def test_versions_before_18_5_are_refused_in_one_line(version, tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24", version=version)
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI(), options(tmp_path))
    v = ".".join(map(str, version))
    assert report.error == (f"DaVinci Resolve {v} is too old for the Foley scripts (they need 18.5 or later); "
                            "export the timeline as FCP 7 XML and use `foley otio fill`")
    assert engine.items == [] and resolve.project.media_pool.appended == []


@pytest.mark.parametrize("version", VERSIONS)
def test_supported_versions_place_every_clip(version, tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25", version=version)
    tl.marks = {"in": 0, "out": 200}
    report = run(resolve, "range", ScriptedUI(), options(tmp_path))
    assert report.error is None and len(report.placed) == 3 and not report.warnings, report.summary()
    assert report.route == "otio" and resolve.project.media_pool.refused == []


# ------------------------------------------------------------------ integer source frames before 19.0.3


@pytest.mark.parametrize("version", [(18, 5, 0), (19, 0, 2)])
@pytest.mark.parametrize("rate, end_frame, samples", [("25", 58, 115200), ("29.97DF", 49, 96096)])
def test_whole_wav_frames_before_19_0_3(version, rate, end_frame, samples, tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, rate, version=version)
    tl.playhead = tl.start_frame + 20  # clip A: 60 frames, 2.4 s at 25 fps (57.6 WAV frames)
    report = run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert report.error is None and not report.warnings, report.summary()
    pool = resolve.project.media_pool
    (info,) = pool.appended
    assert (info["startFrame"], info["endFrame"]) == (0, end_frame)
    assert all(type(info[k]) is int for k in ("startFrame", "endFrame", "recordFrame"))
    assert pool.refused == []
    # The WAV was padded with silence to the whole frame: the Foley itself keeps its place and length.
    path = info["mediaPoolItem"].GetClipProperty("File Path")
    assert wav_length(path) == end_frame * 2000 and engine.items[0]["end"] != engine.items[0]["start"]
    assert samples < end_frame * 2000 < samples + 2000


def test_fractional_wav_frames_from_19_0_3(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25", version=(19, 0, 3))
    tl.playhead = tl.start_frame + 20
    run(resolve, "current", ScriptedUI(), options(tmp_path))
    (info,) = resolve.project.media_pool.appended
    assert info["endFrame"] == 57.6 and wav_length(info["mediaPoolItem"].GetClipProperty("File Path")) == 115200


def _wav(path, samples, channels=2, width=3):
    data = bytes((i * 7 + 1) % 256 for i in range(samples * channels * width))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(48000)
        w.writeframes(data)
    return data


def test_padding_keeps_every_sample_and_puts_the_range_on_whole_frames(tmp_path):
    path = tmp_path / "x.wav"
    data = _wav(path, 7001)
    layout = whole_frames(offset=1000, length=5000, total=7001, fps=Fraction(24))
    assert (layout.start_frame, layout.end_frame, layout.pad_front, layout.pad_back) == (1, 4, 1000, 0)
    pad_wav(str(path), layout.pad_front, layout.pad_back + 999)
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 1000 + 7001 + 999 and w.getsampwidth() == 3
        frames = w.readframes(w.getnframes())
    block = 6
    assert frames == bytes(1000 * block) + data + bytes(999 * block)
    assert whole_frames(0, 48000, 48000, Fraction(30000, 1001)).end_frame == 30  # 5-frame grid at 29.97


# ------------------------------------------------------------------ free edition: no UIManager


def _menu_env(resolve, fusion, user=lambda win, disp: None):
    return {"resolve": resolve, "fusion": fusion, "bmd": FakeBmd(user), "__name__": "__main__"}


def test_free_19_1_without_uimanager_uses_the_settings_file(tmp_path, engine, monkeypatch):
    def no_stdin(prompt=""):
        raise AssertionError("input() called: Resolve's menu scripts may have no stdin")

    monkeypatch.setattr("builtins.input", no_stdin)
    config = tmp_path / "scripts" / "foley_resolve.json"
    config.parent.mkdir()
    config.write_text(json.dumps({"paths": [], "output": str(tmp_path / "out"),
                                  "connection_file": str(tmp_path / "none.json")}))
    tl, resolve, clips = build_cut(tmp_path, "24", version=(19, 1, 0))
    resolve.studio = False
    tl.playhead = tl.start_frame + 20
    settings = config.parent / "Foley settings.json"
    settings.write_text(json.dumps({"prompt": "gravel footsteps", "seed": 9}))
    report = run_from_menu("current", _menu_env(resolve, FakeFusion(ui_manager=False)), str(config))
    assert report.error is None and len(report.placed) == 1, report.summary()
    assert (engine.items[0]["prompt"], engine.items[0]["seed"]) == ("gravel footsteps", 9)
    assert (config.parent / "Foley report.txt").read_text().startswith("Foley: 1 clip(s) placed")
    saved = json.loads(settings.read_text())  # the defaults it used are written out to edit next time
    assert saved["prompt"] == "gravel footsteps" and saved["negative_prompt"] == ""


def test_file_ui_without_a_settings_file_uses_the_defaults(tmp_path):
    out = []
    ui = FileUI(str(tmp_path / "s.json"), str(tmp_path / "r.txt"), printer=out.append)
    from resolve_scripts.ui import Field

    assert ui.ask("Fill", [Field("prompt", "Prompt", "rain")]) == {"prompt": "rain"}
    assert json.loads((tmp_path / "s.json").read_text()) == {"prompt": "rain"}
    assert ui.confirm("Start it now?") is True
    (tmp_path / "s.json").write_text('{"start_engine": false}')
    assert ui.confirm("Start it now?") is False
    (tmp_path / "s.json").write_text("{broken")
    assert ui.ask("Fill", [Field("prompt", "Prompt", "rain")]) == {"prompt": "rain"}
    assert any("cannot read" in line for line in out)


@pytest.mark.parametrize("found, expected", [
    (Installed((21, 1, 0), False), "warning: DaVinci Resolve 21.1.0 (free) no longer runs Python menu scripts"),
    (Installed((21, 1, 0), True), "found DaVinci Resolve Studio 21.1.0: the menu scripts run there"),
    (Installed((19, 1, 0), False), "found DaVinci Resolve 19.1.0: the menu scripts run there (free edition: no "
                                   "dialogs"),
    (Installed((18, 1, 0), True), "warning: DaVinci Resolve Studio 18.1.0 is too old"),
    (None, "note: could not ask Resolve for its version"),
])
def test_install_says_where_menu_scripts_cannot_run(found, expected, tmp_path, capsys, monkeypatch):
    import argparse

    monkeypatch.setattr("resolve_scripts.detect.installed", lambda version, edition: found)
    parser = argparse.ArgumentParser(prog="foley")
    resolve_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["resolve", "install", "--dest", str(tmp_path / "d")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert expected in out
    if found is None or not found.menu_scripts_work or found.version < (18, 5):
        assert "`foley otio fill cut.otio -o cut_foley.otio`" in out


def test_the_installed_resolve_is_detected_from_a_running_one_or_the_flags():
    free = FakeResolve(None, version=(21, 1, 0), studio=False)
    assert installed(scriptapp=lambda name: free) == Installed((21, 1, 0), False)
    assert not installed(scriptapp=lambda name: free).menu_scripts_work
    assert installed(scriptapp=lambda name: None) is None
    assert installed("21.1", "free") == Installed((21, 1, 0), False)
    assert installed("20.2.1", "studio").menu_scripts_work
    with pytest.raises(ValueError, match="not a Resolve version"):
        installed("latest", "")


# ------------------------------------------------------------------ the UI thread


def test_progress_is_shown_by_a_timer_on_the_ui_thread(tmp_path):
    """The worker only posts; widgets change on the thread that runs the event loop (the fake checks)."""
    fusion = FakeFusion()
    shown = []

    def user(win, disp):
        items = win.GetItems()
        disp.when(lambda: items["percent"].Text == "50 %", lambda: shown.append(items["status"].Text))

    release = threading.Event()

    def work(report, cancelled):
        report("[1/2] V1 'A'", 0.5)
        release.wait(5)
        report("[2/2] V1 'B'", 1.0)
        return "ok"

    ui = ResolveUI(fusion, FakeBmd(user), printer=lambda line: None)
    threading.Timer(0.3, release.set).start()
    assert ui.run("Fill", work) == "ok"
    assert fusion.UIManager.violations == [] and shown == ["[1/2] V1 'A'"]
    assert ui.disp.windows[-1].GetItems()["percent"].Text == "100 %"
    (timer,) = fusion.UIManager.timers
    assert timer.fired >= 2 and not timer.running


def test_an_error_in_the_work_reaches_the_ui_thread():
    fusion = FakeFusion()

    def work(report, cancelled):
        raise RuntimeError("engine gone")

    ui = ResolveUI(fusion, FakeBmd(lambda win, disp: None), printer=lambda line: None)
    with pytest.raises(RuntimeError, match="engine gone"):
        ui.run("Fill", work)
    assert fusion.UIManager.violations == []


# ------------------------------------------------------------------ every timeline rate Resolve offers


@pytest.mark.parametrize("rate_text", list(RESOLVE_RATES))
def test_every_resolve_timeline_rate(rate_text, tmp_path, engine):
    rate = RESOLVE_RATES[rate_text]
    drop = rate_text in ("29.97", "59.94")
    tl = FakeTimeline(rate=rate_text, drop=drop, start_tc="01:00:00;00" if drop else "01:00:00:00")
    tl.add_track("video")
    path = tmp_path / "m.mov"
    path.write_bytes(b"x")
    mpi = FakeMediaPoolItem(str(path), fps=rate_text, start_tc="00:00:00:00", frames=100000)
    clip = tl.add_clip(1, FakeTimelineItem("A", tl.start_frame + 3 * round(rate) + 5, 2 * round(rate), mpi))
    tl.playhead = clip.start + 1
    resolve = FakeResolve(tl)
    report = run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert report.error is None and len(report.placed) == 1, report.summary()

    ctx = context(resolve)
    assert ctx.rate == rate and ctx.timecode(tl.start_frame) == ("01:00:00;00" if drop else "01:00:00:00")
    sep = ";" if drop else ":"
    assert report.placed[0].endswith(f"at 01:00:03{sep}05")
    last = round(rate) - 1  # frames count to the rounded rate - 1 (Resolve's display at every rate)
    assert ctx.timecode(tl.start_frame + last) == f"01:00:00{sep}{last:02d}"
    for frame in (tl.start_frame, clip.start, tl.start_frame + 10 ** 6 + 17):
        assert ctx.frame(ctx.timecode(frame)) == frame
    assert engine.items[0]["record_start"]["rate"] == str(rate)


def test_drop_frame_only_at_29_97_and_59_94_whatever_the_setting_says(tmp_path, engine):
    tl = FakeTimeline(rate="25", drop=True)  # a stale drop-frame setting from a 29.97 project
    resolve = FakeResolve(tl)
    ctx = context(resolve)
    assert ctx.timecode(90000) == "01:00:00:00" and ctx.frame("01:00:00;00") == 90000
    tl = FakeTimeline(rate="59.94", drop=True, start_tc="00:00:00;00")
    ctx = context(FakeResolve(tl))
    assert ctx.timecode(3600) == "00:01:00;04" and ctx.frame("00:01:00;04") == 3600  # 4 frames dropped a minute
    assert context(FakeResolve(FakeTimeline(rate="95.904"))).rate == Fraction(96000, 1001)


def test_bad_timecode_is_one_line(tmp_path):
    ctx = context(FakeResolve(FakeTimeline(rate="16")))
    from resolve_scripts.api import ResolveError

    with pytest.raises(ResolveError, match=r"^not a timecode at 16 fps: '01:00:00:16' \(use HH:MM:SS:FF\)$"):
        ctx.frame("01:00:00:16")


def test_an_unexpected_wav_rate_before_19_0_3_stops_that_clip_with_a_reason(tmp_path, engine, monkeypatch):
    import fake_resolve

    real = fake_resolve.FakeMediaPoolItem.__init__
    monkeypatch.setattr(fake_resolve.FakeMediaPoolItem, "__init__",
                        lambda self, path, fps="25", **kw: real(self, path, fps=fps, **kw))
    tl, resolve, clips = build_cut(tmp_path, "25", version=(19, 0, 2))
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI(), options(tmp_path))
    assert report.placed == [] and resolve.project.media_pool.refused == []
    assert report.warnings == ["V1 'A' at 01:00:00:10: Resolve 19.0.2 gave the WAV 25 fps, not 24, so it cannot be "
                               "placed in whole frames; update Resolve to 19.0.3 or later"]


# ------------------------------------------------------------------ stems and takes (issue 21)


@pytest.mark.parametrize("version,studio", [((18, 5, 0), True), ((19, 1, 0), False), ((20, 2, 0), True),
                                            ((21, 0, 2), True)])
def test_stems_on_named_tracks_and_takes_in_the_take_selector(version, studio, tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "25", version=version)
    resolve.studio = studio
    tl.playhead = tl.start_frame + 20  # over A
    ui = ScriptedUI({"prompt": "footsteps", "stems": "bg,feet", "takes": "3"})
    report = run(resolve, "current", ui, options(tmp_path))
    assert report.error is None and not report.warnings, report.summary()
    (item,) = engine.items
    assert item["stems"] == ["feet", "bg"] and item["takes"] == 3
    names = [tl.GetTrackName("audio", i) for i in range(1, tl.GetTrackCount("audio") + 1)]
    assert names == ["Dialogue", "Foley Feet", "Foley BG"]
    for index, stem in ((2, "FEET"), (3, "BG")):
        (placed,) = tl.GetItemListInTrack("audio", index)
        assert (placed.GetStart(), placed.GetEnd()) == (clips["A"].GetStart(), clips["A"].GetEnd())
        assert placed.GetTakesCount() == 3 and placed.GetSelectedTakeIndex() == 1
        files = [placed.GetTakeByIndex(i)["mediaPoolItem"].GetClipProperty("File Path") for i in (1, 2, 3)]
        assert [f.rsplit("/", 1)[-1] for f in files] == \
            [f"job0001_FOLEY_{stem}.wav", f"job0001_take2_FOLEY_{stem}.wav", f"job0001_take3_FOLEY_{stem}.wav"]
        first = placed.GetTakeByIndex(2)
        assert (first["startFrame"], first["endFrame"]) == (placed.takes[0]["startFrame"] or 0, first["endFrame"])
    # The user picks take 2 of the footsteps; a re-run replaces the clips and keeps that choice.
    tl.GetItemListInTrack("audio", 2)[0].SelectTakeByIndex(2)
    report = run(resolve, "current", ui, options(tmp_path))
    assert report.error is None and report.replaced == 2, report.summary()
    assert tl.GetTrackCount("audio") == 3  # the same tracks, updated
    (feet,), (bg,) = tl.GetItemListInTrack("audio", 2), tl.GetItemListInTrack("audio", 3)
    assert (feet.GetSelectedTakeIndex(), bg.GetSelectedTakeIndex()) == (2, 1)
    assert feet.GetMediaPoolItem().GetClipProperty("File Path").endswith("job0002_take2_FOLEY_FEET.wav")


def test_resolve_without_take_selector_puts_takes_on_tracks(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24")
    FakeTimelineItem.AddTake, saved = None, FakeTimelineItem.AddTake  # a Resolve without the take API
    try:
        tl.playhead = tl.start_frame + 20
        report = run(resolve, "current", ScriptedUI({"takes": "2"}), options(tmp_path))
    finally:
        FakeTimelineItem.AddTake = saved
    assert report.error is None, report.summary()
    names = [tl.GetTrackName("audio", i) for i in range(1, tl.GetTrackCount("audio") + 1)]
    assert names == ["Dialogue", "Foley", "Foley take 2"]


def test_bad_stems_or_takes_are_one_line(tmp_path, engine):
    tl, resolve, clips = build_cut(tmp_path, "24")
    tl.playhead = tl.start_frame + 20
    report = run(resolve, "current", ScriptedUI({"stems": "voice"}), options(tmp_path))
    assert report.error == "stems: 'voice' is not a stem; use feet, props, moves, bg or all"
    report = run(resolve, "current", ScriptedUI({"takes": "0"}), options(tmp_path))
    assert report.error == "takes must be a whole number from 1 to 16, not '0'"
    assert engine.items == []
