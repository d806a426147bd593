"""The engine, behind a small interface.

Timeline code only needs "turn these media ranges into WAVs, tell me as each
one lands"; :class:`Generator` is that.  :mod:`otio_adapters.engine` is the
implementation over the engine client; tests can supply their own.
:meth:`Request.to_item` and :meth:`Result.of_item` are the only conversions
between a timeline's requests and the plug-in package's ``Item``/``Result``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Mapping, Optional, Protocol, Sequence

from plugin_host import items
from plugin_host.timebase import SAMPLE_RATE


@dataclass(frozen=True)
class Request:
    key: str  #: the caller's id for this item (echoed in its Result)
    media: str  #: absolute path of the video file
    start: Fraction  #: media seconds from the first frame
    end: Fraction
    prompt: str = ""
    seed: int = 0
    #: source playback speed: the WAV lasts (end - start) / speed and follows the frames at that speed
    speed: Fraction = Fraction(1)
    label: str = ""  #: how messages name the clip
    record_sample: int = 0  #: where the result will sit in the record (track samples), for job listings
    stems: tuple = ()  #: Foley classes, one WAV each (``plugin_host.items.STEM_CLASSES``)
    takes: int = 1  #: variations of the range

    def to_item(self, options: Optional[Mapping] = None) -> items.Item:
        """The engine's item for this request (``options``: backend options); the one conversion."""
        return items.Item(media=self.media, start=self.start, end=self.end, prompt=self.prompt, seed=self.seed,
                          speed=self.speed, options=dict(options or {}), label=self.label,
                          stems=self.stems, takes=self.takes,
                          record_start={"sample": self.record_sample, "rate": SAMPLE_RATE})


@dataclass
class Result:
    key: str
    path: Optional[str] = None
    start_sample: int = 0
    num_samples: int = 0
    sample_rate: int = 0
    backend: str = ""
    job_id: str = ""
    seed: int = 0
    error: Optional[str] = None  #: one line; set when this item failed (others may still succeed)
    #: what the backend could not use (e.g. unknown prompt words), one line each
    warnings: tuple = ()
    #: every file of the item's set (``plugin_host.items.Output``), () for one mix
    outputs: tuple = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def of_item(cls, key: str, result: items.Result, job_id: str = "") -> "Result":
        """The timeline's view of the engine's result for request ``key``; the one conversion back."""
        return cls(key, path=result.path, start_sample=result.start_sample, num_samples=result.num_samples,
                   sample_rate=result.sample_rate, backend=result.backend, job_id=job_id, seed=result.seed,
                   warnings=result.warnings, outputs=result.outputs)

    @classmethod
    def failure(cls, request: Request, reason: str, job_id: str = "") -> "Result":
        """A failed request, the message naming its clip."""
        if reason == "cancelled":
            reason = "cancelled in the engine"
        return cls(request.key, job_id=job_id, error=f"{request.label}: {reason}")


class Generator(Protocol):
    def run(self, requests: Sequence[Request], out_dir: str,
            on_result: Optional[Callable[[Result], None]] = None) -> list[Result]:
        """Generate every request; call ``on_result`` as each finishes (or fails); return all results."""
        ...
