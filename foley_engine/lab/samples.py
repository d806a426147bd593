"""Synthetic sample videos with visual events at known, exact times.

Used by ``make demo``, the tests and the benchmarks.  The picture is simple
on purpose, so that even long 1080p files encode quickly: each shot is a
static low-frequency pattern, a block falls onto a floor (an *impact* on the
first frame it rests there), waits, lifts gently and falls again; a flash is
one white frame; a cut switches to a pattern whose grey levels share no
histogram bin with the previous shot's; an optional walker bobs two steps a
second.

Frames are drawn straight into yuv420p planes with numpy (no colour
conversion) and every frame's pts is an exact integer in a time base chosen
so that ``first_pts + i/fps`` (or the variable-rate pattern) is exact.  The
reported event times are those pts minus the first frame's pts, as a reader
of the file sees them.
"""
from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

import av
import numpy as np

from ..timebase import SAMPLE_RATE, as_fraction, exact_rate, is_timecode

# The block's fall: accelerating over FALL_FRAMES frames, so that the motion
# into the impact frame is the largest of the fall and the frame after it is still.
FALL_FRAMES = 6
# Frames of rest after an impact and before a fall (at least).
HOLD_FRAMES = 3
# The lift eases in and out geometrically, EASE per frame: the motion never
# drops fast enough from one frame to the next to look like an impact.
LIFT_RAMP_IN = 3
LIFT_RAMP_OUT = 6
LIFT_EASE = 0.6
LIFT_MIN_FRAMES = LIFT_RAMP_IN + LIFT_RAMP_OUT + 1
MIN_IMPACT_GAP = FALL_FRAMES + 2 * HOLD_FRAMES + LIFT_MIN_FRAMES
# Impacts keep more than this many frames away from cuts and flashes.
EVENT_CLEARANCE = 3
# Variable frame rate: gaps between frames in half frame periods (mean: one period).
VFR_HALF_PERIODS = (2, 3, 1, 2)
# Time bases below this are scaled up by 10s (the MP4 muxer would pick its own otherwise).
MIN_TIMESCALE = 10000

WHITE, NEUTRAL = 235, 128  # video-range luma of white; chroma of grey


@dataclass(frozen=True)
class _Palette:
    """One shot's look. Luma pairs of successive palettes share no 16-level histogram bin."""

    luma: tuple[int, int]
    chroma: tuple[int, int]  # (U, V) of the background
    block: int  # block luma, far from the background
    walker: int
    cell: Fraction  # checker cell size as a fraction of the height


PALETTES = (
    _Palette((40, 52), (150, 112), 225, 175, Fraction(1, 6)),
    _Palette((92, 104), (104, 100), 230, 30, Fraction(1, 4)),
    _Palette((140, 152), (112, 150), 24, 70, Fraction(1, 9)),
    _Palette((66, 78), (150, 150), 220, 180, Fraction(1, 5)),
)
BLOCK_CHROMA = (90, 170)
WALKER_CHROMA = (160, 90)


@dataclass
class SampleVideo:
    path: str
    fps: Fraction  # nominal rate (exact: 30000/1001 for 29.97)
    duration: Fraction  # media duration in seconds (end of last frame - first frame pts)
    frame_count: int
    impact_times: list[Fraction]  # media time (pts - first pts) of each impact frame
    flash_times: list[Fraction]
    cut_times: list[Fraction]  # media time of the first frame of each new shot
    start_timecode: Optional[str]
    first_pts: Fraction  # pts (seconds) of the first frame in the container


# ------------------------------------------------------------------ timing


@dataclass(frozen=True)
class _Timing:
    time_base: Fraction
    pts: list[int]  # absolute, in time_base units
    durations: list[int]

    @property
    def rel(self) -> list[int]:
        first = self.pts[0]
        return [p - first for p in self.pts]

    def media_time(self, index: int) -> Fraction:
        return (self.pts[index] - self.pts[0]) * self.time_base


def _timescale(fps: Fraction, first_pts: Fraction, vfr: bool) -> int:
    """A time base denominator in which every frame pts is an integer."""
    period_den = fps.numerator * (2 if vfr else 1)  # one (half) period is fps.denominator ticks
    den = math.lcm(period_den, first_pts.denominator)
    while den < MIN_TIMESCALE:
        den *= 10
    return den


