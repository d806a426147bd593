"""Open a media file and describe its video: first-frame time, duration, rate, timecode.

Media time zero is the presentation time of the first video frame; every
time the engine reports is relative to it.  The checks here turn the ways a
file can be unusable into one clear :class:`MediaError` each.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

import av

from ..errors import MediaError
from ..timebase import exact_rate, format_seconds


@dataclass(frozen=True)
class MediaInfo:
    path: str
    width: int
    height: int
    codec: str
    #: presentation time of the first video frame in the container, seconds
    first_pts: Fraction
    #: media duration: end of the last frame minus first_pts
    duration: Fraction
    #: nominal frame rate (average for variable frame rate media), exact
    fps: Optional[Fraction]
    #: SMPTE start timecode stored in the file, if any
    start_timecode: Optional[str]
    has_audio: bool

    def to_dict(self) -> dict:
        """JSON-safe form (exact times as fraction strings): the engine journals the probe once."""
        return {"path": self.path, "width": self.width, "height": self.height, "codec": self.codec,
                "first_pts": str(self.first_pts), "duration": str(self.duration),
                "fps": None if self.fps is None else str(self.fps), "start_timecode": self.start_timecode,
                "has_audio": self.has_audio}

    @classmethod
    def from_dict(cls, d: dict) -> "MediaInfo":
        return cls(path=str(d["path"]), width=int(d["width"]), height=int(d["height"]), codec=str(d["codec"]),
                   first_pts=Fraction(d["first_pts"]), duration=Fraction(d["duration"]),
                   fps=None if d.get("fps") is None else Fraction(d["fps"]), start_timecode=d.get("start_timecode"),
                   has_audio=bool(d["has_audio"]))

    def describe(self) -> str:
        tc = f", starts at {self.start_timecode}" if self.start_timecode else ""
        fps = f"{float(self.fps):.3f} fps" if self.fps else "unknown fps"
        return f"{self.width}x{self.height} {self.codec}, {fps}, {format_seconds(self.duration)}{tc}"


def open_container(path: str):
    """``av.open`` with our error messages for missing, directory and non-media paths."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise MediaError(f"{path}: no such file") from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise MediaError(f"{path}: is a directory, not a video file")
    if not stat.S_ISREG(mode):
        # A FIFO, device or socket would block the reader until something writes to it.
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) \
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        raise MediaError(f"{path}: is {kind}; only regular media files are read")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: permission denied")
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise MediaError(f"{path}: not a video file, or the file is damaged (no readable container)") from None
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot open ({exc.strerror or exc})") from None


def video_stream(container, path: str):
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        what = f"only {', '.join(kinds)} streams" if kinds else "no streams"
        raise MediaError(f"{path}: has no video stream ({what}); Foley needs picture to follow")
    return container.streams.video[0]


def _start_timecode(container, stream) -> Optional[str]:
    for meta in [stream.metadata, container.metadata] + [s.metadata for s in container.streams]:
        tc = meta.get("timecode")
        if tc:
            return tc.strip()
    return None


def _stream_end(stream) -> Optional[Fraction]:
    tb = stream.time_base
    if stream.duration is None or tb is None:
        return None
    start = stream.start_time or 0
    return Fraction(start + stream.duration) * tb


def probe(path: str) -> MediaInfo:
    path = os.fspath(path)
    container = open_container(path)
    try:
        stream = video_stream(container, path)
        first = first_frame_pts(container, stream, path)
        end = _stream_end(stream)
        if end is None and container.duration is not None:
            end = Fraction(container.duration, av.time_base) + Fraction(container.start_time or 0, av.time_base)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = exact_rate(Fraction(rate)) if rate else None
        if end is None or end <= first:
            # Streams without a duration in the header (e.g. raw elementary
            # streams): demux once to find the last packet's end.
            end = _demux_end(path)
        duration = end - first
        if duration <= 0:
            raise MediaError(f"{path}: video has no duration")
        return MediaInfo(
            path=path,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            codec=stream.codec_context.name,
            first_pts=first,
            duration=duration,
            fps=fps,
            start_timecode=_start_timecode(container, stream),
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


def first_frame_pts(container, stream, path: str) -> Fraction:
    """PTS (seconds) of the first frame in presentation order."""
    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            return Fraction(frame.pts) * frame.time_base
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: video cannot be decoded ({exc.strerror or exc}); the file may be truncated") from None
    raise MediaError(f"{path}: video stream has no frames")


def _demux_end(path: str) -> Fraction:
    end = None
    with av.open(path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = Fraction(packet.pts + (packet.duration or 0)) * packet.time_base
            end = t if end is None or t > end else end
    if end is None:
        raise MediaError(f"{path}: video stream has no frames")
    return end
