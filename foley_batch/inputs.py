"""What ``foley batch`` was given: media files and timelines, from files, folders, globs and @lists."""
from __future__ import annotations

import glob
import os
from fractions import Fraction
from typing import Optional

MEDIA_EXTENSIONS = (".mp4", ".mov", ".mkv", ".mxf", ".avi", ".m4v", ".webm", ".mts", ".m2ts", ".mpg", ".mpeg",
                    ".ts", ".wmv", ".flv", ".3gp")
TIMELINE_EXTENSIONS = (".otio", ".otioz", ".otiod", ".xml", ".edl", ".fcpxml", ".aaf")


class BatchError(Exception):
    """A problem with the inputs or the output folder, as one line."""


def expand_inputs(inputs: list[str], out_dir: str = "") -> tuple[list[str], list[str]]:
    """(media files, timelines), absolute, in a stable order, each once; :class:`BatchError` for an input
    that names nothing."""
    media: list[str] = []
    timelines: list[str] = []
    seen: set[str] = set()
    out_dir = os.path.abspath(out_dir) if out_dir else ""

    def add(path: str, explicit: bool) -> None:
        path = os.path.abspath(path)
        if path in seen or (out_dir and path.startswith(out_dir + os.sep)):
            return
        ext = os.path.splitext(path)[1].lower()
        if ext in TIMELINE_EXTENSIONS:
            seen.add(path)
            timelines.append(path)
        elif ext in MEDIA_EXTENSIONS or explicit:
            seen.add(path)
            media.append(path)

    def walk(folder: str) -> None:
        for base, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    add(os.path.join(base, name), explicit=False)

    pending = list(inputs)
    while pending:
        entry = pending.pop(0)
        if entry.startswith("@"):
            try:
                with open(entry[1:], encoding="utf-8") as f:
                    lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
            except OSError as exc:
                raise BatchError(f"{entry}: cannot read the list: {exc.strerror or exc}") from None
            base = os.path.dirname(os.path.abspath(entry[1:]))
            pending[0:0] = [ln if os.path.isabs(ln) or ln.startswith("@") else os.path.join(base, ln)
                            for ln in lines]
        elif os.path.isdir(entry):
            walk(entry)
        elif os.path.isfile(entry):
            add(entry, explicit=True)
        elif glob.has_magic(entry):
            matches = sorted(glob.glob(entry, recursive=True))
            if not matches:
                raise BatchError(f"{entry}: matches no file")
            for m in matches:
                walk(m) if os.path.isdir(m) else add(m, explicit=False)
        else:
            raise BatchError(f"{entry}: no such file or folder")
    return media, timelines


def media_seconds(path: str) -> Optional[Fraction]:
    """The container's duration (for ordering and progress); None when unknown."""
    try:
        import av

        with av.open(path) as c:
            video = next((s for s in c.streams if s.type == "video"), None)
            if video is not None and video.duration is not None and video.time_base is not None:
                return Fraction(video.duration) * video.time_base
            if c.duration is not None:
                return Fraction(c.duration, 1_000_000)
    except Exception:  # noqa: BLE001 - the engine refuses a bad file with the reason at submit
        return None
    return None
