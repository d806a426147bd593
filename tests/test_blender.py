"""The Blender extension in real Blender (the ``bpy`` module, background mode) against a real engine.

Scenes are built with movie strips made from generated media, the operators
run with ``temp_override`` in a sequencer context, and the procedural
backend does the generating.  One Blender and one engine serve the module.
"""
import os
import shutil
import signal
import sys
import time
import zipfile
from fractions import Fraction

import pytest
import soundfile as sf

from foley_engine.lab.samples import make_sample_video
from foley_engine.timebase import to_index
from plugin_host.items import Item

from blender_scenarios import sequencer  # noqa: F401 (one sequencer context for both kinds of test)
from test_engine_backend import EngineProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON = "blender_addon"
NTSC_BASE = 1.001


@pytest.fixture(scope="module")
def bpy(tmp_path_factory):
    # Blender reads its user folders when bpy is imported: keep them (and extensions) out of $HOME.
    saved = os.environ.get("BLENDER_USER_RESOURCES")
    os.environ["BLENDER_USER_RESOURCES"] = str(tmp_path_factory.mktemp("blender-user"))
    bpy = pytest.importorskip("bpy")
    import addon_utils

    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)

    def fail(exc):
        raise exc

    addon_utils.enable(ADDON, default_set=True, handle_error=fail)
    yield bpy
    addon_utils.disable(ADDON, default_set=True)
    if saved is None:
        os.environ.pop("BLENDER_USER_RESOURCES", None)
    else:
        os.environ["BLENDER_USER_RESOURCES"] = saved


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


@pytest.fixture
def prefs(bpy, engine, tmp_path):
    p = bpy.context.preferences.addons[ADDON].preferences
    p.connection_file, p.autostart, p.output_dir = engine.connection_file, False, str(tmp_path / "foley")
    p.engine_command = "foley engine serve"
    return p


def new_scene(bpy, name, fps, fps_base=1.0):
    scene = bpy.data.scenes.new(name)
    scene.render.fps, scene.render.fps_base = fps, fps_base
    scene.sequence_editor_create()
    return scene


def add_movie(bpy, scene, path, frame_start, channel=2):
    """Add a movie the way the UI does (playback rate adjusted to the scene, scene rate untouched)."""
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        bpy.ops.sequencer.select_all(action="DESELECT")
        bpy.ops.sequencer.movie_strip_add(filepath=path, frame_start=frame_start, channel=channel, sound=False,
                                          adjust_playback_rate=True, use_framerate=False)
    return scene.sequence_editor.active_strip


def foley_of(scene, strip) -> list:
    sid = strip.get("foley_id")
    return [s for s in scene.sequence_editor.strips_all if s.type == "SOUND" and sid and s.get("foley_source_id") == sid]


def wav_frames(bpy, sound_strip) -> int:
    info = sf.info(bpy.path.abspath(sound_strip.sound.filepath))
    assert info.samplerate == 48000
    return info.frames


def assert_exact(bpy, scene, strip, t0, t1):
    """One Foley strip under ``strip``: same visible frames, exactly the visible duration in samples."""
    (sound,) = foley_of(scene, strip)
    assert (sound.frame_final_start, sound.frame_final_end) == (strip.frame_final_start, strip.frame_final_end)
    assert sound.channel > strip.channel
    assert (Fraction(sound["foley_media_start"]), Fraction(sound["foley_media_end"])) == (t0, t1)
    assert wav_frames(bpy, sound) == to_index(t1, 48000) - to_index(t0, 48000)
    return sound


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


