"""One resolved item to one WAV file: the scheduler's spans streamed into an atomic writer."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

from plugin_host.items import Item, Result

from .backends.base import Backend, loudness_target_of
from .job import Request, ResolvedItem
from .loudness import LoudnessMeter, Normalisation, finish_file
from .longform.scheduler import LongformScheduler, Progress, Span
from .media.probe import MediaInfo
from .media.wav import AtomicWavWriter, check_output_path


@dataclass(frozen=True)
class GenerateResult:
    path: str
    sample_rate: int
    #: absolute sample index (from the media's first frame) of the file's first sample
    start_sample: int
    num_samples: int
    media_start: Fraction
    media_end: Fraction
    windows: int
    seconds: float
    speed: Fraction
    backend: str
    seed: int
    #: prompt words the backend did not use (and similar notes), for the editor to show
    warnings: tuple[str, ...] = ()

    def to_result(self, item: Item, index: int = 0, channels: Optional[int] = None) -> Result:
        """The typed result of ``item`` (the one form both the CLI and the engine report)."""
        return Result(
            item=index, path=self.path, media=item.media, start=self.media_start, end=self.media_end,
            start_sample=self.start_sample, num_samples=self.num_samples, sample_rate=self.sample_rate,
            channels=channels, format=item.format, speed=self.speed, windows=self.windows,
            seconds=round(self.seconds, 3), backend=self.backend, seed=self.seed, record_start=item.record_start,
            warnings=tuple(self.warnings),
        )

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "sample_rate": self.sample_rate,
            "start_sample": self.start_sample,
            "num_samples": self.num_samples,
            "media_start": str(self.media_start),
            "media_end": str(self.media_end),
            "windows": self.windows,
            "speed": str(self.speed),
            "seconds": round(self.seconds, 3),
            "backend": self.backend,
            "seed": self.seed,
            "warnings": list(self.warnings),
        }


def generate_to_file(
    job: "Request | ResolvedItem",
    backend: Backend,
    out_path: Optional[str] = None,
    *,
    subtype: str = "PCM_24",
    info: Optional[MediaInfo] = None,
    progress: Optional[Callable[[Progress], None]] = None,
    cancel: Optional[Callable[[], bool]] = None,
    on_span: Optional[Callable[[Span], None]] = None,
    scheduler: Optional[LongformScheduler] = None,
    pool=None,
) -> GenerateResult:
    """Generate ``job`` into ``out_path`` (WAV). Nothing is left at ``out_path`` on failure.

    ``job`` is a :class:`~.job.ResolvedItem` (the engine's worker: its media is never probed
    here), or a request that is resolved once here (probing the media unless ``info`` is given).
    ``out_path`` defaults to the resolved item's. ``pool`` (a :class:`~.longform.scheduler.WindowPool`)
    fans the windows of a backend with independent windows out over several generators; the
    bytes written are the same."""
    scheduler = scheduler or LongformScheduler(backend)
    item = scheduler.resolved(job, info)
    out_path = out_path or item.out_path
    request = item.request
    check_output_path(out_path, inputs=(request.media,))
    sr = scheduler.sample_rate
    first, stop = item.first_sample, item.stop_sample
    started = time.monotonic()
    windows = 0
    # Loudness normalisation needs the whole stem: a float first pass beside the output, then one gain.
    norm = Normalisation.for_job(request.loudness, request.true_peak,
                                 loudness_target_of(backend, request.prompt, request.negative_prompt))
    meter = LoudnessMeter(sr, backend.channels) if norm else None
    # With normalisation the spans go to a float partial file first (never renamed into place).
    writer = AtomicWavWriter(out_path, sr, backend.channels, "FLOAT" if norm else subtype, finalize=norm is None)
    try:
        with writer:
            expected = first
            for span in scheduler.spans(item, progress=progress, cancel=cancel, pool=pool):
                # Spans arrive in order and tile exactly; anything else is a bug.
                assert span.start == expected, (span.start, expected)
                writer.write(span.audio)
                if meter is not None:
                    meter.add(span.audio)
                expected = span.end
                windows += 1
                if on_span is not None:
                    on_span(span)
            assert writer.frames_written == stop - first
        if norm:
            finish_file(writer.partial_path, out_path, subtype, norm.gain_db(meter.integrated(), meter.true_peak()))
    finally:
        if norm:
            writer.remove_partial()
    return GenerateResult(
        path=os.path.abspath(out_path),
        sample_rate=sr,
        start_sample=first,
        num_samples=stop - first,
        media_start=item.media_range.start,
        media_end=item.media_range.end,
        windows=windows,
        seconds=time.monotonic() - started,
        speed=item.speed,
        backend=backend.name,
        seed=request.seed,
        warnings=tuple(backend.prompt_warnings(request.prompt, request.negative_prompt)) + tuple(scheduler.notes),
    )
