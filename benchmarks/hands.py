"""Hand contacts (``analysis/hands.py``) on real footage: false contacts and timing.

    .venv/bin/python benchmarks/hands.py          # writes benchmarks/out/hands.json

Needs the ``vision`` extra (MediaPipe) and Debian's opencv-doc (``apt-get install opencv-doc``) for
its two clips of a hand: ``box.mp4`` (a hand carrying and turning a box above a table for 15 s)
and ``cup.mp4`` (a hand swinging a cup, 8 s).  Their hands stop and turn back in mid-air many
times and strike nothing (annotated in ``annotations/box_events.json`` and ``cup_events.json``),
so every contact found in them is false.

No package these machines reach ships footage of hands striking things, so the positives are
*made on real footage*, with exact truth: for each moment where a hand in those clips is moving
(at least :data:`MOVING` hand sizes over the last four frames), the 12 frames up to it are
played and then its last frame is held for 12 frames: the real hand, in real motion, stops dead
there (everything else stops too, which the hand model does not look at).  Segments are
separated by 6 black frames (no hand), so each stop is scored alone.  Scored at +-1 frame.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from fractions import Fraction

import av
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import ground_truth  # noqa: E402
from foley_engine.analysis.hands import HandContacts, MediaPipeHands  # noqa: E402
from foley_engine.analysis.people import pose_size  # noqa: E402
from foley_engine.analysis.pose import vision_missing  # noqa: E402

CLIPS = ("box.mp4", "cup.mp4")
#: a made stop follows at least this much movement (hand sizes over the last four frames)
MOVING = 0.3
RUN_IN, HOLD, GAP = 12, 12, 6
#: the run-in plays the real motion this many times faster (a strike's speed)
SPEED = 6
TOLERANCE_FRAMES = 1


def cpu_now() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def pictures(path: str) -> tuple[Fraction, list[np.ndarray]]:
    """The clip's frame rate and every frame as the RGB picture the scheduler gives the models."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        size = pose_size(stream.width, stream.height)
        rate = Fraction(stream.average_rate)
        out = [f.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
               for f in container.decode(stream)]
    return rate, out


def run(frames: list[np.ndarray], rate: Fraction) -> tuple[list, HandContacts, float]:
    """Contacts over ``frames`` at exact times ``i / rate``; and the CPU it took."""
    tracker = HandContacts(MediaPipeHands(), rate)
    onsets, start = [], cpu_now()
    for i, rgb in enumerate(frames):
        onsets.extend(tracker.push(Fraction(i) / rate, rgb))
    onsets.extend(tracker.flush())
    seconds = cpu_now() - start
    tracker.close()
    return onsets, tracker, seconds


def moving_frames(frames: list[np.ndarray]) -> list[int]:
    """Frames where the first hand has moved at least MOVING hand sizes over the four frames before."""
    model = MediaPipeHands(max_hands=1)
    centres: list = []
    for rgb in frames:
        hands = model(rgb)
        centres.append((hands[0].centre(), hands[0].size()) if hands else None)
    model.close()
    out, last = [], -10 ** 9
    span = SPEED * RUN_IN
    for i in range(span, len(frames)):
        a, b = centres[i - 4], centres[i]
        if a is None or b is None or i - last < span:
            continue
        if float(np.hypot(b[0][0] - a[0][0], b[0][1] - a[0][1])) / b[1] >= MOVING and \
                all(c is not None for c in centres[i - span: i + 1: SPEED]):
            out.append(i)
            last = i
    return out


def made_stops(frames: list[np.ndarray], stops: list[int]) -> tuple[list[np.ndarray], list[int]]:
    """The clip of run-ins and holds, and the index of each true stop in it."""
    black = np.zeros_like(frames[0])
    out, truth = [], []
    for k in stops:
        out += [black] * GAP + frames[k - SPEED * RUN_IN: k + 1: SPEED]
        truth.append(len(out) - 1)
        out += [frames[k]] * HOLD
    return out + [black] * GAP, truth


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    args = parser.parse_args(argv)
    missing = vision_missing()
    if missing:
        raise SystemExit(f"hands benchmark: {missing}")
    annotated = {a.clip: a for a in ground_truth.load()}
    rows, total = [], ground_truth.Score()
    for clip in CLIPS:
        a = annotated.get(clip)
        if a is None or a.path is None:
            print(f"{clip}: not installed (apt-get install opencv-doc), skipped")
            continue
        rate, frames = pictures(a.path)
        onsets, tracker, cpu = run(frames, rate)
        rows.append({"clip": clip, "what": "as it is (hard negatives)", "frames": len(frames), "true": 0,
                     "false": len(onsets), "missed": 0, "model_runs": tracker.runs,
                     "cpu_ms_per_frame": round(1000 * cpu / len(frames), 1)})
        total.add(ground_truth.Score(0, len(onsets), 0))
        stops = moving_frames(frames)
        made, truth = made_stops(frames, stops)
        onsets, tracker, cpu = run(made, rate)
        score = ground_truth.match([Fraction(i) / rate for i in truth], [o.time for o in onsets],
                                   Fraction(TOLERANCE_FRAMES) / rate)
        total.add(score)
        print(f"{clip}: true stops at {truth}, contacts at {[round(float(o.time * rate), 2) for o in onsets]}")
        rows.append({"clip": clip, "what": f"{len(truth)} made stops", "frames": len(made), "true": score.tp,
                     "false": score.fp, "missed": score.fn, "model_runs": tracker.runs,
                     "cpu_ms_per_frame": round(1000 * cpu / len(made), 1)})
    print("| clip | what | frames | true | false | missed | model runs | CPU ms / frame |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['what']} | {r['frames']} | {r['true']} | {r['false']} | {r['missed']} | "
              f"{r['model_runs']} | {r['cpu_ms_per_frame']} |")
    print(f"\nall: precision {total.precision:.2f} recall {total.recall:.2f} F1 {total.f1:.2f} (+-{TOLERANCE_FRAMES} frame)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "hands.json")
    with open(path, "w") as fh:
        json.dump({"rows": rows, "precision": total.precision, "recall": total.recall, "f1": total.f1}, fh, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