@pytest.mark.parametrize("case", list(CASES))
def test_foley_lands_exactly_under_the_picture(bpy, prefs, media, case):
    fps, base, clip, start, (head, tail), (off0, off1), end, (t0, t1) = CASES[case]
    scene = new_scene(bpy, case, fps, base)
    strip = add_movie(bpy, scene, media[clip].path, start)
    strip.animation_offset_start, strip.animation_offset_end = head, tail
    strip.frame_offset_start, strip.frame_offset_end = off0, off1
    assert (strip.frame_final_start, strip.frame_final_end) == (start + off0, end)
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(wait=True, prompt="wooden knocks") == {"FINISHED"}
    sound = assert_exact(bpy, scene, strip, t0, t1)
    assert sound["foley_prompt"] == "wooden knocks" and strip["foley_prompt"] == "wooden knocks"
    assert scene.sequence_editor.channels[sound.channel].name == "Foley"


def test_autofill_places_each_strip_and_regenerating_replaces(bpy, prefs, media):
    scene = new_scene(bpy, "autofill", 24)
    a = add_movie(bpy, scene, media["24"].path, 1)
    b = add_movie(bpy, scene, media["25"].path, 145, channel=2)  # cut straight after a
    a["foley_prompt"], b["foley_prompt"] = "footsteps on gravel", "glass"
    a.select = b.select = True
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(wait=True) == {"FINISHED"}
    sa = assert_exact(bpy, scene, a, Fraction(0), Fraction(6))
    sb = assert_exact(bpy, scene, b, Fraction(0), Fraction(144, 24))
    # Each strip is its own engine job (one bad strip fails alone), placed on one Foley channel.
    assert sa["foley_job"] != sb["foley_job"] and sa.channel == sb.channel == 3
    assert (sa["foley_prompt"], sb["foley_prompt"]) == ("footsteps on gravel", "glass")
    first_job, b_job = sa["foley_job"], sb["foley_job"]

    # Re-generate a (the popup's operator, called as a script would): its Foley is replaced, b's stays.
    scene.sequence_editor.active_strip = a
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_generate(prompt="heavy boots", seed=7, wait=True) == {"FINISHED"}
    (new,) = foley_of(scene, a)
    assert new["foley_job"] != first_job and new["foley_prompt"] == "heavy boots" and new["foley_seed"] == 7
    assert (a["foley_prompt"], a["foley_seed"]) == ("heavy boots", 7)
    assert len(foley_of(scene, b)) == 1 and foley_of(scene, b)[0]["foley_job"] == b_job
    assert_exact(bpy, scene, a, Fraction(0), Fraction(6))
    sounds = [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]
    assert len(sounds) == 2


