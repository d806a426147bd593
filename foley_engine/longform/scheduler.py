"""Long-form generation: decode once, plan windows lazily, generate, stitch, stream.

Memory is O(window): decoded frames, analysis and audio older than the
current window are dropped as soon as the next window has started.
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator, Optional, Protocol

import numpy as np

from .align import align_window
from ..analysis import Analyzer, EventLog
from ..analysis.people import PEOPLE_GRID, PeopleTracker, pose_size
from ..backends.base import Backend, FrameBatch, FrameSpec, WindowRequest, check_output
from ..errors import Cancelled, MediaError
from ..job import Request, ResolvedItem, resolve_media
from ..malloc_tuning import trim_heap
from ..media.decode import FrameReader
from ..media.probe import MediaInfo
from ..timebase import format_seconds, to_index, to_time
from .planner import Window, cut_search_range, next_window, plan_windows
from .stitch import crossfade

#: processing window for backends that accept any length (bounds memory)
DEFAULT_WINDOW = Fraction(20)


@dataclass(frozen=True)
class Span:
    """Finished audio: ``audio[i]`` is absolute sample ``start + i`` at ``sample_rate``."""

    start: int
    audio: np.ndarray
    sample_rate: int
    window: Window
    #: samples the alignment pass moved this window by (0 when not aligning)
    align_offset: int = 0

    @property
    def end(self) -> int:
        return self.start + self.audio.shape[0]


@dataclass(frozen=True)
class Progress:
    done_samples: int
    total_samples: int
    windows_done: int
    windows_estimate: int
    elapsed: float

    @property
    def fraction(self) -> float:
        return self.done_samples / self.total_samples if self.total_samples else 1.0


def derive_seed(job_seed: int, window_index: int) -> int:
    """A per-window seed: stable, well mixed, independent of platform."""
    return int(np.random.SeedSequence([job_seed & 0xFFFFFFFF, window_index]).generate_state(1)[0])


class _GridBuffer:
    """Backend frames waiting for their window, per frame spec."""

    def __init__(self, specs):
        self.specs = {s.name: s for s in specs}
        self.items: dict[str, list[tuple[int, Fraction, np.ndarray]]] = {name: [] for name in self.specs}

    def add(self, time: Fraction, grid: dict) -> None:
        for name, entries in grid.items():
            self.items[name].extend((j, time, img) for j, img in entries)

    def batch(self, t0: Fraction, t1: Fraction) -> dict[str, FrameBatch]:
        out = {}
        for name, spec in self.specs.items():
            lo, hi = math.ceil(t0 * spec.rate), math.ceil(t1 * spec.rate)
            chosen = [e for e in self.items[name] if lo <= e[0] < hi]
            images = (
                np.stack([e[2] for e in chosen])
                if chosen
                else np.zeros((0, spec.height, spec.width, 1 if spec.pix_fmt == "gray" else 3), np.uint8)
            )
            out[name] = FrameBatch(spec, np.array([e[0] for e in chosen], np.int64), [e[1] for e in chosen], images)
        return out

    def forget_before(self, t: Fraction) -> None:
        for name, spec in self.specs.items():
            lo = math.ceil(t * spec.rate)
            self.items[name] = [e for e in self.items[name] if e[0] >= lo]


class WindowPool(Protocol):
    """Generates windows elsewhere (threads, Ray actors): ``submit`` returns a future-like handle
    whose ``result()`` is the window's audio and ``cancel()`` gives it up."""

    width: int

    def submit(self, request: WindowRequest): ...


def people_spec(info: MediaInfo) -> FrameSpec:
    """The frame grid the people tracker reads: the pose picture of every frame.  Twice the frame
    rate, so every frame lands on at least one grid point (converted once); AREA: a proper
    downscale and ~7x cheaper than swscale's bilinear from 1080p (measured)."""
    return FrameSpec(PEOPLE_GRID, 2 * (info.fps or 30), *pose_size(info.width, info.height), interpolation="AREA")


