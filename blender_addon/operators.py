"""Operators: generate for the active strip, auto-fill the selection, cancel, engine start/stop."""

import uuid

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import compat, host, jobs
from .markers import scene_prompts
from .place import plan_items, stored_prompt
from .preferences import output_dir, prefs, split_engine_command
from .strips import StripError


def engine_spec(context) -> jobs.EngineSpec:
    p = prefs(context)
    program, serve_args = split_engine_command(p.engine_command, compat.sequencer_scene(context).foley.backend)
    connection_file = bpy.path.abspath(p.connection_file) if p.connection_file else None
    return jobs.EngineSpec(connection_file=connection_file, command=program, serve_args=tuple(serve_args),
                           autostart=p.autostart)


def launch(op, context, task, started: str) -> set:
    """Run ``task`` inline (the operator's ``wait``: scripts, background mode) and report how it ended, or
    start it on its thread with the status-bar watcher (Esc cancels)."""
    if op.wait:
        task.run_inline()
        for level, text in task.messages:
            op.report({level}, text)
        return {"FINISHED"} if task.state == "done" else {"CANCELLED"}
    jobs.start(task)
    op.report({"INFO"}, started)
    if context.window is not None and not bpy.app.background and not jobs.watcher_alive():
        bpy.ops.sequencer.foley_watch("INVOKE_DEFAULT")
    return {"FINISHED"}


def movie_strips(strips) -> list:
    return [s for s in strips if s.type == "MOVIE"]


class _Submit:
    """What generate and auto-fill share: plan items, submit, then wait or watch.

    Subclasses define ``prompt_for(strip, settings) -> (prompt, negative_prompt, seed)``.
    """

    prompt: StringProperty(name="Prompt", description="What the Foley should sound like")
    negative_prompt: StringProperty(name="Negative Prompt", description="Sounds to avoid")
    seed: IntProperty(name="Seed", min=0, description="Same seed and prompt give the same sound")
    wait: BoolProperty(name="Wait", default=False, options={"HIDDEN", "SKIP_SAVE"},
                       description="Block until the job is done (background mode, scripts, render farms)")

    def submit(self, context, strips: list) -> set:
        scene = compat.sequencer_scene(context)
        try:
            engine = engine_spec(context)
            out = output_dir(context, prefs(context))
        except (StripError, OSError) as exc:
            self.report({"ERROR"}, f"Foley: {exc}")
            return {"CANCELLED"}
        items, targets, skipped, frame_counts = [], [], [], {}
        marker_prompts, marker_warnings = scene_prompts(scene)
        for text in marker_warnings:
            self.report({"WARNING"}, f"Foley: {text}")
        run_id = uuid.uuid4().hex
        for strip in strips:
            prompt, negative, seed = self.prompt_for(strip, scene.foley)
            try:
                planned = plan_items(scene, strip, prompt, negative, seed, frame_counts, stems=scene.foley.stems,
                                     takes=scene.foley.takes, prompts=marker_prompts, run=run_id)
            except StripError as exc:
                skipped.append(str(exc))
                continue
            items += [item for item, _ in planned]
            targets += [target for _, target in planned]
        if not items:
            more = f" (and {len(skipped) - 1} more strips)" if len(skipped) > 1 else ""
            self.report({"ERROR"}, f"Foley: nothing to generate: {skipped[0] if skipped else 'no movie strip'}{more}")
            return {"CANCELLED"}
        for reason in skipped:
            self.report({"WARNING"}, f"Foley: skipped {reason}")
        run = jobs.Run(scene.name, items, targets, out, engine, channel=scene.foley.channel,
                       label=f"{len(items)} clip(s)", spot=scene.foley.spot)
        return launch(self, context, run, f"Foley: generating {len(items)} clip(s); Esc cancels")


