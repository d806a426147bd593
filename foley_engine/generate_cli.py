"""``foley generate``: one command, two executors (in-process and ``--engine``).

Both executors get the same :class:`~plugin_host.items.Item` (same range
parsing, same checks, same backend options) and return the same
:class:`~plugin_host.items.Result`, which one tail turns into the preview mux
and the printed report.  The item is resolved once, by whoever generates: in
process, here (one probe, one :class:`~foley_engine.job.ResolvedItem` handed to
``generate_to_file``); with ``--engine``, by the engine at submit, so this
command opens the media only to read its own timecode for SMPTE ``--in``/``--out``.
Backend options are declared by the backend classes
(:class:`~foley_engine.backends.base.BackendOption`) and become flags here.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from fractions import Fraction
from typing import Callable, Optional

from plugin_host.items import Item, Result

from .errors import BackendError, Cancelled, EngineCommandError, OutputError, RangeError
from .timebase import TimeError, exact_rate, format_seconds, is_timecode, parse_media_time, parse_number

OPTION_DEST = "backend_opt_"


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal, unless forced)."""

    def __init__(self, label: str, sample_rate: int, enabled: Optional[bool] = None, stream=None):
        self.label = label
        self.sample_rate = sample_rate
        self.stream = stream if stream is not None else sys.stderr  # today's stderr, not the one at import
        self.enabled = self.stream.isatty() if enabled is None else enabled
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


# ---------------------------------------------------------------- parsing


