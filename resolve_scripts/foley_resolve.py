"""The three Resolve commands: pick clips, ask the engine, place the results.

    from resolve_scripts.foley_resolve import run
    run(resolve, "current", ConsoleUI(), Options(EngineSpec(), out_root="~/Foley/Resolve"))

``command`` is ``current`` (the clip under the playhead on the topmost enabled
video track), ``flagged`` (clips with a chosen flag or clip colour; a clip's
marker note is its prompt), ``range`` (clips between mark in and mark out) or
``regenerate`` (re-do the marked range of the Foley clip under the playhead, :mod:`.regenerate`).
``foley:`` markers on the timeline and on clips split a clip into prompt parts, and
*Mark events* writes the engine's events back as timeline markers (:mod:`.markers`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from .api import (
    ANY_FLAG, COLOURS, Context, ResolveError, call, context, current_item, flagged_items, items_in_range, mark_in_out,
    marker_note,
)
from .clips import ClipError, engine_item, exported_clips, plan_item
from .engine import EngineSpec, connect, generate
from .markers import clip_prompts, spot, timeline_prompts
from .place import place, track_label
from .place_sets import place_sets
from .regenerate import regenerate
from .ui import Field, make_ui

COMMANDS = {"current": "Generate for Current Clip", "flagged": "Auto-fill Flagged Clips", "range": "Fill In/Out Range",
            "regenerate": "Regenerate Range"}


def default_out_root() -> str:
    return os.environ.get("FOLEY_RESOLVE_OUTPUT") or os.path.join(os.path.expanduser("~"), "Foley", "Resolve")


@dataclass
class Options:
    engine: EngineSpec = field(default_factory=EngineSpec)
    #: WAVs go to <out_root>/<project>/<timeline>/; Foley clips whose WAV is under it are "ours" (replaced on re-runs)
    out_root: str = field(default_factory=default_out_root)
    use_export: bool = True  #: read timing from Timeline.Export(EXPORT_OTIO) where Resolve has it


@dataclass
class Report:
    placed: list = field(default_factory=list)
    replaced: int = 0
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    cancelled: bool = False
    error: Optional[str] = None
    route: str = ""  #: "otio" or "direct": where clip timing came from
    #: the notice when this run started the engine (it outlives Resolve's dialog; see plugin_host.process)
    engine_started: Optional[str] = None
    items: list = field(default_factory=list)  #: what was sent to the engine

    def summary(self) -> str:
        """A head line, then one line per clip that was skipped or failed and per warning."""
        if self.error:
            head = f"Foley: {self.error}"
        elif self.route == "regenerate":
            head = f"Foley: {self.placed[0]}" if self.placed else "Foley: nothing re-done" + (
                ", cancelled" if self.cancelled else "")
        else:
            head = f"Foley: {len(self.placed)} clip(s) placed"
            if self.replaced:
                head += f" ({self.replaced} earlier Foley clip(s) replaced)"
            head += f", {len(self.skipped)} skipped, {len(self.failed)} failed"
            head += ", cancelled" if self.cancelled else ""
        notes = [self.engine_started] if self.engine_started else []
        return "\n".join([head] + [f"  {line}" for line in self.skipped + self.failed + self.warnings + notes])


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9 ._-]+", "_", name).strip(" .") or "untitled"


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ResolveError(f"the seed must be a whole number, not {text!r}") from None


def _common_fields(prompt: str, prompt_label: str = "Prompt") -> list:
    return [Field("prompt", prompt_label, prompt), Field("negative_prompt", "Negative prompt", ""),
            Field("seed", "Seed", "0"), Field("stems", "Stems (feet,props,moves,bg or all; empty: one mix)", ""),
            Field("takes", "Takes", "1"), Field("spot", "Mark the events seen (timeline markers)", "No", ("No", "Yes"))]


def _yes(text) -> bool:
    """A yes/no answer from a dialog or ``Foley settings.json`` (``"Yes"``, ``true``, ``1``, ``on``)."""
    return str(text).strip().lower() in ("yes", "y", "true", "1", "on")


def _set_fields(answers: dict) -> dict:
    """``stems`` and ``takes`` from the dialog, checked by the item's own rules (one line if wrong)."""
    from plugin_host.fields import ProtocolError
    from plugin_host.items import MAX_TAKES, parse_stems

    try:
        stems = parse_stems(str(answers.get("stems") or ""))
    except ProtocolError as exc:
        raise ResolveError(f"stems: {exc.message}") from None
    takes = str(answers.get("takes") or "1").strip()
    if not takes.isdigit() or not 1 <= int(takes) <= MAX_TAKES:
        raise ResolveError(f"takes must be a whole number from 1 to {MAX_TAKES}, not {takes!r}")
    return {"stems": stems, "takes": int(takes)}


