"""``foley batch --regenerate EDITS``: ranges of finished Foley files re-done, as ordinary batch items.

An edit list has one regeneration a line (``#`` starts a comment; quote paths with spaces)::

    reel2.wav   100   103.5                       # a new take of [100 s, 103.5 s)
    reel2.wav   200   1001/5   7  glass breaking  # seed 7, a new prompt
    shot_FOLEY_FEET.wav  1  2                     # a file of a stems/takes set: the whole set

``IN``/``OUT`` are seconds of the file's video from its first frame (decimal or exact ``p/q``), as
``foley regenerate`` reads them.  Each line is an item (:func:`plugin_host.regenerate.regeneration_item`,
the rule ``foley regenerate`` uses): the batch submits it like any other (journalled, cancellable,
retried, resumable), the engine writes the new audio into ``<out>/regenerate/``, and when it is there
``foley regenerate --splice`` lands it in the file (every sample outside the range bit-identical, the
previous file kept as ``<name>.before-regenerate-<k>.wav``): the same bytes as ``foley regenerate`` in
process with that seed.  Without a seed on the line, the seed is fixed when the batch is planned (the
file's seed + its edits + 1), so a resumed batch re-does nothing twice.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from plugin_host.fields import ProtocolError
from plugin_host.regenerate import regeneration_item
from plugin_host.timebase import TimeError, output_duration, parse_number

from .inputs import BatchError
from .units import Unit

#: where the engine writes a regeneration's new audio before it is spliced in
FOLDER = "regenerate"


@dataclass(frozen=True)
class Edit:
    """One line of an edit list."""

    wav: str
    start: Fraction
    end: Fraction
    seed: Optional[int]
    prompt: Optional[str]
    where: str  #: "edits.txt:3", for messages


def read_edit_list(path: str) -> list:
    """The :class:`Edit` lines of ``path`` (BatchError naming the line for a bad one)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{path}: cannot read the edit list ({exc})") from None
    base, edits = os.path.dirname(os.path.abspath(path)), []
    for number, line in enumerate(lines, 1):
        where = f"{os.path.basename(path)}:{number}"
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise BatchError(f"{where}: {exc}") from None
        if not words:
            continue
        if len(words) < 3:
            raise BatchError(f"{where}: want WAV IN OUT [SEED [PROMPT]], got {line.strip()!r}")
        try:
            start, end = parse_number(words[1], "IN"), parse_number(words[2], "OUT")
        except TimeError as exc:
            raise BatchError(f"{where}: {exc} (seconds from the video's first frame, e.g. 12.5 or 1001/30000)") \
                from None
        if len(words) > 3 and not words[3].isdigit():
            raise BatchError(f"{where}: the seed must be a whole number, not {words[3]!r}")
        wav = words[0] if os.path.isabs(words[0]) else os.path.join(base, words[0])
        edits.append(Edit(os.path.abspath(wav), start, end, int(words[3]) if len(words) > 3 else None,
                          " ".join(words[4:]) or None, where))
    return edits


def plan_regenerations(edit_lists: list, out: str) -> list:
    """One :class:`Unit` per edit of every list (BatchError for a file that cannot be re-done)."""
    units = []
    for path in edit_lists:
        for e in read_edit_list(path):
            try:
                with open(e.wav + ".foley.json", encoding="utf-8") as f:
                    side = json.load(f)
                item = regeneration_item(side["request"], len(side.get("edits") or ()), e.start, e.end,
                                         media=side["media"], prompt=e.prompt, seed=e.seed)
            except FileNotFoundError:
                raise BatchError(f"{e.where}: {e.wav} has no sidecar ({os.path.basename(e.wav)}.foley.json): "
                                 "not a file this engine made, or it moved") from None
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise BatchError(f"{e.where}: {e.wav}: cannot read its sidecar ({exc})") from None
            except ProtocolError as exc:
                raise BatchError(f"{e.where}: {exc}") from None
            if not Fraction(side["start"]) <= e.start < e.end <= Fraction(side["end"]):
                raise BatchError(f"{e.where}: the range {e.start}-{e.end} is not inside {os.path.basename(e.wav)}'s "
                                 f"media range {side['start']}-{side['end']} (seconds from the video's first frame)")
            label = f"regenerate {os.path.basename(e.wav)} {float(e.start):g}-{float(e.end):g} s"
            item = dataclasses.replace(item, label=label)
            # The key is the line's own (file, range, seed as given, prompt): the item's default seed moves
            # with the file's edits, and a resumed batch must find this edit done.
            key = hashlib.sha256(json.dumps([e.wav, str(e.start), str(e.end), e.seed, e.prompt]).encode()).hexdigest()
            units.append(Unit(path, label, item, os.path.join(out, FOLDER),
                              output_duration(item.start, item.end, item.speed), regenerates=e.wav,
                              fixed_key=f"regenerate-{key[:32]}"))
    return units


def land(u: Unit, result) -> object:
    """Splice a finished regeneration's new audio into its file (``foley regenerate --splice``, the one
    splicing code); the result, now naming the file.  The engine's new-audio files are removed."""
    base = os.path.join(u.out_dir, f".{u.key}.wav")
    made = [o.path for o in result.outputs] or [result.path]
    mine = [o.path for o in u.item.outputs(base)]
    try:
        for theirs, ours in zip(made, mine):  # the names `--splice BASE` expects (same folder: atomic)
            os.replace(theirs, ours)
        argv = [sys.executable, "-m", "foley_engine.cli", "regenerate", u.regenerates, "--in", str(u.item.start),
                "--out", str(u.item.end), "--seed", str(u.item.seed), "--prompt", u.item.prompt,
                "--negative-prompt", u.item.negative_prompt, "--splice", base, "--json"]
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise BatchError(lines[-1].removeprefix("foley: error: ") if lines else f"status {proc.returncode}")
        done = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        for path in made + mine:
            for leftover in (path, path + ".foley.json"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    return dataclasses.replace(result, path=done["path"], outputs=())