def test_one_unreadable_strip_among_three_fails_alone(bpy, prefs, media, tmp_path):
    from blender_addon import jobs
    from blender_addon.operators import engine_spec
    from blender_addon.place import plan_item

    scene = new_scene(bpy, "one-bad", 24)
    broken = tmp_path / "broken.mp4"
    shutil.copy(media["24"].path, broken)
    strips = [add_movie(bpy, scene, media["24"].path, 1), add_movie(bpy, scene, str(broken), 200, channel=3),
              add_movie(bpy, scene, media["25"].path, 400, channel=4)]
    frame_counts, items, targets = {}, [], []
    for strip in strips:
        item, target = plan_item(scene, strip, "knocks", "", 0, frame_counts)
        items.append(item)
        targets.append(target)
    broken.write_bytes(b"\x00not a movie any more" * 512)  # unreadable by the time the engine gets it
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        spec = engine_spec(bpy.context)
    (tmp_path / "out").mkdir()
    run = jobs.Run(scene.name, items, targets, str(tmp_path / "out"), spec)
    run.run_inline()
    assert run.state == "done" and len(run.placed) == 2, run.messages
    errors = [text for level, text in run.messages if level == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith(f"Foley: {strips[1].name}: the engine refused it: media")
    assert [text for level, text in run.messages if level == "WARNING"] == ["Foley: 2 clip(s) placed, 1 failed"]
    assert not foley_of(scene, strips[1]) and len(foley_of(scene, strips[0])) == len(foley_of(scene, strips[2])) == 1


def pump_until_finished(run, timeout=30):
    from blender_addon import jobs

    deadline = time.monotonic() + timeout
    while not run.finished and time.monotonic() < deadline:
        jobs.pump()  # what the bpy.app.timers timer does
        time.sleep(0.02)
    assert run.finished


def test_non_blocking_job_places_clips_from_the_timer(bpy, prefs, media):
    from blender_addon import jobs

    scene = new_scene(bpy, "timer", 25)
    a = add_movie(bpy, scene, media["25"].path, 1)
    b = add_movie(bpy, scene, media["2997"].path, 200)
    a.select = b.select = True
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(prompt="door slams") == {"FINISHED"}  # returns at once
    (run,) = jobs.active_jobs()
    b.frame_start += 100  # the editor keeps working: b moves (same media shown) before its Foley lands
    reports = []
    deadline = time.monotonic() + 30
    while jobs.watcher_pump(lambda level, text: reports.append((level, text))) and time.monotonic() < deadline:
        time.sleep(0.02)  # the modal watcher's TIMER events do this, reporting to the status bar
    assert run.state == "done" and run.items_done == 2 and run.fraction == 1.0
    assert reports == [("INFO", "Foley: 2 clip(s) placed")]
    assert_exact(bpy, scene, a, Fraction(0), Fraction(6))
    assert b.frame_final_start == 300
    assert_exact(bpy, scene, b, Fraction(0), Fraction(b.frame_final_duration, 25))  # under b where it is now
    assert not jobs.pump()


def test_cancel_leaves_no_strip_and_no_file(bpy, prefs, media, tmp_path):
    from blender_addon import jobs

    scene = new_scene(bpy, "cancel", 24)
    strip = add_movie(bpy, scene, media["long"].path, 1)
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(prompt="rain") == {"FINISHED"}  # returns at once
    (run,) = jobs.active_jobs()
    deadline = time.monotonic() + 30
    while run.fraction == 0 and not run.finished and time.monotonic() < deadline:
        jobs.pump()  # what the bpy.app.timers timer does
        time.sleep(0.01)
    assert run.state == "running" and 0 < run.fraction < 1  # cancelled mid-generation
    assert bpy.ops.sequencer.foley_cancel() == {"FINISHED"}
    pump_until_finished(run)
    assert run.state == "cancelled" and not run.placed
    assert foley_of(scene, strip) == [] and not [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]
    assert os.listdir(tmp_path / "foley") == []  # the engine removed its partial file
    assert not jobs.pump()  # nothing left running: the timer stops


def test_missing_engine_is_a_report_not_a_traceback(bpy, prefs, media, tmp_path):
    from blender_addon import jobs

    prefs.connection_file = str(tmp_path / "nowhere" / "engine.json")
    scene = new_scene(bpy, "no engine", 25)
    add_movie(bpy, scene, media["25"].path, 1)
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        with pytest.raises(RuntimeError) as err:
            bpy.ops.sequencer.foley_autofill(wait=True)
        assert "no engine is running" in str(err.value) and "Traceback" not in str(err.value)
        # The same without waiting: the job ends in an error report from the timer.
        assert bpy.ops.sequencer.foley_autofill() == {"FINISHED"}
    (run,) = jobs.active_jobs()
    pump_until_finished(run)
    assert run.state == "error"
    assert not [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]


def test_unusable_strips_are_reported(bpy, prefs, media, tmp_path):
    from blender_addon.place import plan_item
    from blender_addon.strips import StripError

    scene = new_scene(bpy, "bad strips", 24)
    moved = str(tmp_path / "gone.mp4")
    shutil.copy(media["25"].path, moved)
    gone = add_movie(bpy, scene, moved, 1)
    os.remove(moved)
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        with pytest.raises(RuntimeError, match="nothing to generate: gone.mp4: movie file not found") as err:
            bpy.ops.sequencer.foley_generate(wait=True)
        assert "Traceback" not in str(err.value)
    with pytest.raises(StripError, match="movie file not found"):
        plan_item(scene, gone, "", "", 0, {})


def test_strip_added_by_a_script_gets_foley_at_its_playback_speed(bpy, prefs, media):
    """A 25 fps movie added without playback-rate adjustment plays at 96 % in a 24 fps scene: the Foley follows."""
    from blender_addon.place import plan_item

    scene = new_scene(bpy, "script strip", 24)
    slow = scene.sequence_editor.strips.new_movie("slow", media["25"].path, 4, 300)
    assert slow.frame_final_duration == 150  # one movie frame per scene frame
    slow.frame_offset_start = 10  # trim 10 frames off the head
    item, target = plan_item(scene, slow, "", "", 0, {})
    assert item.speed == Fraction(24, 25) and (item.start, item.end) == (Fraction(10, 25), Fraction(150, 25))
    for s in scene.sequence_editor.strips:
        s.select = s == slow
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(wait=True) == {"FINISHED"}
    (sound,) = foley_of(scene, slow)
    assert (sound.frame_final_start, sound.frame_final_end) == (310, 450)
    assert wav_frames(bpy, sound) == 140 * 2000  # 140 frames at 24 fps: what is on screen, in real time


def test_timing_reads_prefer_the_5_1_names(bpy, prefs, media):
    """Through a strip that answers Blender 5.1's names, no deprecated timing name is read."""
    from blender_addon.place import plan_item, timing_of

    scene = new_scene(bpy, "five one", 25)
    strip = add_movie(bpy, scene, media["25"].path, 1)
    strip.frame_offset_start = 5
    deprecated = []
    proxy = Strip51(strip, deprecated)
    assert timing_of(scene, proxy, {}) == timing_of(scene, strip, {})
    item, target = plan_item(scene, proxy, "", "", 0, {})
    assert deprecated == [] and target.start_frame == strip.frame_final_start == 6
    assert (item.start, item.end) == (Fraction(5, 25), Fraction(150, 25))


class Strip51:
    """A real strip seen through Blender 5.1's timing names; every pre-5.1 timing name read is recorded."""

    NEW = {"content_start": "frame_start", "content_duration": "frame_duration", "left_handle": "frame_final_start",
           "right_handle": "frame_final_end", "duration": "frame_final_duration",
           "content_trim_start": "animation_offset_start", "content_trim_end": "animation_offset_end"}

    def __init__(self, strip, deprecated):
        object.__setattr__(self, "_strip", strip)
        object.__setattr__(self, "_deprecated", deprecated)

    def __getattr__(self, name):
        if name in self.NEW.values():
            self._deprecated.append(name)
        return getattr(self._strip, self.NEW.get(name, name))

    def __setattr__(self, name, value):
        if name in self.NEW.values():
            self._deprecated.append(name)
        setattr(self._strip, self.NEW.get(name, name), value)

    def __getitem__(self, key):
        return self._strip[key]

    def __setitem__(self, key, value):
        self._strip[key] = value

    def get(self, key, default=None):
        return self._strip.get(key, default)

    def __eq__(self, other):
        return self._strip == getattr(other, "_strip", other)

    def __hash__(self):
        return hash(self._strip)


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


def test_engine_start_autostart_status_and_stop_from_blender(bpy, prefs, media, tmp_path, own_engine):
    from blender_addon import jobs
    from blender_addon.operators import engine_spec

    def settle(predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            jobs.pump()
            time.sleep(0.05)
        assert predicate()

    def status():
        jobs.refresh_status(spec, force=True)
        settle(lambda: not jobs._status_probe)
        return jobs.ENGINE_STATUS

    def stop():
        assert bpy.ops.sequencer.foley_engine_stop() == {"FINISHED"}
        settle(lambda: not jobs.active_runs())
        settle(lambda: not conn.exists(), timeout=30)
        assert status()["state"] == "not running"

    env_before = os.environ.get("FOLEY_ENGINE_COMMAND")
    conn = own_engine
    prefs.connection_file = str(conn)
    prefs.engine_command = f'"{sys.executable}" -m foley_engine.cli engine serve --journal "{tmp_path / "j.sqlite"}"'
    spec = engine_spec(bpy.context)
    assert spec.serve_args[-2:] == ("--backend", "procedural")
    assert status()["state"] == "not running"

    # The panel's Start button.
    assert bpy.ops.sequencer.foley_engine_start() == {"FINISHED"}
    settle(lambda: not jobs.active_runs())
    st = status()
    assert st["state"] == "connected" and st["backend"] == "procedural"
    stop()

    # A job with no engine running starts one.
    prefs.autostart = True
    scene = new_scene(bpy, "autostart", 25)
    strip = add_movie(bpy, scene, media["25"].path, 1)
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(wait=True) == {"FINISHED"}
    assert_exact(bpy, scene, strip, Fraction(0), Fraction(6))
    assert os.environ.get("FOLEY_ENGINE_COMMAND") == env_before  # set only while starting
    stop()


def test_built_extension_installs_registers_and_unregisters(bpy, tmp_path):
    import addon_utils

    from blender_addon import build

    zip_path = build.build(str(tmp_path / "dist"), wheels=False)
    with zipfile.ZipFile(zip_path) as z:
        assert "foley_client/client.py" in z.namelist()
    # The development copy registers the same operators; step it aside while the extension is in.
    addon_utils.disable(ADDON, default_set=True)
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name="Foley Test", module="foley_test", custom_directory=str(tmp_path / "repo"), source="USER")
    module = "bl_ext.foley_test.foley_sequencer"
    try:
        assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="foley_test",
                                                       enable_on_install=True) == {"FINISHED"}
        assert module in bpy.context.preferences.addons
        assert hasattr(bpy.types, "SEQUENCER_PT_foley") and hasattr(bpy.types.Scene, "foley")
        client = sys.modules[module].compat.client_module()
        assert client.__name__ == f"{module}.foley_client.client"  # the bundled copy, not the repository's
        addon_utils.disable(module, default_set=True)
        assert module not in bpy.context.preferences.addons
        assert not hasattr(bpy.types, "SEQUENCER_PT_foley") and not hasattr(bpy.types.Scene, "foley")
        addon_utils.enable(module, default_set=True)
        assert hasattr(bpy.types, "SEQUENCER_OT_foley_autofill")
        addon_utils.disable(module, default_set=True)
    finally:
        repos.remove(repo)
        addon_utils.enable(ADDON, default_set=True)


