"""Blender scenes the add-on fills, each run in a Blender process of its own (any ``bpy``: 4.5 here, 5.0 in its venv).

    BLENDER_USER_RESOURCES=DIR python tests/blender_scenarios.py CALLS.json RESULTS.json

No test imports ``bpy`` into the pytest process: Blender's native libraries beside PyAV/FFmpeg, torch
and Ray have crashed test workers (bpy 4.5 about once in nine full runs, bpy 5.0.1 with PyAV loaded).
The tests call :func:`run` or :func:`run_all` (the parent half, at the end of this file); this file,
run as a script in the Blender's own Python, enables the add-on from this checkout, runs the named
scenarios one after another against the engine the test started, and writes what each scene holds as
JSON for the test to check (the WAV files are read back in the test, with soundfile).  A scenario that
raises is reported as its traceback and the next one still runs; one this Blender cannot run
(:class:`Skip`) is reported with the reason.  Scenes are built through the data API where the
timing allows (``movie_strip_add`` crashes bpy 5.0 in background mode; see :func:`add_movie`).

Scenarios of ``tests/test_blender_editors.py``:

- ``sets``: stems and takes (issue 21): one strip, ``--stems bg,props --takes 2``, Cycle Take, a re-run;
- ``markers``: ``foley:`` timeline markers as prompts and *Mark Events* (issue 22), run twice, with a
  spot marker renamed by the user in between;
- ``regenerate``: a Foley strip's range re-done in place from Blender (issue 22).

Scenarios of ``tests/test_blender.py`` (placement, jobs, the UI, the engine and the extension):
``lands``, ``autofill``, ``one_unreadable``, ``timer``, ``cancel``, ``no_engine``, ``unusable``,
``script_strip``, ``timing_51``, ``panel``, ``refusal``, ``engine_control``, ``extension``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import traceback
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON = "blender_addon"

# ------------------------------------------------------------------ the child: scenes in Blender


class Skip(Exception):
    """This Blender cannot run the scenario; the test skips with the reason."""


def enable_addon():
    """The add-on from this checkout, enabled once per process (scenarios of one run share it)."""
    import bpy  # noqa: I001 (bpy first: it puts addon_utils on the path)
    import addon_utils

    def fail(exc):
        raise exc

    if ADDON not in bpy.context.preferences.addons:
        addon_utils.enable(ADDON, default_set=True, handle_error=fail)
    return bpy


def setup(args: dict):
    """The add-on's preferences as a test sets them, and a new scene with a sequencer: ``(bpy, scene, ctx)``."""
    bpy = enable_addon()
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.connection_file, prefs.autostart, prefs.output_dir = args["connection"], False, args["out"]
    prefs.engine_command = args.get("engine_command", "foley engine serve")
    scene = bpy.data.scenes.new(args.get("scene", "scene"))
    scene.render.fps, scene.render.fps_base = args["fps"], args.get("fps_base", 1.0)
    scene.frame_end = args.get("frame_end", 250)
    scene.sequence_editor_create()
    return bpy, scene, sequencer(bpy, scene)


def sequencer(bpy, scene) -> dict:
    """A sequencer context for ``temp_override`` showing ``scene``."""
    win = bpy.context.window_manager.windows[0]
    win.scene = scene
    if hasattr(win.workspace, "sequencer_scene"):  # Blender 5: the sequencer edits the workspace's scene
        win.workspace.sequencer_scene = scene
    area = win.screen.areas[0]
    area.type = "SEQUENCE_EDITOR"
    region = next(r for r in area.regions if r.type == "WINDOW")
    return dict(window=win, area=area, region=region)


def strips_of(scene):
    se = scene.sequence_editor
    coll = getattr(se, "strips", None)  # an empty collection is falsy: test for None
    return coll if coll is not None else se.sequences


def all_strips(scene):
    se = scene.sequence_editor
    coll = getattr(se, "strips_all", None)
    return coll if coll is not None else se.sequences_all


def handles(s) -> tuple:
    left = getattr(s, "left_handle", None)
    return (int(left), int(s.right_handle)) if left is not None else (int(s.frame_final_start),
                                                                       int(s.frame_final_end))


def duration(s) -> int:
    a, b = handles(s)
    return b - a


