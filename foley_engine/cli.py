"""The ``foley`` command line.

``foley generate`` and ``foley backends`` live here; other packages add
their own sub-commands (``engine``, ``otio``, ...) through a ``register``
function in their ``cli`` module, imported only when present, so this core
never depends on them.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
from fractions import Fraction
from typing import Optional

from . import __version__
from .errors import Cancelled, FoleyError, RangeError
from .malloc_tuning import pin_mmap_threshold
from .timebase import exact_rate, format_seconds, parse_media_time

#: packages that contribute sub-commands: module with ``register(subparsers)``
SUBCOMMAND_MODULES = ("plugin_host.cli", "otio_adapters.cli", "resolve_scripts.cli", "foley_engine.backends.hunyuan.cli", "foley_engine.bench_cli")


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal, unless forced)."""

    def __init__(self, label: str, sample_rate: int, enabled: Optional[bool] = None, stream=sys.stderr):
        self.label = label
        self.sample_rate = sample_rate
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self._last = -1

    def update(self, progress) -> None:
        if not self.enabled:
            return
        percent = int(progress.fraction * 100)
        if percent == self._last and progress.fraction < 1:
            return
        self._last = percent
        width = 30
        filled = int(progress.fraction * width)
        speed = ""
        if progress.elapsed > 0:
            realtime = progress.done_samples / progress.elapsed / self.sample_rate
            remaining = (progress.total_samples - progress.done_samples) / self.sample_rate / max(realtime, 1e-9)
            speed = f" {realtime:5.1f}x realtime, {format_seconds(Fraction(int(remaining)))[:8]} left"
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {percent:3d}%{speed}")
        if progress.fraction >= 1:
            self.stream.write("\n")
        self.stream.flush()


