"""Submitted items on the engine side: checked against their media, and their results.

Every item is probed when the job is submitted, so a missing file or a range
outside the media is refused at once with the field named, instead of
failing the job minutes later.  The spec stored in the journal is the item's
wire form with its exact resolved range and its output path.
"""
from __future__ import annotations

import os

from plugin_host.items import Item
from plugin_host.protocol import ProtocolError

from ..errors import FoleyError, MediaError, RangeError
from ..job import Job
from ..media.probe import MediaInfo, probe
from .outputs import output_name


def resolve_items(items: list[dict], out_dir: str, job_id: str) -> list[dict]:
    """Specs with the exact resolved range and the output path; ProtocolError names a bad item."""
    probes: dict[str, MediaInfo] = {}  # timeline items often share a few source files: probe each once
    return [_resolve(i, item, out_dir, job_id, probes) for i, item in enumerate(items)]


def _resolve(i: int, wire: dict, out_dir: str, job_id: str, probes: dict) -> dict:
    name = f"items[{i}]"
    item = Item.from_wire(wire, name)
    if not os.path.isabs(item.media):
        raise ProtocolError("schema", f"{name}.media", "must be an absolute path")
    try:
        info = probes.get(item.media) or probe(item.media)
    except MediaError as exc:
        raise ProtocolError("media", f"{name}.media", str(exc)) from None
    probes[item.media] = info
    job = Job.from_item(item)
    try:
        media_range = job.resolve_range(info)
    except RangeError as exc:
        beyond = job.end is not None and job.end > info.duration
        raise ProtocolError("range", f"{name}.end" if beyond else f"{name}.start", str(exc)) from None
    except FoleyError as exc:
        raise ProtocolError(exc.code, name, str(exc)) from None
    spec = dict(wire, start=str(media_range.start), end=str(media_range.end))
    spec["out_path"] = os.path.join(out_dir, output_name(item.media, media_range.start, media_range.end, job_id, i))
    return spec


def spec_item(spec: dict) -> Item:
    """The item a journal spec holds (its engine-only ``out_path`` aside)."""
    return Item.from_wire({k: v for k, v in spec.items() if k != "out_path"})