def sound_info(bpy, scene, s) -> dict:
    """A Foley sound strip as the checks read it (the WAV file itself is read by the test)."""
    channel = int(s.channel)
    return {"name": s.name, "channel": channel, "channel_name": scene.sequence_editor.channels[channel].name,
            "frames": list(handles(s)), "mute": bool(s.mute), "take": int(s.get("foley_take", 0)),
            "stem": str(s.get("foley_stem", "")), "prompt": str(s.get("foley_prompt", "")),
            "media": [str(s["foley_media_start"]), str(s["foley_media_end"])],
            "path": bpy.path.abspath(s.sound.filepath), "job": s.get("foley_job"), "seed": s.get("foley_seed"),
            "source": s.get("foley_source_id")}


def sounds(bpy, scene) -> list:
    """Every sound strip of the scene, in timeline order."""
    found = (s for s in all_strips(scene) if s.type == "SOUND")
    return [sound_info(bpy, scene, s) for s in sorted(found, key=lambda s: (handles(s), s.channel))]


def foley_of(scene, strip) -> list:
    """The Foley strips the add-on placed for a movie strip (linked by the id it keeps on the strip)."""
    sid = strip.get("foley_id")
    return [s for s in all_strips(scene) if s.type == "SOUND" and sid and s.get("foley_source_id") == sid]


def strip_info(bpy, scene, strip) -> dict:
    """A movie strip as the checks read it: where it shows, the prompt and seed kept on it, and its Foley."""
    foley = sorted(foley_of(scene, strip), key=lambda s: s.channel)
    return {"name": strip.name, "frames": list(handles(strip)), "duration": duration(strip),
            "channel": int(strip.channel), "id": strip.get("foley_id"), "prompt": strip.get("foley_prompt"),
            "seed": strip.get("foley_seed"), "foley": [sound_info(bpy, scene, s) for s in foley]}


def count_sounds(scene) -> int:
    return sum(1 for s in all_strips(scene) if s.type == "SOUND")


def add_movie(bpy, scene, path: str, frame_start: int, channel: int = 2):
    """Add a movie the way the UI does: playback rate adjusted to the scene (the scene's rate untouched),
    the new strip alone selected and active.

    bpy 5.0's ``movie_strip_add`` crashes in background mode, so there the data API adds the strip; that is
    the same strip only where the UI adjusts nothing (a movie at the scene's own whole-number rate), and any
    other movie skips the scenario on that Blender."""
    if bpy.app.version < (5, 0, 0):
        with bpy.context.temp_override(**sequencer(bpy, scene)):
            bpy.ops.sequencer.select_all(action="DESELECT")
            bpy.ops.sequencer.movie_strip_add(filepath=path, frame_start=frame_start, channel=channel, sound=False,
                                              adjust_playback_rate=True, use_framerate=False)
        return scene.sequence_editor.active_strip
    strip = strips_of(scene).new_movie(os.path.basename(path), path, channel, frame_start)
    if not (scene.render.fps_base == 1.0 and strip.fps == scene.render.fps):
        raise Skip(f"bpy {bpy.app.version_string}: movie_strip_add crashes in background mode, and the data API "
                   f"adds a {strip.fps:g} fps movie to a {scene.render.fps / scene.render.fps_base:g} fps scene "
                   "without the UI's playback-rate adjustment")
    for s in all_strips(scene):
        s.select = s == strip
    scene.sequence_editor.active_strip = strip
    return strip


def markers(scene) -> list:
    return sorted([int(m.frame), str(m.name)] for m in scene.timeline_markers)


def fill(bpy, ctx, **props) -> list:
    with bpy.context.temp_override(**ctx):
        return sorted(bpy.ops.sequencer.foley_autofill(wait=True, **props))


def sets(args: dict) -> dict:
    bpy, scene, ctx = setup(args)
    movie = strips_of(scene).new_movie("shot", args["video"], 2, 1)
    movie.select = True
    scene.foley.stems, scene.foley.takes = "bg,props", 2
    out = {"blender": bpy.app.version_string, "movie": list(handles(movie)), "movie_channel": int(movie.channel)}
    out["first"] = fill(bpy, ctx, prompt="wooden knocks, room tone")
    out["placed"], out["movie_id"] = sounds(bpy, scene), movie.get("foley_id")
    scene.frame_current = handles(movie)[0] + 3
    with bpy.context.temp_override(**ctx):
        out["cycle"] = sorted(bpy.ops.sequencer.foley_cycle_take())
    out["cycled"] = sounds(bpy, scene)
    out["again"] = fill(bpy, ctx, prompt="wooden knocks, room tone")
    out["replaced"] = sounds(bpy, scene)
    return out


