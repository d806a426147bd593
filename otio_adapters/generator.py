"""The engine, behind a small interface.

Timeline code only needs "turn these media ranges into WAVs, tell me as each
one lands"; :class:`Generator` is that.  :mod:`otio_adapters.engine` is the
implementation over the engine client; tests can supply their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional, Protocol, Sequence


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

    @property
    def ok(self) -> bool:
        return self.error is None


class Generator(Protocol):
    def run(self, requests: Sequence[Request], out_dir: str,
            on_result: Optional[Callable[[Result], None]] = None) -> list[Result]:
        """Generate every request; call ``on_result`` as each finishes (or fails); return all results."""
        ...