def _speed(text: str) -> Fraction:
    try:
        value = parse_number(text, "speed")
    except TimeError:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise argparse.ArgumentTypeError(f"not a speed: {shown!r} (use e.g. 2, 0.5 or 25/24)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def _default_output(media: str) -> str:
    stem, _ = os.path.splitext(media)
    return f"{stem}_foley.wav"


def needs_media_timecode(args) -> bool:
    """Whether ``--in``/``--out`` is SMPTE timecode: only then does reading them need the media
    (its start timecode, and its rate unless ``--fps`` gives one)."""
    return any(text and is_timecode(text) for text in (args.in_point, args.out_point))


def parse_range(args, info) -> tuple[Optional[Fraction], Optional[Fraction]]:
    """``--in``/``--out`` as media seconds; ``info`` (the probe) may be None when neither is timecode."""
    fps = exact_rate(args.fps) if args.fps else info.fps if info else None
    tc = info.start_timecode if info else None
    start = parse_media_time(args.in_point, fps=fps, start_timecode=tc) if args.in_point else None
    end = parse_media_time(args.out_point, fps=fps, start_timecode=tc) if args.out_point else None
    if start is not None and end is not None and end <= start:
        raise RangeError(f"--in {args.in_point} is not before --out {args.out_point}")
    return start, end


def _loudness_arg(text: Optional[str]) -> Optional[str]:
    """``--loudness``: LUFS or "off", checked with the item's own rule so both paths agree."""
    if text is None:
        return None
    from plugin_host.items import LOUDNESS_PRESETS, _loudness
    from plugin_host.fields import ProtocolError

    if text.strip().lower() in LOUDNESS_PRESETS:
        return LOUDNESS_PRESETS[text.strip().lower()][0]
    try:
        return _loudness(text.strip(), "--loudness")
    except ProtocolError as exc:
        raise RangeError(f"{exc} (a LUFS value such as -23, a preset ({', '.join(LOUDNESS_PRESETS)}), "
                         f"or off)") from None


def _true_peak_arg(args) -> Optional[float]:
    """``--true-peak``, else the ceiling of a ``--loudness`` preset (EBU R 128: -1, ATSC A/85: -2, ...)."""
    from plugin_host.items import LOUDNESS_PRESETS

    if args.true_peak is not None or args.loudness is None:
        return args.true_peak
    return LOUDNESS_PRESETS.get(args.loudness.strip().lower(), (None, None))[1]


class Terminated(Cancelled):
    """SIGTERM or SIGHUP: stop now; the temp file is removed on the way out."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def install_cancel(*, terminate_at_once: bool = True) -> threading.Event:
    """Ctrl-C cancels between windows, so the partial file is removed cleanly; SIGTERM and SIGHUP
    (a closed terminal, ``kill``) stop at once the same way, never leaving a hidden ``.partial``."""
    cancelled = threading.Event()

    def handler(signum, frame):
        if cancelled.is_set():
            raise KeyboardInterrupt
        cancelled.set()
        sys.stderr.write("\ncancelling (Ctrl-C again to abort at once)...\n")

    def terminate(signum, frame):
        cancelled.set()
        if terminate_at_once:  # in-process: unwind now (the writer deletes its temp file)
            raise Terminated(signum)
        # through the engine: the runner cancels the job at its next window (the engine removes its partial)

    signal.signal(signal.SIGINT, handler)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), terminate)
    return cancelled


#: ``--mux`` writes an MP4 (video copied, AAC audio); these names say so
MUX_EXTENSIONS = (".mp4", ".m4v", ".mov")

#: wire fields of an item, as ``foley generate`` spells them
_FLAGS = {"seed": "--seed", "prompt": "--prompt", "negative_prompt": "--negative-prompt", "speed": "--speed",
          "start": "--in", "end": "--out", "media": "media", "options": "backend options", "format": "--format",
          "stems": "--stems", "takes": "--takes", "loudness_per_stem": "--loudness-per-stem"}


def make_item(*args, **fields) -> Item:
    """An :class:`Item` from the command line's values; the item's own checks (the engine's too, so what one
    path accepts the other does) are reported under the flag that set the value."""
    from plugin_host.fields import ProtocolError

    try:
        return Item(*args, **fields)
    except ProtocolError as exc:
        flag = _FLAGS.get(exc.field.split("[")[0], exc.field)
        raise RangeError(f"{flag}: {exc.message}") from None


def check_output(args, item: Item, out: str, sample_rate: int, channels: int, info=None):
    """Refuse, before any work, an output of no samples, one over ``--max-duration`` or one the disk cannot hold.

    With the probed media (``info``), the item is resolved here once (RangeError on a bad range,
    before a model loads) and the :class:`~foley_engine.job.ResolvedItem` returned for generation.
    Without it (``--engine``: the engine resolves), a closed range is checked as it stands and an
    open one is left to the engine's own checks; None is returned."""
    from .job import output_range, resolve
    from .media.wav import check_free_space, check_output_budget, default_max_duration, wav_bytes
    from .timebase import TimeRange

    if info is not None:
        resolved = resolve(item, info, sample_rate, out)
        rng = resolved.media_range
    elif item.start is not None and item.end is not None:
        resolved, rng = None, TimeRange(item.start, item.end)
    else:
        return None
    first, stop = output_range(rng, item.speed).samples(sample_rate)
    span = f"{format_seconds(rng.start)}-{format_seconds(rng.end)}"
    if item.speed != 1:
        span += f" at speed {item.speed}"
    limit = args.max_duration or default_max_duration()
    check_output_budget(stop - first, sample_rate, max_duration=limit, what=f"the range {span}")
    # A set (stems x takes) needs room for every file.
    files = len(item.outputs(out))
    check_free_space(os.path.dirname(out), files * wav_bytes(stop - first, channels, item.format))
    return resolved


def _max_duration(text: str) -> Fraction:
    from .media.wav import max_duration_arg  # imported when used: `foley` starts without soundfile

    return max_duration_arg(text)


# ---------------------------------------------------------------- backend options


def _backend_classes(argv: Optional[list[str]]) -> dict:
    """Backend classes whose options become flags: every registered one, plus a ``module:Class``
    named by ``--backend`` on this command line."""
    from .backends.registry import backend_class, discover

    names = list(discover())
    if argv:
        for i, arg in enumerate(argv):
            value = argv[i + 1] if arg == "--backend" and i + 1 < len(argv) else arg.partition("=")[2] \
                if arg.startswith("--backend=") else None
            if value and ":" in value:
                names.append(value)
    classes = {}
    for name in names:
        try:
            classes[name] = backend_class(name)
        except BackendError:
            continue  # `foley backends` says why; generate with it fails with that reason
    return classes


def add_backend_option_flags(gen: argparse.ArgumentParser, argv: Optional[list[str]]) -> None:
    seen = {action.dest for action in gen._actions}
    # An option several backends declare (``--size``) is one flag: its choices are all of theirs (each
    # backend checks its own when it loads), its help says what each backend means by it.
    declared: dict = {}
    for name, cls in _backend_classes(argv).items():
        for opt in getattr(cls, "options", ()):
            if OPTION_DEST + opt.name not in seen:
                declared.setdefault(opt.name, []).append((name, opt))
    groups: dict = {}
    for per_backend in declared.values():
        groups.setdefault(per_backend[0][0], []).append(per_backend)
    for backend, entries in groups.items():
        group = gen.add_argument_group(f"{backend} backend")
        for per_backend in entries:
            first = per_backend[0][1]
            helps = [first.help] + [f"{b}: {o.help}" for b, o in per_backend[1:] if o.help != first.help]
            kwargs = dict(dest=OPTION_DEST + first.name, default=None,
                          help=f"{'; '.join(helps)} [{first.scope} option]")
            if first.type is bool:
                kwargs["action"] = "store_true"
            else:
                kwargs.update(type=first.type, metavar=first.metavar)
                if first.alone is not None:
                    kwargs.update(nargs="?", const=first.type(first.alone))
                choices = [c for _, o in per_backend for c in o.choices]
                if choices and all(o.choices for _, o in per_backend):
                    kwargs["choices"] = list(dict.fromkeys(choices))
            group.add_argument(first.flag, **kwargs)


def chosen_options(args, backend: str) -> tuple[dict, dict]:
    """``(item options, load options)`` the user set, checked against the chosen backend's declarations."""
    from .backends.registry import backend_class

    given = {k[len(OPTION_DEST):]: v for k, v in vars(args).items() if k.startswith(OPTION_DEST) and v is not None}
    declared = {opt.name: opt for opt in getattr(backend_class(backend), "options", ())}
    foreign = [name for name in given if name not in declared]
    if foreign:
        flags = ", ".join("--" + n.replace("_", "-") for n in foreign)
        raise BackendError(f"{flags}: not an option of backend {backend!r} (see `foley generate --help`)")
    item = {n: v for n, v in given.items() if declared[n].scope == "item"}
    load = {n: v for n, v in given.items() if declared[n].scope != "item"}
    return item, load


# ---------------------------------------------------------------- executors

Executor = Callable[..., Result]


def run_in_process(args, item: Item, out: str, resolved, load_options: dict, cancel: threading.Event) -> Result:
    from .backends.registry import load_backend
    from .generate import generate_to_file

    options = dict(load_options)
    if args.device:
        options["device"] = args.device
    backend = load_backend(args.backend, **options)
    bar = ProgressBar(f"foley {os.path.basename(item.media)}", backend.sample_rate,
                      enabled=True if args.progress else None)
    try:
        # Resolved once by cmd_generate (at the backend class's rate; a loaded backend at another
        # rate resolves it again at its own, without probing).
        generated = generate_to_file(resolved if resolved.sample_rate == backend.sample_rate else item, backend,
                                     out, subtype=item.format, info=resolved.info, progress=bar.update,
                                     cancel=cancel.is_set)
    finally:
        backend.close()
    return generated.to_result(item, 0, backend.channels)


def run_on_engine(args, item: Item, out: str, resolved, load_options: dict, cancel: threading.Event) -> Result:
    from plugin_host.batch import BatchRunner
    from plugin_host.client import EngineClient, EngineError

    from .backends.registry import backend_class
    from .longform.scheduler import Progress

    fixed = [f"--{n.replace('_', '-')}" for n in load_options] + (["--device"] if args.device else [])
    if fixed:
        settings = " ".join(f"--option {n}={v}" for n, v in load_options.items())
        raise EngineCommandError(
            f"{', '.join(fixed)} set how the backend loads, and the engine loaded its backend when it started; "
            f"restart it with `foley engine serve --backend {args.backend}"
            f"{' --device ' + args.device if args.device else ''}{' ' + settings if settings else ''}`")
    try:
        eng = EngineClient.connect(args.connection_file)
    except EngineError as exc:
        raise EngineCommandError(str(exc)) from None
    try:
        backend = eng.hello().get("backend", {})
        wanted = backend_class(args.backend).name if ":" in args.backend else args.backend
        # "procedural" is also the parser's default, so only another name is a real mismatch.
        if wanted not in (backend.get("name"), "procedural"):
            raise EngineCommandError(f"the running engine serves backend {backend.get('name')!r}, not "
                                     f"{args.backend!r}; restart it with `foley engine serve --backend {args.backend}`")
        bar = ProgressBar(f"foley {os.path.basename(item.media)}", backend.get("sample_rate", 48000),
                          enabled=True if args.progress else None)
        started = time.monotonic()
        outcome = BatchRunner(eng, os.path.dirname(out)).run(
            [item], cancel=cancel.is_set,
            on_progress=lambda p: bar.update(Progress(p.done_samples, p.total_samples, p.windows_done,
                                                      p.windows_estimate, time.monotonic() - started)))
    except EngineError as exc:
        raise EngineCommandError(str(exc)) from None
    finally:
        eng.close()
    if outcome.cancelled:
        raise Cancelled("cancelled")
    done = outcome.outcomes[0]
    if not done.ok:
        raise EngineCommandError(done.reason)
    # The engine names its files; the user asked for `out` (same folder, so the rename is atomic).
    from .media.sidecar import move_sidecar

    if done.result.outputs:
        mine = item.outputs(out)
        for theirs, ours in zip(done.result.outputs, mine):
            os.replace(theirs.path, ours.path)
            move_sidecar(theirs.path, ours.path)
        return dataclasses.replace(done.result, path=out, outputs=mine)
    os.replace(done.result.path, out)
    move_sidecar(done.result.path, out)
    return dataclasses.replace(done.result, path=out)


# ---------------------------------------------------------------- the command


def cmd_generate(args) -> int:
    from .backends.registry import backend_class
    from .media.probe import probe
    from .media.wav import check_output_path, output_folders, remove_own_partials

    media = os.path.abspath(args.media)
    out = os.path.abspath(args.output or _default_output(media))
    check_output_path(out, inputs=(media,), new_folders=True)
    if args.mux_replace_audio and not args.mux:
        raise OutputError("--mux-replace-audio goes with --mux MP4 (the preview it changes)")
    if args.mux:
        if args.stems:
            raise OutputError("--mux previews one mix; run without --stems for a preview")
        if os.path.splitext(args.mux)[1].lower() not in MUX_EXTENSIONS:
            raise OutputError(f"--mux {args.mux}: the preview is an MP4; name it {', '.join(MUX_EXTENSIONS)}")
        check_output_path(os.path.abspath(args.mux), inputs=(media, out), new_folders=True)
    item_options, load_options = chosen_options(args, args.backend)
    # In process, the media is probed once here; through the engine, only SMPTE --in/--out need it.
    info = probe(media) if not args.engine or needs_media_timecode(args) else None
    start, end = parse_range(args, info)
    item = make_item(media, start, end, speed=args.speed, prompt=args.prompt,
                     negative_prompt=args.negative_prompt, seed=args.seed, options=item_options,
                     align=args.align, format=args.format, loudness=_loudness_arg(args.loudness),
                     true_peak=_true_peak_arg(args), motion=args.motion, stems=args.stems or (),
                     takes=args.takes, loudness_per_stem=args.loudness_per_stem)
    if item.stems:
        # Refused in one line before any work (the engine refuses the same at its worker).
        mode = getattr(backend_class(args.backend), "stems", "none")
        if mode not in ("native", "passes"):
            raise RangeError(f"--stems: backend {args.backend!r} cannot make stems (it gives one mix and cannot "
                             f"generate a class alone)")
    cls = backend_class(args.backend)
    for path in item.outputs(out)[1:]:
        check_output_path(path.path, inputs=(media,))
    resolved = check_output(args, item, out, getattr(cls, "sample_rate", 48000), getattr(cls, "channels", 2),
                            info=None if args.engine else info)
    from .backends.registry import prompt_warnings

    for line in prompt_warnings(args.backend, item.prompt, item.negative_prompt):
        print(f"foley: warning: {line}", file=sys.stderr)
    if getattr(cls, "licence_notice", ""):  # e.g. non-commercial weights: said once, before any work
        print(f"foley: {cls.licence_notice}", file=sys.stderr)
    executor: Executor = run_on_engine if args.engine else run_in_process
    with output_folders(out, *([args.mux] if args.mux else [])):  # `-o renders/new/x.wav` makes renders/new
        try:
            result = executor(args, item, out, resolved, load_options,
                              install_cancel(terminate_at_once=not args.engine))
        except Terminated:
            remove_own_partials(out)  # whatever the signal interrupted, no temp file of ours stays
            raise
        report(args, media, result)
    return 0


def report(args, media: str, result: Result) -> None:
    """The tail both executors share: the optional preview mux and what is printed."""
    if args.mux:
        from .media.mux import mux_preview

        kept = mux_preview(media, result.path, os.path.abspath(args.mux), audio_start=result.start,
                           keep_original=not args.mux_replace_audio)
    if args.json:
        # The result's wire form; media_start/media_end name the range as earlier releases printed it.
        print(json.dumps(dict(result.to_wire(), media_start=str(result.start), media_end=str(result.end))))
        return
    span = f"{format_seconds(result.start)}-{format_seconds(result.end)}"
    names = ", ".join(os.path.basename(o.path) for o in result.outputs[1:])
    also = f" and {len(result.outputs) - 1} more beside it ({names})" if len(result.outputs) > 1 else ""
    print(f"wrote {result.path}{also} ({result.num_samples} samples at {result.sample_rate} Hz, media {span}, "
          f"{result.windows} window(s), {result.seconds:.1f} s)")
    if args.mux:
        tracks = f"its {kept} audio track(s) kept, Foley as one more AAC track" if kept else "Foley as AAC"
        print(f"wrote {os.path.abspath(args.mux)} (video copied, {tracks})")


def add_generate_parser(sub, argv: Optional[list[str]] = None) -> argparse.ArgumentParser:
    gen = sub.add_parser("generate", help="generate Foley for a video (or a range of it) into a WAV file")
    gen.add_argument("media", help="input video file")
    gen.add_argument("-o", "--output", help="output WAV (default: <media>_foley.wav next to the input)")
    gen.add_argument("--prompt", default="", help='what should sound, e.g. "footsteps on wooden floor, door slams"')
    gen.add_argument("--negative-prompt", default="", help="sounds to leave out")
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed, same sound)")
    gen.add_argument("--in", dest="in_point", help="start: seconds, HH:MM:SS.mmm from the first frame, or SMPTE "
                     "timecode HH:MM:SS:FF in the media's own timecode")
    gen.add_argument("--out", dest="out_point", help="end (exclusive), same forms as --in")
    gen.add_argument("--fps", help="frame rate for SMPTE --in/--out when the media does not state one "
                     "(24, 29.97, 30000/1001)")
    gen.add_argument("--speed", type=_speed, default=Fraction(1),
                     help="source playback speed (2 = twice as fast); the output lasts (out - in) / speed")
    gen.add_argument("--align", action="store_true",
                     help="re-align each window to the visual events (within ±80 ms; for neural backends)")
    gen.add_argument("--backend", default="procedural",
                     help="backend name (see `foley backends`; default procedural), or package.module:Class")
    gen.add_argument("--device", help="device for neural backends, e.g. cuda:0")
    gen.add_argument("--format", default="pcm24", choices=["pcm24", "pcm16", "float"],
                     help="WAV sample format (default pcm24)")
    gen.add_argument("--loudness", metavar="LUFS", help="normalise to this integrated loudness, a delivery preset "
                     "(ebu-r128 -23/-1 dBTP, atsc-a85 -24/-2, streaming -27/-2), or 'off' "
                     "(default: the backend's, -23 for procedural)")
    gen.add_argument("--true-peak", type=float, metavar="DBTP",
                     help="true-peak ceiling for --loudness (default -1, or the preset's)")
    gen.add_argument("--stems", metavar="CLASSES",
                     help="one WAV per Foley class: feet,props,moves,bg or all (<name>_FOLEY_FEET.wav, ...)")
    gen.add_argument("--takes", type=int, default=1, metavar="N",
                     help="N variations of the range (take 1 is --seed's; <name>_take2.wav, ...)")
    gen.add_argument("--loudness-per-stem", action="store_true",
                     help="normalise each stem alone (default: one gain for the set, keeping their balance)")
    gen.add_argument("--motion", choices=["diff", "flow"], default="diff",
                     help="motion from frame differences (default) or camera-compensated optical flow "
                          "(needs opencv-python-headless)")
    gen.add_argument("--max-duration", type=_max_duration, default=None, metavar="SECONDS",
                     help="refuse outputs longer than this (default $FOLEY_MAX_DURATION, else 21600 = 6 h; "
                          "through --engine, a range without both --in and --out meets the engine's own limit)")
    gen.add_argument("--mux", metavar="MP4", help="also write a preview MP4: the video and the clip's own audio "
                                                 "copied (every track, every channel), the Foley as a second "
                                                 "AAC track titled \"Foley\"")
    gen.add_argument("--mux-replace-audio", action="store_true",
                     help="with --mux: leave the clip's own audio out, the Foley alone")
    gen.add_argument("--progress", action="store_true",
                     help="show the progress bar even when stderr is not a terminal")
    gen.add_argument("--json", action="store_true", help="print the result as JSON")
    gen.add_argument("--engine", action="store_true",
                     help="generate through the running engine (`foley engine serve`) instead of in-process")
    gen.add_argument("--connection-file", help="engine connection file (default: the user runtime folder)")
    if argv is None or "generate" in argv:
        add_backend_option_flags(gen, argv)
    gen.set_defaults(func=cmd_generate)
    return gen