class LongformScheduler:
    """Runs a :class:`~..job.ResolvedItem` through a :class:`Backend`, yielding finished :class:`Span` s in order.

    It reads the item's resolution (media facts, range, samples) and never probes or resolves
    again; given an unresolved request (a :class:`~..job.Job` from a library caller), it resolves it once.
    """

    def __init__(self, backend: Backend, *, window: Optional[Fraction] = None, overlap: Optional[Fraction] = None):
        self.backend = backend
        self.sample_rate = backend.sample_rate
        self.window_seconds = Fraction(window or backend.native_window or DEFAULT_WINDOW)
        self.overlap_seconds = Fraction(overlap if overlap is not None else backend.overlap)
        self.window = to_index(self.window_seconds, self.sample_rate)
        self.overlap = to_index(self.overlap_seconds, self.sample_rate)
        if 2 * self.overlap >= self.window:
            raise ValueError("overlap must be under half the window")
        #: what the last item's analysis based its events on (result warnings), e.g. footsteps from bounce
        self.notes: list[str] = []
        #: (job time, kind) of every visual event of the last item, in time order ("cut" for shot cuts)
        self.spotted: list[tuple[Fraction, str]] = []

    def resolved(self, item: "Request | ResolvedItem", info: Optional[MediaInfo] = None) -> ResolvedItem:
        """``item`` resolved at this scheduler's rate: as given when it already is, else resolved once here."""
        if isinstance(item, ResolvedItem):
            if item.sample_rate != self.sample_rate:
                raise ValueError(f"item resolved at {item.sample_rate} Hz for a {self.sample_rate} Hz backend")
            return item
        return resolve_media(item, self.sample_rate, info)

    def spans(
        self,
        job: "Request | ResolvedItem",
        info: Optional[MediaInfo] = None,
        *,
        progress: Optional[Callable[[Progress], None]] = None,
        cancel: Optional[Callable[[], bool]] = None,
        pool: Optional["WindowPool"] = None,
        stem: Optional[str] = None,
    ) -> Iterator[Span]:
        """Finished spans in order.  With a ``pool`` and a backend whose windows are independent,
        up to ``pool.width`` windows are generated at once (their requests planned, decoded and
        analysed here, in order) and stitched in order: the same samples as one after the other."""
        item = self.resolved(job, info)
        sr = self.sample_rate
        total = item.num_samples
        windows_estimate = max(1, math.ceil((total - self.overlap) / max(1, self.window - self.overlap)))
        fan_out = pool is not None and pool.width > 1 and bool(getattr(self.backend, "independent_windows", False))
        requests = self.requests(item, cancel=cancel, stem=stem)
        started = time.monotonic()
        tail: Optional[np.ndarray] = None
        done = 0
        in_flight: deque = deque()
        try:
            while True:
                if fan_out:
                    # Keep the pool full; requests stay in order, results are taken in order.
                    while len(in_flight) < pool.width:
                        nxt = next(requests, None)
                        if nxt is None:
                            break
                        in_flight.append((nxt[0], nxt[1], pool.submit(nxt[1])))
                    if not in_flight:
                        return
                    window, request, pending = in_flight.popleft()
                    raw = pending.result()
                else:
                    nxt = next(requests, None)
                    if nxt is None:
                        return
                    window, request = nxt
                    request.previous_tail = tail
                    raw = self.backend.generate(request)
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                audio = check_output(self.backend, request, raw)
                offset = 0
                if item.request.align:
                    # Before the crossfade, so a shifted window still blends with its neighbours.
                    audio, offset = align_window(audio, window.start, sr, request.events)
                if tail is not None:
                    audio[: tail.shape[0]] = crossfade(tail, audio[: tail.shape[0]])
                keep = window.next_start - window.start
                span = Span(window.start, audio[:keep] if not window.is_last else audio, sr, window, offset)
                tail = None if window.is_last else audio[keep:].copy()
                done += span.audio.shape[0]
                if progress is not None:
                    progress(Progress(done, total, window.index + 1, max(windows_estimate, window.index + 1),
                                      time.monotonic() - started))
                yield span
                if window.is_last:
                    return
        finally:
            for _, _, pending in in_flight:
                pending.cancel()
            requests.close()

    def requests(self, job: "Request | ResolvedItem", info: Optional[MediaInfo] = None, *,
                 cancel: Optional[Callable[[], bool]] = None,
                 stem: Optional[str] = None) -> Iterator[tuple[Window, WindowRequest]]:
        """The item's windows and their requests, planned lazily in order (``previous_tail`` left None);
        ``stem`` asks a backend with native stems for one Foley class.

        One streaming decode and analysis; frames and events older than the current window are
        forgotten as soon as the next one is asked for, so memory is O(window) per request held.
        """
        item = self.resolved(job, info)
        info, media_range, asked = item.info, item.media_range, item.request
        # Everything below is in job time: media time, unless the job plays
        # its source at another speed (then the output lasts duration / speed).
        sr = self.sample_rate
        first, stop = item.first_sample, item.stop_sample
        lookback = Fraction(self.backend.lookback)
        media_pad = 4 / info.fps if info.fps else Fraction(1, 4)
        frame_pad = media_pad / item.speed
        # Footsteps where feet land: the pose model on a small RGB picture of each frame (optional extra).
        people = PeopleTracker.for_job(self.backend.wants_people(asked.prompt, asked.negative_prompt), info.fps)
        specs = tuple(self.backend.frame_specs)
        if people is not None:
            specs += (people_spec(info),)
        # Footsteps are decided some frames after they land: read and analyse that much further.
        people_delay = people.delay if people is not None else Fraction(0)
        self.notes = []
        reader = FrameReader(
            info,
            start=max(Fraction(0), media_range.start - lookback * item.speed),
            # A few frames past the end so analysis can decide the last frames.
            end=media_range.end + media_pad + people_delay * item.speed,
            specs=specs,
            grid_range=(to_time(first, sr), to_time(stop, sr) + people_delay),
            time_map=item.to_job_time(),
            # Analysis-only frames are 5 KB: let decoding run a whole window
            # ahead while the backend synthesises; big backend frames, 64.
            queue_size=64 if specs else 1024,
        )
        frames = iter(reader)
        motion = asked.motion  # "flow": camera-compensated optical flow
        analyzer, log, grids = Analyzer(motion=motion), EventLog(), _GridBuffer(self.backend.frame_specs)
        exhausted = False
        last_frame_time: Optional[Fraction] = None

        def pump_until(t: Fraction) -> None:
            nonlocal exhausted, last_frame_time
            while not exhausted and (log.analysed_until is None or log.analysed_until < t):
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                try:
                    frame = next(frames)
                except StopIteration:
                    log.add(analyzer.flush())
                    exhausted = True
                    return
                last_frame_time = frame.time
                log.add(analyzer.push(frame.time, frame.gray))
                if people is not None:
                    people.feed(log.events, frame.time, frame.grid)
                grids.add(frame.time, frame.grid)

        start = first
        index = 0
        # The events seen over the item, each once (job time), for the WAV's sidecar and the editors' markers.
        self.spotted = []
        spotted_until, spot_end = to_time(first, sr), to_time(stop, sr)
        try:
            while True:
                if cancel is not None and cancel():
                    raise Cancelled("cancelled")
                # Analysis a little past the window: motion-driven sounds at its
                # last samples need the frames after them.
                pump_until(to_time(min(start + self.window, stop), sr) + frame_pad + people_delay)
                lo, hi = cut_search_range(start, self.window, self.overlap)
                # Every cut whose sample index is in [lo, hi] (next_window filters by index), the same
                # set plan() finds in the whole item: the lazy plan equals the full one.
                cuts = [to_index(c, sr) for c in log.cuts_between(to_time(lo - 1, sr), to_time(hi + 1, sr))]
                window = next_window(index, start, stop, self.window, self.overlap, cuts)
                t0, t1 = to_time(window.start, sr), to_time(window.end, sr)
                if exhausted and last_frame_time is not None:
                    self._check_not_truncated(info, last_frame_time, t1)
                request = WindowRequest(
                    media_path=info.path,
                    start_sample=window.start,
                    num_samples=window.num_samples,
                    sample_rate=sr,
                    frames=grids.batch(t0, t1),
                    events=log.view(t0 - lookback, t1 + frame_pad),
                    prompt=asked.prompt,
                    negative_prompt=asked.negative_prompt,
                    seed=derive_seed(asked.seed, index),
                    job_seed=asked.seed,
                    window_index=index,
                    previous_tail=None,
                    options=dict(asked.options),
                    stem=stem,
                )
                until = spot_end if window.is_last else min(to_time(window.next_start, sr), spot_end)
                self.spotted += sorted([(o.time, o.kind) for o in log.events.onsets if spotted_until <= o.time < until]
                                       + [(c, "cut") for c in log.events.cuts if spotted_until <= c < until])
                spotted_until = until
                yield window, request
                if window.is_last:
                    return
                start = window.next_start
                index += 1
                # The finished window's buffers are garbage now; give the freed
                # native memory back so RSS stays at one window's worth.
                trim_heap()
                next_t0 = to_time(start, sr)
                log.forget_before(next_t0 - lookback)
                grids.forget_before(next_t0)
        finally:
            reader.close()
            if people is not None:
                self.notes = people.notes()
                people.close()

    def plan(self, job: "Request | ResolvedItem", info: Optional[MediaInfo] = None) -> list[Window]:
        """The item's whole window plan, computed at once from every cut of a full analysis pass
        (:func:`~.planner.plan_windows`); equal to the plan :meth:`requests` computes lazily."""
        item = self.resolved(job, info)
        info, media_range = item.info, item.media_range
        sr = self.sample_rate
        first, stop = item.first_sample, item.stop_sample
        media_pad = 4 / info.fps if info.fps else Fraction(1, 4)
        lookback = Fraction(self.backend.lookback)
        reader = FrameReader(info, start=max(Fraction(0), media_range.start - lookback * item.speed),
                             end=media_range.end + media_pad, specs=(),
                             grid_range=(to_time(first, sr), to_time(stop, sr)),
                             time_map=item.to_job_time(), queue_size=1024)
        analyzer, log = Analyzer(), EventLog()
        try:
            for frame in reader:
                log.add(analyzer.push(frame.time, frame.gray))
            log.add(analyzer.flush())
        finally:
            reader.close()
        cuts = [to_index(c, sr) for c in log.events.cuts]
        return plan_windows(first, stop, self.window, self.overlap, cuts)

    @staticmethod
    def _check_not_truncated(info: MediaInfo, last_frame: Fraction, needed_until: Fraction) -> None:
        # The header promised frames up to info.duration; a file that stops
        # decoding well before what we need is damaged, not just short.
        frame = Fraction(1) / info.fps if info.fps else Fraction(1, 10)
        slack = max(4 * frame, Fraction(1, 2))
        if last_frame + slack < needed_until:
            raise MediaError(
                f"{info.path}: video stops at {format_seconds(last_frame)} but the file claims "
                f"{format_seconds(info.duration)}; it is probably truncated"
            )
