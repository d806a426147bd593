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
from .generate_set import generate_set
from .media.sidecar import Provenance, write_sidecar
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
    #: every file of the item's set (stems x takes, ``plugin_host.items.Output``); () for one mix
    outputs: tuple = ()

    def to_result(self, item: Item, index: int = 0, channels: Optional[int] = None) -> Result:
        """The typed result of ``item`` (the one form both the CLI and the engine report)."""
        return Result(
            item=index, path=self.path, media=item.media, start=self.media_start, end=self.media_end,
            start_sample=self.start_sample, num_samples=self.num_samples, sample_rate=self.sample_rate,
            channels=channels, format=item.format, speed=self.speed, windows=self.windows,
            seconds=round(self.seconds, 3), backend=self.backend, seed=self.seed, record_start=item.record_start,
            warnings=tuple(self.warnings), outputs=tuple(self.outputs),
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
            **({"outputs": [o.to_wire() for o in self.outputs]} if self.outputs else {}),
        }


def provenance(item: ResolvedItem, backend: str, events=()) -> Provenance:
    """The sidecar of ``item``'s WAV: its exact range and the request that made it (for ``foley regenerate``)."""
    request = item.request
    if isinstance(request, Item):
        fields = request.to_wire()
    else:  # a library Job: the same field names, written the wire's way
        fields = {"media": request.media, "speed": str(request.speed), "prompt": request.prompt,
                  "negative_prompt": request.negative_prompt, "seed": int(request.seed),
                  "options": dict(request.options), "align": request.align, "motion": request.motion,
                  "loudness": request.loudness, "true_peak": request.true_peak, "format": item.format}
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.update(start=str(item.media_range.start), end=str(item.media_range.end))
    return Provenance(media=os.path.abspath(request.media), start=item.media_range.start,
                      end=item.media_range.end, sample_rate=item.sample_rate, first_sample=item.first_sample,
                      num_samples=item.num_samples, request=fields, backend=backend,
                      events=tuple({"kind": kind, "time": str(t)} for t, kind in events))


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
    bytes written are the same.  A sidecar (``<out>.foley.json``, see :mod:`.media.sidecar`) is
    written beside the finished WAV: its range and request, for ``foley regenerate``."""
    scheduler = scheduler or LongformScheduler(backend)
    item = scheduler.resolved(job, info)
    out_path = out_path or item.out_path
    request = item.request
    check_output_path(out_path, inputs=(request.media,))
    sr = scheduler.sample_rate
    first, stop = item.first_sample, item.stop_sample
    started = time.monotonic()
    windows = 0
    if getattr(request, "stems", ()) or getattr(request, "takes", 1) > 1:
        outputs, windows, notes = generate_set(item, backend, out_path, subtype=subtype, scheduler=scheduler,
                                               progress=progress, cancel=cancel, on_span=on_span, pool=pool)
        # Each file of the set gets the set's sidecar (its name says which take and stem it is).
        for out in outputs:
            write_sidecar(out.path, provenance(item, backend.name, scheduler.spotted))
        return _result(item, backend, outputs[0].path, windows, started, notes, outputs)
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
    write_sidecar(out_path, provenance(item, backend.name, scheduler.spotted))
    return _result(item, backend, out_path, windows, started, tuple(scheduler.notes))


def _result(item: ResolvedItem, backend: Backend, path: str, windows: int, started: float, notes: tuple,
            outputs: tuple = ()) -> GenerateResult:
    request = item.request
    return GenerateResult(
        path=os.path.abspath(path),
        sample_rate=item.sample_rate,
        start_sample=item.first_sample,
        num_samples=item.num_samples,
        media_start=item.media_range.start,
        media_end=item.media_range.end,
        windows=windows,
        seconds=time.monotonic() - started,
        speed=item.speed,
        backend=backend.name,
        seed=request.seed,
        warnings=tuple(backend.prompt_warnings(request.prompt, request.negative_prompt)) + tuple(notes),
        outputs=outputs,
    )
