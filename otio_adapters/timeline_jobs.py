"""Selected video clips -> engine requests, with every range in exact samples.

For a clip on record ``[R0, R1)`` the Foley clip covers record samples
``to_index(R0) .. to_index(R1)``.  The request asks the engine for a media
range that starts on the sample of the clip's source start and is exactly
as many samples long (plus transition handles); a speed-changed clip is
generated at its record duration from the source played at that speed.  So
the WAV lines up with the picture sample for sample and fills the clip exactly.
"""
from __future__ import annotations

import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

import opentimelineio as otio

from .generator import Request
from .selection import VideoClip
from .timemath import SAMPLE_RATE, fmt, seconds, to_index


class ClipError(Exception):
    """A clip that cannot be filled; the message names it."""


@dataclass
class Plan:
    vc: VideoClip
    request: Request
    record_start: int  #: track-relative record sample of the clip's first frame
    record_samples: int  #: the clip's record length in samples
    pre: int  #: record samples of handle before the clip (under an incoming transition)
    post: int  #: record samples of handle after it
    media_samples: int  #: length of the WAV the engine will write
    offset: int  #: WAV sample shown at record_start

    @property
    def key(self) -> str:
        return self.request.key


def url_to_path(url: str, base_dir: str) -> str:
    """A media reference's target URL (``file://`` or a plain path) as a local path."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        # Not otio.url_utils: it leaves "#" and "?" in names unescaped and cuts the path there.
        path = urllib.request.url2pathname(parsed.path)
        if parsed.netloc and parsed.netloc != "localhost":
            path = f"//{parsed.netloc}{path}"  # a UNC share
    elif parsed.scheme and len(parsed.scheme) > 1:
        raise ValueError(f"media URL {url!r} is not a local file")
    else:
        path = url  # a plain path (one-letter "schemes" are Windows drives)
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(base_dir, path))


def relink(path: str, roots: Sequence[str]) -> Optional[str]:
    """The moved file under one of ``roots``: same name, the most trailing folders in common."""
    name = os.path.basename(path)
    want = path.replace("\\", "/").split("/")
    best, best_score = None, -1
    for root in roots:
        for folder, _, files in os.walk(root):
            if name in files:
                found = os.path.join(folder, name)
                have = found.replace("\\", "/").split("/")
                score = 0
                while score < min(len(want), len(have)) and want[-1 - score] == have[-1 - score]:
                    score += 1
                if score > best_score:
                    best, best_score = found, score
    return best


def media_path(vc: VideoClip, base_dir: str, relink_roots: Sequence[str] = ()) -> str:
    ref = vc.clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        kind = type(ref).__name__ if ref is not None else "no"
        raise ClipError(f"{vc.label}: has {kind} media reference, not a media file")
    try:
        path = url_to_path(ref.target_url, base_dir)
    except ValueError as exc:
        raise ClipError(f"{vc.label}: {exc}") from None
    if os.path.isfile(path):
        return path
    moved = relink(path, relink_roots) if relink_roots else None
    if moved:
        return os.path.abspath(moved)
    hint = "" if relink_roots else " (moved? pass --relink DIR)"
    raise ClipError(f"{vc.label}: media file not found: {path}{hint}")


def plan_clip(vc: VideoClip, base_dir: str, relink_roots: Sequence[str] = (), rate: int = SAMPLE_RATE) -> Plan:
    """The engine request and sample placement for one clip (:class:`ClipError` if impossible)."""
    if vc.skip:
        raise ClipError(f"{vc.label}: skipped: {vc.skip}")
    path = media_path(vc, base_dir, relink_roots)
    ref = vc.clip.media_reference
    avail = ref.available_range
    # OTIO source times count in the media's own timecode (its available range
    # starts at the embedded start timecode); the engine counts from the first frame.
    media_zero = seconds(avail.start_time) if avail is not None else Fraction(0)
    media_end = media_zero + seconds(avail.duration) if avail is not None else None
    speed = vc.speed
    s0 = vc.source_start - media_zero
    s1 = s0 + (vc.record_end - vc.record_start) * speed
    if s0 < 0:
        raise ClipError(f"{vc.label}: its source starts {fmt(-s0)} before the start of its media")
    if media_end is not None and s1 > media_end - media_zero:
        raise ClipError(f"{vc.label}: its source runs {fmt(s1 - (media_end - media_zero))} past the end of its media")
    # Handles only as far as the media goes.
    before = min(vc.handle_before, s0 / speed)
    after = vc.handle_after
    if media_end is not None:
        after = min(after, (media_end - media_zero - s1) / speed)
    r0, r1 = to_index(vc.record_start, rate), to_index(vc.record_end, rate)
    pre = r0 - to_index(vc.record_start - before, rate)
    post = to_index(vc.record_end + after, rate) - r1
    if r1 <= r0:
        raise ClipError(f"{vc.label}: shorter than one audio sample")
    # The WAV holds exactly the record samples [r0 - pre, r1 + post).  The
    # engine plays the source at `speed`, so those samples come from media
    # that starts `pre` record samples (times the speed) before the source
    # start and lasts `length * speed` samples: for any speed the engine's
    # output is then exactly `length` samples (see foley_engine.job.Job.speed).
    length = pre + (r1 - r0) + post
    start = s0 - Fraction(pre, rate) * speed
    end = start + Fraction(length, rate) * speed
    if media_end is not None and end > media_end - media_zero:
        # Sub-sample rounding at the very end of the media: start a hair earlier.
        shift = end - (media_end - media_zero)
        start, end = start - shift, end - shift
    if start < 0:
        end, start = end - start, Fraction(0)
    request = Request(key=vc.key, media=path, start=start, end=end, prompt=vc.prompt or "", seed=vc.seed or 0,
                      speed=speed, label=vc.label, record_sample=r0)
    offset = pre
    return Plan(vc, request, r0, r1 - r0, pre, post, length, offset)
