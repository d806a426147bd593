"""Install the built extension zip (with its wheels) into a fresh Blender and fill one movie strip.

    BLENDER_USER_RESOURCES=DIR python tests/blender_zip_smoke.py ZIP CONNECTION_FILE VIDEO OUT_DIR

Run by ``tests/test_blender_zip_install.py`` in a separate process for each ``bpy`` (4.5 here, 5.0 in its
own environment).  Any ``zmq`` outside Blender's extension folder is hidden, so the job can only work with
the pyzmq wheel Blender picked from the zip.  Prints one JSON line.
"""
from __future__ import annotations

import importlib.machinery
import json
import os
import sys


class OnlyExtensionZmq:
    """A meta-path finder: ``zmq`` is found only under Blender's extensions folder."""

    def find_spec(self, name, path=None, target=None):
        if name != "zmq":
            return None
        where = [p for p in sys.path if os.sep + "extensions" + os.sep in p]
        spec = importlib.machinery.PathFinder.find_spec(name, where)
        if spec is None:
            raise ModuleNotFoundError("No module named 'zmq' (outside the extension's wheels)")
        return spec


def main(zip_path, connection, video, out_dir) -> dict:
    sys.meta_path.insert(0, OnlyExtensionZmq())
    import bpy

    repos = bpy.context.preferences.extensions.repos
    repos.new(name="Foley Smoke", module="foley_smoke", custom_directory=os.path.join(out_dir, "repo"),
              source="USER")
    assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="foley_smoke",
                                                   enable_on_install=True) == {"FINISHED"}
    module = "bl_ext.foley_smoke.foley_sequencer"
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.connection_file, prefs.autostart, prefs.output_dir = connection, False, os.path.join(out_dir, "wavs")
    import zmq

    scene = bpy.data.scenes.new("smoke")
    scene.render.fps, scene.render.fps_base = 25, 1.0
    scene.sequence_editor_create()
    win = bpy.context.window_manager.windows[0]
    win.scene = scene
    if hasattr(win.workspace, "sequencer_scene"):
        win.workspace.sequencer_scene = scene
    area = win.screen.areas[0]
    area.type = "SEQUENCE_EDITOR"
    region = next(r for r in area.regions if r.type == "WINDOW")
    # The data API, not movie_strip_add (which crashes bpy 5.0 in background mode); the movie's rate is the
    # scene's, so no playback-rate adjustment is involved.
    strips = getattr(scene.sequence_editor, "strips", None)
    strips = scene.sequence_editor.sequences if strips is None else strips
    strips.new_movie("shot", video, 2, 1).select = True
    with bpy.context.temp_override(window=win, area=area, region=region):
        result = bpy.ops.sequencer.foley_autofill(wait=True)
    sounds = [s for s in scene.sequence_editor.strips_all if s.type == "SOUND"]
    return {"blender": bpy.app.version_string, "python": sys.version.split()[0], "zmq": zmq.__file__,
            "zmq_version": zmq.__version__, "result": sorted(result), "sounds": len(sounds),
            "sound_path": bpy.path.abspath(sounds[0].sound.filepath) if sounds else ""}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
