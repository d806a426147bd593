"""The Blender add-on's pure parts, without Blender: exact strip time math and the extension build."""
import os
import subprocess
import sys
import zipfile
from fractions import Fraction

import pytest

from foley_engine.timebase import exact_rate as engine_exact_rate
from foley_engine.timebase import to_index as engine_to_index

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from blender_addon import build  # noqa: E402
from blender_addon.strips import (  # noqa: E402
    StripError, StripTiming, expected_samples, exact_rate, free_channel, playback_speed, round_half_away, scene_rate,
    time_string, to_index, visible_media_range,
)

F32_1001 = 1.0010000467300415  # what Blender stores for fps_base 1.001


def timing(**kw) -> StripTiming:
    base = dict(name="clip", frame_start=Fraction(1), final_start=1, final_end=145, frame_duration=144, anim_start=0,
                anim_end=0, movie_rate=Fraction(24), scene_rate=Fraction(24), movie_frames=144)
    base.update(kw)
    return StripTiming(**base)


def test_scene_rates_are_exact():
    assert scene_rate(30, F32_1001) == Fraction(30000, 1001)
    assert scene_rate(24, F32_1001) == Fraction(24000, 1001)
    assert scene_rate(60, F32_1001) == Fraction(60000, 1001)
    assert scene_rate(25, 1.0) == 25 and scene_rate(50, 2.0) == 25
    assert exact_rate(29.970029830932617) == Fraction(30000, 1001)  # a strip's float32 fps
    for value in (23.976, 25.0, 12.5, 29.97, 59.94, 30.0):
        assert exact_rate(value) == engine_exact_rate(value)


def test_rounding_is_the_engines():
    for k in range(-2000, 2000, 7):
        t = Fraction(k, 96)
        assert to_index(t, 48000) == engine_to_index(t, 48000)
        assert to_index(t, Fraction(30000, 1001)) == engine_to_index(t, Fraction(30000, 1001))
    assert round_half_away(Fraction(1, 2)) == 1 and round_half_away(Fraction(-1, 2)) == -1


def test_visible_range_handles_and_file_trims():
    t = timing(frame_start=Fraction(100), final_start=104, final_end=217, frame_duration=117, anim_start=13,
               anim_end=20, movie_rate=Fraction(25), scene_rate=Fraction(25), movie_frames=150)
    assert visible_media_range(t) == (Fraction(17, 25), Fraction(130, 25))
    assert time_string(Fraction(17, 25)) == "17/25" and time_string(Fraction(4)) == "4"


def test_visible_range_25_fps_movie_in_24_fps_scene():
    # Blender's adjusted length: (150 - 12) * 24/25 = 132.48 -> 132 timeline frames.
    t = timing(frame_start=Fraction(10), final_start=15, final_end=139, frame_duration=132, anim_start=12,
               movie_rate=Fraction(25), scene_rate=Fraction(24), movie_frames=150)
    t0, t1 = visible_media_range(t)
    assert (t0, t1) == (Fraction(5, 24) + Fraction(12, 25), Fraction(129, 24) + Fraction(12, 25))
    # Duration equals the visible timeline duration exactly, so the sound fits the picture.
    assert t1 - t0 == Fraction(139 - 15, 24)
    assert expected_samples(t0, t1) == (engine_to_index(t0, 48000), 248000)


def test_long_ntsc_strip_has_no_drift():
    rate = Fraction(30000, 1001)
    frames = 30 * 60 * 60  # an hour-long strip at 29.97
    t = timing(frame_start=Fraction(0), final_start=0, final_end=frames, frame_duration=frames,
               movie_rate=rate, scene_rate=rate, movie_frames=frames)
    t0, t1 = visible_media_range(t)
    assert t1 == Fraction(frames * 1001, 30000)
    assert expected_samples(t0, t1)[1] == engine_to_index(t1, 48000)


@pytest.mark.parametrize("kw, message", [
    (dict(retimed=True), "retimed"),
    (dict(reversed=True), "reverse"),
    (dict(movie_rate=Fraction(25), movie_frames=200), "does not match its movie"),
    (dict(final_end=1), "no frames"),
    (dict(frame_start=Fraction(5)), "hold frames"),
])
def test_strips_the_sound_cannot_follow_are_refused(kw, message):
    with pytest.raises(StripError, match=message):
        visible_media_range(timing(**kw))


def test_strip_added_without_playback_rate_adjustment_is_generated_at_its_speed():
    # A 25 fps movie shown one frame per scene frame in a 24 fps scene: the picture plays at 96 %.
    t = timing(movie_rate=Fraction(25), movie_frames=150, anim_start=6, frame_duration=144, final_start=11,
               final_end=131)
    assert playback_speed(t) == Fraction(24, 25)
    t0, t1 = visible_media_range(t)
    # Scene frame F shows movie frame F - frame_start + anim_start: frames 16 .. 136 of the file.
    assert (t0, t1) == (Fraction(16, 25), Fraction(136, 25))
    # The item's output lasts (t1 - t0) / speed: exactly the strip's 120 frames at 24 fps.
    assert (t1 - t0) / playback_speed(t) == Fraction(120, 24)
    assert playback_speed(timing()) == 1


