"""The Blender extension in real Blender (background mode) against a real engine, each Blender in its own process.

Scenes are built with movie strips made from generated media, the operators run with
``temp_override`` in a sequencer context, and the procedural backend does the generating.  The
Blender side is ``tests/blender_scenarios.py``, run for the ``bpy`` here (4.5) and every Python in
``FOLEY_BPY_PYTHONS`` (5.0); ``bpy`` never loads into this process (beside PyAV, torch and Ray it has
crashed test workers).  The placement scenarios of one Blender run one after another in one process
(Blender's start-up is most of a small scenario's time), each reporting what its scene holds; the
checks are here, with the WAV files read back by soundfile.  Starting and stopping an engine, and
installing the built extension, each get a Blender of their own.  bpy 5.0 skips the scenes that need
the UI's playback-rate adjustment (its ``movie_strip_add`` crashes in background mode).

    FOLEY_BPY_PYTHONS=/path/to/bpy50-venv/bin/python pytest tests/test_blender.py
"""
import os
import shutil
import signal
import sys
import zipfile
from fractions import Fraction

import pytest

from foley_engine.lab.samples import make_sample_video
from foley_engine.timebase import to_index

from blender_scenarios import outcome, python_params, run, run_all
from test_blender_editors import samples_of
from test_engine_backend import EngineProcess

NTSC_BASE = 1.001


@pytest.fixture(scope="module", params=python_params())
def blender(request) -> str:
    """The Python of one Blender (bpy 4.5 here, or one named in FOLEY_BPY_PYTHONS)."""
    return request.param


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("engine"), backend="procedural").start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blender-media")

    def clip(name, fps, seconds, **kw):
        kw.setdefault("width", 320)
        kw.setdefault("height", 180)
        return make_sample_video(str(folder / name), duration=seconds, fps=fps, impacts_every=Fraction(1),
                                 impact_offset=Fraction(1, 2), **kw)

    return {
        # A non-zero first PTS: media time zero is the first frame, as in Blender.
        "24": clip("c24.mp4", Fraction(24), 6, first_pts=Fraction(1, 10)),
        "25": clip("c25.mp4", Fraction(25), 6),
        "2997": clip("c2997.mp4", Fraction(30000, 1001), 6),
        "long": clip("long.mp4", Fraction(24), 120, width=160, height=90),
    }


# (scene fps, fps_base, clip, frame_start, file trim head/tail in movie frames, handle offsets,
#  Blender's visible end frame, exact visible media range)
CASES = {
    "24 in 24, handles": (24, 1.0, "24", 1, (0, 0), (7, 11), 1 + 144 - 11, (Fraction(7, 24), Fraction(133, 24))),
    "25 in 25, file trims": (25, 1.0, "25", 100, (13, 20), (4, 0), 100 + 117, (Fraction(17, 25), Fraction(130, 25))),
    # 180 - 31 = 149 frames, but Blender's float32 rate factor (1.00000004) truncates that to 148.
    "29.97 in 29.97": (30, NTSC_BASE, "2997", 48, (31, 0), (9, 5), 48 + 148 - 5,
                       (Fraction(40 * 1001, 30000), Fraction(174 * 1001, 30000))),
    # (150 - 12) movie frames * 24/25 = 132.48 -> Blender shows 132 timeline frames.
    "25 in 24": (24, 1.0, "25", 10, (12, 0), (5, 3), 10 + 132 - 3,
                 (Fraction(5, 24) + Fraction(12, 25), Fraction(129, 24) + Fraction(12, 25))),
    # (144 - 6) * (30000/1001) / 24 = 172.33 -> 172.
    "24 in 29.97": (30, NTSC_BASE, "24", 0, (6, 0), (2, 0), 172,
                    (Fraction(2 * 1001, 30000) + Fraction(6, 24), Fraction(172 * 1001, 30000) + Fraction(6, 24))),
}


