"""Decode a video's independent stretches side by side (the analysis-only read).

libavcodec decodes H.264 and HEVC on several cores with *frame threads*, which cost
about a quarter more CPU time than one thread per decoder (measured on 1080p H.264:
1.98 against 1.54-1.61 CPU seconds per minute).  A stream restarts at an **IDR**
picture: nothing after it refers to anything before it, and a decoder outputs every
earlier picture before it.  So the packets are split at IDR access units into
segments, each segment is decoded by its own single-threaded decoder in a small pool,
and the pictures are handed on in segment order: the same pictures, in the same
order, as one decoder gives, for less CPU time and, with two or more cores, less wall
time (``benchmarks/longform.py`` measures it).

Only where that holds: H.264 and HEVC split at IDR pictures, found by NAL unit type (a
container's *keyframe* flag is also set on open-GOP I pictures, whose leading pictures
refer back across them), intra-only codecs at any packet.  Anything else, and a stretch
longer than :data:`MAX_SEGMENT` without an IDR (intra refresh, very long GOPs), goes on
through one frame-threaded decoder from there, so memory stays bounded.

Used for reads that need only the analysis picture (no backend frame grid): the
pictures are reduced to grey in the worker threads.
"""
from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, Optional

import av
import numpy as np

#: a segment is closed at the first IDR after this much media time (decoder set-up amortised)
MIN_SEGMENT = Fraction(1)
#: with no IDR for this long the rest is decoded by one decoder (bounded memory)
MAX_SEGMENT = Fraction(30)
#: most decoders at once (each one thread)
MAX_WORKERS = 8

#: NAL unit types of an IDR picture: H.264 5; HEVC IDR_W_RADL 19, IDR_N_LP 20
_IDR_TYPES = {"h264": {5}, "hevc": {19, 20}}
#: codecs whose every packet is a whole picture, decodable alone
_INTRA_ONLY = {"mjpeg", "prores", "dnxhd", "png", "qtrle"}


@dataclass
class GrayPicture:
    """A decoded picture already reduced to the analysis image (the frame itself is gone)."""

    pts: Optional[int]
    time_base: Fraction
    gray: np.ndarray


def workers() -> int:
    """Decoders to run side by side: one per core, at most :data:`MAX_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


def splittable(codec_name: str) -> bool:
    """Can this codec's packets be split into independently decodable segments?"""
    return codec_name in _IDR_TYPES or codec_name in _INTRA_ONLY


def _nal_types(data: bytes, length_size: int) -> Iterator[int]:
    """Header bytes of the NAL units in a packet: length-prefixed (MP4/MOV) or Annex B (0 = start codes)."""
    if length_size:
        i, n = 0, len(data)
        while i + length_size < n:
            size = int.from_bytes(data[i: i + length_size], "big")
            yield data[i + length_size]
            i += length_size + size
        return
    i = data.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(data):
        yield data[i + 3]
        i = data.find(b"\x00\x00\x01", i + 3)


def _length_size(codec_name: str, extradata: Optional[bytes]) -> int:
    """NAL length field size from avcC/hvcC extradata; 0 for Annex B streams."""
    if not extradata or extradata[0] != 1:
        return 0
    if codec_name == "h264" and len(extradata) > 4:
        return (extradata[4] & 3) + 1
    if codec_name == "hevc" and len(extradata) > 21:
        return (extradata[21] & 3) + 1
    return 0


class _RestartFinder:
    """Is a packet a point the stream restarts at (a new segment may begin there)?"""

    def __init__(self, stream):
        ctx = stream.codec_context
        self.intra_only = ctx.name in _INTRA_ONLY
        self.idr = _IDR_TYPES.get(ctx.name, set())
        # The NAL unit type's place in the header byte: HEVC bits 1-6, H.264 bits 0-4.
        self.shift, self.mask = (1, 0x3F) if ctx.name == "hevc" else (0, 0x1F)
        self.length_size = _length_size(ctx.name, bytes(ctx.extradata or b""))

    def __call__(self, packet) -> bool:
        if self.intra_only:
            return True
        if not packet.is_keyframe:
            return False
        return any((b >> self.shift) & self.mask in self.idr for b in _nal_types(bytes(packet), self.length_size))


