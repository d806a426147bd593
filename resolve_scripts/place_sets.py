"""Stems and takes in Resolve: one named Foley track family per stem, takes in Resolve's take selector.

Each stem's take 1 is placed like a single Foley clip (:func:`.place.place_one`) on its own track
family: "Foley Feet" (then "Foley Feet 2" where the first holds something else), "Foley Props",
"Foley Moves", "Foley BG".  Takes 2..N are added to that clip's take selector
(``TimelineItem.AddTake(mediaPoolItem, startFrame, endFrame)``, the same source frames), and the
selected take is the one the earlier Foley clip there had selected (``GetSelectedTakeIndex``), so
a re-run keeps the user's choice; the user picks a take in Resolve's take selector (right-click ›
Take Selector) and may ``Finalize Take``.  Where a Resolve lacks ``AddTake`` the takes go to
tracks "Foley take 2", ... (with stems "Foley Feet take 2"), disabled where ``SetTrackEnable``
exists.
"""
from __future__ import annotations

from otio_adapters.timemath import exact_rate
from plugin_host.items import stem_track_name

from .api import Context, call, clip_property
from .clips import Target
from .place import FoleyTracks, Placement, clip_info, foley_bin, import_wav, place_one, to_whole_frames


def place_sets(ctx: Context, sets: list, out_root: str, report: Placement) -> Placement:
    """Each (target, outputs) of ``sets`` placed by :func:`place_set`, into ``report``."""
    if not sets:
        return report
    folder, families = foley_bin(ctx), {}
    for target, outputs in sets:
        try:
            place_set(ctx, report, families, folder, target, outputs, out_root)
        except RuntimeError as exc:  # Resolve refused an import or a new track: the other clips still go
            report.warnings.append(f"{target.label}: {exc}")
    return report


def place_set(ctx: Context, report: Placement, families: dict, folder, target: Target, outputs, out_root: str) -> None:
    """Place one item's set: per stem, take 1 on its track and the other takes as its takes."""
    stems = list(dict.fromkeys(o.stem for o in outputs))
    for stem in stems:
        files = sorted((o for o in outputs if o.stem == stem), key=lambda o: o.take)
        name = stem_track_name(stem)
        tracks = families.setdefault(name, FoleyTracks(ctx, out_root, name))
        item, chosen = place_one(ctx, report, tracks, folder, target, files[0].path)
        if len(files) == 1:
            continue
        if _add_takes(ctx, report, item, folder, target, files[1:]):
            count = int(call(item, "GetTakesCount") or 0)
            call(item, "SelectTakeByIndex", chosen if 1 <= chosen <= count else 1)
            continue
        for o in files[1:]:  # no take selector in this Resolve: alternates on their own tracks, disabled
            alt = families.setdefault(f"{name} take {o.take}", FoleyTracks(ctx, out_root, f"{name} take {o.take}"))
            place_one(ctx, report, alt, folder, target, o.path)
            call(ctx.timeline, "SetTrackEnable", "audio", report.placed[-1][1], False)


def _add_takes(ctx: Context, report: Placement, item, folder, target: Target, files) -> bool:
    """Add ``files`` as takes of ``item`` (same source frames as take 1); False where there is no AddTake."""
    for o in files:
        whole = to_whole_frames(target, o.path) if ctx.whole_source_frames else None
        mpi = import_wav(ctx, folder, o.path)
        fps = exact_rate(clip_property(mpi, "FPS") or ctx.rate)
        info = clip_info(target, mpi, 0, fps, whole)
        added = call(item, "AddTake", mpi, info["startFrame"], info["endFrame"])
        if added is None:
            return False
        if not added:
            report.warnings.append(f"{target.label}: Resolve did not add take {o.take}")
    return True
