"""The review picture: a filmstrip with the events marked and the generated waveform under it.

Drawn with numpy and written as PNG with the standard library (zlib), so it
works with the engine's own install; when Pillow happens to be installed the
kinds and times are also labelled in text.  One column of pixels is one slice
of media time across every lane, so a mark on the filmstrip, the event lane and
the waveform line up: a person sees at a glance what was heard and where.
"""
from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from typing import Sequence

import numpy as np

#: one colour per event kind (RGB); unknown kinds are white
COLOURS = {
    "impact": (255, 70, 50), "flash": (255, 230, 40), "insert": (255, 150, 30), "start": (60, 200, 255),
    "footstep": (90, 230, 90), "cut": (170, 170, 170),
}
BACKGROUND = (24, 24, 28)


def write_png(path: str, rgb: np.ndarray) -> None:
    """An (h, w, 3) uint8 image as an 8-bit RGB PNG (no dependency beyond zlib)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))  # filter type 0 on each row

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def envelope(audio_blocks, total: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (min, max) of a mono mix of ``total`` samples given in blocks."""
    lo, hi = np.zeros(columns), np.zeros(columns)
    edges = (np.arange(columns + 1) * total) // columns
    pos = 0
    for block in audio_blocks:
        mono = block.mean(axis=1) if block.ndim == 2 else block
        first, last = np.searchsorted(edges, pos, "right") - 1, np.searchsorted(edges, pos + mono.size, "left")
        for c in range(max(0, first), min(columns, last)):
            a, b = max(edges[c], pos) - pos, min(edges[c + 1], pos + mono.size) - pos
            if b > a:
                lo[c], hi[c] = min(lo[c], float(mono[a:b].min())), max(hi[c], float(mono[a:b].max()))
        pos += mono.size
    return lo, hi


def draw(thumbs: Sequence[np.ndarray], events: Sequence[tuple[Fraction, str, float]], start: Fraction,
         end: Fraction, wave: tuple[np.ndarray, np.ndarray], width: int) -> np.ndarray:
    """The picture: ``thumbs`` side by side (each covering an equal share of ``[start, end)``),
    an event lane (one tick per event, its height the strength), the waveform; every event
    also marked as a thin line through the filmstrip and the waveform."""
    th = thumbs[0].shape[0] if thumbs else 0
    lane, wave_h, gap = 40, 160, 4
    img = np.empty((th + gap + lane + gap + wave_h, width, 3), np.uint8)
    img[:] = BACKGROUND
    tw = width // max(1, len(thumbs))
    for i, t in enumerate(thumbs):
        img[:th, i * tw: i * tw + min(tw, t.shape[1])] = t[:, :tw]
    # The waveform: min..max per column around the centre line.
    lo, hi = wave
    top = th + gap + lane + gap
    mid, half = top + wave_h // 2, wave_h // 2 - 2
    img[mid, :] = (70, 70, 80)
    peak = max(1e-9, float(np.abs(np.concatenate([lo, hi])).max()))
    for c in range(min(width, lo.size)):
        a, b = mid - int(round(hi[c] / peak * half)), mid - int(round(lo[c] / peak * half))
        img[a: b + 1, c] = (150, 200, 255)
    span = end - start
    lane_top = th + gap
    for t, kind, strength in events:
        if not start <= t < end:
            continue
        c = min(width - 1, int((t - start) * width / span))
        colour = COLOURS.get(kind, (255, 255, 255))
        tick = max(6, int(lane * (0.3 + 0.7 * min(1.0, max(0.0, strength)))))
        img[lane_top + lane - tick: lane_top + lane, max(0, c - 1): c + 2] = colour
        if kind != "cut":
            img[:th, c] = colour  # through the filmstrip
        img[top: top + wave_h: 3, c] = colour  # dotted through the waveform
    return img


def label(img: np.ndarray, texts: Sequence[tuple[int, int, str, tuple[int, int, int]]]) -> np.ndarray:
    """Text at (x, y) when Pillow is installed; the picture unchanged otherwise."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return img
    pic = Image.fromarray(img)
    d = ImageDraw.Draw(pic)
    for x, y, text, colour in texts:
        d.text((x, y), text, fill=colour)
    return np.asarray(pic)