def _frame_timing(duration: Fraction, fps: Fraction, first_pts: Fraction, vfr: bool) -> _Timing:
    den = _timescale(fps, first_pts, vfr)
    tb = Fraction(1, den)
    period = den * fps.denominator // fps.numerator  # exact: fps.numerator divides den
    start = first_pts * den
    assert start.denominator == 1, "the time base must hold first_pts"
    end = duration * den  # frames start strictly before this many ticks
    pts, durations = [], []
    t = 0
    while t < end:
        gap = period // 2 * VFR_HALF_PERIODS[len(pts) % len(VFR_HALF_PERIODS)] if vfr else period
        pts.append(int(start) + t)
        durations.append(gap)
        t += gap
    return _Timing(tb, pts, durations)


def _nearest_frame(rel: list[int], ticks: Fraction) -> int:
    """Index of the frame whose pts is nearest ``ticks`` (ties go to the earlier frame)."""
    i = bisect.bisect_left(rel, ticks)
    if i == 0:
        return 0
    if i == len(rel):
        return len(rel) - 1
    return i if rel[i] - ticks < ticks - rel[i - 1] else i - 1


def _snap_events(times: Sequence, timing: _Timing, what: str) -> list[int]:
    rel, den = timing.rel, 1 / timing.time_base
    out = []
    for t in times:
        t = as_fraction(t)
        i = _nearest_frame(rel, t * den)
        if not 1 <= i < len(rel) - 1:
            raise ValueError(f"{what} at {float(t):.3f} s is not inside the video")
        out.append(i)
    return sorted(set(out))


def _snap_impacts(timing: _Timing, duration: Fraction, every: Optional[Fraction], offset: Fraction,
                  avoid: Sequence[int], fps: Fraction) -> list[int]:
    """Impact frames nearest ``offset + k*every``, kept clear of cuts and flashes.

    An impact within EVENT_CLEARANCE frames of a cut or flash moves to the
    nearest frame that is clear; one that then comes too close to the
    previous impact, or has no room for its fall, is left out.
    """
    if not every:
        return []
    if every * fps < MIN_IMPACT_GAP:
        raise ValueError(
            f"impacts_every={float(every):.3f} s is too short: impacts need {MIN_IMPACT_GAP} frames "
            f"({float(MIN_IMPACT_GAP / fps):.3f} s at this rate) to fall, rest and lift"
        )
    rel, den, count = timing.rel, 1 / timing.time_base, len(timing.pts)
    blocked = {a + d for a in avoid for d in range(-EVENT_CLEARANCE, EVENT_CLEARANCE + 1)}
    impacts: list[int] = []
    k = 0
    while (t := offset + k * every) < duration:
        k += 1
        if t < 0:
            continue
        n = _nearest_clear(_nearest_frame(rel, t * den), blocked, count)
        if n is None or n <= FALL_FRAMES or n > count - 2:
            continue
        if impacts and n - impacts[-1] < MIN_IMPACT_GAP:
            continue
        impacts.append(n)
    return impacts


def _nearest_clear(n: int, blocked: set[int], count: int) -> Optional[int]:
    for d in range(0, 2 * EVENT_CLEARANCE + 2):
        for m in (n + d, n - d):
            if 0 <= m < count and m not in blocked:
                return m
    return None


# ------------------------------------------------------------------ motion


def _lift_profile(frames: int) -> np.ndarray:
    """Fraction of the way up after each of ``frames`` frames; ends at exactly 1."""
    k = np.arange(frames)
    slow = np.maximum(0, np.maximum(LIFT_RAMP_IN - k, k - (frames - 1 - LIFT_RAMP_OUT)))
    w = LIFT_EASE ** slow
    return np.cumsum(w) / w.sum()


