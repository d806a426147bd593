"""The add-on in each real Blender (bpy 4.5 here, 5.0 from ``FOLEY_BPY_PYTHONS``), each in a process of its own.

``tests/blender_scenarios.py`` builds and fills the scene in that Blender and reports what it holds; the
checks here read the WAV files it placed (PyAV and soundfile stay out of Blender's process: bpy 5.0.1
has crashed with PyAV loaded beside it).  One engine of this environment serves every Blender.

    FOLEY_BPY_PYTHONS=/path/to/bpy50-venv/bin/python pytest tests/test_blender_editors.py
"""
from __future__ import annotations

import json
import sys
from fractions import Fraction

import pytest
import soundfile as sf

from foley_engine.lab.samples import make_sample_video
from foley_engine.timebase import to_index

from blender_scenarios import python_params, run
from test_engine_backend import EngineProcess

SR = 48000
PYTHONS = python_params()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("blender-engine"), backend="procedural").start()
    yield eng
    eng.stop()


def video(tmp_path, fps: Fraction, name: str):
    return make_sample_video(str(tmp_path / name), duration=6, fps=fps, width=160, height=90,
                             impacts_every=Fraction(1), impact_offset=Fraction(1, 2))


def samples_of(path: str) -> int:
    info = sf.info(path)
    assert info.samplerate == SR
    return info.frames


# ------------------------------------------------------------------ stems and takes (issue 21), bpy 4.5 and 5.0


@pytest.mark.parametrize("python", PYTHONS)
def test_stems_in_named_channels_and_takes_muted_above(python, engine, tmp_path):
    clip = video(tmp_path, Fraction(25), "c25.mp4")
    out = run(python, "sets", tmp_path, connection=engine.connection_file, out=str(tmp_path / "wavs"),
                   fps=25, video=clip.path)
    assert out["first"] == ["FINISHED"] and out["again"] == ["FINISHED"] and out["cycle"] == ["FINISHED"], out
    placed = sorted(out["placed"], key=lambda s: s["channel"])
    assert out["movie_id"] and all(s["source"] == out["movie_id"] for s in placed)  # the movie's own Foley
    assert [s["channel_name"] for s in placed] == ["Foley Props", "Foley BG", "Foley Props take 2", "Foley BG take 2"]
    assert [(s["take"], s["stem"], s["mute"]) for s in placed] == \
        [(1, "props", False), (1, "bg", False), (2, "props", True), (2, "bg", True)]
    for s in placed:  # every file of the set at the picture's frames, exactly the range's samples
        assert s["frames"] == out["movie"] and s["channel"] > out["movie_channel"]
        assert samples_of(s["path"]) == to_index(Fraction(6), SR)
    assert [s["mute"] for s in sorted(out["cycled"], key=lambda s: s["channel"])] == [True, True, False, False]
    again = sorted(out["replaced"], key=lambda s: s["channel"])  # a re-run keeps take 2 playing, same channels
    assert [s["channel"] for s in again] == [s["channel"] for s in placed]
    assert [(s["take"], s["mute"]) for s in again] == [(1, True), (1, True), (2, False), (2, False)]


# ------------------------------------------------------------------ markers both ways (issue 22)

#: (scene fps, fps_base, the movie's exact rate) for 23.976, 25 and 29.97 (Blender has no drop-frame display)
MARKER_RATES = {"23.976": (24, 1.001, Fraction(24000, 1001)), "25": (25, 1.0, Fraction(25)),
                "29.97": (30, 1.001, Fraction(30000, 1001))}


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("rate", list(MARKER_RATES))
def test_marker_prompts_and_event_markers(python, rate, engine, tmp_path):
    fps, base, exact = MARKER_RATES[rate]
    clip = video(tmp_path, exact, f"c{rate}.mp4")
    start = 10
    user = [[20, "foley: rain on a tin roof ["], [40, "]"], [60, "foley: glass breaks"], [30, "cue A"],
            [90, "foley+: wind ["]]  # an unclosed range: to the scene's end, with a warning
    out = run(python, "markers", tmp_path, connection=engine.connection_file, out=str(tmp_path / "wavs"),
                   fps=fps, fps_base=base, frame_end=400, video=clip.path, frame_start=start, markers=user,
                   prompt="footsteps")
    assert out["first"] == ["FINISHED"] and out["again"] == ["FINISHED"], out
    first, last = out["movie"]
    one_shot = to_index(Fraction(1), exact)
    bounds = [first, 20, 40, 60, 60 + one_shot, 90, last]
    prompts = ["footsteps", "rain on a tin roof", "footsteps", "footsteps, glass breaks", "footsteps",
               "footsteps, wind"]
    if 60 + one_shot == 90:  # at 29.97 the glass's one second ends where the wind begins
        del bounds[4], prompts[4]
    placed = out["placed"]
    assert [s["frames"] for s in placed] == [[a, b] for a, b in zip(bounds, bounds[1:])]
    assert [s["prompt"] for s in placed] == prompts
    assert len({s["channel"] for s in placed}) == 1
    # The parts tile the strip's media range: shared edges, and each WAV is exactly its range's samples.
    assert all(x["media"][1] == y["media"][0] for x, y in zip(placed, placed[1:]))
    assert Fraction(placed[0]["media"][0]) == 0 and Fraction(placed[-1]["media"][1]) == Fraction(last - first) / exact
    total = 0
    for s in placed:
        a, b = (Fraction(t) for t in s["media"])
        assert a == Fraction(s["frames"][0] - first) / exact
        n = samples_of(s["path"])
        assert n == to_index(b, SR) - to_index(a, SR)
        total += n
    assert total == to_index(Fraction(last - first) / exact, SR)
    # Event markers: one per frame that had events, named by kind, at each event's frame; the user's kept.
    spots = expected_spots(placed, first, exact)
    assert spots, "the procedural engine saw no event in a clip with an impact every second"
    assert sorted(out["markers"]) == sorted(user + spots)
    # Re-run: the same parts, our markers replaced (not doubled), the renamed one and the user's kept.
    assert [(s["frames"], s["prompt"], s["media"]) for s in out["replaced"]] == \
        [(s["frames"], s["prompt"], s["media"]) for s in placed]
    renamed = out["renamed"]
    kept = [m for m in spots if m[0] != renamed[0]] + [[renamed[0], renamed[1][len("keep: "):]]]
    assert sorted(out["markers_again"]) == sorted(user + [renamed] + kept)


