"""A spotting list: the visual events of a media range as rows an editor can read.

Each row is one event at a frame's exact PTS: its kind (``impact`` = a hit,
``flash``, ``insert`` = a brief insert, ``start``, ``footstep`` with
``--footsteps``, and ``cut`` for shot boundaries), the frame number and
timecode at the media's own rate (the file's start timecode added), the time
in seconds from the first frame (exact, as a fraction too), its strength and
position.  ``foley events`` prints it and writes JSON or CSV; ``foley review``
draws it.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Callable, Optional

from .analysis import Analyzer, EventLog, VisualEvents
from .media.decode import FrameReader
from .media.probe import MediaInfo
from .timebase import format_seconds, frames_to_timecode, timecode_to_frames, to_index

#: the columns of the CSV, in order
COLUMNS = ("kind", "timecode", "frame", "seconds", "time", "strength", "x", "y", "tag")


@dataclass(frozen=True)
class SpotRow:
    kind: str
    timecode: str  # HH:MM:SS:FF at the media's rate (';' when drop-frame), "" when the rate is unknown
    frame: int  # frame number from the first frame at the media's rate (-1 when unknown)
    seconds: float  # from the first frame, for reading; ``time`` is exact
    time: str  # exact seconds from the first frame, as a fraction "p/q"
    strength: float
    x: float  # -1 (left) .. +1 (right)
    y: float  # -1 (top) .. +1 (bottom)
    tag: str = ""


def analyse_range(info: MediaInfo, start: Fraction, end: Fraction, motion: str = "diff", specs: tuple = (),
                  on_frame: Optional[Callable] = None, people=None) -> VisualEvents:
    """The visual events of media time ``[start, end)``, streaming (memory O(look-ahead)).
    ``on_frame`` sees every :class:`~foley_engine.media.decode.DecodedFrame` (with the
    grid images of ``specs``): progress, thumbnails.  ``people`` (a
    :class:`~.analysis.people.PeopleTracker`) adds footsteps, as ``foley generate`` finds them
    for a prompt that asks for footsteps."""
    analyzer, log = Analyzer(motion=motion), EventLog()
    # Footsteps are decided some frames after they land: read (and convert) that much past the end.
    read_end = end
    if people is not None:
        from .longform.scheduler import people_spec

        specs = tuple(specs) + (people_spec(info),)
        read_end = end + people.delay
    reader = FrameReader(info, start=start, end=read_end, specs=specs, grid_range=(start, read_end))
    try:
        for frame in reader:
            log.add(analyzer.push(frame.time, frame.gray))
            if people is not None:
                people.feed(log.events, frame.time, frame.grid)
            if on_frame is not None:
                on_frame(frame)
        log.add(analyzer.flush())
    finally:
        reader.close()
    if log.analysed_until is None:
        return VisualEvents()
    return log.view(start, end)


def rows(events: VisualEvents, info: MediaInfo, with_cuts: bool = True) -> list[SpotRow]:
    """The events as spotting rows, in time order (cuts included unless ``with_cuts`` is off)."""
    fps = info.fps
    offset = timecode_to_frames(info.start_timecode, fps) if (fps and info.start_timecode) else 0
    items = [(o.time, o.kind, o.strength, o.x, o.y, o.tag) for o in events.onsets]
    if with_cuts:
        items += [(c, "cut", 1.0, 0.0, 0.0, "") for c in events.cuts]
    out = []
    for t, kind, strength, x, y, tag in sorted(items, key=lambda r: (r[0], r[1])):
        frame = to_index(t, fps) if fps else -1
        timecode = frames_to_timecode(frame + offset, fps) if fps else ""
        out.append(SpotRow(kind, timecode, frame, round(float(t), 6), f"{t.numerator}/{t.denominator}",
                           round(float(strength), 3), round(float(x), 3), round(float(y), 3), tag))
    return out


def write(path: str, spot: list[SpotRow], info: MediaInfo, start: Fraction, end: Fraction) -> None:
    """JSON (``.json``) or CSV (anything else), written atomically (temp file + rename)."""
    tmp = f"{path}.part"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        if path.lower().endswith(".json"):
            json.dump({"media": info.path, "fps": str(info.fps) if info.fps else None,
                       "start_timecode": info.start_timecode,
                       "range": [format_seconds(start), format_seconds(end)],
                       "events": [asdict(r) for r in spot]}, f, indent=1)
            f.write("\n")
        else:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(asdict(r) for r in spot)
    os.replace(tmp, path)


def table(spot: list[SpotRow]) -> str:
    """The rows as an aligned text table for the terminal."""
    lines = [f"{'kind':<9} {'timecode':<12} {'frame':>6} {'seconds':>9} {'strength':>8} {'x':>6} {'y':>6}  tag"]
    for r in spot:
        lines.append(f"{r.kind:<9} {r.timecode:<12} {r.frame:>6} {r.seconds:>9.3f} {r.strength:>8.2f} "
                     f"{r.x:>6.2f} {r.y:>6.2f}  {r.tag}".rstrip())
    return "\n".join(lines)