def _block_track(count: int, impacts: list[int], top: float, floor: float) -> np.ndarray:
    """The block's top edge (pixels, sub-pixel) in every frame."""
    y = np.full(count, top, dtype=np.float64)
    drop = floor - top
    for k, n in enumerate(impacts):
        # Accelerating fall: frame n is the first at rest on the floor.
        j = np.arange(1, FALL_FRAMES + 1)
        y[n - FALL_FRAMES + j] = top + drop * (j / FALL_FRAMES) ** 2
        gap = impacts[k + 1] - n if k + 1 < len(impacts) else 2 * MIN_IMPACT_GAP
        hold = max(HOLD_FRAMES, (gap - FALL_FRAMES) // 4)
        lift = gap - FALL_FRAMES - hold - HOLD_FRAMES
        y[n : n + hold + 1] = floor
        stop = min(count, n + hold + 1 + lift)
        y[n + hold + 1 : stop] = floor - drop * _lift_profile(lift)[: max(0, stop - (n + hold + 1))]
    return y


def _walker_position(t: float, width: int, height: int) -> tuple[float, float]:
    """Left x and top y of the walker at ``t`` seconds: to and fro, two steps a second.

    Its speed pulses with each step (slowest at the footfall, where the bob
    is lowest), so the motion energy has a clear 2 Hz period.
    """
    speed = 0.08 * width  # pixels per second, on average
    stride = t + 0.8 * math.sin(4 * math.pi * t) / (4 * math.pi)
    span = 0.85 * width - width / 16
    travel = (speed * stride) % (2 * span)
    x = 0.05 * width + (travel if travel < span else 2 * span - travel)
    bob = 0.04 * height * abs(math.sin(2 * math.pi * t))
    return x, 0.97 * height - height / 5 - bob


# ------------------------------------------------------------------ drawing


def _coverage(lo: float, hi: float, n: int) -> tuple[int, np.ndarray]:
    """First pixel and per-pixel coverage of ``[lo, hi)`` on pixels ``0..n-1``."""
    i0, i1 = max(0, math.floor(lo)), min(n, math.ceil(hi))
    idx = np.arange(i0, max(i0, i1), dtype=np.float32)
    return i0, np.clip(np.minimum(idx + 1, hi) - np.maximum(idx, lo), 0.0, 1.0)


class _Scene:
    """Pre-rendered shot backgrounds, and one yuv420p frame that each picture is drawn into.

    Reusing the frame saves allocating (and page-faulting) a new picture per
    frame, the largest cost after the encoder itself.  ``make_writable``
    keeps that safe: an encoder still holding the last picture gets it
    copied away first (libx264 copies its input at once, so it never does).
    """

    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.block_w, self.block_h = width / 10, height / 6
        self.block_x = 0.58 * width
        self.floor_line = 0.70 * height
        self.top = 0.10 * height
        self.floor = self.floor_line - self.block_h
        self.backgrounds = [self._background(p) for p in PALETTES]
        self.frame = av.VideoFrame(width, height, "yuv420p")

    def _background(self, p: _Palette) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w, h = self.w, self.h
        cell = max(2, int(p.cell * h))
        rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
        checker = ((rows // cell + cols // cell) % 2).astype(bool)
        stripes = ((rows // max(2, cell // 2)) % 2).astype(bool)  # the floor: horizontal stripes
        pattern = np.where(rows < int(self.floor_line), checker, stripes)
        y = np.where(pattern, p.luma[1], p.luma[0]).astype(np.uint8)
        u = np.full((h // 2, w // 2), p.chroma[0], np.uint8)
        v = np.full((h // 2, w // 2), p.chroma[1], np.uint8)
        return y, u, v

    def _planes(self) -> list[np.ndarray]:
        """Writable numpy views of the frame's Y, U and V planes (rows may be padded)."""
        self.frame.make_writable()
        return [
            np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
            for plane in self.frame.planes
        ]

    def render(self, shot: int, block_y: float, walker: Optional[tuple[float, float]],
               flash: bool) -> av.VideoFrame:
        planes = self._planes()
        if flash:
            for plane, value in zip(planes, (WHITE, NEUTRAL, NEUTRAL)):
                plane.fill(value)
            return self.frame
        for plane, background in zip(planes, self.backgrounds[shot % len(PALETTES)]):
            np.copyto(plane, background)
        palette = PALETTES[shot % len(PALETTES)]
        self._rect(planes, self.block_x, block_y, self.block_w, self.block_h, palette.block, BLOCK_CHROMA)
        if walker is not None:
            x, y = walker
            self._rect(planes, x, y, self.w / 16, self.h / 5, palette.walker, WALKER_CHROMA)
        return self.frame

    def _rect(self, planes, x: float, y: float, w: float, h: float, luma: int, chroma: tuple[int, int]) -> None:
        """An anti-aliased rectangle: sub-pixel positions move the picture smoothly."""
        lum, u, v = planes
        r0, rows = _coverage(y, y + h, self.h)
        c0, cols = _coverage(x, x + w, self.w)
        if rows.size == 0 or cols.size == 0:
            return
        alpha = rows[:, None] * cols[None, :]
        region = lum[r0 : r0 + rows.size, c0 : c0 + cols.size]
        region[...] = (region + alpha * (luma - region.astype(np.float32)) + 0.5).astype(np.uint8)
        cr = slice(round(y / 2), round((y + h) / 2))
        cc = slice(round(x / 2), round((x + w) / 2))
        u[cr, cc] = chroma[0]
        v[cr, cc] = chroma[1]


# ------------------------------------------------------------------ encoding


def _video_options(codec: str, bframes: bool, crf: int) -> dict[str, str]:
    if codec == "libx264":
        # ultrafast turns B-frames off; put a fixed two back when asked (that is
        # what makes the decode order differ from the presentation order).
        return {"preset": "ultrafast", "crf": str(crf), "x264-params": f"bframes={2 if bframes else 0}"}
    return {"bf": "2" if bframes else "0"}


def _audio_block(start: int, stop: int) -> np.ndarray:
    """Quiet stereo tone (about -50 dBFS) for samples ``start..stop`` at 48 kHz."""
    n = np.arange(start, stop, dtype=np.float64)
    tone = (0.003 * np.sin(2 * np.pi * 220.0 * n / SAMPLE_RATE)).astype(np.float32)
    return np.stack([tone, tone])


class _QuietAudio:
    """A quiet AAC track written alongside the video, in step with it."""

    RATE = SAMPLE_RATE

    def __init__(self, container, start: Fraction):
        self.container = container
        self.stream = container.add_stream("aac", rate=self.RATE, layout="stereo")
        self.stream.bit_rate = 64000
        self.origin = math.floor(start * self.RATE)
        self.done = 0  # samples written

    def write_until(self, t: Fraction) -> None:
        """Encode up to ``t`` seconds after the audio's start."""
        stop = math.floor(t * self.RATE)
        if stop <= self.done:
            return
        frame = av.AudioFrame.from_ndarray(_audio_block(self.done, stop), format="fltp", layout="stereo")
        frame.sample_rate = self.RATE
        frame.pts = self.origin + self.done
        frame.time_base = Fraction(1, self.RATE)
        self.done = stop
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode(None):
            self.container.mux(packet)


def _encode(path: str, timing: _Timing, fps: Fraction, width: int, height: int, frames, codec: str,
            bframes: bool, crf: int, start_timecode: Optional[str], with_audio: bool) -> None:
    den = str(timing.time_base.denominator)
    # The MP4 edit list (first pts, B-frame delay) is stored in the movie time
    # scale: 1/1000 s by default, which would round a first pts of 1001/30000 s.
    container = av.open(path, "w", format="mp4", options={"movie_timescale": den, "video_track_timescale": den})
    try:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = timing.time_base
        stream.codec_context.time_base = timing.time_base
        stream.options = _video_options(codec, bframes, crf)
        if codec != "libx264":
            stream.bit_rate = max(200_000, width * height * 2)
        if start_timecode:
            # The mov muxer turns this into a tmcd track; readers see it as the
            # video stream's "timecode" metadata (and on a data stream).
            stream.metadata["timecode"] = start_timecode
        audio = _QuietAudio(container, timing.pts[0] * timing.time_base) if with_audio else None
        durations = dict(zip(timing.pts, timing.durations))
        for i, frame in enumerate(frames):
            frame.pts, frame.time_base = timing.pts[i], timing.time_base
            for packet in stream.encode(frame):
                packet.duration = durations[packet.pts]  # exact, also for the last frame
                container.mux(packet)
            if audio:  # in step with the video, so the muxer interleaves them closely
                audio.write_until(timing.media_time(i) + timing.durations[i] * timing.time_base)
        for packet in stream.encode(None):
            packet.duration = durations[packet.pts]
            container.mux(packet)
        if audio:
            audio.close()
    finally:
        container.close()


def _first_pts_seen(path: str) -> Fraction:
    """The first decoded frame's pts in seconds, as any PyAV reader sees it."""
    with av.open(path) as container:
        for frame in container.decode(video=0):
            return Fraction(frame.pts) * frame.time_base
    raise RuntimeError(f"{path}: wrote no frames")


def make_sample_video(path, *, duration=10, fps=Fraction(30), width=640, height=360,
                      impacts_every=Fraction(2), impact_offset=Fraction(1), flashes=(), cuts=(),
                      walking=False, start_timecode=None, first_pts=Fraction(0), vfr=False,
                      with_audio=False, codec="libx264", bframes=True, crf=28) -> SampleVideo:
    """Encode a sample video and return where its events are, exactly.

    Impacts land on the frames nearest ``impact_offset + k*impacts_every``
    (``impacts_every=None`` for none), flashes and cuts on the frames
    nearest the requested media times.  Times in the result are media
    times: a frame's pts minus the first frame's pts.
    """
    path = os.fspath(path)
    fps, duration, first_pts = exact_rate(fps), as_fraction(duration), as_fraction(first_pts)
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"size must be even and at least 16x16 for yuv420p, got {width}x{height}")
    if duration <= 0 or first_pts < 0:
        raise ValueError("duration must be positive and first_pts not negative")
    if start_timecode is not None and not is_timecode(start_timecode):
        raise ValueError(f"not a SMPTE timecode: {start_timecode!r} (e.g. 01:00:00:00 or 00:59:59;28)")
    timing = _frame_timing(duration, fps, first_pts, vfr)
    count = len(timing.pts)
    cut_idx = _snap_events(cuts, timing, "cut")
    flash_idx = _snap_events(flashes, timing, "flash")
    if any(abs(f - c) <= 1 for f in flash_idx for c in cut_idx):
        raise ValueError("a flash needs at least one frame between it and a cut")
    every = as_fraction(impacts_every) if impacts_every else None
    impacts = _snap_impacts(timing, duration, every, as_fraction(impact_offset), cut_idx + flash_idx, fps)

    scene = _Scene(width, height)
    block_y = _block_track(count, impacts, scene.top, scene.floor)
    flash_set = set(flash_idx)

    def frames():
        for i in range(count):
            shot = bisect.bisect_right(cut_idx, i)
            walker = None
            if walking:
                walker = _walker_position(float(timing.media_time(i)), width, height)
            yield scene.render(shot, float(block_y[i]), walker, i in flash_set)

    _encode(path, timing, fps, width, height, frames(), codec, bframes, crf, start_timecode, with_audio)
    end = timing.pts[-1] + timing.durations[-1] - timing.pts[0]
    return SampleVideo(
        path=path,
        fps=fps,
        duration=end * timing.time_base,
        frame_count=count,
        impact_times=[timing.media_time(i) for i in impacts],
        flash_times=[timing.media_time(i) for i in flash_idx],
        cut_times=[timing.media_time(i) for i in cut_idx],
        start_timecode=start_timecode,
        first_pts=_first_pts_seen(path),
    )


# ------------------------------------------------------------------ broken and odd inputs


def make_audio_only(path, *, duration=2) -> None:
    """An AAC-in-MP4 (m4a) file with one stereo audio stream and no video."""
    samples = int(as_fraction(duration) * _QuietAudio.RATE)
    with av.open(os.fspath(path), "w", format="mp4") as container:
        audio = _QuietAudio(container, Fraction(0))
        audio.write_until(Fraction(samples, _QuietAudio.RATE))
        audio.close()


def make_zero_frame_video(path, *, width=64, height=64) -> None:
    """An MP4 that declares an H.264 video stream and holds no frames.

    A plain MP4 with an empty track is dropped by FFmpeg's reader (PyAV then
    sees no streams at all), so this is a fragmented MP4 whose ``moov``
    declares the track and no fragment follows: PyAV lists one video stream
    and decodes zero frames from it.
    """
    with av.open(os.fspath(path), "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()


def make_truncated_copy(src, dst, keep_fraction=0.5) -> None:
    """The first ``keep_fraction`` of ``src``'s bytes, as a download cut short would leave them.

    Our MP4s keep their index (``moov``) at the end, so the copy has media
    data but no index: readers refuse it as damaged.
    """
    if not 0 <= keep_fraction < 1:
        raise ValueError("keep_fraction must be in [0, 1)")
    left = int(os.path.getsize(src) * keep_fraction)
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while left > 0:
            chunk = fin.read(min(left, 1 << 20))
            if not chunk:
                break
            fout.write(chunk)
            left -= len(chunk)