def choose(ctx: Context, command: str, ui) -> Optional[tuple[list, dict, dict]]:
    """(items, prompt per item key, answers), or None when the user cancelled the dialog."""
    title = COMMANDS[command]
    if command == "current":
        item = current_item(ctx)
        answers = ui.ask(f"{title}: {item.name}", _common_fields(marker_note(item)))
        return None if answers is None else ([item], {item.key: answers["prompt"]}, answers)
    if command == "flagged":
        fields = [Field("colour", "Clips with", ANY_FLAG, (ANY_FLAG,) + COLOURS)]
        answers = ui.ask(title, fields + _common_fields("", "Prompt (clips without a marker note)"))
        if answers is None:
            return None
        items = flagged_items(ctx, answers["colour"])
        if not items:
            what = "a flag" if answers["colour"] == ANY_FLAG else f"a {answers['colour']} flag or clip colour"
            raise ResolveError(f"no clip on the timeline has {what}")
        return items, {i.key: marker_note(i) or answers["prompt"] for i in items}, answers
    if command == "range":
        marks = mark_in_out(ctx)
        fields = _common_fields("")
        if marks is None:  # no marks set, or Resolve before 19.1: ask for them
            end = int(ctx.timeline.GetEndFrame())
            fields += [Field("in", "Mark in", ctx.timecode(ctx.start_frame)),
                       Field("out", "Mark out", ctx.timecode(end - 1))]
        answers = ui.ask(title, fields)
        if answers is None:
            return None
        first, last = marks if marks is not None else (ctx.frame(answers["in"]), ctx.frame(answers["out"]))
        items = items_in_range(ctx, first, last)
        if not items:
            raise ResolveError(f"no clip between {ctx.timecode(first)} and {ctx.timecode(last)}")
        return items, {i.key: answers["prompt"] for i in items}, answers
    raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")


def run(resolve, command: str, ui, options: Optional[Options] = None) -> Report:
    """One menu command, start to end; every outcome is in the report and shown to the user."""
    from plugin_host.client import EngineError

    options = options or Options()
    report = Report()
    try:
        ctx = context(resolve)
        if command == "regenerate":
            report.route = "regenerate"
            client = _connect(options, ui, report)
            client.close()  # `foley regenerate --engine` connects by itself; the engine is up now
            regenerate(ctx, ui, dataclasses.replace(options.engine, autostart=False), options.out_root, report)
            ui.message(report.summary())
            return report
        chosen = choose(ctx, command, ui)
        if chosen is None:
            report.cancelled = True
            return report
        items, prompts, answers = chosen
        seed = _seed(answers["seed"])
        set_fields = _set_fields(answers)
        exported = None
        if options.use_export:
            try:
                exported = exported_clips(ctx)
            except Exception as exc:  # an export this version of otio_adapters cannot read: the API still works
                report.warnings.append(f"the timeline's OTIO export could not be read ({exc}); used the scripting API")
        report.route = "otio" if exported is not None else "direct"
        targets, engine_items = [], []
        on_timeline = timeline_prompts(ctx)
        for item in items:
            try:
                parts = plan_item(ctx, item, prompts[item.key], exported, clip_prompts(ctx, item, on_timeline))
                engine_items += [dataclasses.replace(engine_item(ctx, t, answers["negative_prompt"], seed),
                                                     **set_fields) for t in parts]
                targets += parts
            except ClipError as exc:
                report.skipped.append(str(exc))
        if not targets:
            raise ResolveError("nothing to generate")
        report.items = [i.to_wire() for i in engine_items]
        client = _connect(options, ui, report)
        out_dir = os.path.join(options.out_root, _safe(str(ctx.project.GetName())), _safe(ctx.name))
        try:
            outcome = ui.run(COMMANDS[command], lambda show, stop: generate(
                client, targets, engine_items, out_dir, show, stop))
        finally:
            client.close()
        report.failed += outcome.failed
        report.warnings += outcome.warnings
        report.cancelled = outcome.cancelled
        placement = place_sets(ctx, outcome.sets, options.out_root, place(ctx, outcome.done, options.out_root))
        report.placed = [f"{name} -> {track_label(ctx, index)} at {ctx.timecode(at)}"
                         for name, index, at in placement.placed]
        report.replaced = placement.replaced
        report.warnings += placement.warnings
        if _yes(answers.get("spot", "No")):
            report.warnings += _spot(ctx, placement)
    except (ResolveError, EngineError) as exc:
        report.error = str(exc)
    except RuntimeError as exc:  # Resolve refused an edit (import, track, append)
        report.error = str(exc)
    ui.message(report.summary())
    return report


