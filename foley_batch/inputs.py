"""What ``foley batch`` was given: media files and timelines, from files, folders, globs and @lists."""
from __future__ import annotations

import glob
import os
import stat
from fractions import Fraction
from typing import Optional

MEDIA_EXTENSIONS = (".mp4", ".mov", ".mkv", ".mxf", ".avi", ".m4v", ".webm", ".mts", ".m2ts", ".mpg", ".mpeg",
                    ".ts", ".wmv", ".flv", ".3gp")
TIMELINE_EXTENSIONS = (".otio", ".otioz", ".otiod", ".xml", ".edl", ".fcpxml", ".aaf")


#: @lists may name @lists, this deep at most (a cycle is refused at once)
MAX_LIST_DEPTH = 16
#: an @list larger than this is not a list of inputs
MAX_LIST_BYTES = 16 * 2**20


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

    read_lists: set[tuple[int, int]] = set()  # (device, inode) of every @list already read

    def expand(entries: list[str], chain: tuple[str, ...]) -> None:
        for entry in entries:
            if entry.startswith("@"):
                path = entry[1:]
                lines = read_list(path, chain)
                if lines is None:
                    continue  # read already, from another list: its entries are in
                base = os.path.dirname(os.path.abspath(path))
                expand([_beside(ln, base) for ln in lines], chain + (path,))
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

    def read_list(path: str, chain: tuple[str, ...]) -> Optional[list[str]]:
        where = f"@{path}" + (f" (listed in {' -> '.join('@' + c for c in chain)})" if chain else "")
        if len(chain) >= MAX_LIST_DEPTH:
            raise BatchError(f"{where}: lists nested more than {MAX_LIST_DEPTH} deep")
        try:
            # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise BatchError(f"{where}: cannot read the list: {exc.strerror or exc}") from None
        with open(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BatchError(f"{where}: not a regular file (a device, FIFO or socket is not a list)")
            key = (info.st_dev, info.st_ino)
            if any(_same_file(c, key) for c in chain):
                raise BatchError(f"{where}: the list includes itself (a cycle)")
            if key in read_lists:
                return None
            read_lists.add(key)
            data = f.read(MAX_LIST_BYTES + 1)
        if len(data) > MAX_LIST_BYTES:
            raise BatchError(f"{where}: over {MAX_LIST_BYTES // 2**20} MiB; not a list of inputs")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BatchError(f"{where}: not UTF-8 text") from None
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]

    expand(list(inputs), ())
    return media, timelines


def _beside(line: str, base: str) -> str:
    """A list's line, relative to the list's own folder (an @list's name too)."""
    if line.startswith("@"):
        return "@" + _beside(line[1:], base)
    return line if os.path.isabs(line) else os.path.join(base, line)


def _same_file(path: str, key: tuple[int, int]) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == key


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