class CheckingLayout:
    """Stands in for a UI layout: checks that every property and operator drawn exists."""

    def __init__(self, bpy, seen):
        self.bpy, self.seen = bpy, seen

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.seen.append(name)

    def operator(self, idname, **kw):
        group, name = idname.split(".")
        assert hasattr(getattr(self.bpy.ops, group), name), idname
        self.seen.append(idname)

    def menu(self, name, **kw):
        assert hasattr(self.bpy.types, name), name
        self.seen.append(name)

    def label(self, text="", **kw):
        self.seen.append(text)

    def progress(self, factor=0.0, text="", **kw):
        assert 0 <= factor <= 1
        self.seen.append(text)

    def separator(self, **kw):
        pass

    def __getattr__(self, name):  # row(), column(), box(): nested layouts
        return lambda *a, **kw: self


def test_panel_menus_and_status_bar_draw(bpy, prefs, media, engine):
    from types import SimpleNamespace

    from blender_addon import jobs, panel

    scene = new_scene(bpy, "ui", 24)
    add_movie(bpy, scene, media["long"].path, 1)
    seen = []
    with bpy.context.temp_override(**sequencer(bpy, scene)):
        assert bpy.ops.sequencer.foley_autofill(prompt="wind") == {"FINISHED"}
        (run,) = jobs.active_jobs()
        jobs.refresh_status(jobs.EngineSpec(engine.connection_file, ["foley"], (), autostart=False), force=True)
        while jobs._status_probe:
            time.sleep(0.02)
        holder = SimpleNamespace(layout=CheckingLayout(bpy, seen))
        panel.SEQUENCER_PT_foley.draw(holder, bpy.context)
        panel.SEQUENCER_MT_foley.draw(holder, bpy.context)
        panel.draw_context_menu(holder, bpy.context)
        panel.draw_header_menu(holder, bpy.context)
        panel.draw_status_bar(holder, bpy.context)
        run.cancel()
        pump_until_finished(run)
    assert {"prompt", "negative_prompt", "seed", "channel", "backend"} <= set(seen)
    assert {"sequencer.foley_generate", "sequencer.foley_autofill", "sequencer.foley_cancel",
            "sequencer.foley_engine_start", "sequencer.foley_engine_stop", "SEQUENCER_MT_foley"} <= set(seen)
    assert "Engine: procedural on cpu" in seen
    assert sum(1 for s in seen if isinstance(s, str) and s.startswith("Foley 0/1 clips")) == 2  # panel + status bar