def marker_run(args: dict) -> dict:
    bpy, scene, ctx = setup(args)
    movie = strips_of(scene).new_movie("shot", args["video"], 2, args["frame_start"])
    movie.select = True
    for frame, name in args["markers"]:
        scene.timeline_markers.new(name, frame=frame)
    scene.foley.spot = True
    out = {"blender": bpy.app.version_string, "movie": list(handles(movie))}
    out["first"] = fill(bpy, ctx, prompt=args["prompt"])
    out["placed"], out["markers"] = sounds(bpy, scene), markers(scene)
    # The user takes one of our event markers as their own (renames it); a re-run leaves it alone.
    ours = [m for m in scene.timeline_markers if [int(m.frame), m.name] not in args["markers"]]
    if ours:
        ours[0].name = "keep: " + ours[0].name
    out["renamed"] = [int(ours[0].frame), ours[0].name] if ours else None
    out["again"] = fill(bpy, ctx, prompt=args["prompt"])
    out["replaced"], out["markers_again"] = sounds(bpy, scene), markers(scene)
    return out


def regenerate(args: dict) -> dict:
    bpy, scene, ctx = setup(args)
    movie = strips_of(scene).new_movie("shot", args["video"], 2, 1)
    movie.select = True
    out = {"blender": bpy.app.version_string, "first": fill(bpy, ctx, prompt="footsteps on gravel")}
    out["placed"] = sounds(bpy, scene)
    sound = next(s for s in all_strips(scene) if s.type == "SOUND")
    for s in all_strips(scene):
        s.select = False
    sound.select = True
    scene.sequence_editor.active_strip = sound
    scene.use_preview_range = True  # first: Blender gives the preview range the scene's until it is on
    scene.frame_preview_start, scene.frame_preview_end = args["range"]
    with bpy.context.temp_override(**ctx):
        out["result"] = sorted(bpy.ops.sequencer.foley_regenerate_range(wait=True, prompt="glass breaking",
                                                                         seed=7))
    out["after"] = sounds(bpy, scene)
    return out


# ------------------------------------------------------------------ tests/test_blender.py's scenes


def lands(args: dict) -> dict:
    """One movie strip with handles and file trims, auto-filled: where its Foley lands."""
    bpy, scene, ctx = setup(args)
    strip = add_movie(bpy, scene, args["video"], args["start"])
    strip.animation_offset_start, strip.animation_offset_end = args["trims"]
    strip.frame_offset_start, strip.frame_offset_end = args["offsets"]
    out = {"trimmed": list(handles(strip)), "result": fill(bpy, ctx, prompt="wooden knocks")}
    out["strip"] = strip_info(bpy, scene, strip)
    return out


def autofill(args: dict) -> dict:
    """Two strips cut one after the other, auto-filled as one run; then the first re-generated alone."""
    bpy, scene, ctx = setup(args)
    a = add_movie(bpy, scene, args["a"], 1)
    b = add_movie(bpy, scene, args["b"], 145, channel=2)  # cut straight after a
    a["foley_prompt"], b["foley_prompt"] = "footsteps on gravel", "glass"
    a.select = b.select = True
    out = {"first": fill(bpy, ctx)}
    out["a"], out["b"] = strip_info(bpy, scene, a), strip_info(bpy, scene, b)
    # The popup's operator, called as a script would.
    scene.sequence_editor.active_strip = a
    with bpy.context.temp_override(**ctx):
        out["again"] = sorted(bpy.ops.sequencer.foley_generate(prompt="heavy boots", seed=7, wait=True))
    out["a_again"], out["b_again"] = strip_info(bpy, scene, a), strip_info(bpy, scene, b)
    out["sounds"] = count_sounds(scene)
    return out


