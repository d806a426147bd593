"""Fill a timeline with Foley, idempotently.

Re-running on its own output replaces the Foley clips it made before
(recognised by their metadata), reuses the ones whose request has not
changed, keeps clips the user edited (unless ``force``) and clips it did not
make, and never adds a second track for the same video track.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterable, Optional, Sequence

import opentimelineio as otio

from .generator import Generator, Result
from .output_sets import add_set_tracks, is_set_track
from .markers import split_clip
from .placement import (
    CLIP_PREFIX, Placed, TrackPlan, build_track, foley_clip, mirrored_transition, placement_fingerprint,
    request_fingerprint,
)
from .selection import Selection, foley_metadata, video_clips, video_tracks
from .timeline_jobs import ClipError, Plan, plan_clip, url_to_path
from .timemath import SAMPLE_RATE, seconds, to_index


@dataclass
class FillOptions:
    out_dir: str
    selection: Selection = field(default_factory=Selection)
    #: for clips without a marker comment or foley.prompt metadata; None: the prompt of the clip's
    #: earlier Foley (so re-running without --prompt updates without changing the sound), else ""
    prompt: Optional[str] = None
    seed: Optional[int] = None
    base_dir: str = "."  #: relative media paths are resolved from here (the timeline file's folder)
    relink: Sequence[str] = ()
    track_name: str = "Foley"
    force: bool = False
    #: Foley classes to write as stems (one track each) and takes to make (alternates, disabled)
    stems: tuple = ()
    takes: int = 1
    #: called with the timeline so far after each finished clip (``--partial``)
    on_update: Optional[Callable[[otio.schema.Timeline], None]] = None


@dataclass
class FillReport:
    timeline: otio.schema.Timeline
    filled: list = field(default_factory=list)  #: labels of clips generated now
    reused: list = field(default_factory=list)  #: labels whose Foley was already up to date
    kept_edited: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  #: warnings (effects, no media reference)
    failed: list = field(default_factory=list)  #: one-line errors naming the clip
    warnings: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Old:
    """A clip found on an existing Foley track."""

    id: str
    start: int
    clip: otio.schema.Clip
    ours: bool
    edited: bool
    key: Optional[str]  #: its video clip's key; None for ours-without-metadata (after FCP XML)


@dataclass
class _OldTrack:
    index: int
    track: otio.schema.Track
    clips: list
    transitions: list  #: (left id, right id, Transition)


def _is_foley_track(track) -> bool:
    return not is_set_track(track) and isinstance(track, otio.schema.Track) and track.kind == otio.schema.TrackKind.Audio and \
        bool(foley_metadata(track).get("track"))


def _looks_like_foley_track(track) -> bool:
    """An audio track of only our clips: how a Foley track reads back from FCP XML (no metadata)."""
    if not isinstance(track, otio.schema.Track) or track.kind != otio.schema.TrackKind.Audio or is_set_track(track):
        return False
    clips = list(track.find_clips(shallow_search=True))
    return bool(clips) and all(c.name.startswith(CLIP_PREFIX) for c in clips)


def _read_old_track(index: int, track: otio.schema.Track) -> _OldTrack:
    clips, transitions = [], []
    pos = Fraction(0)
    prev_id = None
    pending = None
    for i, child in enumerate(track):
        if isinstance(child, otio.schema.Transition):
            pending = (prev_id, child)
            continue
        start = to_index(pos, SAMPLE_RATE)
        pos += seconds(child.trimmed_range().duration)
        if isinstance(child, otio.schema.Clip):
            meta = foley_metadata(child)
            ours = bool(meta.get("generated")) or child.name.startswith(CLIP_PREFIX)
            edited = bool(meta) and meta.get("placement") != placement_fingerprint(child, start)
            cid = f"old{index}:{i}"
            clips.append(_Old(cid, start, child.clone(), ours, edited, meta.get("source_key") if meta else None))
            if pending is not None and pending[0] is not None:
                transitions.append((pending[0], cid, pending[1].clone()))
            prev_id = cid
        else:
            prev_id = None
        pending = None
    return _OldTrack(index, track, clips, transitions)


def _match_old_tracks(timeline, labels: list, base_name: str) -> dict:
    """Existing Foley tracks by the video track label they belong to."""
    found: dict = {}
    loose = []
    names = {f"{base_name} {label}": label for label, _ in labels}
    if len(labels) == 1:
        names[base_name] = labels[0][0]
    for i, track in enumerate(timeline.tracks):
        if _is_foley_track(track):
            label = foley_metadata(track).get("source_track")
            if label in dict(labels) and label not in found:
                found[label] = _read_old_track(i, track)
                continue
        if _is_foley_track(track) or _looks_like_foley_track(track):
            loose.append((i, track))
    for i, track in loose:
        label = names.get(track.name)
        if label is None or label in found:
            # Names are lost too (FCP XML): take the video tracks in order.
            label = next((lb for lb, _ in labels if lb not in found), None)
        if label is not None:
            found[label] = _read_old_track(i, track)
    return found


class FillPlan:
    """What filling a timeline will do (:func:`plan`), and the placing of results as they come (:func:`place`).

    ``requests`` are the clips to generate; everything else (reused, kept, skipped, failed
    before generating) is already in ``report``.
    """

    def __init__(self, timeline: otio.schema.Timeline, options: FillOptions):
        self.options = options
        self.source = source = copy.deepcopy(timeline)
        self.report = report = FillReport(timeline=source)
        all_clips = video_clips(source)
        self.labels = [(label, index) for label, index, _ in video_tracks(source)]
        self.old_tracks = _match_old_tracks(source, self.labels, options.track_name)
        chosen = options.selection.apply(all_clips, source, options.prompt, options.seed)
        report.skipped += options.selection.left_out

        old_by_label = {label: t.clips for label, t in self.old_tracks.items()}
        for vc in chosen:
            earlier = next((foley_metadata(o.clip) for o in old_by_label.get(vc.track_label, []) if o.key == vc.key), {})
            if vc.prompt is None:
                # A clip cut by Foley markers keeps its own prompt apart from the markers' (base_prompt).
                vc.prompt = str(earlier.get("base_prompt", earlier.get("prompt", "")))
            if vc.seed is None:
                vc.seed = int(earlier.get("seed", 0))

        plans: list[Plan] = []
        split_keys = set()
        for vc in chosen:
            # Foley markers cut a clip into parts, each with its prompt (otio_adapters.markers).
            for part in split_clip(vc, source):
                split_keys.add(part.key)
                try:
                    one = plan_clip(part, options.base_dir, options.relink)
                    if options.stems or options.takes != 1:
                        one.request = dataclasses.replace(one.request, stems=tuple(options.stems), takes=options.takes)
                    plans.append(one)
                except ClipError as exc:
                    (report.skipped if vc.skip else report.failed).append(str(exc))

        self.keys_now = {vc.key for vc in all_clips} | split_keys
        self.starts_now = {to_index(vc.record_start, SAMPLE_RATE) for vc in all_clips}
        self.reuse: dict = {}  # key -> _Old that is already up to date
        self.to_generate: list[Plan] = []
        for plan in plans:
            olds = [o for o in old_by_label.get(plan.vc.track_label, []) if o.ours and o.key == plan.key]
            edited = [o for o in olds if o.edited]
            if edited and not options.force:
                report.kept_edited.append(f"{plan.vc.label}: kept the Foley clip you edited (--force replaces it)")
                continue
            fresh = [o for o in olds if not o.edited and _up_to_date(o, plan)]
            if fresh and not options.force:
                self.reuse[plan.key] = fresh[0]
                report.reused.append(plan.vc.label)
                continue
            self.to_generate.append(plan)
        self.key_at = {p.record_start: p.key for p in plans}
        self.succeeded: dict = {}  # key -> (plan, result)
        self.failed_keys: set = set()
        self.pending = {p.key: p for p in self.to_generate}

    @property
    def requests(self) -> list:
        """What to generate, one :class:`~otio_adapters.generator.Request` per clip."""
        return [p.request for p in self.to_generate]

    def _replaced(self, o: _Old) -> bool:
        if not o.ours or (o.edited and not self.options.force):
            return False
        if o.key is None:  # no metadata (read back from FCP XML): judge by position
            return self.key_at[o.start] in self.succeeded if o.start in self.key_at else o.start not in self.starts_now
        if o.key in self.reuse:
            return self.reuse[o.key] is not o
        return o.key in self.succeeded or o.key not in self.keys_now

    def assemble(self) -> otio.schema.Timeline:
        """The timeline with every result placed so far."""
        out = copy.deepcopy(self.source)
        by_label: dict = {}
        several = len(self.labels) > 1
        for label, index in self.labels:
            old = self.old_tracks.get(label)
            new = [(p, r) for p, r in self.succeeded.values() if p.vc.track_label == label]
            if old is None and not new:
                continue
            if not new and not any(self._replaced(o) for o in old.clips):
                continue  # nothing to change: leave the track exactly as it was
            name = old.track.name if old is not None and old.track.name else (
                f"{self.options.track_name} {label}" if several else self.options.track_name)
            tp = TrackPlan(name=name, source_track=label)
            if old is not None:
                tp.metadata = {k: v for k, v in foley_metadata(old.track).items()
                               if k not in ("track", "source_track", "version")}
                kept = {o.id for o in old.clips if not self._replaced(o)}
                tp.placed += [Placed(o.id, o.start, o.clip.clone(), kept=True) for o in old.clips if o.id in kept]
                tp.transitions += [(a, b, t) for a, b, t in old.transitions if a in kept and b in kept]
            tp.placed += [Placed("new:" + p.key, p.record_start, foley_clip(p, r)) for p, r in new]
            tp.transitions += _new_transitions(new)
            by_label[label] = tp
        for label, tp in by_label.items():
            track, warnings = build_track(tp)
            self.report.warnings.extend(w for w in warnings if w not in self.report.warnings)
            old = self.old_tracks.get(label)
            if old is not None:
                out.tracks[old.index] = track
            else:
                out.tracks.append(track)
        add_set_tracks(out, self.source, self.options.track_name)
        return out

    def accept(self, result: Result) -> None:
        """One clip's result (or failure): checked, then placed (``on_update`` sees the timeline so far)."""
        plan = self.pending.get(result.key)
        if plan is None:
            return
        report = self.report
        if result.ok:
            problem = _check_result(plan, result)
            if problem is None:
                self.succeeded[plan.key] = (plan, result)
                report.filled.append(plan.vc.label)
                report.warnings.extend(f"{plan.vc.label}: {w}" for w in result.warnings
                                       if f"{plan.vc.label}: {w}" not in report.warnings)
                if self.options.on_update is not None:
                    self.options.on_update(self.assemble())
                return
            result.error = problem
        self.failed_keys.add(plan.key)
        report.failed.append(result.error)

    def finish(self) -> FillReport:
        """The report, with the whole timeline; a clip with no result by now failed."""
        missing = [p for p in self.to_generate if p.key not in self.succeeded and p.key not in self.failed_keys]
        self.report.failed += [f"{p.vc.label}: the engine returned no result" for p in missing]
        self.report.timeline = self.assemble()
        return self.report


