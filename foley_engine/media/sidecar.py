"""The Foley file's note of where it came from: ``<file>.wav.foley.json`` beside every WAV.

``foley regenerate`` must know, for a WAV alone, which media and which exact range it
stands for, at which rate and from which first sample, and how it was made (prompt, seed,
options) so a re-done range sounds like the rest.  A JSON sidecar was chosen over a
BWF/iXML chunk because every tool copies a WAV's samples but many rewrite or drop its
chunks (editors re-wrap on import), while a sidecar is plain text a user can read and
fix; it is written atomically after the WAV, so a sidecar never names a WAV that is not
complete.  A WAV without one (made elsewhere, or the sidecar lost) can still be
regenerated with ``--media``: it is then taken to start at the media's first frame.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional

from plugin_host.atomic import write_json_atomic

from ..errors import OutputError

SUFFIX = ".foley.json"
VERSION = 1


def sidecar_path(wav_path: str) -> str:
    return os.fspath(wav_path) + SUFFIX


@dataclass(frozen=True)
class Provenance:
    """What a Foley WAV stands for: its media range in samples, and the request that made it."""

    media: str
    start: Fraction              #: media seconds of the file's range
    end: Fraction
    sample_rate: int
    first_sample: int            #: index of the file's first sample, from the media's first frame
    num_samples: int
    #: the request's wire fields (prompt, seed, speed, options, align, motion, loudness, format, ...)
    request: dict
    backend: str = ""
    #: ranges re-done since (``foley regenerate``), oldest first: start, end, prompt, seed, backup
    edits: tuple = ()
    #: the visual events the engine saw, ``{"kind", "time"}`` (exact seconds "p/q" on the file's clock:
    #: media time unless the source was retimed), for markers in the editor (``--spot``)
    events: tuple = ()

    def to_dict(self) -> dict:
        return {"foley_sidecar": VERSION, "media": self.media, "start": str(self.start), "end": str(self.end),
                "sample_rate": self.sample_rate, "first_sample": self.first_sample,
                "num_samples": self.num_samples, "backend": self.backend, "request": self.request,
                "edits": list(self.edits), "events": list(self.events)}

    @classmethod
    def from_dict(cls, obj: Any, where: str = "sidecar") -> "Provenance":
        try:
            if int(obj.get("foley_sidecar", 0)) != VERSION:
                raise ValueError(f"version {obj.get('foley_sidecar')!r}, this release reads {VERSION}")
            return cls(media=str(obj["media"]), start=Fraction(obj["start"]), end=Fraction(obj["end"]),
                       sample_rate=int(obj["sample_rate"]), first_sample=int(obj["first_sample"]),
                       num_samples=int(obj["num_samples"]), request=dict(obj.get("request") or {}),
                       backend=str(obj.get("backend", "")), edits=tuple(obj.get("edits") or ()),
                       events=tuple(obj.get("events") or ()))
        except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise OutputError(f"{where}: not a Foley sidecar this release can read ({exc})") from None


def write_sidecar(wav_path: str, provenance: Provenance) -> Optional[str]:
    """Write the sidecar beside the finished WAV; its path, or None when it could not be written.

    The WAV is complete and in place by now, so a sidecar that cannot be written (a WAV name
    already near the file system's 255-byte limit, a folder filling up) never fails the job:
    that WAV is then like one made elsewhere (``foley regenerate --media`` still works)."""
    path = sidecar_path(wav_path)
    # The atomic writer's temp name adds ".", ".<8 hex>.partial" (18 bytes) to the name.
    if len(os.path.basename(path).encode("utf-8", "surrogateescape")) + 18 > 255:
        return None
    try:
        write_json_atomic(path, provenance.to_dict(), indent=1)
    except OSError:
        return None
    return path


def read_sidecar(wav_path: str) -> Optional[Provenance]:
    """The WAV's provenance, or None when it has no sidecar (OutputError when it has a bad one)."""
    path = sidecar_path(wav_path)
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read ({exc})") from None
    return Provenance.from_dict(obj, path)


def move_sidecar(src_wav: str, dst_wav: str) -> None:
    """Follow a WAV's rename (the engine names its files; the user named another)."""
    try:
        os.replace(sidecar_path(src_wav), sidecar_path(dst_wav))
    except FileNotFoundError:
        pass
