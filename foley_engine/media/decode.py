"""Streaming video decode by PTS, in a background thread, onto exact time grids.

One pass over the file yields, per decoded frame, its exact media time, a
small grey image for analysis, and the images each backend frame grid takes
from it.  A grid point at time ``t`` shows the latest frame whose pts is
``<= t`` (what a player shows), so variable frame rates are sampled
correctly and the grid itself never depends on a frame counter.
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Iterator, Optional, Sequence

import av
import numpy as np

from ..errors import Cancelled, MediaError
from ..timebase import format_seconds
from .probe import MediaInfo, open_container, video_stream
from .segments import GrayPicture, segment_pictures, splittable, workers

#: size of the grey frames the analysis runs on (aspect does not matter for it)
ANALYSIS_SIZE = (96, 54)
#: frames handed from the decoding thread to the consumer at a time (fewer thread wake-ups)
BATCH = 8


@dataclass
class DecodedFrame:
    """One source frame: media time, analysis image, and the grid images it provides."""

    time: Fraction
    gray: np.ndarray
    #: spec name -> list of (grid index, image)
    grid: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict)


def _ceil_index(t: Fraction, rate: Fraction) -> int:
    """Smallest grid index j with j/rate >= t."""
    return math.ceil(t * rate)


_LUMA_FORMATS = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray", "yuv411p", "yuv440p"}


def analysis_gray(frame: "av.VideoFrame") -> np.ndarray:
    """The frame as a small grey image, ANALYSIS_SIZE.

    For YUV frames the luma plane already *is* grey: block-average a sparse
    sub-grid of it instead of asking swscale to convert and scale the whole
    picture, which costs as much as decoding it (measured on 1080p H.264).
    """
    out_w, out_h = ANALYSIS_SIZE
    w, h = frame.width, frame.height
    name = frame.format.name
    deep = name.startswith(("yuv", "yuvj")) and name.endswith(("p10le", "p12le", "p16le"))
    if (name not in _LUMA_FORMATS and not deep) or w < out_w or h < out_h:
        return frame.reformat(width=out_w, height=out_h, format="gray", interpolation="AREA").to_ndarray()
    plane = frame.planes[0]
    dtype = np.uint16 if deep else np.uint8
    itemsize = np.dtype(dtype).itemsize
    luma = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // itemsize)
    by, bx = h // out_h, w // out_w  # block size in pixels
    sy, sx = max(1, by // 4), max(1, bx // 4)  # sample ~4x4 points per block
    ky = -(-by * out_h // sy) // out_h  # sampled rows and columns per block
    kx = -(-bx * out_w // sx) // out_w
    # Block sums: first the ky sampled rows of every block row, added row set by row set (each a
    # strided view of the plane; the first one converted), then the kx columns of every block.
    # Gathers each sample once, in as few numpy calls as possible (measured: ~35 % less CPU than
    # summing a gathered grid); small integers, so the sums are exact.
    acc = np.uint32 if deep else np.uint16  # ky * kx <= 49 samples of 8 bits fit in 16
    cols = slice(0, kx * out_w * sx, sx)
    rows = [luma[i * sy: ky * out_h * sy: ky * sy, cols] for i in range(ky)]
    v = rows[0].astype(acc)
    for r in rows[1:]:
        v += r
    small = v[:, 0::kx].copy()
    for j in range(1, kx):
        small += v[:, j::kx]
    small //= kx * ky
    if deep:
        small = small * 255 // ((1 << int(name[-4:-2])) - 1)
    return small.astype(np.uint8)


def convert(frame: "av.VideoFrame", spec) -> np.ndarray:
    """A frame as the spec asks: size, fit, pixel format."""
    fmt = spec.pix_fmt
    if spec.fit == "cover":
        scale = max(Fraction(spec.width, frame.width), Fraction(spec.height, frame.height))
        w = max(spec.width, round(frame.width * scale))
        h = max(spec.height, round(frame.height * scale))
        img = frame.reformat(width=w, height=h, format=fmt, interpolation=spec.interpolation).to_ndarray()
        x0, y0 = (w - spec.width) // 2, (h - spec.height) // 2
        img = img[y0 : y0 + spec.height, x0 : x0 + spec.width]
    else:
        img = frame.reformat(width=spec.width, height=spec.height, format=fmt, interpolation=spec.interpolation).to_ndarray()
    if img.ndim == 2:
        img = img[:, :, None]
    return np.ascontiguousarray(img)


class FrameReader:
    """Decode ``[start, end)`` of media time (plus the frame shown at ``start``).

    ``grid_range`` is in job time, which is media time unless ``time_map``
    says otherwise (a clip played at another speed).

    Iterating yields :class:`DecodedFrame` in presentation order.  Decoding
    runs in a thread (and the codec uses its own frame threads), with a
    bounded queue, so memory stays O(queue) regardless of length.
    """

    def __init__(
        self,
        info: MediaInfo,
        start: Fraction,
        end: Fraction,
        specs: Sequence = (),
        grid_range: Optional[tuple[Fraction, Fraction]] = None,
        queue_size: int = 64,
        time_map: Optional[Callable[[Fraction], Fraction]] = None,
    ):
        self.info = info
        self.start = start
        self.end = end
        self.specs = tuple(specs)
        # Media time -> job time (a speed change); grids and yielded times use job time.
        self.time_map = time_map or (lambda t: t)
        gs, ge = grid_range or (start, end)
        self._grid_bounds = {s.name: (_ceil_index(gs, s.rate), _ceil_index(ge, s.rate)) for s in self.specs}
        # Frames travel in small batches: one hand-over (lock, wake-up, GIL switch) per batch
        # instead of per frame.  The queue still holds at most ``queue_size`` frames.
        self._batch_size = max(1, min(BATCH, queue_size // 4))
        self._queue: "queue.Queue" = queue.Queue(maxsize=max(1, queue_size // self._batch_size))
        self._batch: list[DecodedFrame] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- consumer side
    def __iter__(self) -> Iterator[DecodedFrame]:
        self._thread = threading.Thread(target=self._run, name="foley-decode", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield from item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        # Unblock a producer waiting on a full queue.
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        # ident is None: a signal (Ctrl-C, SIGTERM) interrupted start(); joining it would mask that exit.
        if self._thread is not None and self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise Cancelled("decode stopped")

    # -- producer side
    def _run(self) -> None:
        try:
            self._decode()
            self._flush_batch()
            self._put(None)
        except Cancelled:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            try:
                self._flush_batch()  # the frames before the error first
                self._put(exc)
            except Cancelled:
                pass

    def _decode(self) -> None:
        info = self.info
        container = open_container(info.path)
        try:
            stream = video_stream(container, info.path)
            stream.thread_type = "AUTO"
            tb = stream.time_base
            if self.start > 0:
                target = info.first_pts + self.start
                container.seek(int(target / tb), stream=stream, backward=True, any_frame=False)
            pending = None  # (time, av frame or GrayPicture): grid images need the next frame's time
            last_time = None
            try:
                for frame in self._pictures(container, stream):
                    if self._stop.is_set():
                        return
                    if frame.pts is None:
                        continue
                    t = Fraction(frame.pts) * frame.time_base - info.first_pts
                    if last_time is not None and t <= last_time:
                        continue  # duplicate or out-of-order pts after a seek
                    if t >= self.end:
                        self._emit(pending, t)
                        pending = None
                        break
                    if t <= self.start:
                        # Keep only the frame shown at `start` (latest pts <= start).
                        pending = (t, frame)
                        last_time = t
                        continue
                    if pending is not None:
                        self._emit(pending, t)
                    pending = (t, frame)
                    last_time = t
            except av.error.FFmpegError as exc:
                raise MediaError(
                    f"{info.path}: decoding failed at {format_seconds(last_time or Fraction(0))} "
                    f"({exc.strerror or exc}); the file may be damaged or truncated"
                ) from None
            if pending is not None:
                self._emit(pending, None)
            if last_time is None:
                raise MediaError(f"{info.path}: no video frames in {format_seconds(self.start)}-{format_seconds(self.end)}")
        finally:
            container.close()

    def _pictures(self, container, stream):
        """The decoded pictures in order: with no frame grid to fill, independent segments decoded
        side by side and reduced to grey there (:mod:`.segments`), else one frame-threaded decoder."""
        if not self.specs and workers() > 1 and splittable(stream.codec_context.name):
            end_pts = int((self.info.first_pts + self.end) / stream.time_base) + 1
            return segment_pictures(container, stream, analysis_gray, self._stop, end_pts=end_pts)
        return container.decode(stream)

    _first_emitted = False

    def _emit(self, pending, next_time: Optional[Fraction]) -> None:
        if pending is None:
            return
        t, frame = pending
        t = self.time_map(t)
        if next_time is not None:
            next_time = self.time_map(next_time)
        gray = frame.gray if isinstance(frame, GrayPicture) else analysis_gray(frame)
        grid: dict[str, list[tuple[int, np.ndarray]]] = {}
        for spec in self.specs:
            lo_bound, hi_bound = self._grid_bounds[spec.name]
            # The first emitted frame also covers grid points before it.
            lo = lo_bound if not self._first_emitted else max(lo_bound, _ceil_index(t, spec.rate))
            hi = hi_bound if next_time is None else min(hi_bound, _ceil_index(next_time, spec.rate))
            if hi > lo:
                img = convert(frame, spec)
                grid[spec.name] = [(j, img) for j in range(lo, hi)]
        self._first_emitted = True
        self._batch.append(DecodedFrame(t, gray, grid))
        if len(self._batch) >= self._batch_size:
            self._flush_batch()

    def _flush_batch(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._put(batch)