class SEQUENCER_OT_foley_generate(_Submit, bpy.types.Operator):
    """Generate Foley for the active movie strip and place it under the strip"""

    bl_idname = "sequencer.foley_generate"
    bl_label = "Generate Foley"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        strip = compat.active_strip(context)
        if strip is None or strip.type != "MOVIE":
            cls.poll_message_set("The active strip must be a movie strip")
            return False
        return True

    def invoke(self, context, event):
        strip = compat.active_strip(context)
        self.prompt, self.negative_prompt, self.seed = stored_prompt(strip, compat.sequencer_scene(context).foley)
        return context.window_manager.invoke_props_dialog(self, width=420)

    def prompt_for(self, strip, settings):
        return self.prompt, self.negative_prompt, self.seed

    def execute(self, context):
        return self.submit(context, [compat.active_strip(context)])


class SEQUENCER_OT_foley_autofill(_Submit, bpy.types.Operator):
    """Generate Foley for every selected movie strip in one job, each with its own stored prompt"""

    bl_idname = "sequencer.foley_autofill"
    bl_label = "Auto-fill Selected Strips"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        if not movie_strips(compat.selected_strips(context)):
            cls.poll_message_set("Select one or more movie strips")
            return False
        return True

    def prompt_for(self, strip, settings):
        # Properties a script set win; otherwise the strip's last prompt, then the scene's default.
        prompt, negative, seed = stored_prompt(strip, settings)
        if self.properties.is_property_set("prompt"):
            prompt = self.prompt
        if self.properties.is_property_set("negative_prompt"):
            negative = self.negative_prompt
        if self.properties.is_property_set("seed"):
            seed = self.seed
        return prompt, negative, seed

    def execute(self, context):
        strips = sorted(movie_strips(compat.selected_strips(context)), key=lambda s: (compat.left_handle(s), s.channel))
        return self.submit(context, strips)


class SEQUENCER_OT_foley_cancel(bpy.types.Operator):
    """Cancel the running Foley jobs (finished clips stay)"""

    bl_idname = "sequencer.foley_cancel"
    bl_label = "Cancel Foley"

    def execute(self, context):
        n = jobs.cancel_all()
        if not n:
            self.report({"INFO"}, "Foley: nothing to cancel")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Foley: cancelling {n} job(s)")
        return {"FINISHED"}


