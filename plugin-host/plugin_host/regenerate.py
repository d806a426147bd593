"""Re-do a range of a Foley file from inside an editor: ``foley regenerate ... --engine`` as a child process.

The editors' Pythons (Resolve's, Blender's) cannot splice audio (no numpy, no soundfile there), so
the add-ons run the one command that does it, ``foley regenerate`` (``foley_engine.regenerate``):
the new audio is an ordinary engine job (journalled, cancellable, byte-identical to in-process), the
file is replaced atomically with every sample outside the range bit-identical and the previous file
kept as ``<name>.before-regenerate-<k>.wav``.  Cancelling terminates the child, which cancels its
engine job and leaves the file as it was.

Times are media seconds (exact fractions, written ``p/q``) on the file's clock, as its sidecar gives
them; :func:`file_range` reads that.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Optional

from .markers import SIDECAR_SUFFIX
from .process import EngineSpec


class RegenerateError(Exception):
    """The regeneration did not happen; the message is one line and the file is as it was."""


@dataclass(frozen=True)
class Regeneration:
    """Re-do ``[start, end)`` (media seconds) of ``wav``."""

    wav: str
    start: Fraction
    end: Fraction
    prompt: Optional[str] = None   #: None: the file's own
    seed: Optional[int] = None     #: None: a new take (the file's seed + edits + 1)
    only: bool = False             #: a file of a stems/takes set: this file alone, not the whole set

    def argv(self, spec: EngineSpec) -> list:
        from .client import engine_command

        args = engine_command(spec.command) + ["regenerate", self.wav, "--in", _text(self.start),
                                               "--out", _text(self.end), "--engine", "--json"]
        if spec.connection_file:
            args += ["--connection-file", spec.connection_file]
        if self.prompt is not None:
            args += ["--prompt", self.prompt]
        if self.seed is not None:
            args += ["--seed", str(int(self.seed))]
        return args + (["--only"] if self.only else [])


def _text(t: Fraction) -> str:
    t = Fraction(t)
    return str(t.numerator) if t.denominator == 1 else f"{t.numerator}/{t.denominator}"


def regeneration_item(request: dict, edits: int, start: Fraction, end: Fraction, *, media: str,
                      prompt: Optional[str] = None, negative_prompt: Optional[str] = None,
                      seed: Optional[int] = None):
    """The item that re-generates ``[start, end)`` of a Foley file: its own ``request`` (the sidecar's)
    over the sub-range, ``edits`` being how many regenerations it had.

    Without ``seed`` it is a new take: the file's seed plus one more than the edits so far
    (the same seed over the same range would mostly give the same sound back)."""
    from .items import Item

    fields = dict(request, media=media, start=_text(start), end=_text(end))
    fields.pop("record_start", None)
    if prompt is not None:
        fields["prompt"] = prompt
    if negative_prompt is not None:
        fields["negative_prompt"] = negative_prompt
    fields["seed"] = seed if seed is not None else (int(fields.get("seed", 0)) + edits + 1) % 2**32
    return Item.from_wire(fields)


def file_range(wav: str) -> tuple[Fraction, Fraction]:
    """The media range ``[start, end)`` a Foley WAV stands for, from its sidecar (RegenerateError if none)."""
    try:
        with open(wav + SIDECAR_SUFFIX, encoding="utf-8") as f:
            side = json.load(f)
        return Fraction(str(side["start"])), Fraction(str(side["end"]))
    except FileNotFoundError:
        raise RegenerateError(f"{os.path.basename(wav)} has no sidecar ({os.path.basename(wav)}{SIDECAR_SUFFIX}): "
                              "it was not made by this Foley engine, so its range cannot be re-done here") from None
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise RegenerateError(f"{os.path.basename(wav)}{SIDECAR_SUFFIX} cannot be read ({exc})") from None


def run(job: Regeneration, spec: EngineSpec, cancelled: Callable[[], bool] = lambda: False,
        poll_s: float = 0.1) -> dict:
    """Run the regeneration (an engine is started first where ``spec`` allows); the command's JSON report
    (``path``, ``backup``, ``files``, ``first_sample``, ...), or RegenerateError."""
    from .client import EngineClient, EngineError

    try:  # `foley regenerate --engine` connects, it does not start one: make sure one runs (or say why not)
        EngineClient.open(spec).close()
    except EngineError as exc:
        raise RegenerateError(str(exc)) from None
    try:
        proc = subprocess.Popen(job.argv(spec), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **({"creationflags": 0x00000200} if sys.platform == "win32" else {}))
    except OSError as exc:
        raise RegenerateError(f"cannot run `foley regenerate` ({exc}); check the engine command") from None
    while proc.poll() is None:
        if cancelled():
            proc.terminate()  # the command cancels its engine job and leaves the file as it was
            proc.communicate()
            raise RegenerateError("cancelled; the file is as it was")
        time.sleep(poll_s)
    out, err = proc.communicate()
    if proc.returncode != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        raise RegenerateError(lines[-1].removeprefix("foley: error: ") if lines else
                              f"`foley regenerate` ended with status {proc.returncode}")
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RegenerateError(f"`foley regenerate` answered {out.strip()[:200]!r}, not its JSON report") from None