def _connect(options: Options, ui, report: Report):
    """A client of the running engine, or of one started when the user agrees (ResolveError if not)."""
    from plugin_host.client import EngineNotRunning

    try:
        return connect(options.engine, autostart=False)
    except EngineNotRunning:
        if not ui.confirm("The Foley engine is not running. Start it now?"):
            raise ResolveError("no engine is running; start one with `foley engine serve`") from None
        client = connect(options.engine, autostart=True)
        report.engine_started = client.started
        return client


def _spot(ctx: Context, placement) -> list:
    """The engine's events of every placed part as timeline markers (once per part: a set's files share
    them); the lines for the summary."""
    firsts = {}
    for target, path in placement.files:
        firsts.setdefault(id(target), (path, target.start, target.end, target.plan.offset))
    spotted = spot(ctx, list(firsts.values()))
    lines = [f"{spotted.written} event marker(s) written"
             + (f", {spotted.removed} earlier one(s) removed" if spotted.removed else "")
             + (f"; {spotted.blocked} event(s) not marked: a marker of yours is on that frame" if spotted.blocked
                else "")]
    return lines + spotted.warnings


def load_config(path: str) -> dict:
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _resolve_object(env: dict):
    if env.get("resolve") is not None:
        return env["resolve"]
    bmd = env.get("bmd")
    if bmd is not None:
        return bmd.scriptapp("Resolve")
    try:
        import DaVinciResolveScript  # external scripting (Preferences › General › External scripting)
    except ImportError:
        return None
    return DaVinciResolveScript.scriptapp("Resolve")


#: without UIManager (free Resolve from 19.1) the answers come from this file next to the scripts
SETTINGS_NAME = "Foley settings.json"
REPORT_NAME = "Foley report.txt"


def settings_paths(config_file: str, env: dict) -> tuple[str, str]:
    """The settings file and the report file: beside the installed config, else beside the menu script."""
    where = config_file or env.get("__file__") or ""
    folder = os.path.dirname(os.path.abspath(where)) if where else os.getcwd()
    return os.path.join(folder, SETTINGS_NAME), os.path.join(folder, REPORT_NAME)


def run_from_menu(command: str, env: dict, config_file: str = "") -> Report:
    """Entry point of the Workspace › Scripts files: ``env`` is the script's globals."""
    config = load_config(config_file)
    resolve = _resolve_object(env)
    fusion = env.get("fusion") or env.get("fu") or (call(resolve, "Fusion") if resolve is not None else None)
    ui = make_ui(fusion, env.get("bmd"), *settings_paths(config_file, env))
    spec = EngineSpec(config.get("connection_file"), config.get("engine_command"), tuple(config.get("serve_args", ())))
    return run(resolve, command, ui, Options(spec, config.get("output") or default_out_root()))
