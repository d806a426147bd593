"""Blender scenes the add-on fills, run in a Blender of their own (any ``bpy``: 4.5 here, 5.0 in its own venv).

    BLENDER_USER_RESOURCES=DIR python tests/blender_scenarios.py SCENARIO ARGS.json

Run by ``tests/test_blender_editors.py`` in a separate process per ``bpy`` (bpy 5.0.1 has crashed when
PyAV shares its process, and the engine's tests need PyAV): the add-on is enabled from this checkout,
the engine is the test's own, and the scene is built through the data API (``strips.new_movie``:
``movie_strip_add`` crashes bpy 5.0 in background mode).  Prints one JSON line: what the scene holds
after each step, for the test to check against the WAV files.

Scenarios:

- ``sets``: stems and takes (issue 21): one strip, ``--stems bg,props --takes 2``, Cycle Take, a re-run;
- ``markers``: ``foley:`` timeline markers as prompts and *Mark Events* (issue 22), run twice, with a
  spot marker renamed by the user in between;
- ``regenerate``: a Foley strip's range re-done in place from Blender (issue 22).
"""
from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def setup(args: dict):
    sys.path[:0] = [ROOT, os.path.join(ROOT, "plugin-host")]
    import bpy  # noqa: I001 (bpy first: it puts addon_utils on the path)
    import addon_utils

    def fail(exc):
        raise exc

    addon_utils.enable("blender_addon", default_set=True, handle_error=fail)
    prefs = bpy.context.preferences.addons["blender_addon"].preferences
    prefs.connection_file, prefs.autostart, prefs.output_dir = args["connection"], False, args["out"]
    prefs.engine_command = args.get("engine_command", "foley engine serve")
    scene = bpy.data.scenes.new(args.get("scene", "scene"))
    scene.render.fps, scene.render.fps_base = args["fps"], args.get("fps_base", 1.0)
    scene.frame_end = args.get("frame_end", 250)
    scene.sequence_editor_create()
    return bpy, scene, sequencer(bpy, scene)


def sequencer(bpy, scene) -> dict:
    """A sequencer context for ``temp_override`` showing ``scene`` (tests/test_blender.py uses it too)."""
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


def sounds(bpy, scene) -> list:
    names = {i: ch.name for i, ch in enumerate(scene.sequence_editor.channels) if i > 0}
    out = []
    for s in sorted((s for s in all_strips(scene) if s.type == "SOUND"), key=lambda s: (handles(s), s.channel)):
        out.append({"name": s.name, "channel": int(s.channel), "channel_name": names.get(int(s.channel), ""),
                    "frames": list(handles(s)), "mute": bool(s.mute), "take": int(s.get("foley_take", 0)),
                    "stem": str(s.get("foley_stem", "")), "prompt": str(s.get("foley_prompt", "")),
                    "media": [str(s["foley_media_start"]), str(s["foley_media_end"])],
                    "path": bpy.path.abspath(s.sound.filepath)})
    return out


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
    out["placed"] = sounds(bpy, scene)
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


SCENARIOS = {"sets": sets, "markers": marker_run, "regenerate": regenerate}

if __name__ == "__main__":
    with open(sys.argv[2], encoding="utf-8") as f:
        arguments = json.load(f)
    print(json.dumps(SCENARIOS[sys.argv[1]](arguments)))