def test_engine_refusal_is_reported_with_its_reason(bpy, prefs, engine, media, tmp_path):
    from blender_addon import jobs

    spec = jobs.EngineSpec(engine.connection_file, ["foley"], (), autostart=False)
    item = Item(media["25"].path, Fraction(0), Fraction(99), label="c25.mp4")
    run = jobs.Run("Scene", [item], [None], str(tmp_path), spec)  # refused: nothing is placed
    run.run_inline()
    assert run.state == "failed"
    (level, text), (summary_level, summary) = run.messages
    assert level == "ERROR" and text.startswith("Foley: c25.mp4: the engine refused it: end")
    assert summary_level == "ERROR" and "no clip placed" in summary


def test_stems_in_named_channels_takes_muted_above_and_cycled(bpy, prefs, media):
    scene = new_scene(bpy, "sets", 24)
    strip = add_movie(bpy, scene, media["24"].path, 1)
    scene.foley.stems, scene.foley.takes = "bg,props", 2
    try:
        with bpy.context.temp_override(**sequencer(bpy, scene)):
            assert bpy.ops.sequencer.foley_autofill(wait=True, prompt="wooden knocks, room tone") == {"FINISHED"}
        sounds = sorted(foley_of(scene, strip), key=lambda s: s.channel)
        channels = [s.channel for s in sounds]
        names = [scene.sequence_editor.channels[c].name for c in channels]
        assert names == ["Foley Props", "Foley BG", "Foley Props take 2", "Foley BG take 2"]
        assert [(s["foley_take"], s["foley_stem"], s.mute) for s in sounds] == \
            [(1, "props", False), (1, "bg", False), (2, "props", True), (2, "bg", True)]
        for s in sounds:  # every file of the set at the picture's frames, exactly the range's samples
            assert (s.frame_final_start, s.frame_final_end) == (strip.frame_final_start, strip.frame_final_end)
            assert wav_frames(bpy, s) == to_index(Fraction(6), 48000)
            assert s.channel > strip.channel
        scene.frame_current = strip.frame_final_start + 3
        with bpy.context.temp_override(**sequencer(bpy, scene)):
            assert bpy.ops.sequencer.foley_cycle_take() == {"FINISHED"}
        assert [s.mute for s in sorted(foley_of(scene, strip), key=lambda s: s.channel)] == [True, True, False, False]
        # A re-run keeps take 2 playing, in the same channels.
        with bpy.context.temp_override(**sequencer(bpy, scene)):
            assert bpy.ops.sequencer.foley_autofill(wait=True, prompt="wooden knocks, room tone") == {"FINISHED"}
        again = sorted(foley_of(scene, strip), key=lambda s: s.channel)
        assert [s.channel for s in again] == channels
        assert [(s["foley_take"], s.mute) for s in again] == [(1, True), (1, True), (2, False), (2, False)]
    finally:
        scene.foley.stems, scene.foley.takes = "", 1
