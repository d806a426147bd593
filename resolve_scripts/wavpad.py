"""Whole media-pool frames for Resolve before 19.0.3, whose ``startFrame``/``endFrame`` take integers only.

Resolve counts a WAV in frames of its media-pool rate (24 for audio files).
A placed range ``[offset, offset + length)`` in 48 kHz samples is rarely a
whole number of those frames (2.4 s at 24 fps is 57.6), so the WAV is padded
with silence in front and behind until both ends fall on whole frames: the
Foley keeps its exact place and every sample of it is heard, followed by less
than one frame of silence.  Standard library only; PCM and float WAVs alike
(zero bytes are silence in both).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

from plugin_host.atomic import write_atomic
from plugin_host.timebase import SAMPLE_RATE

#: more whole-frame steps than this between two exact sample positions: give up (no real media-pool rate needs it)
_MAX_STEP = 1001


@dataclass(frozen=True)
class WholeFrames:
    start_frame: int
    end_frame: int
    pad_front: int  #: samples of silence to put before the WAV's first sample
    pad_back: int  #: samples of silence to put after its last


def _step(fps: Fraction) -> int:
    """The fewest frames at ``fps`` that are a whole number of samples."""
    per_frame = Fraction(SAMPLE_RATE) / Fraction(fps)
    step = per_frame.denominator
    if step > _MAX_STEP:
        raise ValueError(f"a {fps} fps media-pool rate has no whole-frame sample grid")
    return step


def whole_frames(offset: int, length: int, total: int, fps: Fraction) -> WholeFrames:
    """Where ``[offset, offset + length)`` of a ``total``-sample WAV goes in whole frames, and the padding it needs.

    Silence in front moves ``offset`` onto the grid of whole frames (so ``startFrame`` is exactly the
    record start); the end is rounded up to the grid and silence added behind where the file is short.
    """
    per_frame = Fraction(SAMPLE_RATE) / Fraction(fps)
    grid = int(_step(Fraction(fps)) * per_frame)  # samples between two usable whole frames
    pad_front = -offset % grid
    end = offset + pad_front + length
    end_on_grid = -(-end // grid) * grid
    return WholeFrames(int((offset + pad_front) / per_frame), int(end_on_grid / per_frame), pad_front,
                       max(0, end_on_grid - (total + pad_front)))


def pad_wav(path: str, front: int, back: int) -> None:
    """Add ``front`` and ``back`` sample frames of silence to the WAV at ``path`` (atomically, in place)."""
    if not front and not back:
        return
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError(f"not a WAV file: {path}")
    chunks, pos, block = [], 12, None
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            block = struct.unpack("<H", body[12:14])[0]  # bytes per sample frame, all channels
        chunks.append((cid, body))
        pos += 8 + size + (size & 1)
    if block is None or not any(cid == b"data" for cid, _ in chunks):
        raise RuntimeError(f"a WAV file without fmt or data: {path}")
    out = [b"WAVE"]
    for cid, body in chunks:
        if cid == b"data":
            body = bytes(front * block) + body + bytes(back * block)
        out.append(cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b""))
    payload = b"".join(out)
    write_atomic(path, b"RIFF" + struct.pack("<I", len(payload)) + payload)


def wav_length(path: str) -> int:
    """Sample frames in the WAV at ``path`` (from its fmt and data chunk headers)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise RuntimeError(f"not a WAV file: {path}")
        block = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise RuntimeError(f"a WAV file without fmt or data: {path}")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                block = struct.unpack("<H", f.read(size)[12:14])[0]
                f.seek(size & 1, 1)
            elif cid == b"data" and block:
                return size // block
            else:
                f.seek(size + (size & 1), 1)