def test_nearly_equal_rates_accept_either_playback_mode():
    # 30000/1001 media in a 30 fps scene: both of Blender's modes give 144 frames here.
    t = timing(movie_rate=Fraction(30000, 1001), scene_rate=Fraction(30), movie_frames=144)
    visible_media_range(t)


def test_free_channel_skips_overlaps_only():
    occupied = [(2, 0, 100), (3, 50, 80), (4, 0, 10)]
    assert free_channel(occupied, 3, 10, 40) == 3
    assert free_channel(occupied, 3, 60, 70) == 4
    assert free_channel(occupied, 2, 80, 100) == 3  # touching ends do not overlap
    with pytest.raises(StripError):
        free_channel([(c, 0, 10) for c in range(1, 129)], 1, 0, 5)


def test_manifest_gets_platforms_and_wheels():
    with open(os.path.join(ROOT, "blender_addon", "blender_manifest.toml"), encoding="utf-8") as f:
        manifest = f.read()
    out = build.with_wheels(manifest, {("linux-x64", "3.11"): "pyzmq-2-cp311-cp311-manylinux_2_28_x86_64.whl",
                                       ("macos-arm64", "3.13"): "pyzmq-1-cp312-abi3-macosx_10_15_universal2.whl",
                                       ("macos-x64", "3.13"): "pyzmq-1-cp312-abi3-macosx_10_15_universal2.whl"})
    head, _, tables = out.partition("\n[permissions]")
    assert 'platforms = ["linux-x64", "macos-arm64", "macos-x64"]' in head
    assert head.count("./wheels/") == 2  # the universal2 wheel serves both macOS platforms once
    assert "network" in tables
    tomllib = pytest.importorskip("tomllib")
    parsed = tomllib.loads(out)
    assert parsed["id"] == "foley_sequencer" and len(parsed["wheels"]) == 2


def test_bundled_client_imports_without_numpy(tmp_path):
    """The zip's client is stdlib + pyzmq only, as Blender's and Resolve's Python need."""
    out = build.build(str(tmp_path), wheels=False)
    with zipfile.ZipFile(out) as z:
        names = set(z.namelist())
        z.extractall(tmp_path / "ext")
    assert {"blender_manifest.toml", "__init__.py", "strips.py", "foley_client/client.py",
            "foley_client/envelope.py", "foley_client/schema.py", "foley_client/connection.py"} <= names
    assert "build.py" not in names and not any("__pycache__" in n for n in names)
    code = ("import sys, foley_client.client as c; "
            "assert not {'numpy', 'torch', 'bpy', 'plugin_host'} & set(sys.modules), sorted(sys.modules); "
            "print(c.EngineClient.__name__)")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "ext"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "EngineClient" in proc.stdout, proc.stderr


def test_timing_goes_through_the_5_1_names_where_they_exist():
    """Blender 5.1 renamed the strip timing properties; compat reads and writes the new names first."""
    from types import SimpleNamespace

    from blender_addon import compat

    new = SimpleNamespace(content_start=3.0, content_duration=144, left_handle=10, right_handle=120, duration=110,
                          content_trim_start=6, content_trim_end=2)
    assert (compat.content_start(new), compat.content_duration(new), compat.left_handle(new),
            compat.right_handle(new), compat.duration(new), compat.trim_start(new), compat.trim_end(new)) == \
        (3.0, 144, 10, 120, 110, 6, 2)
    compat.set_right_handle(new, 100)
    assert new.right_handle == 100 and not hasattr(new, "frame_final_end")
    old = SimpleNamespace(frame_start=3.0, frame_duration=144, frame_final_start=10, frame_final_end=120,
                          frame_final_duration=110, animation_offset_start=6, animation_offset_end=2)
    assert (compat.content_start(old), compat.left_handle(old), compat.trim_end(old)) == (3.0, 10, 2)
    compat.set_right_handle(old, 100)
    assert old.frame_final_end == 100


def test_no_pre_5_1_timing_name_outside_compat():
    """Every strip timing access goes through compat.py (the old names are removed in Blender 6.0)."""
    import re

    old = re.compile(r"\.(frame_start|frame_final_start|frame_final_end|frame_final_duration|frame_duration|"
                     r"animation_offset_start|animation_offset_end)\b")
    for name in sorted(os.listdir(os.path.join(ROOT, "blender_addon"))):
        if name.endswith(".py") and name not in ("compat.py", "build.py", "strips.py"):  # strips.py: plain values
            with open(os.path.join(ROOT, "blender_addon", name), encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    # a MovieClip (not a strip) keeps frame_duration in 5.1
                    if old.search(line) and "clip.frame_duration" not in line:
                        raise AssertionError(f"blender_addon/{name}:{n}: {line.strip()}")