def one_unreadable(args: dict) -> dict:
    """Three strips planned as one run; the middle one's file is garbage by the time the engine reads it."""
    from blender_addon import jobs
    from blender_addon.operators import engine_spec
    from blender_addon.place import plan_item

    bpy, scene, ctx = setup(args)
    strips = [add_movie(bpy, scene, args["a"], 1), add_movie(bpy, scene, args["broken"], 200, channel=3),
              add_movie(bpy, scene, args["c"], 400, channel=4)]
    frame_counts, items, targets = {}, [], []
    for strip in strips:
        item, target = plan_item(scene, strip, "knocks", "", 0, frame_counts)
        items.append(item)
        targets.append(target)
    with open(args["broken"], "wb") as f:
        f.write(b"\x00not a movie any more" * 512)  # unreadable by the time the engine gets it
    with bpy.context.temp_override(**ctx):
        spec = engine_spec(bpy.context)
    os.makedirs(args["out"])
    run = jobs.Run(scene.name, items, targets, args["out"], spec)
    run.run_inline()
    return {"state": run.state, "placed": len(run.placed), "messages": run.messages,
            "strips": [strip_info(bpy, scene, s) for s in strips]}


def pump_until_finished(run, timeout=30) -> bool:
    from blender_addon import jobs

    deadline = time.monotonic() + timeout
    while not run.finished and time.monotonic() < deadline:
        jobs.pump()  # what the bpy.app.timers timer does
        time.sleep(0.02)
    return run.finished


def timer(args: dict) -> dict:
    """A job that does not wait: the modal watcher's pump places it; a strip moves while it runs."""
    from blender_addon import jobs

    bpy, scene, ctx = setup(args)
    a = add_movie(bpy, scene, args["a"], 1)
    b = add_movie(bpy, scene, args["b"], 200)
    a.select = b.select = True
    with bpy.context.temp_override(**ctx):
        out = {"started": sorted(bpy.ops.sequencer.foley_autofill(prompt="door slams"))}  # returns at once
    (run,) = jobs.active_jobs()
    b.frame_start += 100  # the editor keeps working: b moves (same media shown) before its Foley lands
    reports = []
    deadline = time.monotonic() + 30
    while jobs.watcher_pump(lambda level, text: reports.append((level, text))) and time.monotonic() < deadline:
        time.sleep(0.02)  # the modal watcher's TIMER events do this, reporting to the status bar
    out.update(state=run.state, items_done=run.items_done, fraction=run.fraction, reports=reports)
    out["a"], out["b"] = strip_info(bpy, scene, a), strip_info(bpy, scene, b)
    out["pump_after"] = jobs.pump()
    return out


def cancel(args: dict) -> dict:
    """A long job cancelled part-way."""
    from blender_addon import jobs

    bpy, scene, ctx = setup(args)
    strip = add_movie(bpy, scene, args["video"], 1)
    with bpy.context.temp_override(**ctx):
        out = {"started": sorted(bpy.ops.sequencer.foley_autofill(prompt="rain"))}  # returns at once
    (run,) = jobs.active_jobs()
    deadline = time.monotonic() + 30
    while run.fraction == 0 and not run.finished and time.monotonic() < deadline:
        jobs.pump()  # what the bpy.app.timers timer does
        time.sleep(0.01)
    out["when_cancelled"] = {"state": run.state, "fraction": run.fraction}
    out["cancel"] = sorted(bpy.ops.sequencer.foley_cancel())
    out["finished"] = pump_until_finished(run)
    out.update(state=run.state, placed=len(run.placed), strip=strip_info(bpy, scene, strip),
               sounds=count_sounds(scene), pump_after=jobs.pump())
    return out


def no_engine(args: dict) -> dict:
    """No engine at the connection file (and no autostart): waiting, then not waiting."""
    from blender_addon import jobs

    bpy, scene, ctx = setup(args)
    add_movie(bpy, scene, args["video"], 1)
    out = {"raised": None}
    with bpy.context.temp_override(**ctx):
        try:
            bpy.ops.sequencer.foley_autofill(wait=True)
        except RuntimeError as exc:
            out["raised"] = str(exc)
        # The same without waiting: the job ends in an error report from the timer.
        out["started"] = sorted(bpy.ops.sequencer.foley_autofill())
    (run,) = jobs.active_jobs()
    out.update(finished=pump_until_finished(run), state=run.state, sounds=count_sounds(scene))
    return out


