"""The batch's items and what an earlier run left: one :class:`Unit` per media file or timeline clip.

A unit's key is :func:`plugin_host.batch.item_key` (the item and its output
folder), so the same work is the same key from run to run.  The state file
(``foley-batch-state.json`` in the output folder) records the finished units
with their results, and how often each one failed: a unit's submit id is
``<key>-<failures>``, the same after an interruption or an engine restart (the
engine answers it with the job it already has) and a new one for a unit that
failed before (so a re-run tries it again).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from plugin_host.atomic import write_json_atomic
from plugin_host.batch import item_key
from plugin_host.items import Item, Result
from plugin_host.timebase import output_duration

from .inputs import media_seconds
from .names import mirrored_folders, readable_names

STATE_FILE = "foley-batch-state.json"


@dataclass
class Unit:
    """One item of the batch and what became of it."""

    source: str  #: the input it came from (a media file or a timeline)
    label: str
    item: Item
    out_dir: str
    seconds: Fraction
    timeline: Optional[str] = None
    request_key: Optional[str] = None  #: the timeline request it answers
    status: str = "pending"  #: pending, done, skipped, failed
    result: Optional[Result] = None
    error: Optional[str] = None
    job_id: str = ""
    fraction: float = 0.0
    #: the engine submit id of this run (kept across reconnects, so the engine finds its job again)
    submit_id: str = ""
    #: a media file's readable WAV path (:mod:`.names`); the engine's file is renamed to it
    wav: Optional[str] = None
    #: a regeneration (:mod:`.regenerations`): the Foley file whose range this item re-does
    regenerates: Optional[str] = None
    #: a key of the unit's own (a regeneration's: its edit line), else the item's
    fixed_key: str = ""

    @property
    def key(self) -> str:
        """A stable id: the same item to the same folder is the same key."""
        return self.fixed_key or item_key(self.item, self.out_dir)


@dataclass
class TimelinePlan:
    """One timeline of the batch: where its filled copy goes, and its :class:`otio_adapters.FillPlan`."""

    path: str
    output: str
    out_dir: str
    fill: Optional[object] = None  #: otio_adapters.roundtrip.FillPlan
    report: Optional[object] = None  #: otio_adapters.FillReport, once placed
    error: Optional[str] = None


def plan_units(media: list[str], timelines: list[str], out: str, prompt: Optional[str], seed: Optional[int],
               options: dict, stems: tuple = (), takes: int = 1) -> tuple[list[Unit], list[TimelinePlan]]:
    """Every input as units (a media file: one item for the whole file; a timeline: one item per clip to
    generate, exactly as ``foley otio fill`` plans them)."""
    units: list[Unit] = []
    folders = mirrored_folders(media, out)
    wavs = readable_names(media, folders)
    for path in media:
        seconds = media_seconds(path) or Fraction(0)
        item = Item(media=path, prompt=prompt or "", seed=seed or 0, options=dict(options),
                    label=os.path.basename(path), stems=stems, takes=takes)
        # Labelled by the path below the inputs' common folder ("ep1/a.mov"), like its output.
        label = os.path.normpath(os.path.join(os.path.relpath(folders[path], out), os.path.basename(path)))
        units.append(Unit(path, label, item, folders[path], seconds, wav=wavs[path]))
    plans: list[TimelinePlan] = []
    for path in timelines:
        tp = _plan_timeline(path, out, prompt, seed, stems, takes)
        plans.append(tp)
        for r in tp.fill.requests if tp.error is None else ():
            units.append(Unit(path, f"{os.path.basename(path)}: {r.label}", r.to_item(options), tp.out_dir,
                              output_duration(r.start, r.end, r.speed), timeline=path,
                              request_key=r.key))
    return units, plans


def _plan_timeline(path: str, out: str, prompt: Optional[str], seed: Optional[int], stems: tuple = (),
                   takes: int = 1) -> TimelinePlan:
    from otio_adapters.roundtrip import FillOptions, plan
    from otio_adapters.timeline_io import read_timeline

    stem, ext = os.path.splitext(os.path.basename(path))
    out_dir = os.path.join(out, f"{stem}_foley")
    output = os.path.join(out, f"{stem}_foley{ext if ext in ('.otio', '.xml') else '.otio'}")
    tp = TimelinePlan(path, output, out_dir)
    try:
        options = FillOptions(out_dir=out_dir, prompt=prompt, seed=seed, base_dir=os.path.dirname(path),
                              stems=stems, takes=takes)
        tp.fill = plan(read_timeline(path), options)
        tp.report = tp.fill.report
    except Exception as exc:  # noqa: BLE001 - one bad timeline fails alone
        tp.error = f"{os.path.basename(path)}: {exc}"
    return tp


# ---------------------------------------------------------------------- state


def load_state(out: str) -> dict:
    try:
        with open(os.path.join(out, STATE_FILE), encoding="utf-8") as f:
            state = json.load(f)
        if isinstance(state, dict) and isinstance(state.get("done"), dict):
            state.setdefault("failed", {})
            return state
    except (OSError, ValueError):
        pass
    return {"done": {}, "failed": {}}


def submit_id(u: Unit, state: dict) -> str:
    """The engine submit id of ``u`` in this run: the same after a reconnect (the engine finds its job
    again), a new one for an item that failed in an earlier run (so a re-run tries it again)."""
    return f"{u.key}-{state.get('failed', {}).get(u.key, 0)}"


def earlier_result(u: Unit, state: dict) -> Optional[Result]:
    """What an earlier run made for ``u``, if its WAV is still there (never half a file: the engine
    writes atomically)."""
    earlier = state["done"].get(u.key)
    if not earlier:
        return None
    try:
        result = Result.from_wire(earlier["result"])
    except Exception:  # noqa: BLE001 - a state file from elsewhere: generate again
        return None
    paths = [o.path for o in result.outputs] or [result.path]  # a set counts only when every file is there
    return result if all(output_exists(p) for p in paths) else None


def output_exists(path: str) -> bool:
    """Whether a result's WAV is still there (more than a bare 44-byte header: the engine writes atomically)."""
    try:
        return os.path.isfile(path) and os.path.getsize(path) > 44
    except (OSError, TypeError, ValueError):
        return False