@pytest.fixture(scope="module")
def scenes(blender, engine, media, tmp_path_factory) -> dict:
    """Every placement scenario of this module in one process of ``blender``: ``{key: its report}``."""
    folder = tmp_path_factory.mktemp("blender-scenes")
    calls = {}

    def call(key, scenario, **args):
        sub = folder / key
        sub.mkdir()
        calls[key] = (scenario, {"connection": engine.connection_file, "out": str(sub / "foley"), "folder": str(sub),
                                 "scene": key, "fps": 24, **args})

    for case, (fps, base, clip, start, trims, offsets, _end, _range) in CASES.items():
        call(case, "lands", fps=fps, fps_base=base, video=media[clip].path, start=start, trims=trims,
             offsets=offsets)
    call("autofill", "autofill", a=media["24"].path, b=media["25"].path)
    broken = folder / "broken.mp4"  # written over in Blender once planned
    shutil.copy(media["24"].path, broken)
    call("one unreadable", "one_unreadable", a=media["24"].path, broken=str(broken), c=media["25"].path)
    call("timer", "timer", fps=25, a=media["25"].path, b=media["2997"].path)
    call("cancel", "cancel", video=media["long"].path)
    call("no engine", "no_engine", fps=25, video=media["25"].path, connection=str(folder / "nowhere" / "engine.json"))
    gone = folder / "gone.mp4"  # removed in Blender once the strip is added
    shutil.copy(media["24"].path, gone)
    call("unusable", "unusable", video=str(gone))
    call("script strip", "script_strip", video=media["25"].path)
    call("timing 5.1", "timing_51", fps=25, video=media["25"].path)
    call("panel", "panel", video=media["long"].path)
    call("refusal", "refusal", video=media["25"].path)
    reports = run_all(blender, calls, folder)
    for key, (_, args) in calls.items():
        reports[key]["args"] = args
    return reports


def assert_exact(strip: dict, t0: Fraction, t1: Fraction) -> dict:
    """One Foley strip under ``strip``: same visible frames, exactly the visible duration in samples."""
    (sound,) = strip["foley"]
    assert sound["job"] and sound["frames"] == strip["frames"]
    assert sound["channel"] > strip["channel"]
    assert (Fraction(sound["media"][0]), Fraction(sound["media"][1])) == (t0, t1)
    assert samples_of(sound["path"]) == to_index(t1, 48000) - to_index(t0, 48000)
    return sound


@pytest.mark.parametrize("case", list(CASES))
def test_foley_lands_exactly_under_the_picture(scenes, case):
    fps, base, clip, start, (head, tail), (off0, off1), end, (t0, t1) = CASES[case]
    out = outcome(scenes[case])
    assert out["trimmed"] == [start + off0, end]
    assert out["result"] == ["FINISHED"]
    strip = out["strip"]
    sound = assert_exact(strip, t0, t1)
    assert sound["prompt"] == "wooden knocks" and strip["prompt"] == "wooden knocks"
    assert sound["channel_name"] == "Foley"


def test_autofill_places_each_strip_and_regenerating_replaces(scenes):
    out = outcome(scenes["autofill"])
    assert out["first"] == ["FINISHED"]
    sa = assert_exact(out["a"], Fraction(0), Fraction(6))
    sb = assert_exact(out["b"], Fraction(0), Fraction(144, 24))
    # Each strip is its own engine job (one bad strip fails alone), placed on one Foley channel.
    assert sa["job"] != sb["job"] and sa["channel"] == sb["channel"] == 3
    assert (sa["prompt"], sb["prompt"]) == ("footsteps on gravel", "glass")

    # Re-generate a (the popup's operator, called as a script would): its Foley is replaced, b's stays.
    assert out["again"] == ["FINISHED"]
    a, b = out["a_again"], out["b_again"]
    (new,) = a["foley"]
    assert new["job"] != sa["job"] and new["prompt"] == "heavy boots" and new["seed"] == 7
    assert (a["prompt"], a["seed"]) == ("heavy boots", 7)
    assert len(b["foley"]) == 1 and b["foley"][0]["job"] == sb["job"]
    assert_exact(a, Fraction(0), Fraction(6))
    assert out["sounds"] == 2


