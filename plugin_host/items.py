"""Submit items on the engine side: checked against their media, turned into Jobs.

Every item is probed when the job is submitted, so a missing file or a range
outside the media is refused at once with the field named, instead of
failing the job minutes later.
"""
from __future__ import annotations

import os
from fractions import Fraction

from foley_engine.errors import FoleyError, MediaError, RangeError
from foley_engine.job import Job
from foley_engine.media.probe import MediaInfo, probe

from .outputs import output_name
from .protocol import ProtocolError


def item_job(spec: dict) -> Job:
    return Job(
        media=spec["media"],
        start=Fraction(spec["start"]) if spec.get("start") is not None else None,
        end=Fraction(spec["end"]) if spec.get("end") is not None else None,
        prompt=spec.get("prompt", ""),
        negative_prompt=spec.get("negative_prompt", ""),
        seed=int(spec.get("seed", 0)),
        speed=Fraction(spec.get("speed", "1")),
        options=dict(spec.get("options") or {}),
    )


def resolve_items(items: list[dict], out_dir: str, job_id: str) -> list[dict]:
    """Specs with the exact resolved range and the output path; ProtocolError names a bad item."""
    probes: dict[str, MediaInfo] = {}  # timeline items often share a few source files: probe each once
    return [_resolve(i, item, out_dir, job_id, probes) for i, item in enumerate(items)]


def _resolve(i: int, item: dict, out_dir: str, job_id: str, probes: dict) -> dict:
    name = f"items[{i}]"
    media = item["media"]
    if not os.path.isabs(media):
        raise ProtocolError("schema", f"{name}.media", "must be an absolute path")
    try:
        info = probes.get(media) or probe(media)
    except MediaError as exc:
        raise ProtocolError("media", f"{name}.media", str(exc)) from None
    probes[media] = info
    job = item_job(item)
    try:
        media_range = job.resolve_range(info)
    except RangeError as exc:
        beyond = job.end is not None and job.end > info.duration
        raise ProtocolError("range", f"{name}.end" if beyond else f"{name}.start", str(exc)) from None
    except FoleyError as exc:
        raise ProtocolError(exc.code, name, str(exc)) from None
    spec = dict(item, start=str(media_range.start), end=str(media_range.end))
    spec["out_path"] = os.path.join(out_dir, output_name(media, media_range.start, media_range.end, job_id, i))
    return spec