def _speed(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a speed: {text!r} (use e.g. 2, 0.5 or 25/24)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def _default_output(media: str) -> str:
    stem, _ = os.path.splitext(media)
    return f"{stem}_foley.wav"


def _parse_range(args, info):
    fps = exact_rate(args.fps) if args.fps else info.fps
    start = parse_media_time(args.in_point, fps=fps, start_timecode=info.start_timecode) if args.in_point else None
    end = parse_media_time(args.out_point, fps=fps, start_timecode=info.start_timecode) if args.out_point else None
    if start is not None and end is not None and end <= start:
        raise RangeError(f"--in {args.in_point} is not before --out {args.out_point}")
    return start, end


def _install_cancel() -> threading.Event:
    """Ctrl-C cancels between windows, so the partial file is removed cleanly."""
    cancelled = threading.Event()

    def handler(signum, frame):
        if cancelled.is_set():
            raise KeyboardInterrupt
        cancelled.set()
        sys.stderr.write("\ncancelling (Ctrl-C again to abort at once)...\n")

    signal.signal(signal.SIGINT, handler)
    return cancelled


def cmd_generate(args) -> int:
    from .backends.registry import load_backend
    from .generate import generate_to_file
    from .job import Job
    from .media.probe import probe
    from .media.wav import check_output_path

    media = os.path.abspath(args.media)
    out = os.path.abspath(args.output or _default_output(media))
    check_output_path(out, inputs=(media,))
    if args.mux:
        check_output_path(os.path.abspath(args.mux), inputs=(media, out))
    from .backends.registry import prompt_warnings

    for line in prompt_warnings(args.backend, args.prompt, args.negative_prompt):
        print(f"foley: warning: {line}", file=sys.stderr)
    if getattr(args, "engine", False):
        from plugin_host.cli import generate_via_engine  # optional package

        return generate_via_engine(args, media, out)
    info = probe(media)
    start, end = _parse_range(args, info)
    options = {"align": True} if args.align else {}
    options.update({k: v for k, v in (("loudness", args.loudness), ("true_peak", args.true_peak),
                                      ("motion", args.motion)) if v is not None})
    job = Job(media, start, end, args.prompt, args.negative_prompt, args.seed, speed=args.speed, options=options)
    job.resolve_range(info)  # fail on a bad range before loading a model
    options = {"device": args.device} if args.device else {}
    # Backend-specific flags (e.g. --steps, --guidance) are registered as backend_opt_<name>.
    options.update({k[len("backend_opt_"):]: v for k, v in vars(args).items()
                    if k.startswith("backend_opt_") and v is not None})
    backend = load_backend(args.backend, **options)
    bar = ProgressBar(f"foley {os.path.basename(media)}", backend.sample_rate, enabled=True if args.progress else None)
    cancelled = _install_cancel()
    try:
        result = generate_to_file(
            job, backend, out, subtype=args.format, info=info, progress=bar.update, cancel=cancelled.is_set
        )
    finally:
        backend.close()
    if args.mux:
        from .media.mux import mux_preview

        mux_preview(media, result.path, os.path.abspath(args.mux), audio_start=result.media_start)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        span = f"{format_seconds(result.media_start)}-{format_seconds(result.media_end)}"
        print(f"wrote {result.path} ({result.num_samples} samples at {result.sample_rate} Hz, media {span}, "
              f"{result.windows} window(s), {result.seconds:.1f} s)")
        if args.mux:
            print(f"wrote {os.path.abspath(args.mux)} (video copied, Foley as AAC)")
    return 0


def cmd_backends(args) -> int:
    from .backends.registry import availability, discover, vocabularies

    if args.vocabulary:
        words = vocabularies()
        if args.json:
            print(json.dumps(words))
        for name, vocab in ([] if args.json else words.items()):
            print(f"{name}: " + (" ".join(vocab) if vocab is not None else "(free text)"))
        return 0

    rows = []
    for name, entry in sorted(discover().items()):
        status = availability(entry)
        rows.append({"name": name, "available": status.ok, "reason": status.reason, "origin": entry.origin, "target": entry.target})
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        mark = "yes" if row["available"] else "no "
        reason = f"  ({row['reason']})" if row["reason"] else ""
        print(f"{row['name']:<12} available: {mark}  [{row['origin']}]{reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foley", description="Synchronized Foley for video, at exact timecode.")
    parser.add_argument("--version", action="version", version=f"foley {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    gen = sub.add_parser("generate", help="generate Foley for a video (or a range of it) into a WAV file")
    gen.add_argument("media", help="input video file")
    gen.add_argument("-o", "--output", help="output WAV (default: <media>_foley.wav next to the input)")
    gen.add_argument("--prompt", default="", help='what should sound, e.g. "footsteps on wooden floor, door slams"')
    gen.add_argument("--negative-prompt", default="", help="sounds to leave out")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed, same sound)")
    gen.add_argument("--in", dest="in_point", help="start: seconds, HH:MM:SS.mmm from the first frame, or SMPTE timecode HH:MM:SS:FF in the media's own timecode")
    gen.add_argument("--out", dest="out_point", help="end (exclusive), same forms as --in")
    gen.add_argument("--fps", help="frame rate for SMPTE --in/--out when the media does not state one (24, 29.97, 30000/1001)")
    gen.add_argument("--speed", type=_speed, default=Fraction(1),
                     help="source playback speed (2 = twice as fast); the output lasts (out - in) / speed")
    gen.add_argument("--align", action="store_true",
                     help="re-align each window to the visual events (within ±80 ms; for neural backends)")
    gen.add_argument("--backend", default="procedural", help="backend name (see `foley backends`; default procedural)")
    gen.add_argument("--device", help="device for neural backends, e.g. cuda:0")
    gen.add_argument("--format", default="pcm24", choices=["pcm24", "pcm16", "float"], help="WAV sample format (default pcm24)")
    gen.add_argument("--loudness", metavar="LUFS", help="normalise the stem to this integrated loudness, or 'off' "
                     "(default: the backend's, -23 for procedural)")
    gen.add_argument("--true-peak", type=float, metavar="DBTP", help="true-peak ceiling for --loudness (default -1)")
    gen.add_argument("--motion", choices=["diff", "flow"], help="motion from frame differences (default) or "
                     "camera-compensated optical flow (needs opencv-python-headless)")
    gen.add_argument("--mux", metavar="MP4", help="also write a preview MP4: original video copied, Foley as AAC")
    gen.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
    gen.add_argument("--json", action="store_true", help="print the result as JSON")
    gen.set_defaults(func=cmd_generate)

    be = sub.add_parser("backends", help="list installed backends and whether each can run here")
    be.add_argument("--json", action="store_true")
    be.add_argument("--vocabulary", action="store_true", help="list the prompt words each backend understands")
    be.set_defaults(func=cmd_backends)

    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "that package is not installed" is expected; other import errors are bugs.
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.register(sub, gen)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    pin_mmap_threshold()  # flat memory over long videos (see foley_engine.malloc_tuning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Cancelled:
        print("foley: cancelled; no output written", file=sys.stderr)
        return 130
    except FoleyError as exc:
        print(f"foley: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("foley: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
