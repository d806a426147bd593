"""*Foley – Regenerate Range*: re-do part of a Foley clip in place (Resolve has no script entry in the clip's
right-click menu, so it is a Workspace › Scripts entry that acts on the Foley clip under the playhead).

- **Which clip**: the clip under the playhead on the topmost audio track named "Foley…" whose file these
  scripts made (it lies under the output folder).
- **Which range**: the timeline's mark in/out (the out frame included, as Resolve shows it), else the
  timeline marker with a duration under the playhead (a marker range), else the in and out the dialog
  asks for; cut to the clip.
- **What happens**: ``foley regenerate --engine`` (:mod:`plugin_host.regenerate`) re-does that range of the
  clip's WAV: every sample outside it is bit-identical, the previous file is kept as
  ``<name>.before-regenerate-<k>.wav``, a file of a stems/takes set re-does the whole set unless
  *This file only*; each changed file's media pool item is refreshed with ``MediaPoolItem.ReplaceClip``
  (same path), so the timeline plays the new audio.

Frames map to the WAV's media time exactly: the file's media range starts on the clip's first source
frame (``GetLeftOffset``, timeline frames into the file, as for video), at the timeline rate.
"""
from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional

from .api import Context, ResolveError, call, clip_property, mark_in_out
from .place import TRACK_NAME, FoleyTracks
from .ui import Field

TITLE = "Regenerate Range"


def foley_clip_under_playhead(ctx: Context, out_root: str):
    """The Foley clip of ours under the playhead (topmost Foley track first), or ResolveError."""
    frame = ctx.frame(str(ctx.timeline.GetCurrentTimecode() or ""))
    tracks = FoleyTracks(ctx, out_root)
    families = [i for i in range(int(ctx.timeline.GetTrackCount("audio")), 0, -1)
                if str(ctx.timeline.GetTrackName("audio", i) or "").startswith(TRACK_NAME)]
    for index in families:
        for item in ctx.timeline.GetItemListInTrack("audio", index) or []:
            if int(item.GetStart()) <= frame < int(item.GetEnd()) and tracks.ours(item):
                return item
    raise ResolveError(f"no Foley clip made by these scripts under the playhead at {ctx.timecode(frame)}; "
                       "put the playhead on the Foley clip to re-do")


def marker_range(ctx: Context) -> Optional[tuple[int, int]]:
    """``[first, end)`` of the timeline marker with a duration under the playhead, else None."""
    frame = ctx.frame(str(ctx.timeline.GetCurrentTimecode() or ""))
    markers = call(ctx.timeline, "GetMarkers") or {}
    for at, info in sorted(markers.items(), key=lambda m: float(m[0])):
        first = ctx.start_frame + int(round(float(at)))
        length = int(round(float((info or {}).get("duration") or 1)))
        if length > 1 and first <= frame < first + length:
            return first, first + length
    return None


def ask(ctx: Context, ui, clip_name: str) -> Optional[tuple[dict, tuple[int, int]]]:
    """(answers, record frames ``[a, b)``) from the dialog, or None when cancelled."""
    marks = mark_in_out(ctx)
    found = (marks[0], marks[1] + 1) if marks is not None else marker_range(ctx)
    fields = [Field("prompt", "Prompt (empty: the file's own)", ""),
              Field("seed", "Seed (empty: a new take)", ""),
              Field("only", "This file only (not its whole stems/takes set)", "No", ("No", "Yes"))]
    if found is None:  # no marks and no marker range here: ask for them
        frame = ctx.frame(str(ctx.timeline.GetCurrentTimecode() or ""))
        fields += [Field("in", "Mark in", ctx.timecode(frame)), Field("out", "Mark out", ctx.timecode(frame))]
    answers = ui.ask(f"{TITLE}: {clip_name}", fields)
    if answers is None:
        return None
    if found is None:
        found = ctx.frame(answers["in"]), ctx.frame(answers["out"]) + 1
    return answers, found


def media_range(ctx: Context, item, wav: str, a: int, b: int) -> tuple[Fraction, Fraction]:
    """The WAV's media seconds shown on record frames ``[a, b)`` of ``item``, cut to the clip."""
    from plugin_host.regenerate import file_range

    start, end = int(item.GetStart()), int(item.GetEnd())
    a, b = max(a, start), min(b, end)
    if b <= a:
        raise ResolveError(f"the range to re-do is outside the Foley clip ({ctx.timecode(start)} – "
                           f"{ctx.timecode(end - 1)})")
    zero, _ = file_range(wav)
    left = int(call(item, "GetLeftOffset") or 0)
    return zero + Fraction(a - start + left, ctx.rate), zero + Fraction(b - start + left, ctx.rate)


def regenerate(ctx: Context, ui, spec, out_root: str, report) -> None:
    """The whole command, into ``report`` (a :class:`~.foley_resolve.Report`)."""
    from plugin_host.regenerate import Regeneration, RegenerateError

    item = foley_clip_under_playhead(ctx, out_root)
    mpi = item.GetMediaPoolItem()
    wav = clip_property(mpi, "File Path")
    chosen = ask(ctx, ui, str(item.GetName()))
    if chosen is None:
        report.cancelled = True
        return
    answers, (a, b) = chosen
    seed = str(answers.get("seed") or "").strip()
    if seed and not seed.isdigit():
        raise ResolveError(f"the seed must be a whole number, not {seed!r}")
    try:
        start, end = media_range(ctx, item, wav, a, b)
        job = Regeneration(wav, start, end, prompt=str(answers.get("prompt") or "").strip() or None,
                           seed=int(seed) if seed else None,
                           only=str(answers.get("only", "No")).strip().lower() in ("yes", "y", "true", "1", "on"))
        done = ui.run(TITLE, lambda show, stop: _work(job, spec, show, stop))
    except RegenerateError as exc:
        raise ResolveError(str(exc)) from None
    if done is None:
        report.cancelled = True
        return
    files = [f["path"] for f in done.get("files") or [{"path": done["path"]}]]
    refreshed = _refresh(ctx, files)
    report.placed.append(f"re-did {ctx.timecode(max(a, int(item.GetStart())))} – "
                         f"{ctx.timecode(min(b, int(item.GetEnd())) - 1)} of {os.path.basename(wav)} "
                         f"(seed {done['seed']}); the previous file is {os.path.basename(done['backup'])}")
    if len(files) > 1:
        report.warnings.append(f"and the {len(files) - 1} other file(s) of its stems/takes set, each with its backup")
    if refreshed < len(files):
        report.warnings.append(f"{len(files) - refreshed} re-done file(s) could not be refreshed in the media pool "
                               "(Resolve lacks ReplaceClip here): relink them to hear the new audio")


def _work(job, spec, show, stop) -> Optional[dict]:
    from plugin_host.regenerate import RegenerateError, run

    show(f"re-doing {os.path.basename(job.wav)}", 0.0)
    try:
        result = run(job, spec, cancelled=stop)
    except RegenerateError:
        if stop():
            return None
        raise
    show("done", 1.0)
    return result


def _refresh(ctx: Context, paths: list) -> int:
    """``ReplaceClip`` (same path) on each media pool item of ``paths`` in the Foley bin: Resolve reads it again."""
    from .place import foley_bin

    wanted = {os.path.normcase(os.path.abspath(p)) for p in paths}
    done = 0
    for clip in foley_bin(ctx).GetClipList() or []:
        path = clip_property(clip, "File Path")
        if os.path.normcase(os.path.abspath(path)) in wanted and call(clip, "ReplaceClip", path):
            done += 1
    return done
