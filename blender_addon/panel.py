"""Sequencer UI: the N-panel Foley tab, the Foley menu, context-menu entries, status-bar progress."""
from __future__ import annotations

import bpy

from . import compat, jobs
from .operators import engine_spec
from .strips import StripError


def _draw_progress(layout, run: jobs.Run) -> None:
    text = f"Foley {run.items_done}/{len(run.items)} clips, {run.fraction * 100:.0f}%"
    if run.cancel_requested:
        text += " (cancelling)"
    if hasattr(layout, "progress"):
        layout.progress(factor=run.fraction, type="BAR", text=text)
    else:
        layout.label(text=text)


def draw_engine(context, box) -> None:
    """Engine state from the last background status probe, and Start/Stop."""
    try:
        jobs.refresh_status(engine_spec(context))  # in the background; we draw the last answer
    except StripError as exc:
        box.label(text=str(exc), icon="ERROR")
    st = jobs.ENGINE_STATUS
    row = box.row()
    if st.get("state") == "connected":
        device = f" on {st['device']}" if st.get("device") else ""  # known once the worker has loaded
        row.label(text=f"Engine: {st.get('backend')}{device}", icon="CHECKMARK")
        box.label(text=f"Worker {st.get('worker')}, {st.get('queue')} job(s) queued")
        if st.get("error"):
            box.label(text=str(st["error"]), icon="ERROR")
    else:
        row.label(text=f"Engine: {st.get('state', 'unknown')}", icon="UNLINKED")
    row.operator("sequencer.foley_status", text="", icon="FILE_REFRESH")
    row = box.row(align=True)
    row.operator("sequencer.foley_engine_start", icon="PLAY")
    row.operator("sequencer.foley_engine_stop", icon="PAUSE")


class SEQUENCER_PT_foley(bpy.types.Panel):
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Foley"
    bl_label = "Foley"

    def draw(self, context):
        layout = self.layout
        draw_engine(context, layout.box())
        settings = compat.sequencer_scene(context).foley
        col = layout.column()
        col.label(text="Defaults")
        col.prop(settings, "prompt")
        col.prop(settings, "negative_prompt")
        row = col.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "channel")
        col.prop(settings, "backend")
        row = col.row(align=True)
        row.prop(settings, "stems")
        row.prop(settings, "takes")
        col.prop(settings, "spot")
        col.separator()
        col.operator("sequencer.foley_generate", icon="SPEAKER")
        col.operator("sequencer.foley_autofill", icon="SEQ_STRIP_DUPLICATE")
        col.operator("sequencer.foley_cycle_take", icon="FILE_REFRESH")
        col.operator("sequencer.foley_regenerate_range", icon="RECOVER_LAST")
        for run in jobs.active_jobs():
            row = col.row(align=True)
            _draw_progress(row, run)
            row.operator("sequencer.foley_cancel", text="", icon="CANCEL")


class SEQUENCER_MT_foley(bpy.types.Menu):
    bl_label = "Foley"

    def draw(self, context):
        layout = self.layout
        layout.operator("sequencer.foley_generate", text="Generate Foley...")
        layout.operator("sequencer.foley_autofill")
        layout.operator("sequencer.foley_regenerate_range", text="Regenerate Foley Range...")
        layout.separator()
        layout.operator("sequencer.foley_cancel")
        layout.operator("sequencer.foley_engine_start")
        layout.operator("sequencer.foley_engine_stop")


def draw_context_menu(self, context):
    layout = self.layout
    layout.separator()
    layout.operator("sequencer.foley_generate", text="Generate Foley...")
    layout.operator("sequencer.foley_regenerate_range", text="Regenerate Foley Range...")
    layout.menu("SEQUENCER_MT_foley")


def draw_header_menu(self, context):
    self.layout.menu("SEQUENCER_MT_foley")


def draw_status_bar(self, context):
    for run in jobs.active_jobs():
        row = self.layout.row(align=True)
        _draw_progress(row, run)
        row.operator("sequencer.foley_cancel", text="", icon="CANCEL")


CLASSES = (SEQUENCER_PT_foley, SEQUENCER_MT_foley)
_APPENDED = []


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    hooks = [(name, draw_context_menu) for name in compat.context_menu_classes()]
    hooks += [("SEQUENCER_MT_editor_menus", draw_header_menu), ("STATUSBAR_HT_header", draw_status_bar)]
    for name, fn in hooks:
        menu = getattr(bpy.types, name, None)
        if menu is not None:
            menu.append(fn)
            _APPENDED.append((menu, fn))


def unregister() -> None:
    while _APPENDED:
        menu, fn = _APPENDED.pop()
        menu.remove(fn)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