def unusable(args: dict) -> dict:
    """A strip whose movie file went away: the operator's report and the planner's error."""
    from blender_addon.place import plan_item
    from blender_addon.strips import StripError

    bpy, scene, ctx = setup(args)
    gone = add_movie(bpy, scene, args["video"], 1)
    os.remove(args["video"])
    out = {"generate": None, "plan": None}
    with bpy.context.temp_override(**ctx):
        try:
            bpy.ops.sequencer.foley_generate(wait=True)
        except RuntimeError as exc:
            out["generate"] = str(exc)
    try:
        plan_item(scene, gone, "", "", 0, {})
    except StripError as exc:
        out["plan"] = str(exc)
    return out


def script_strip(args: dict) -> dict:
    """A 25 fps movie added by a script (no playback-rate adjustment) into a 24 fps scene, head trimmed."""
    from blender_addon.place import plan_item

    bpy, scene, ctx = setup(args)
    slow = strips_of(scene).new_movie("slow", args["video"], 4, 300)
    out = {"added": duration(slow)}
    slow.frame_offset_start = 10  # trim 10 frames off the head
    item, target = plan_item(scene, slow, "", "", 0, {})
    out["item"] = {"speed": item.speed, "start": item.start, "end": item.end}
    for s in strips_of(scene):
        s.select = s == slow
    out["result"] = fill(bpy, ctx)
    out["strip"] = strip_info(bpy, scene, slow)
    return out


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


def timing_51(args: dict) -> dict:
    """The add-on's timing reads through a strip that answers only Blender 5.1's names."""
    from blender_addon.place import plan_item, timing_of

    bpy, scene, ctx = setup(args)
    strip = add_movie(bpy, scene, args["video"], 1)
    strip.frame_offset_start = 5
    deprecated = []
    proxy = Strip51(strip, deprecated)
    out = {"through_51": timing_of(scene, proxy, {}), "direct": timing_of(scene, strip, {})}
    item, target = plan_item(scene, proxy, "", "", 0, {})
    out.update(deprecated=deprecated, target_start=target.start_frame, strip_start=handles(strip)[0],
               item={"start": item.start, "end": item.end})
    return out


class CheckingLayout:
    """Stands in for a UI layout: records everything drawn, and each property, operator or menu drawn that
    does not exist (or a progress factor outside 0..1) in ``wrong``."""

    def __init__(self, bpy, seen, wrong):
        self.bpy, self.seen, self.wrong = bpy, seen, wrong

    def prop(self, data, name, **kw):
        if name not in data.bl_rna.properties:
            self.wrong.append(f"property {name}")
        self.seen.append(name)

    def operator(self, idname, **kw):
        group, name = idname.split(".")
        if not hasattr(getattr(self.bpy.ops, group), name):
            self.wrong.append(f"operator {idname}")
        self.seen.append(idname)

    def menu(self, name, **kw):
        if not hasattr(self.bpy.types, name):
            self.wrong.append(f"menu {name}")
        self.seen.append(name)

    def label(self, text="", **kw):
        self.seen.append(text)

    def progress(self, factor=0.0, text="", **kw):
        if not 0 <= factor <= 1:
            self.wrong.append(f"progress {factor} ({text})")
        self.seen.append(text)

    def separator(self, **kw):
        pass

    def __getattr__(self, name):  # row(), column(), box(): nested layouts
        return lambda *a, **kw: self


def panel(args: dict) -> dict:
    """The sidebar panel, the menus and the status bar drawn while a job runs, the engine's status known."""
    from types import SimpleNamespace

    from blender_addon import jobs
    from blender_addon import panel as ui

    bpy, scene, ctx = setup(args)
    add_movie(bpy, scene, args["video"], 1)
    seen, wrong = [], []
    with bpy.context.temp_override(**ctx):
        out = {"started": sorted(bpy.ops.sequencer.foley_autofill(prompt="wind"))}
        (run,) = jobs.active_jobs()
        jobs.refresh_status(jobs.EngineSpec(args["connection"], ["foley"], (), autostart=False), force=True)
        while jobs._status_probe:
            time.sleep(0.02)
        holder = SimpleNamespace(layout=CheckingLayout(bpy, seen, wrong))
        ui.SEQUENCER_PT_foley.draw(holder, bpy.context)
        ui.SEQUENCER_MT_foley.draw(holder, bpy.context)
        ui.draw_context_menu(holder, bpy.context)
        ui.draw_header_menu(holder, bpy.context)
        ui.draw_status_bar(holder, bpy.context)
        run.cancel()
        out["finished"] = pump_until_finished(run)
    out.update(seen=seen, wrong=wrong)
    return out