def expected_spots(placed: list, first: int, rate: Fraction) -> list:
    """``[frame, "kind, kind"]`` from each placed WAV's sidecar, worked out here without the add-on."""
    by_frame: dict = {}
    for s in placed:
        with open(s["path"] + ".foley.json", encoding="utf-8") as f:
            side = json.load(f)
        a, b = s["frames"]
        for ev in side["events"]:
            frame = first + to_index(Fraction(ev["time"]), rate)  # the strip shows media time 0 at `first`
            if a <= frame < b:
                kinds = by_frame.setdefault(frame, [])
                kinds += [ev["kind"]] if ev["kind"] not in kinds else []
    return [[f, ", ".join(k)] for f, k in sorted(by_frame.items())]


# ------------------------------------------------------------------ the marker convention, without Blender


def test_a_blender_range_is_two_markers_and_a_lone_marker_is_a_one_shot():
    from blender_addon.markers import frame_parts, marker_prompts

    rate = Fraction(25)
    found, warnings = marker_prompts([(10, "foley: rain ["), (30, "]"), (30, "Foley+: thunder ["), (50, " ] "),
                                      (40, "foley: door slam"), (5, "]"), (70, "foley: wind ["), (45, "note")],
                                     rate, 101)
    assert warnings == ["the marker ']' at frame 5 closes no open 'foley: ... [' marker: ignored",
                        "the marker 'foley: wind [' at frame 70 has no ']' after it: it runs to the scene's end"]
    assert frame_parts(0, 100, found, rate, "steps") == [
        (0, 10, "steps"), (10, 30, "rain"), (30, 40, "steps, thunder"), (40, 50, "steps, thunder, door slam"),
        (50, 65, "steps, door slam"), (65, 70, "steps"), (70, 100, "wind")]
    # A range marker pair that closes on the frame the next opens hands over there; no marker: one part.
    assert frame_parts(0, 20, [], rate, "steps") == [(0, 20, "steps")]


# ------------------------------------------------------------------ regenerate a range from Blender (issue 22)


@pytest.mark.parametrize("python", PYTHONS)
def test_regenerate_the_preview_range_of_a_foley_strip_in_place(python, engine, tmp_path):
    import numpy as np

    clip = video(tmp_path, Fraction(25), "c25.mp4")
    out = run(python, "regenerate", tmp_path, connection=engine.connection_file, out=str(tmp_path / "wavs"),
                   fps=25, video=clip.path, range=[26, 50],
                   engine_command=f"{sys.executable} -m foley_engine.cli engine serve")
    assert out["first"] == ["FINISHED"] and out["result"] == ["FINISHED"], out
    (before,), (after,) = out["placed"], out["after"]
    assert after["frames"] == before["frames"] == [1, 151] and after["path"] == before["path"]
    wav = after["path"]
    backup = wav[:-len(".wav")] + ".before-regenerate-1.wav"
    new, old = sf.read(wav, dtype="int32")[0], sf.read(backup, dtype="int32")[0]
    # Frames 26..50 of a strip starting at frame 1 are media seconds [1, 2): samples 48000..96000.
    assert len(new) == len(old) == 6 * SR
    np.testing.assert_array_equal(new[:SR], old[:SR])
    np.testing.assert_array_equal(new[2 * SR:], old[2 * SR:])
    assert not np.array_equal(new[SR:2 * SR], old[SR:2 * SR])
    with open(wav + ".foley.json", encoding="utf-8") as f:
        (edit,) = json.load(f)["edits"]
    assert (edit["start"], edit["end"], edit["prompt"], edit["seed"]) == ("1", "2", "glass breaking", 7)