def test_one_unreadable_strip_among_three_fails_alone(scenes):
    out = outcome(scenes["one unreadable"])
    strips = out["strips"]
    assert out["state"] == "done" and out["placed"] == 2, out["messages"]
    errors = [text for level, text in out["messages"] if level == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith(f"Foley: {strips[1]['name']}: the engine refused it: media")
    assert [text for level, text in out["messages"] if level == "WARNING"] == ["Foley: 2 clip(s) placed, 1 failed"]
    assert not strips[1]["foley"] and len(strips[0]["foley"]) == len(strips[2]["foley"]) == 1


def test_non_blocking_job_places_clips_from_the_timer(scenes):
    out = outcome(scenes["timer"])
    assert out["started"] == ["FINISHED"]  # returned at once; the watcher's pump placed the clips
    assert out["state"] == "done" and out["items_done"] == 2 and out["fraction"] == 1.0
    assert out["reports"] == [["INFO", "Foley: 2 clip(s) placed"]]
    assert_exact(out["a"], Fraction(0), Fraction(6))
    b = out["b"]  # moved by 100 frames while the job ran
    assert b["frames"][0] == 300
    assert_exact(b, Fraction(0), Fraction(b["duration"], 25))  # under b where it is now
    assert not out["pump_after"]


def test_cancel_leaves_no_strip_and_no_file(scenes):
    out = outcome(scenes["cancel"])
    assert out["started"] == ["FINISHED"]  # returned at once
    cancelled = out["when_cancelled"]
    assert cancelled["state"] == "running" and 0 < cancelled["fraction"] < 1  # cancelled mid-generation
    assert out["cancel"] == ["FINISHED"] and out["finished"]
    assert out["state"] == "cancelled" and not out["placed"]
    assert out["strip"]["foley"] == [] and out["sounds"] == 0
    assert os.listdir(out["args"]["out"]) == []  # the engine removed its partial file
    assert not out["pump_after"]  # nothing left running: the timer stops


def test_missing_engine_is_a_report_not_a_traceback(scenes):
    out = outcome(scenes["no engine"])
    assert out["raised"] is not None, "waiting for a job with no engine raised nothing"
    assert "no engine is running" in out["raised"] and "Traceback" not in out["raised"]
    # The same without waiting: the job ends in an error report from the timer.
    assert out["started"] == ["FINISHED"] and out["finished"]
    assert out["state"] == "error"
    assert out["sounds"] == 0


def test_unusable_strips_are_reported(scenes):
    out = outcome(scenes["unusable"])
    assert out["generate"] is not None, "foley_generate on a strip whose file is gone raised nothing"
    assert "nothing to generate: gone.mp4: movie file not found" in out["generate"]
    assert "Traceback" not in out["generate"]
    assert out["plan"] is not None and "movie file not found" in out["plan"]


def test_strip_added_by_a_script_gets_foley_at_its_playback_speed(scenes):
    """A 25 fps movie added without playback-rate adjustment plays at 96 % in a 24 fps scene: the Foley follows."""
    out = outcome(scenes["script strip"])
    assert out["added"] == 150  # one movie frame per scene frame
    item = out["item"]
    assert Fraction(item["speed"]) == Fraction(24, 25)
    assert (Fraction(item["start"]), Fraction(item["end"])) == (Fraction(10, 25), Fraction(150, 25))
    assert out["result"] == ["FINISHED"]
    (sound,) = out["strip"]["foley"]
    assert sound["frames"] == [310, 450]
    assert samples_of(sound["path"]) == 140 * 2000  # 140 frames at 24 fps: what is on screen, in real time


def test_timing_reads_prefer_the_5_1_names(scenes):
    """Through a strip that answers Blender 5.1's names, no deprecated timing name is read."""
    out = outcome(scenes["timing 5.1"])
    assert out["through_51"] == out["direct"]
    assert out["deprecated"] == [] and out["target_start"] == out["strip_start"] == 6
    assert (Fraction(out["item"]["start"]), Fraction(out["item"]["end"])) == (Fraction(5, 25), Fraction(150, 25))


def test_panel_menus_and_status_bar_draw(scenes):
    out = outcome(scenes["panel"])
    assert out["started"] == ["FINISHED"] and out["finished"]
    assert out["wrong"] == []  # every property, operator and menu drawn exists; progress within 0..1
    seen = out["seen"]
    assert {"prompt", "negative_prompt", "seed", "channel", "backend"} <= set(seen)
    assert {"sequencer.foley_generate", "sequencer.foley_autofill", "sequencer.foley_cancel",
            "sequencer.foley_engine_start", "sequencer.foley_engine_stop", "SEQUENCER_MT_foley"} <= set(seen)
    assert "Engine: procedural on cpu" in seen
    assert sum(1 for s in seen if isinstance(s, str) and s.startswith("Foley 0/1 clips")) == 2  # panel + status bar


def test_engine_refusal_is_reported_with_its_reason(scenes):
    out = outcome(scenes["refusal"])
    assert out["state"] == "failed"
    (level, text), (summary_level, summary) = out["messages"]
    assert level == "ERROR" and text.startswith("Foley: c25.mp4: the engine refused it: end")
    assert summary_level == "ERROR" and "no clip placed" in summary


@pytest.fixture
def own_engine(tmp_path):
    """A connection file for an engine the test starts from Blender; stopped afterwards whatever happens."""
    conn = tmp_path / "own" / "engine.json"
    yield conn
    from plugin_host.client import EngineClient, EngineError
    from plugin_host.connection import read_connection_file

    try:
        pid = read_connection_file(str(conn)).pid
    except (OSError, ValueError):
        return  # stopped (or never started)
    try:
        with EngineClient.connect(str(conn), timeout=2, retries=1) as eng:
            eng.shutdown()
    except EngineError:
        os.kill(pid, signal.SIGKILL)


def test_engine_start_autostart_status_and_stop_from_blender(blender, engine, media, tmp_path, own_engine):
    command = f'"{sys.executable}" -m foley_engine.cli engine serve --journal "{tmp_path / "j.sqlite"}"'
    out = run(blender, "engine_control", tmp_path, connection=engine.connection_file, out=str(tmp_path / "foley"),
              fps=25, video=media["25"].path, own_connection=str(own_engine), engine_command=command)
    assert out["serve_args"] == ["--backend", "procedural"]
    assert out["before"]["state"] == "not running"
    # The panel's Start button, then Stop.
    assert out["start"] == ["FINISHED"]
    assert out["started"] == {"state": "connected", "backend": "procedural"}
    assert out["stop"]["result"] == ["FINISHED"] and out["stop"]["status"]["state"] == "not running"
    # A job with no engine running starts one.
    assert out["autofill"] == ["FINISHED"]
    assert_exact(out["strip"], Fraction(0), Fraction(6))
    assert out["env_restored"]  # FOLEY_ENGINE_COMMAND is set only while starting
    assert out["stop_again"]["result"] == ["FINISHED"] and out["stop_again"]["status"]["state"] == "not running"
    assert not own_engine.exists()


def test_built_extension_installs_registers_and_unregisters(blender, tmp_path):
    from blender_addon import build

    zip_path = build.build(str(tmp_path / "dist"), wheels=False)
    with zipfile.ZipFile(zip_path) as z:
        assert "foley_client/client.py" in z.namelist()
    out = run(blender, "extension", tmp_path, zip=zip_path, repo=str(tmp_path / "repo"))
    module = "bl_ext.foley_test.foley_sequencer"
    assert out["install"] == ["FINISHED"]
    assert out["installed"] == {"addon": True, "panel": True, "scene_foley": True, "autofill": True}
    assert out["client"] == f"{module}.foley_client.client"  # the bundled copy, not the repository's
    disabled = out["disabled"]
    assert not disabled["addon"] and not disabled["panel"] and not disabled["scene_foley"]
    assert out["enabled_again"]["autofill"]
