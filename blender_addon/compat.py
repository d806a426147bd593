"""The few API names that differ between Blender 4.5 LTS and 5.x.

4.4 added ``strips``/``strips_all``/``selected_strips``/``active_strip``
beside the old ``sequences`` names; 5.0 removed the old ones and lets a
workspace edit a "sequencer scene" other than the window's scene.  New names
first, old as the fallback, so one code path serves both.
"""
from __future__ import annotations


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