def refusal(args: dict) -> dict:
    """One item the engine refuses (its end is past the media's): the run's messages."""
    from blender_addon import jobs
    from plugin_host.items import Item

    enable_addon()
    spec = jobs.EngineSpec(args["connection"], ["foley"], (), autostart=False)
    item = Item(args["video"], Fraction(0), Fraction(99), label="c25.mp4")
    run = jobs.Run("Scene", [item], [None], args["folder"], spec)  # refused: nothing is placed
    run.run_inline()
    return {"state": run.state, "messages": run.messages}


def engine_control(args: dict) -> dict:
    """The panel's engine Start and Stop, the status it shows, and a job that starts an engine itself."""
    from blender_addon import jobs
    from blender_addon.operators import engine_spec

    bpy, scene, ctx = setup(args)
    conn = args["own_connection"]
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.connection_file, prefs.engine_command = conn, args["engine_command"]

    def settle(predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            jobs.pump()
            time.sleep(0.05)
        assert predicate(), f"still waiting for {what} after {timeout} s"

    def status() -> dict:
        jobs.refresh_status(spec, force=True)
        settle(lambda: not jobs._status_probe, "the status probe")
        return {"state": jobs.ENGINE_STATUS.get("state"), "backend": jobs.ENGINE_STATUS.get("backend")}

    def stop() -> dict:
        stopped = {"result": sorted(bpy.ops.sequencer.foley_engine_stop())}
        settle(lambda: not jobs.active_runs(), "the stop chore")
        settle(lambda: not os.path.exists(conn), "the engine to remove its connection file", timeout=30)
        stopped["status"] = status()
        return stopped

    env_before = os.environ.get("FOLEY_ENGINE_COMMAND")
    spec = engine_spec(bpy.context)
    out = {"serve_args": list(spec.serve_args[-2:]), "before": status()}
    out["start"] = sorted(bpy.ops.sequencer.foley_engine_start())  # the panel's Start button
    settle(lambda: not jobs.active_runs(), "the start chore")
    out["started"] = status()
    out["stop"] = stop()
    # A job with no engine running starts one.
    prefs.autostart = True
    strip = add_movie(bpy, scene, args["video"], 1)
    out["autofill"] = fill(bpy, ctx)
    out["strip"] = strip_info(bpy, scene, strip)
    out["env_restored"] = os.environ.get("FOLEY_ENGINE_COMMAND") == env_before  # set only while starting
    out["stop_again"] = stop()
    return out


def registered(bpy, module: str) -> dict:
    return {"addon": module in bpy.context.preferences.addons, "panel": hasattr(bpy.types, "SEQUENCER_PT_foley"),
            "scene_foley": hasattr(bpy.types.Scene, "foley"),
            "autofill": hasattr(bpy.types, "SEQUENCER_OT_foley_autofill")}


def extension(args: dict) -> dict:
    """The built zip installed as an extension: registered, unregistered when disabled, registered again."""
    bpy = enable_addon()
    import addon_utils  # (after bpy: it puts addon_utils on the path)

    # The development copy registers the same operators; step it aside while the extension is in.
    addon_utils.disable(ADDON, default_set=True)
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name="Foley Test", module="foley_test", custom_directory=args["repo"], source="USER")
    module = "bl_ext.foley_test.foley_sequencer"
    try:
        out = {"install": sorted(bpy.ops.extensions.package_install_files(filepath=args["zip"], repo="foley_test",
                                                                          enable_on_install=True))}
        out["installed"] = registered(bpy, module)
        out["client"] = sys.modules[module].compat.client_module().__name__
        addon_utils.disable(module, default_set=True)
        out["disabled"] = registered(bpy, module)
        addon_utils.enable(module, default_set=True)
        out["enabled_again"] = registered(bpy, module)
        addon_utils.disable(module, default_set=True)
    finally:
        repos.remove(repo)
        addon_utils.enable(ADDON, default_set=True)
    return out


def idle_exit_args(args: dict) -> dict:
    """The serve arguments the add-on starts an engine with, from the engine command in its preferences."""
    enable_addon()
    from blender_addon.jobs import EngineSpec
    from blender_addon.preferences import split_engine_command

    out = {}
    for key, (command, backend) in args["commands"].items():
        program, serve_args = split_engine_command(command, backend)
        out[key] = list(EngineSpec(None, program, tuple(serve_args)).start_args)
    return out


