"""Where ``foley batch`` puts each media file's WAV, under a name a person can read.

The engine names its files by media, range and job (``ep1_0s000-1320s000_3fa2c1d0_000.wav``), all
in the one folder it is given.  A season is easier to use mirrored: ``--out`` keeps the inputs'
folders (relative to the folder they all share) and each WAV is named after its media file::

    season/ep1/a.mov, season/ep2/a.mov  ->  OUT/ep1/a.wav, OUT/ep2/a.wav

A short hash of the work is added only where two inputs would still get one name
(``a.mov`` and ``a.mp4`` in one folder: ``a_mov.wav``, ``a_mp4.wav``; then ``a_mov_<hash8>.wav``).
"""
from __future__ import annotations

import hashlib
import os
import re

_UNSAFE = re.compile(r"[^\w.-]+")


def mirrored_folders(media: list[str], out: str) -> dict[str, str]:
    """media path -> its output folder: ``out`` plus the path below the inputs' common folder."""
    if not media:
        return {}
    folders = [os.path.dirname(os.path.abspath(p)) for p in media]
    try:
        common = os.path.commonpath(folders)
    except ValueError:  # different drives (Windows): flat
        return {p: out for p in media}
    return {p: os.path.normpath(os.path.join(out, os.path.relpath(f, common))) for p, f in zip(media, folders)}


def readable_names(media: list[str], folders: dict[str, str]) -> dict[str, str]:
    """media path -> the WAV path for it: ``<stem>.wav``, made unique within each folder."""
    def stem(p: str) -> str:
        return _UNSAFE.sub("_", os.path.splitext(os.path.basename(p))[0]).strip("_.") or "media"

    def with_ext(p: str) -> str:
        ext = os.path.splitext(p)[1].lstrip(".")
        return f"{stem(p)}_{_UNSAFE.sub('_', ext)}" if ext else stem(p)

    def hashed(p: str) -> str:
        return f"{with_ext(p)}_{hashlib.sha256(os.path.abspath(p).encode()).hexdigest()[:8]}"

    names = {p: stem(p) for p in media}
    for rule in (with_ext, hashed):
        taken: dict[tuple[str, str], list[str]] = {}
        for p in media:
            taken.setdefault((folders[p], names[p].lower()), []).append(p)
        for clash in (group for group in taken.values() if len(group) > 1):
            for p in clash:
                names[p] = rule(p)
    return {p: os.path.join(folders[p], names[p] + ".wav") for p in media}
