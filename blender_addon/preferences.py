"""Add-on preferences (how to reach the engine) and per-scene Foley defaults."""

import os
import shlex
import tempfile

import bpy
from bpy.props import BoolProperty, IntProperty, StringProperty

from .strips import StripError

DEFAULT_COMMAND = "foley engine serve"


class FoleyPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_command: StringProperty(
        name="Engine Command", default=DEFAULT_COMMAND,
        description="How to start the engine when none is running (must contain `engine serve`; "
                    "options after it are passed on, e.g. --device cuda:0)")
    connection_file: StringProperty(
        name="Connection File", subtype="FILE_PATH", default="",
        description="The engine's connection file; empty uses the engine's default location")
    autostart: BoolProperty(name="Start Engine Automatically", default=True,
                            description="Start the engine when a job is submitted and none is running")
    output_dir: StringProperty(
        name="Output Folder", subtype="DIR_PATH", default="//foley",
        description="Where Foley WAV files are written (// is the .blend file's folder)")

    def draw(self, context):
        col = self.layout.column()
        col.prop(self, "engine_command")
        col.prop(self, "connection_file")
        col.prop(self, "autostart")
        col.prop(self, "output_dir")


class FoleySceneSettings(bpy.types.PropertyGroup):
    prompt: StringProperty(name="Prompt", default="", description="Default prompt for strips without their own")
    negative_prompt: StringProperty(name="Negative Prompt", default="")
    seed: IntProperty(name="Seed", default=0, min=0)
    stems: StringProperty(name="Stems", default="",
                          description="One sound strip per Foley class, each in its named channel: feet,props,moves,bg "
                                      "or all (empty: one mix)")
    takes: IntProperty(name="Takes", default=1, min=1, max=16,
                       description="Variations per strip: take 1 plays, the others are muted strips in the channels "
                                   "above (Cycle Take switches)")
    channel: IntProperty(name="Channel", default=0, min=0, max=128,
                         description="Channel for Foley strips; 0 places them on a Foley channel above the picture")
    spot: BoolProperty(name="Mark Events", default=False,
                       description="Write the events the engine saw (impact, footstep, cut, ...) as timeline markers "
                                   "named by kind; a re-run replaces only these")
    backend: StringProperty(name="Backend", default="procedural",
                            description="Backend the engine loads when this add-on starts it")


def prefs(context=None) -> FoleyPreferences:
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    if addon is None:
        raise StripError(f"the add-on {__package__} is not enabled in the preferences")
    return addon.preferences


def split_engine_command(command: str, backend: str) -> tuple[list, list]:
    """``(program argv, serve args)`` from a command such as ``foley engine serve --device cuda:0``."""
    try:
        argv = shlex.split(command, posix=os.name != "nt")
    except ValueError as exc:
        raise StripError(f"engine command: {exc}") from None
    if os.name == "nt":  # non-POSIX splitting keeps backslashes but also the quotes around a path
        argv = [a[1:-1] if len(a) > 1 and a[0] == a[-1] and a[0] in "\"'" else a for a in argv]
    for i in range(len(argv) - 1):
        if argv[i:i + 2] == ["engine", "serve"]:
            program, serve_args = argv[:i], argv[i + 2:]
            break
    else:
        raise StripError(f"engine command {command!r} must contain `engine serve`")
    if not program:
        raise StripError(f"engine command {command!r} names no program before `engine serve`")
    if backend and "--backend" not in serve_args:
        serve_args = serve_args + ["--backend", backend]
    # The idle exit an engine Blender starts gets is the plug-in package's rule (EngineSpec.start_args).
    return program, serve_args


def output_dir(context, p: FoleyPreferences) -> str:
    """An absolute output folder; an unsaved .blend's ``//`` falls back to the system temp folder."""
    path = p.output_dir or "//foley"
    if path.startswith("//") and not bpy.data.filepath:
        path = os.path.join(tempfile.gettempdir(), "blender-foley", path[2:])
    path = os.path.normpath(bpy.path.abspath(path))
    os.makedirs(path, exist_ok=True)
    return path


CLASSES = (FoleyPreferences, FoleySceneSettings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.foley = bpy.props.PointerProperty(type=FoleySceneSettings)


def unregister() -> None:
    del bpy.types.Scene.foley
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
