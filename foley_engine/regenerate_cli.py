"""``foley regenerate OUT.wav --in T --out T``: re-do one range of a Foley file, in process or on the engine."""
from __future__ import annotations

import argparse
import json
import os
from types import SimpleNamespace

from plugin_host.fields import ProtocolError

from .errors import Cancelled, RangeError
from .generate_cli import install_cancel, parse_range, run_in_process, run_on_engine
from .timebase import TimeError, format_seconds


def _fade(text: str):
    from .media.wav import positive_seconds

    try:
        return positive_seconds(text, "--fade")
    except TimeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_regenerate(args) -> int:
    from .backends.registry import backend_class
    from .job import resolve
    from .media.probe import probe
    from .regenerate import only_this_file, plan_edit, provenance_of, regeneration_item, set_file, splice_set

    wav = os.path.abspath(args.wav)
    if not os.path.isfile(wav):
        raise RangeError(f"{args.wav}: no such file")
    prov = provenance_of(wav, args.media, probe)
    if not os.path.isfile(prov.media):
        raise RangeError(f"{prov.media}: the video this file was made from is not there; give --media VIDEO")
    info = probe(prov.media)
    if not args.in_point or not args.out_point:
        raise RangeError("give the range to re-do with both --in and --out")
    start, end = parse_range(args, info)
    edit = plan_edit(prov, start, end, *(() if args.fade is None else (args.fade,)))
    try:
        item = regeneration_item(prov, start, end, prompt=args.prompt, negative_prompt=args.negative_prompt,
                                 seed=args.seed, media=prov.media)
    except ProtocolError as exc:  # the item's own checks (a prompt over the limit, a bad seed)
        raise RangeError(f"--{exc.field.replace('_', '-')}: {exc.message}") from None
    # A file of a stems/takes set: the whole set is re-done over the range (every file, landing
    # together), or with --only this file alone.
    which = set_file(wav, prov)
    if which is not None and args.only:
        item = only_this_file(item, which)
    targets = [wav] if which is None or args.only else [o.path for o in which.outputs]
    provs = [prov if path == wav else provenance_of(path, prov.media, probe) for path in targets]
    for other in provs:
        if (other.first_sample, other.num_samples) != (prov.first_sample, prov.num_samples):
            raise RangeError(f"the files of {os.path.basename(wav)}'s set no longer cover the same range; "
                             "regenerate one with --only")
    backend = args.backend or prov.backend or "procedural"
    rate = getattr(backend_class(backend), "sample_rate", 48000)
    if rate != prov.sample_rate:
        raise RangeError(f"{args.wav} is at {prov.sample_rate} Hz but backend {backend!r} writes {rate} Hz; "
                         "regenerate with the backend that made it (--backend)")
    # Room for the new audio and the new file beside the old one (kept as the backup), before any work.
    from .media.wav import check_free_space, wav_bytes

    check_free_space(os.path.dirname(wav), len(targets) * (os.path.getsize(wav)
                                                           + wav_bytes(edit.stop - edit.start, 2, item.format)))
    # The new audio is an ordinary item written beside the file (a set: beside each), then spliced in and removed.
    stem, _ = os.path.splitext(wav)
    # --splice: the new audio was made already (foley batch generated this very item as one of its jobs).
    take = os.path.abspath(args.splice) if args.splice else \
        f"{os.path.dirname(wav)}/.{os.path.basename(stem)}.regenerating.wav"
    made = {(o.take, o.stem): o.path for o in item.outputs(take)}
    if which is not None and args.only:  # one output: this file's stem as a single take
        pairs = [(wav, next(iter(made.values())), prov)]
    else:
        keys = [(o.take, o.stem) for o in which.outputs] if which is not None else [(1, "")]
        pairs = [(path, made[key], p) for path, key, p in zip(targets, keys, provs)]
    run = SimpleNamespace(backend=backend, device=args.device, progress=args.progress,
                          connection_file=args.connection_file)
    executor = run_on_engine if args.engine else run_in_process
    cancel = install_cancel(terminate_at_once=not args.engine)
    try:
        if not args.splice:
            executor(run, item, take, resolve(item, info, rate, take), {}, cancel)
        if cancel.is_set():
            raise Cancelled("cancelled")
        backups = splice_set(pairs, edit, item)
    finally:
        for leftover in [p for path in made.values() for p in (path, path + ".foley.json")]:
            if os.path.exists(leftover) and not args.splice:  # --splice: the caller's files, the caller's to remove
                os.unlink(leftover)
    backup = backups[targets.index(wav)]
    sr = prov.sample_rate
    report = {"path": wav, "backup": backup, "start": str(start), "end": str(end),
              "first_sample": prov.first_sample + edit.start, "stop_sample": prov.first_sample + edit.stop,
              "fade_samples": edit.fade, "sample_rate": sr, "prompt": item.prompt, "seed": item.seed,
              "files": [{"path": path, "backup": b} for path, b in zip(targets, backups)]}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"re-did {format_seconds(start)}-{format_seconds(end)} of {wav} ({edit.stop - edit.start} samples, "
              f"{edit.fade}-sample fades inside the range, seed {item.seed}); the previous file is {backup}")
        if len(targets) > 1:
            print(f"and of the {len(targets) - 1} other file(s) of its set, each with its backup beside it")
    return 0


def register_regenerate(sub) -> None:
    p = sub.add_parser("regenerate", help="re-do one range of a Foley WAV in place (the rest stays bit for bit)",
                       description="Generate the range --in..--out of a Foley WAV again (a new seed, or a new "
                       "prompt) and splice it in with short equal-power crossfades inside the range. Every "
                       "sample outside the range is unchanged, the length too; the previous file is kept as "
                       "<name>.before-regenerate-<k>.wav. The WAV's sidecar (<name>.wav.foley.json, written "
                       "by foley generate) says which video and range it was made from.")
    p.add_argument("wav", help="the Foley WAV to change")
    p.add_argument("--in", dest="in_point", help="start of the range to re-do, in the video's time: seconds, "
                   "HH:MM:SS.mmm from the first frame, or SMPTE timecode in the video's own timecode")
    p.add_argument("--out", dest="out_point", help="end (exclusive), same forms as --in")
    p.add_argument("--fps", help="frame rate for SMPTE --in/--out when the media does not state one")
    p.add_argument("--prompt", default=None, help="a new prompt for the range (default: the file's own)")
    p.add_argument("--negative-prompt", default=None, help="a new negative prompt (default: the file's own)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the range (default: a new take, the file's seed + the number of edits + 1)")
    p.add_argument("--fade", type=_fade, default=None, metavar="SECONDS",
                   help="length of each edge crossfade, inside the range (default 0.02)")
    p.add_argument("--only", action="store_true",
                   help="for a file of a stems/takes set: re-do this file alone (default: every file of the set, "
                        "landing together)")
    p.add_argument("--media", help="the video, when it moved or the WAV has no sidecar")
    p.add_argument("--splice", metavar="AUDIO",
                   help="splice AUDIO, already generated for exactly this range and these settings (a stems/takes "
                        "set: its first file's name), instead of generating it (how foley batch lands its "
                        "regenerations)")
    p.add_argument("--backend", help="backend (default: the one that made the file)")
    p.add_argument("--device", help="device for neural backends, e.g. cuda:0")
    p.add_argument("--engine", action="store_true", help="generate through the running engine")
    p.add_argument("--connection-file", help="engine connection file (default: the user runtime folder)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_regenerate)