SCENARIOS = {"sets": sets, "markers": marker_run, "regenerate": regenerate, "lands": lands, "autofill": autofill,
             "one_unreadable": one_unreadable, "timer": timer, "cancel": cancel, "no_engine": no_engine,
             "unusable": unusable, "script_strip": script_strip, "timing_51": timing_51, "panel": panel,
             "refusal": refusal, "engine_control": engine_control, "extension": extension,
             "idle_exit_args": idle_exit_args}

#: what a result holds instead of a report when its scenario raised, or cannot run in this Blender
FAILED, SKIPPED = "scenario failed", "scenario skipped"


def plain(value):
    """JSON for what scenarios report: exact times as strings ("1001/30000"), dataclasses as dicts."""
    if isinstance(value, Fraction):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not reported as JSON")


def main(calls_file: str, results_file: str) -> None:
    """Run each call in order; the results file is rewritten after each, so a crash keeps what came before."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "plugin-host")]  # the add-on and the plug-in package of this checkout
    with open(calls_file, encoding="utf-8") as f:
        calls = json.load(f)
    results = {}
    for key, (name, args) in calls.items():
        try:
            results[key] = SCENARIOS[name](args)
        except Skip as exc:
            results[key] = {SKIPPED: str(exc)}
        except Exception:  # reported to the test as the traceback; the next scenario still runs
            results[key] = {FAILED: traceback.format_exc()}
        with open(results_file + ".part", "w", encoding="utf-8") as f:
            json.dump(results, f, default=plain)
        os.replace(results_file + ".part", results_file)


# ------------------------------------------------------------------ the parent: run in the test's process


def pythons() -> list:
    """The Pythons with a ``bpy``: this one if it has one (bpy 4.5, the test extras), then ``FOLEY_BPY_PYTHONS``."""
    import importlib.util

    found = [sys.executable] if importlib.util.find_spec("bpy") is not None else []
    return found + [p for p in os.environ.get("FOLEY_BPY_PYTHONS", "").split(os.pathsep) if p]


def python_params() -> list:
    """:func:`pythons` for ``parametrize``; one skipped test where there is none."""
    import pytest

    return pythons() or [pytest.param("", marks=pytest.mark.skip(reason="no bpy here"))]


def _tail(text, n: int) -> str:
    if isinstance(text, bytes):  # what TimeoutExpired may carry
        text = text.decode("utf-8", "replace")
    return (text or "")[-n:]


def run_all(python: str, calls: dict, folder, timeout: int = 600) -> dict:
    """Run ``{key: (scenario, args)}`` in order in one Blender process of ``python``: ``{key: report}``.

    Blender's user folders go to ``folder`` (not ``$HOME``).  Every report fails with the process's
    output when it did not end cleanly (a crash, a hang): no result of a broken Blender counts."""
    folder = str(folder)
    calls_file, results_file = os.path.join(folder, "calls.json"), os.path.join(folder, "results.json")
    with open(calls_file, "w", encoding="utf-8") as f:
        json.dump(calls, f)
    env = dict(os.environ, BLENDER_USER_RESOURCES=os.path.join(folder, "blender-user"), PYTHONPATH="")
    try:
        proc = subprocess.run([python, os.path.abspath(__file__), calls_file, results_file], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=folder)
        ended, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        ended, stdout, stderr = f"still running after {timeout} s (killed)", exc.stdout, exc.stderr
    results = {}
    if os.path.exists(results_file):
        with open(results_file, encoding="utf-8") as f:
            results = json.load(f)
    if ended != 0:
        done = ", ".join(results) or "none"
        why = (f"Blender ({python}) did not end cleanly: {ended}; scenarios finished: {done}\n"
               f"--- stdout\n{_tail(stdout, 3000)}\n--- stderr\n{_tail(stderr, 4000)}")
        results = {key: {FAILED: why} for key in calls}
    return results


def outcome(report: dict) -> dict:
    """A scenario's report; the test skips or fails with the child's reason where it has one."""
    import pytest

    if SKIPPED in report:
        pytest.skip(report[SKIPPED])
    if FAILED in report:
        pytest.fail(report[FAILED], pytrace=False)
    return report


def run(python: str, name: str, folder, **args) -> dict:
    """One scenario in a Blender process of its own."""
    return outcome(run_all(python, {name: (name, args)}, folder)[name])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
