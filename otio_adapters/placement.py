"""Results -> Foley audio tracks: clips at exact record samples, separated by gaps.

Every Foley track item is timed at the engine's sample rate with integer
values, so positions add up exactly (OTIO sums doubles; integers below 2**53
stay exact).
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import opentimelineio as otio

from .generator import Result
from .output_sets import outputs_metadata
from .selection import FOLEY_KEY
from .timeline_jobs import Plan
from .timemath import RT, SAMPLE_RATE, exact_value, sample_range, seconds, to_index

CLIP_PREFIX = "Foley: "
METADATA_VERSION = 1


@dataclass
class Placed:
    """One clip on a Foley track: where it starts (record sample) and the clip itself."""

    id: str
    start: int
    clip: otio.schema.Clip
    kept: bool = False  #: already on the track (the user's, or ours left alone): wins an overlap

    @property
    def end(self) -> int:
        return self.start + to_index(seconds(self.clip.trimmed_range().duration), SAMPLE_RATE)


@dataclass
class TrackPlan:
    name: str
    source_track: str  #: label of the video track it sounds under
    placed: list = field(default_factory=list)
    #: (left id, right id, Transition) for clips that meet at a cut
    transitions: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)


def placement_fingerprint(clip: otio.schema.Clip, start: int) -> str:
    """What the user could change about a placed clip; a mismatch later means "edited"."""
    ref = clip.media_reference
    sr = clip.source_range
    warps = [str(exact_value(e.time_scalar)) for e in clip.effects if isinstance(e, otio.schema.LinearTimeWarp)]
    data = [start, str(seconds(sr.start_time)) if sr else None, str(seconds(sr.duration)) if sr else None,
            getattr(ref, "target_url", None), clip.name, warps, len(clip.effects)]
    return hashlib.sha1(json.dumps(data).encode()).hexdigest()[:16]


def request_fingerprint(plan: Plan) -> str:
    r = plan.request
    data = [r.media, str(r.start), str(r.end), r.prompt, r.seed, plan.record_start, plan.record_samples, plan.offset]
    if r.stems or r.takes != 1:  # a set asked for differently is another request (older fingerprints unchanged)
        data += [list(r.stems), r.takes]
    return hashlib.sha1(json.dumps(data).encode()).hexdigest()[:16]


def foley_clip(plan: Plan, result: Result) -> otio.schema.Clip:
    vc = plan.vc
    ref = otio.schema.ExternalReference(target_url=pathlib.Path(os.path.abspath(result.path)).as_uri(),
                                        available_range=sample_range(0, result.num_samples))
    clip = otio.schema.Clip(name=CLIP_PREFIX + vc.name, media_reference=ref,
                            source_range=sample_range(plan.offset, plan.record_samples))
    clip.metadata[FOLEY_KEY] = {
        "generated": True,
        "version": METADATA_VERSION,
        "prompt": plan.request.prompt,
        "seed": result.seed,
        "backend": result.backend,
        "job_id": result.job_id,
        "source_clip": vc.name,
        "source_track": vc.track_label,
        "source_key": vc.key,
        "media": plan.request.media,
        "media_start": str(plan.request.start),
        "media_end": str(plan.request.end),
        "handles": [plan.pre, plan.post],
        "request": request_fingerprint(plan),
        "placement": placement_fingerprint(clip, plan.record_start),
    }
    if result.outputs:
        clip.metadata[FOLEY_KEY]["outputs"] = outputs_metadata(result.outputs)
    if vc.base_prompt is not None:  # a part of a clip cut by Foley markers (otio_adapters.markers)
        clip.metadata[FOLEY_KEY]["base_prompt"] = vc.base_prompt
    return clip


def mirrored_transition(video: otio.schema.Transition, left: Plan, right: Plan) -> Optional[otio.schema.Transition]:
    """The picture's transition on the Foley track, if both WAVs have the handle audio for it."""
    # in_offset reaches back over the cut (needs the incoming clip's pre-handle), out_offset forward.
    before, after = right.pre, left.post
    if before <= 0 and after <= 0:
        return None
    if before > left.record_samples or after > right.record_samples:
        return None
    return otio.schema.Transition(name=video.name, transition_type=video.transition_type,
                                  in_offset=RT(before, SAMPLE_RATE), out_offset=RT(after, SAMPLE_RATE))


def _without_overlaps(placed: list, name: str) -> tuple[list, list[str]]:
    """Kept clips first, then new ones where they fit; a warning for each new clip left out."""
    accepted, warnings = [], []
    for p in sorted(placed, key=lambda p: (not p.kept, p.start)):
        hit = next((q for q in accepted if p.start < q.end and q.start < p.end), None)
        if hit is None:
            accepted.append(p)
        else:
            warnings.append(f"{name}: {p.clip.name!r} would overlap {hit.clip.name!r}, which is kept; left out")
    return sorted(accepted, key=lambda p: p.start), warnings


def build_track(plan: TrackPlan) -> tuple[otio.schema.Track, list[str]]:
    """The audio track, and a warning for each new clip left out because a kept clip is in its place."""
    track = otio.schema.Track(name=plan.name, kind=otio.schema.TrackKind.Audio)
    track.metadata[FOLEY_KEY] = dict(plan.metadata, track=True, source_track=plan.source_track,
                                     version=METADATA_VERSION)
    transitions = {(a, b): t for a, b, t in plan.transitions}
    placed, warnings = _without_overlaps(plan.placed, plan.name)
    pos = Fraction(0)  # exact end of the last item, in seconds
    prev: Optional[Placed] = None
    for p in placed:
        at = to_index(pos, SAMPLE_RATE)
        if p.start > at:
            track.append(otio.schema.Gap(source_range=sample_range(0, p.start - at)))
            pos += Fraction(p.start - at, SAMPLE_RATE)
        elif prev is not None and (prev.id, p.id) in transitions:
            track.append(transitions[(prev.id, p.id)].clone())
        track.append(p.clip)
        pos += seconds(p.clip.trimmed_range().duration)
        prev = p
    return track, warnings
