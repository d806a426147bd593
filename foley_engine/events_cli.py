"""``foley events`` (the spotting list) and ``foley review`` (the review picture)."""
from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction

from .backends.base import FrameSpec
from .errors import FoleyError, RangeError
from .generate_cli import parse_range
from .media.probe import probe
from .timebase import format_seconds


def _range(args, info) -> tuple[Fraction, Fraction]:
    start, end = parse_range(args, info)
    start = start or Fraction(0)
    end = info.duration if end is None else min(end, info.duration)
    if end <= start:
        raise RangeError(f"the range {format_seconds(start)}-{format_seconds(end)} is empty (the media is "
                         f"{format_seconds(info.duration)} long)")
    return start, end


def _add_range_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="in_point", help="start: seconds, HH:MM:SS.mmm from the first frame, or SMPTE "
                   "timecode HH:MM:SS:FF in the media's own timecode")
    p.add_argument("--out", dest="out_point", help="end (exclusive), same forms as --in")
    p.add_argument("--fps", help="frame rate for SMPTE --in/--out when the media does not state one")
    p.add_argument("--motion", choices=["diff", "flow"], default="diff", help="as for foley generate")


def cmd_events(args) -> int:
    from . import spotting

    info = probe(args.media)
    start, end = _range(args, info)
    people = missing = None
    if args.footsteps:
        from .analysis import people as people_module

        people = people_module.PeopleTracker.for_job(True, info.fps)
        missing = people_module.vision_missing()
    try:
        events = spotting.analyse_range(info, start, end, args.motion, people=people)
    finally:
        if people is not None:
            people.close()
    spot = spotting.rows(events, info, with_cuts=not args.no_cuts)
    if not args.quiet:
        print(spotting.table(spot))
    if people is not None:
        notes = people.notes() + ([f"{missing}: footsteps come from motion contacts only"] if missing else [])
        for line in notes:
            print(f"foley: note: {line}", file=sys.stderr)
    if args.output:
        spotting.write(args.output, spot, info, start, end)
        print(f"wrote {args.output} ({len(spot)} events)", file=sys.stderr)
    return 0


def cmd_review(args) -> int:
    import numpy as np
    import soundfile

    from . import review, spotting

    info = probe(args.media)
    try:
        wav = soundfile.info(args.wav)
    except RuntimeError as exc:
        raise FoleyError(f"{args.wav}: not a readable audio file ({exc})") from None
    if args.out_point is None:
        # The WAV covers [--in, --in + its length): what `foley generate --in` wrote.
        start, _ = _range(args, info)
        end = min(info.duration, start + Fraction(wav.frames, wav.samplerate))
    else:
        start, end = _range(args, info)
    count, width = args.thumbs, args.width
    tw = width // count
    th = max(2, int(round(tw * info.height / max(1, info.width) / 2)) * 2)
    spec = FrameSpec("review", Fraction(count) / (end - start), tw, th)
    thumbs: dict[int, np.ndarray] = {}

    def keep(frame):
        for j, img in frame.grid.get("review", ()):
            thumbs.setdefault(j, img)

    events = spotting.analyse_range(info, start, end, args.motion, specs=(spec,), on_frame=keep)
    marks = [(o.time, o.kind, o.strength) for o in events.onsets] + [(c, "cut", 1.0) for c in events.cuts]
    marks += _sidecar_footsteps(args.wav, start, end)
    need = int(round((end - start) * wav.samplerate))
    blocks = soundfile.blocks(args.wav, blocksize=1 << 16, frames=need, dtype="float32", always_2d=True)
    wave = review.envelope(blocks, max(1, min(need, wav.frames)), width)
    img = review.draw([thumbs[j] for j in sorted(thumbs)][:count], marks, start, end, wave, width)
    kinds = sorted({k for _, k, _ in marks})
    x, texts = 4, []
    for k in kinds:
        texts.append((x, th + 2, k, review.COLOURS.get(k, (255, 255, 255))))
        x += 8 * len(k) + 16
    texts.append((width - 200, img.shape[0] - 14, f"{format_seconds(start)} - {format_seconds(end)}", (200, 200, 200)))
    img = review.label(img, texts)
    tmp = f"{args.output}.part"
    review.write_png(tmp, img)
    os.replace(tmp, args.output)
    counts = ", ".join(f"{sum(1 for _, k, _ in marks if k == kind)} {kind}" for kind in kinds) or "no events"
    legend = ", ".join(f"{k} {'#%02x%02x%02x' % review.COLOURS.get(k, (255, 255, 255))}" for k in kinds)
    print(f"wrote {args.output}: {count} frames over {format_seconds(start)}-{format_seconds(end)}, {counts}"
          + (f" (colours: {legend})" if legend else ""))
    return 0


def _sidecar_footsteps(wav: str, start: Fraction, end: Fraction) -> list:
    """The footsteps ``foley generate`` placed in ``wav`` (its sidecar's events): only the run that
    made it followed the people (pose model, ground contacts), so the review takes them from there."""
    from .media.sidecar import read_sidecar

    try:
        made = read_sidecar(wav)
    except FoleyError:
        return []
    if made is None or Fraction(str(made.request.get("speed", 1))) != 1:
        return []  # no sidecar, or its times are on a retimed clock
    times = [Fraction(e["time"]) for e in made.events if e.get("kind") == "footstep"]
    return [(t, "footstep", 1.0) for t in times if start <= t < end]


def register_events(sub) -> None:
    p = sub.add_parser("events", help="the visual events of a video as a spotting list (print, JSON or CSV)",
                       description="Find the visual events (hits, flashes, brief inserts, motion starts, cuts; "
                       "footsteps with --footsteps) and list them with timecode, frame, strength and "
                       "position.")
    p.add_argument("media", help="input video file")
    _add_range_flags(p)
    p.add_argument("-o", "--output", help="write the list: .json, or CSV for any other name")
    p.add_argument("--no-cuts", action="store_true", help="leave shot cuts out of the list")
    p.add_argument("--footsteps", action="store_true",
                   help="also find footsteps, as foley generate does for a prompt with footsteps (the pose "
                        "model of the vision extra where installed, else motion contacts); slower")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the table")
    p.set_defaults(func=cmd_events)


def register_review(sub) -> None:
    p = sub.add_parser("review", help="a PNG: filmstrip with the events marked and the generated waveform under it")
    p.add_argument("media", help="the video")
    p.add_argument("wav", help="the generated WAV (sample 0 at --in, as foley generate writes it)")
    p.add_argument("-o", "--output", required=True, help="the PNG to write")
    _add_range_flags(p)
    p.add_argument("--thumbs", type=int, default=12, help="frames in the filmstrip (default 12)")
    p.add_argument("--width", type=int, default=1600, help="picture width in pixels (default 1600)")
    p.set_defaults(func=cmd_review)