class SEQUENCER_OT_foley_watch(bpy.types.Operator):
    """Shows Foley job reports in the status bar; Esc cancels the jobs; other events pass through"""

    bl_idname = "sequencer.foley_watch"
    bl_label = "Watch Foley Jobs"
    bl_options = {"INTERNAL"}

    def invoke(self, context, event):
        wm = context.window_manager
        self._timer = wm.event_timer_add(jobs.POLL_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS" and jobs.cancel_all():
            self.report({"INFO"}, "Foley: cancelling")
            return {"RUNNING_MODAL"}  # stay to report how the jobs end
        if event.type == "TIMER" and not jobs.watcher_pump(lambda level, text: self.report({level}, text)):
            context.window_manager.event_timer_remove(self._timer)
            return {"FINISHED"}
        return {"PASS_THROUGH"}


class SEQUENCER_OT_foley_engine_start(bpy.types.Operator):
    """Start the Foley engine with the command from the add-on preferences"""

    bl_idname = "sequencer.foley_engine_start"
    bl_label = "Start Engine"

    def execute(self, context):
        try:
            engine = engine_spec(context)
        except StripError as exc:
            self.report({"ERROR"}, f"Foley: {exc}")
            return {"CANCELLED"}

        def start() -> str:
            hello = jobs.start_engine(engine)
            backend = hello.get("backend", {})
            return f"Foley engine running (pid {hello.get('pid')}, backend {backend.get('name', '?')})"

        jobs.background("engine start", start)
        self.report({"INFO"}, "Foley: starting the engine")
        return {"FINISHED"}


class SEQUENCER_OT_foley_engine_stop(bpy.types.Operator):
    """Stop the Foley engine (queued work resumes at its next start)"""

    bl_idname = "sequencer.foley_engine_stop"
    bl_label = "Stop Engine"

    def execute(self, context):
        try:
            engine = engine_spec(context)
        except StripError as exc:
            self.report({"ERROR"}, f"Foley: {exc}")
            return {"CANCELLED"}
        jobs.background("engine stop", lambda: f"Foley engine (pid {jobs.stop_engine(engine)}) stopping")
        return {"FINISHED"}


class SEQUENCER_OT_foley_status(bpy.types.Operator):
    """Ask the engine for its status now"""

    bl_idname = "sequencer.foley_status"
    bl_label = "Refresh Engine Status"

    def execute(self, context):
        try:
            jobs.refresh_status(engine_spec(context), force=True)
        except StripError as exc:
            self.report({"ERROR"}, f"Foley: {exc}")
            return {"CANCELLED"}
        return {"FINISHED"}


class SEQUENCER_OT_foley_report(bpy.types.Operator):
    """Show a message from a Foley job (timers have no operator of their own to report from)"""

    bl_idname = "sequencer.foley_report"
    bl_label = "Foley Report"
    bl_options = {"INTERNAL"}

    level: EnumProperty(items=[(k, k.title(), "") for k in ("INFO", "WARNING", "ERROR")], default="INFO")
    message: StringProperty()

    def execute(self, context):
        self.report({self.level}, self.message)
        return {"FINISHED"}


class SEQUENCER_OT_foley_cycle_take(bpy.types.Operator):
    """Play the next take of the Foley under the playhead (the others are muted)"""

    bl_idname = "sequencer.foley_cycle_take"
    bl_label = "Cycle Take"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from .place import cycle_take

        scene = compat.sequencer_scene(context)
        take = cycle_take(scene, scene.frame_current)
        if take is None:
            self.report({"WARNING"}, "Foley: no Foley with takes under the playhead")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Foley: take {take}")
        return {"FINISHED"}


class SEQUENCER_OT_foley_regenerate_range(bpy.types.Operator):
    """Re-do the preview range (or the span between two selected markers) of the active Foley strip's file in
    place; everything outside it stays as it is and the previous file is kept beside it"""

    bl_idname = "sequencer.foley_regenerate_range"
    bl_label = "Regenerate Foley Range"
    bl_options = {"REGISTER"}

    prompt: StringProperty(name="Prompt", description="A new prompt for the range (empty: the file's own)")
    seed: IntProperty(name="Seed", default=-1, min=-1,
                      description="Seed for the range (-1: a new take, the file's seed + the edits so far + 1)")
    only: BoolProperty(name="This File Only", default=False,
                       description="For a file of a stems/takes set: re-do this file alone, not the whole set")
    wait: BoolProperty(name="Wait", default=False, options={"HIDDEN", "SKIP_SAVE"},
                       description="Block until the file is re-done (background mode, scripts)")

    @classmethod
    def poll(cls, context):
        strip = compat.active_strip(context)
        if strip is None or strip.type != "SOUND" or not strip.get("foley_source_id"):
            cls.poll_message_set("The active strip must be a Foley sound strip")
            return False
        return True

    def invoke(self, context, event):
        return context.window_manager.invoke_props_dialog(self, width=420)

    def execute(self, context):
        from .regenerate import Regenerate, frame_range, media_range

        scene = compat.sequencer_scene(context)
        strip = compat.active_strip(context)
        regen = host.module("regenerate")
        try:
            a, b = frame_range(scene, strip)
            start, end = media_range(scene, strip, a, b)
            engine = engine_spec(context)
        except (StripError, regen.RegenerateError) as exc:
            self.report({"ERROR"}, f"Foley: {exc}")
            return {"CANCELLED"}
        job = regen.Regeneration(bpy.path.abspath(strip.sound.filepath), start, end, prompt=self.prompt or None,
                                 seed=self.seed if self.seed >= 0 else None, only=self.only)
        return launch(self, context, Regenerate(scene.name, job, engine),
                      f"Foley: re-doing frames {a}-{b - 1} of {strip.name}; Esc cancels")


CLASSES = (
    SEQUENCER_OT_foley_regenerate_range, SEQUENCER_OT_foley_cycle_take, SEQUENCER_OT_foley_generate, SEQUENCER_OT_foley_autofill, SEQUENCER_OT_foley_cancel, SEQUENCER_OT_foley_watch,
    SEQUENCER_OT_foley_engine_start, SEQUENCER_OT_foley_engine_stop, SEQUENCER_OT_foley_status,
    SEQUENCER_OT_foley_report,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