def plan(timeline: otio.schema.Timeline, options: FillOptions) -> FillPlan:
    """Which clips to generate (``.requests``) and what is reused, kept or skipped; nothing is generated."""
    return FillPlan(timeline, options)


def place(fill_plan: FillPlan, results: Iterable[Result]) -> FillReport:
    """``fill_plan``'s timeline with ``results`` placed (results for other keys are ignored)."""
    for result in results:
        fill_plan.accept(result)
    return fill_plan.finish()


def fill(timeline: otio.schema.Timeline, generator: Generator, options: FillOptions) -> FillReport:
    """A copy of ``timeline`` with Foley tracks for the selected clips, and what happened."""
    fp = plan(timeline, options)
    if fp.requests:
        os.makedirs(options.out_dir, exist_ok=True)
        generator.run(fp.requests, options.out_dir, fp.accept)
    return fp.finish()


def _up_to_date(old: _Old, plan: Plan) -> bool:
    meta = foley_metadata(old.clip)
    path = getattr(old.clip.media_reference, "target_url", "") or ""
    try:
        exists = os.path.isfile(url_to_path(path, "."))
    except ValueError:
        exists = False
    return exists and meta.get("request") == request_fingerprint(plan) and old.start == plan.record_start


def _check_result(plan: Plan, result: Result) -> Optional[str]:
    if result.sample_rate != SAMPLE_RATE:
        return f"{plan.vc.label}: the engine wrote {result.sample_rate} Hz audio; Foley tracks are {SAMPLE_RATE} Hz"
    if result.start_sample != to_index(plan.request.start, SAMPLE_RATE) or result.num_samples != plan.media_samples:
        return (f"{plan.vc.label}: the engine wrote samples {result.start_sample}+{result.num_samples} where "
                f"{to_index(plan.request.start, SAMPLE_RATE)}+{plan.media_samples} were asked for")
    return None


def _new_transitions(new: list) -> list:
    out = []
    by_video_transition = {}
    for plan, _ in new:
        if plan.vc.transition_after is not None:
            by_video_transition[id(plan.vc.transition_after)] = plan
    for plan, _ in new:
        t = plan.vc.transition_before
        left = by_video_transition.get(id(t)) if t is not None else None
        if left is None or left.record_start + left.record_samples != plan.record_start:
            continue
        mirrored = mirrored_transition(t, left, plan)
        if mirrored is not None:
            out.append(("new:" + left.key, "new:" + plan.key, mirrored))
    return out