def _decoder(stream, threads: str):
    """A fresh decoder for ``stream``'s packets: ``"one"`` thread, or libav's ``"frames"`` threads."""
    ctx = av.CodecContext.create(stream.codec_context.name, "r")
    ctx.extradata = stream.codec_context.extradata
    if threads == "one":
        ctx.thread_count = 1
    else:
        ctx.thread_type = "AUTO"
    return ctx


def _decode_segment(stream, packets: list, to_gray: Callable, halted: Callable[[], bool]) -> tuple[list, Optional[BaseException]]:
    """One segment on a fresh single-threaded decoder: its pictures, and the error that ended it early."""
    pictures: list[GrayPicture] = []
    tb = stream.time_base
    try:
        ctx = _decoder(stream, threads="one")
        for packet in packets + [None]:
            if halted():
                break
            for frame in ctx.decode(packet):
                pictures.append(GrayPicture(frame.pts, tb, to_gray(frame)))
    except av.error.FFmpegError as exc:
        return pictures, exc  # the pictures before it are handed on first, like one decoder would
    return pictures, None


def segment_pictures(container, stream, to_gray: Callable, stop: threading.Event,
                     end_pts: Optional[int] = None, pool_size: Optional[int] = None) -> Iterator[GrayPicture]:
    """Every picture of ``stream`` from the container's current position, in the order one decoder
    outputs them, as :class:`GrayPicture` (``to_gray`` applied in the worker threads).  Demuxing
    stops after the first packet decoded at or after ``end_pts`` (stream time base)."""
    restart = _RestartFinder(stream)
    tb = stream.time_base
    min_span, max_span = int(MIN_SEGMENT / tb), int(MAX_SEGMENT / tb)
    size = pool_size or workers()
    done = threading.Event()  # the consumer went away: the workers stop between packets

    def halted() -> bool:
        return stop.is_set() or done.is_set()

    in_flight: deque[Future] = deque()
    packets = container.demux(stream)
    current: list = []
    first_pts: Optional[int] = None
    tail = False

    def hand_on(future: Future) -> Iterator[GrayPicture]:
        pictures, error = future.result()
        yield from pictures
        if error is not None:
            raise error

    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="foley-segment")
    try:
        for packet in packets:
            if halted():
                return
            if packet.size == 0:
                continue  # the demuxer's end-of-stream packet: each decoder is flushed anyway
            pts = packet.pts if packet.pts is not None else packet.dts
            if current and restart(packet) and (first_pts is None or pts is None or pts - first_pts >= min_span):
                in_flight.append(pool.submit(_decode_segment, stream, current, to_gray, halted))
                current, first_pts = [], None
                while len(in_flight) > size:  # bounded: decoded segments wait to be handed on
                    yield from hand_on(in_flight.popleft())
            current.append(packet)
            if first_pts is None:
                first_pts = pts
            elif pts is not None and pts - first_pts > max_span:
                tail = True
                break
            if end_pts is not None and packet.dts is not None and packet.dts >= end_pts:
                break  # every picture shown before end_pts is in a packet demuxed by now
        if current and not tail:
            in_flight.append(pool.submit(_decode_segment, stream, current, to_gray, halted))
        while in_flight and not halted():
            yield from hand_on(in_flight.popleft())
        if tail:
            yield from _decode_rest(stream, current, packets, to_gray, halted)
    finally:
        done.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _decode_rest(stream, buffered: list, packets, to_gray: Callable, halted: Callable[[], bool]) -> Iterator[GrayPicture]:
    """No restart for too long: the buffered packets and the rest of the stream on one frame-threaded decoder."""
    ctx = _decoder(stream, threads="frames")
    tb = stream.time_base

    def remaining():
        yield from buffered
        for packet in packets:
            if packet.size:
                yield packet
        yield None

    for packet in remaining():
        if halted():
            return
        for frame in ctx.decode(packet):
            yield GrayPicture(frame.pts, tb, to_gray(frame))
