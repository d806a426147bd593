"""``foley otio fill``: a timeline in, the same timeline with Foley tracks out."""
from __future__ import annotations

import json
import os
import re
import sys

USAGE_EXAMPLES = """examples:
  foley otio fill cut.otio -o cut_foley.otio --prompt "city street, footsteps"
  foley otio fill cut.otio -o out.otio --select marker:FOLEY      (the marker's comment is the clip's prompt)
  foley otio fill cut.xml -o out.xml --select track:V2 --range 01:00:10:00-01:02:00:00
  foley otio fill out.otio -o out.otio                           (updates, never duplicates)
  foley otio fill cut.otio -o out.otio --spot                    (the events seen, as markers on the Foley clips)

Markers named or noted "foley: rain on a roof" set the prompt over their range ("foley+: ..." adds to it;
a point marker adds a one-shot at its frame): the clip is generated in parts cut at the marker edges.
"""


def register(subparsers) -> None:
    import argparse

    otio_p = subparsers.add_parser("otio", help="fill OpenTimelineIO timelines (.otio, FCP 7 XML, ...) with Foley")
    sub = otio_p.add_subparsers(dest="otio_command", metavar="OTIO_COMMAND")
    sub.required = True
    p = sub.add_parser("fill", help="add a Foley track under the selected video clips, at exact record times",
                       epilog=USAGE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="timeline file (.otio, .xml, or any installed OTIO adapter's format)")
    p.add_argument("-o", "--output", required=True, help="timeline to write (may be the input: it is updated)")
    p.add_argument("--prompt", help="prompt for clips without a marker comment or foley.prompt metadata "
                   "(default: the prompt their Foley was made with before, else none)")
    p.add_argument("--seed", type=int, help="seed for clips without foley.seed metadata (default: as before, else 0)")
    p.add_argument("--select", action="append", default=[], metavar="KIND:VALUE",
                   help="track:V2, marker:NAME, color:RED, name:GLOB (repeatable; a clip must match all)")
    p.add_argument("--range", dest="record_range", metavar="START-END",
                   help="only clips overlapping this record range, in timeline timecode (01:00:10:00-01:02:00:00)")
    p.add_argument("--include-disabled", action="store_true",
                   help="also fill disabled clips and clips on disabled (muted/hidden) tracks (left out by default)")
    p.add_argument("--relink", action="append", default=[], metavar="DIR",
                   help="search here (recursively) for media files that moved (repeatable)")
    p.add_argument("--out-dir", help="folder for the WAVs (default: <name>_<ext>_wavs next to the output, "
                                     "so cut.otio and cut.xml never share one)")
    p.add_argument("--track-name", default="Foley", help='name of the new audio track(s) (default "Foley")')
    p.add_argument("--force", action="store_true", help="also replace Foley clips you edited, and regenerate all")
    p.add_argument("--stems", metavar="CLASSES", type=stems_arg,
                   help='one track per Foley class: feet,props,moves,bg or all ("Foley Feet", "Foley Props", ...)')
    p.add_argument("--takes", type=takes_arg, default=1, metavar="N",
                   help='N variations per clip: take 1 on the Foley track(s), the others on disabled tracks '
                        '"Foley take 2", ... (enable the one you want; re-runs keep your choice)')
    p.add_argument("--partial", action="store_true", help="rewrite the output as each clip finishes (import early)")
    p.add_argument("--dry-run", action="store_true", help="list what would be generated and exit")
    p.add_argument("--spot", action="store_true",
                   help="write the events the engine saw (impact, footstep, flash, cut, ...) as markers on the "
                        "Foley clips; a re-run replaces these and never touches your own markers")
    p.add_argument("--backend", default="procedural", help="backend when an engine has to be started (default procedural)")
    p.add_argument("--connection-file", help="engine connection file (default: the user runtime folder)")
    p.add_argument("--no-autostart", action="store_true", help="fail instead of starting an engine")
    p.add_argument("--engine-idle-exit", type=float, default=30.0, metavar="MINUTES",
                   help="an engine started here stops after this many minutes without a job (default 30; 0: never)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_fill)


class _Announced:
    """A generator that says on stderr as each clip lands (long timelines take a while)."""

    def __init__(self, inner, stream):
        self.inner, self.stream = inner, stream

    def run(self, requests, out_dir, on_result=None):
        labels = {r.key: r.label for r in requests}
        done = 0

        def each(result):
            nonlocal done
            done += 1
            state = "done" if result.ok else "failed"
            self.stream.write(f"[{done}/{len(requests)}] {labels.get(result.key, '?')}: {state}\n")
            self.stream.flush()
            if on_result is not None:
                on_result(result)

        return self.inner.run(requests, out_dir, each)


def _fail(message: str) -> int:
    print(f"foley: error: {readable(message)}", file=sys.stderr)
    return 2


_MANGLED = re.compile(r"\bN(?:\d+[A-Za-z_][A-Za-z0-9_]*?)+E\b")


def _demangle(match: "re.Match") -> str:
    """``N14opentimelineio7v0_18_18TimelineE`` -> ``Timeline`` (the last name of an Itanium nested name)."""
    text, i, names = match.group(0)[1:-1], 0, []
    while i < len(text):
        j = i
        while j < len(text) and text[j].isdigit():
            j += 1
        if j == i:
            return match.group(0)
        n = int(text[i:j])
        names.append(text[j:j + n])
        i = j + n
    return names[-1] if names and i == len(text) else match.group(0)


_BUILTINS = {"l": "an integer", "x": "an integer", "i": "an integer", "d": "a number", "b": "true/false",
             "v": "nothing"}
_STD_STRING = re.compile(r"NSt7__cxx1112basic_string\w*?EE|Ss\b")
_BUILTIN = re.compile(r"\b(found|read) a ([lxidbv])\b")


def readable(message: str) -> str:
    """OpenTimelineIO's C++ errors name types by their mangled names; say ``Timeline``, not ``N14open...E``."""
    text = _STD_STRING.sub("string", str(message))
    text = _BUILTIN.sub(lambda m: f"{m.group(1)} {_BUILTINS[m.group(2)]}", text)
    return _MANGLED.sub(_demangle, text).replace("\n", " ")


def default_wav_folder(out: str) -> str:
    """Where the WAVs of output timeline ``out`` go: ``cut.otio`` -> ``cut_otio_wavs`` beside it.  The
    extension is in the name so ``cut.otio`` and ``cut.xml`` filled side by side keep apart, and no
    suffix is doubled (``-o cut_foley.otio`` is not ``cut_foley_foley``)."""
    stem, ext = os.path.splitext(out)
    return f"{stem}_{ext.lstrip('.') or 'timeline'}_wavs"


def _check_outputs(out: str, out_dir: str) -> None:
    """Refuse before any work: a read-only folder for ``-o`` or ``--out-dir``, or a special file.  A
    folder that does not exist yet is made (like the WAV folder), as ``-o new/cut.otio`` asks."""
    import stat

    folder = os.path.dirname(out)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{folder}: cannot create the output folder: {exc.strerror or exc}") from None
    if not os.path.isdir(folder):
        raise ValueError(f"{folder}: output folder is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{folder}: output folder is not writable")
    if os.path.exists(out) and not stat.S_ISREG(os.stat(out).st_mode):
        raise ValueError(f"{out}: not a regular file; timelines are written only to regular files or new paths")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{out_dir}: cannot create the folder for the WAVs: {exc.strerror or exc}") from None


def _timeline_writer(out: str):
    """``write(timeline)`` keeping an existing output's mode, else the umask's (never the temp file's 0600)."""
    if os.path.isfile(out):
        mode = os.stat(out).st_mode & 0o7777
    else:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask

    def write(timeline) -> None:
        from .timeline_io import write_timeline

        write_timeline(timeline, out)
        os.chmod(out, mode)

    return write


def cmd_fill(args, generator=None) -> int:
    from .roundtrip import FillOptions, fill
    from .selection import Selection, SelectionError, TimelineError, video_clips
    from .timeline_io import adapter_for, read_timeline
    from .timeline_jobs import ClipError, plan_clip

    src, out = os.path.abspath(args.input), os.path.abspath(args.output)
    out_dir = os.path.abspath(args.out_dir or default_wav_folder(out))
    try:
        if not args.dry_run:
            _check_outputs(out, out_dir)
        timeline = read_timeline(src)
        selection = Selection.parse(args.select, args.record_range, timeline, args.include_disabled)
        adapter_for(out)
    except (OSError, ValueError, SelectionError) as exc:
        return _fail(str(exc))
    except Exception as exc:  # OpenTimelineIO's own exception types (a file it cannot read)
        return _fail(f"{src}: cannot read the timeline ({exc})")
    base_dir = os.path.dirname(src)
    if args.dry_run:
        try:
            chosen = selection.apply(video_clips(timeline), timeline, args.prompt, args.seed)
        except TimelineError as exc:
            return _fail(str(exc))
        for line in selection.left_out:
            print(line)
        from .markers import split_clip

        for part in (p for vc in chosen for p in split_clip(vc, timeline)):
            try:
                plan = plan_clip(part, base_dir, args.relink)
                r = plan.request
                print(f"{part.label}: media {r.media} {float(r.start):.3f}-{float(r.end):.3f} s, record sample "
                      f"{plan.record_start} +{plan.record_samples}, prompt {r.prompt!r}")
            except ClipError as exc:
                print(str(exc))
        return 0
    if generator is None:
        from .engine import EngineGenerator

        generator = EngineGenerator(args.connection_file, autostart=not args.no_autostart,
                                    serve_args=("--backend", args.backend), idle_exit_minutes=args.engine_idle_exit)
    engine = generator  # its `started`: the notice when it started an engine (printed then, on stderr)
    generator = _Announced(generator, sys.stderr)
    write = _timeline_writer(out)
    on_update = write if args.partial else None
    options = FillOptions(out_dir=out_dir, selection=selection, prompt=args.prompt, seed=args.seed,
                          base_dir=base_dir, relink=args.relink, track_name=args.track_name, force=args.force,
                          on_update=on_update, stems=args.stems or (), takes=args.takes)
    from plugin_host.client import EngineError

    try:
        report = fill(timeline, generator, options)
    except (EngineError, TimelineError) as exc:
        return _fail(str(exc))
    if args.spot:
        from .spot import spot_markers

        spotted, notes = spot_markers(report.timeline, base_dir)
        report.warnings += notes
    write(report.timeline)
    if args.json:
        print(json.dumps({"output": out, "out_dir": out_dir, "filled": report.filled, "reused": report.reused,
                          "kept_edited": report.kept_edited, "skipped": report.skipped, "failed": report.failed,
                          "warnings": report.warnings, "engine_started": getattr(engine, "started", None)}))
    else:
        for line in report.skipped + report.kept_edited + report.warnings:
            print(f"foley: warning: {line}", file=sys.stderr)
        for line in report.failed:
            print(f"foley: error: {line}", file=sys.stderr)
        print(f"wrote {out}: {len(report.filled)} clip(s) generated, {len(report.reused)} up to date, "
              f"{len(report.failed)} failed, {len(report.skipped)} skipped (WAVs in {out_dir})")
    return 0 if report.ok else 1


def stems_arg(text: str) -> tuple:
    """``--stems`` for argparse, checked by the item's own rule."""
    import argparse

    from plugin_host.fields import ProtocolError
    from plugin_host.items import parse_stems

    try:
        return parse_stems(text, "--stems")
    except ProtocolError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def takes_arg(text: str) -> int:
    """``--takes`` for argparse: 1 .. ``MAX_TAKES``."""
    import argparse

    from plugin_host.items import MAX_TAKES

    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_TAKES:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_TAKES}")
    return int(text)