def give_readable_name(u: Unit) -> None:
    """Rename the engine's WAV of media unit ``u`` to its readable path (same folder: atomic)."""
    if u.wav is None or u.result is None or os.path.abspath(u.result.path) == u.wav:
        return
    if os.path.isfile(u.result.path):
        os.replace(u.result.path, u.wav)
    elif not os.path.isfile(u.wav):
        return  # neither is there: the summary reports the engine's path as it is
    u.result = dataclasses.replace(u.result, path=u.wav)


def record_done(u: Unit, state: dict, state_path: str) -> None:
    state["done"][u.key] = {"result": u.result.to_wire(), "label": u.label, "input": u.source}
    write_json_atomic(state_path, state, indent=1, sort_keys=True)


def record_run(doc: dict, state: dict, state_path: str) -> None:
    """Keep this run's figures (when it generated anything), so a re-run's summary still shows them."""
    t = doc["totals"]
    if t["done"]:
        state.setdefault("runs", []).append({
            "started": doc["started"], "wall_seconds": doc["wall_seconds"], "done": t["done"],
            "media_seconds_generated": t["media_seconds_generated"], "x_realtime": t["x_realtime"]})
        write_json_atomic(state_path, state, indent=1, sort_keys=True)


def record_failures(units: list[Unit], state: dict, state_path: str) -> None:
    failed = state.setdefault("failed", {})
    for u in units:
        if u.status == "failed":
            failed[u.key] = failed.get(u.key, 0) + 1
    write_json_atomic(state_path, state, indent=1, sort_keys=True)
