"""Result file names and clean-up of partial files.

Names come from the media's file name, the resolved range and the job id,
never from free-form client strings, so two jobs never collide and a name
always says what the file holds: ``<media>_<start>-<end>_<job8>_<item>.wav``.
"""
from __future__ import annotations

import glob
import os
import re
from fractions import Fraction

from foley_engine.media.wav import partial_prefix
from foley_engine.timebase import round_half_away

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _stem(media: str) -> str:
    stem = os.path.splitext(os.path.basename(media))[0]
    stem = _UNSAFE.sub("_", stem).strip("_") or "media"
    return stem[:40]


def _ms(t: Fraction) -> str:
    ms = round_half_away(Fraction(t) * 1000)
    return f"{ms // 1000}s{ms % 1000:03d}"


def output_name(media: str, start: Fraction, end: Fraction, job_id: str, index: int) -> str:
    return f"{_stem(media)}_{_ms(start)}-{_ms(end)}_{job_id[:8]}_{index:03d}.wav"


def remove_partials(out_path: str) -> list[str]:
    """Delete temp files a killed writer left beside ``out_path`` (see AtomicWavWriter)."""
    folder = os.path.dirname(out_path)
    removed = []
    for path in glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(partial_prefix(out_path))}*.partial")):
        try:
            os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed
