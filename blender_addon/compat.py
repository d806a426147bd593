"""The few API names that differ between Blender 4.2 LTS and 5.x.

4.4 added ``strips``/``strips_all``/``selected_strips``/``active_strip``
beside the old ``sequences`` names; 5.0 removed the old ones and lets a
workspace edit a "sequencer scene" other than the window's scene.  5.1 renamed
the strip timing properties (the old names are deprecated, to be removed in
6.0): every timing read and write of the add-on goes through the functions
below.  New names first, old as the fallback, so one code path serves all.
"""
from __future__ import annotations

#: strip timing: (5.1 name, name before 5.1)
CONTENT_START = ("content_start", "frame_start")  # timeline frame of the content's first frame (float)
CONTENT_DURATION = ("content_duration", "frame_duration")  # content length in frames, before handles
LEFT_HANDLE = ("left_handle", "frame_final_start")  # first visible timeline frame
RIGHT_HANDLE = ("right_handle", "frame_final_end")  # one past the last visible frame
DURATION = ("duration", "frame_final_duration")  # visible length in frames
TRIM_START = ("content_trim_start", "animation_offset_start")  # source frames cut from the head of the file
TRIM_END = ("content_trim_end", "animation_offset_end")  # ... and from its tail


def _get(strip, names: tuple):
    new, old = names
    if hasattr(type(strip), "bl_rna") and new in type(strip).bl_rna.properties:
        return getattr(strip, new)
    value = getattr(strip, new, None)  # a plain object (tests) may carry either name
    return value if value is not None else getattr(strip, old)


def _set(strip, names: tuple, value) -> None:
    new, old = names
    has_new = new in type(strip).bl_rna.properties if hasattr(type(strip), "bl_rna") else hasattr(strip, new)
    setattr(strip, new if has_new else old, value)


def content_start(strip) -> float:
    return _get(strip, CONTENT_START)


def content_duration(strip) -> int:
    return int(_get(strip, CONTENT_DURATION))


def left_handle(strip) -> int:
    return int(_get(strip, LEFT_HANDLE))


def right_handle(strip) -> int:
    return int(_get(strip, RIGHT_HANDLE))


def set_right_handle(strip, frame: int) -> None:
    _set(strip, RIGHT_HANDLE, frame)


def duration(strip) -> int:
    return int(_get(strip, DURATION))


def trim_start(strip) -> int:
    return int(_get(strip, TRIM_START))


def trim_end(strip) -> int:
    return int(_get(strip, TRIM_END))


def top_strips(sequence_editor):
    """The top-level strip collection (has ``new_movie``/``new_sound``)."""
    coll = getattr(sequence_editor, "strips", None)
    return coll if coll is not None else sequence_editor.sequences


def all_strips(sequence_editor):
    """Every strip, inside meta strips too."""
    coll = getattr(sequence_editor, "strips_all", None)
    return coll if coll is not None else sequence_editor.sequences_all


def sequencer_scene(context):
    """The scene the sequencer edits (5.x workspaces can name one apart from the window's scene)."""
    return getattr(context, "sequencer_scene", None) or context.scene


def selected_strips(context) -> list:
    strips = getattr(context, "selected_strips", None)
    if strips is None:
        strips = getattr(context, "selected_sequences", None)
    if strips is None:  # no sequencer in the context (scripts, timers): read the selection flags
        scene = sequencer_scene(context)
        se = scene.sequence_editor if scene else None
        strips = [s for s in all_strips(se) if s.select] if se else []
    return list(strips)


def active_strip(context):
    scene = sequencer_scene(context)
    se = scene.sequence_editor if scene else None
    if se is None:
        return None
    return se.active_strip


def channel_names(sequence_editor) -> dict:
    """``{channel index: name}``; Blender 4.x has named channels (index 0 is unused)."""
    channels = getattr(sequence_editor, "channels", None)
    if channels is None:
        return {}
    return {i: ch.name for i, ch in enumerate(channels) if i > 0}


def rename_channel(sequence_editor, index: int, name: str) -> None:
    channels = getattr(sequence_editor, "channels", None)
    if channels is not None and 0 < index < len(channels):
        channels[index].name = name


def context_menu_classes() -> list[str]:
    """The sequencer's strip context menu and strip menu (same names in 4.5 and 5.x)."""
    return ["SEQUENCER_MT_context_menu", "SEQUENCER_MT_strip"]


def client_module():
    """The engine client: the copy bundled in the extension, else the repository's (development)."""
    from . import host

    return host.module("client")  # an ImportError here names what is missing (e.g. zmq)
