"""`foley regenerate`: one range re-done in place; every other sample bit-identical, the old file kept."""
import hashlib
import json
import os
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from foley_engine.lab.samples import make_sample_video
from foley_engine.media.sidecar import read_sidecar, sidecar_path

from test_engine_cli import foley


def samples_hash(path, lo, hi):
    """Hash of samples [lo, hi) as the file stores them (PCM read as integers: no conversion)."""
    with sf.SoundFile(path) as f:
        f.seek(lo)
        return hashlib.sha256(f.read(hi - lo, dtype="int32").tobytes()).hexdigest()


@pytest.fixture(scope="module")
def five_minutes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    video = make_sample_video(str(folder / "long.mp4"), duration=300, fps=Fraction(25), width=64, height=36,
                              impacts_every=Fraction(3, 2), impact_offset=Fraction(1, 2)).path
    out = folder / "long.wav"
    foley("generate", video, "-o", str(out), "--prompt", "metal impacts", "--seed", "3")
    return video, out


@pytest.mark.slow
def test_a_range_of_a_five_minute_file_is_redone_and_nothing_else(five_minutes):
    video, wav = five_minutes
    total = sf.info(str(wav)).frames
    assert total == 300 * 48000
    before = {"head": samples_hash(wav, 0, 100 * 48000), "tail": samples_hash(wav, 207 * 24000, total),
              "range": samples_hash(wav, 100 * 48000, 207 * 24000)}
    with open(wav, "rb") as f:
        whole = hashlib.sha256(f.read()).hexdigest()
    done = json.loads(foley("regenerate", str(wav), "--in", "00:01:40.000", "--out", "103.5",
                            "--prompt", "glass breaking", "--json").stdout)
    assert done["first_sample"] == 100 * 48000 and done["stop_sample"] == 207 * 24000
    assert done["fade_samples"] == 960 and done["seed"] == 4  # a new take: the file's seed + 1
    assert sf.info(str(wav)).frames == total  # length unchanged
    assert samples_hash(wav, 0, 100 * 48000) == before["head"]
    assert samples_hash(wav, 207 * 24000, total) == before["tail"]
    assert samples_hash(wav, 100 * 48000, 207 * 24000) != before["range"]
    # The previous audio is kept, byte for byte, with its sidecar.
    backup = done["backup"]
    assert os.path.basename(backup) == "long.before-regenerate-1.wav"
    with open(backup, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == whole
    assert read_sidecar(backup).edits == ()
    edits = read_sidecar(str(wav)).edits
    assert edits == ({"start": "100", "end": "207/2", "prompt": "glass breaking", "seed": 4,
                      "backup": "long.before-regenerate-1.wav"},)
    assert not [n for n in os.listdir(wav.parent) if "regenerating" in n or n.endswith(".partial")]


def test_fades_sit_inside_the_range_and_join_old_and_new(tmp_path):
    video = make_sample_video(str(tmp_path / "v.mp4"), duration=6, fps=Fraction(30000, 1001), width=64,
                              height=36, impacts_every=Fraction(1), impact_offset=Fraction(1, 2)).path
    wav = tmp_path / "v.wav"
    foley("generate", video, "-o", str(wav), "--prompt", "footsteps", "--format", "float", "--loudness", "off")
    old, _ = sf.read(str(wav), dtype="float32")
    foley("regenerate", str(wav), "--in", "2", "--out", "4", "--seed", "9", "--fade", "0.01")
    new, _ = sf.read(str(wav), dtype="float32")
    a, b, fade = 96000, 192000, 480
    np.testing.assert_array_equal(new[:a], old[:a])
    np.testing.assert_array_equal(new[b:], old[b:])
    # The same range generated alone is what the middle holds, and the edges are its mix with the old audio.
    take = tmp_path / "take.wav"
    foley("generate", video, "-o", str(take), "--prompt", "footsteps", "--format", "float", "--loudness", "off",
          "--seed", "9", "--in", "2", "--out", "4")
    fresh, _ = sf.read(str(take), dtype="float32")
    np.testing.assert_array_equal(new[a + fade:b - fade], fresh[fade:-fade])
    phase = (np.arange(fade) + 0.5) / fade * (np.pi / 2)
    head = old[a:a + fade].astype(np.float64) * np.cos(phase)[:, None] + fresh[:fade] * np.sin(phase)[:, None]
    np.testing.assert_allclose(new[a:a + fade], head, atol=1e-6)


def test_through_the_engine_it_is_byte_identical_to_in_process(engines, tmp_path):
    video = make_sample_video(str(tmp_path / "v.mp4"), duration=6, fps=Fraction(24000, 1001), width=64,
                              height=36, impacts_every=Fraction(3, 2), impact_offset=Fraction(1, 2)).path
    local, remote = tmp_path / "local.wav", tmp_path / "remote.wav"
    foley("generate", video, "-o", str(local), "--prompt", "metal impacts")
    foley("generate", video, "-o", str(remote), "--prompt", "metal impacts")
    engine = engines(tmp_path / "engine", backend="procedural")
    foley("regenerate", str(local), "--in", "1.5", "--out", "3.25", "--prompt", "wood knocks")
    foley("regenerate", str(remote), "--in", "1.5", "--out", "3.25", "--prompt", "wood knocks", "--engine",
          "--connection-file", engine.connection_file)
    with open(local, "rb") as f1, open(remote, "rb") as f2:
        assert f1.read() == f2.read()
    # An ordinary job of the engine: journalled (it lists it), over the sub-range only.
    jobs = json.loads(foley("engine", "jobs", "--connection-file", engine.connection_file, "--json").stdout)
    assert [(j["state"], j["items"], j["items_done"]) for j in jobs] == [("done", 1, 1)]
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith("remote")) == [
        "remote.before-regenerate-1.wav", "remote.before-regenerate-1.wav.foley.json", "remote.wav",
        "remote.wav.foley.json"]


def test_bad_ranges_and_a_wav_without_sidecar(tmp_path):
    video = make_sample_video(str(tmp_path / "v.mp4"), duration=4, fps=Fraction(25), width=64, height=36).path
    wav = tmp_path / "v.wav"
    foley("generate", video, "-o", str(wav), "--in", "1", "--out", "3")
    with open(wav, "rb") as f:
        whole = f.read()
    outside = foley("regenerate", str(wav), "--in", "0.5", "--out", "2", check=False)
    assert outside.returncode == 2 and "outside this file's media range" in outside.stderr
    missing = foley("regenerate", str(wav), "--in", "1.5", check=False)
    assert missing.returncode == 2 and "both --in and --out" in missing.stderr
    with open(wav, "rb") as f:
        assert f.read() == whole  # refused: nothing touched
    os.unlink(sidecar_path(str(wav)))
    bare = foley("regenerate", str(wav), "--in", "1", "--out", "2", check=False)
    assert bare.returncode == 2 and "--media" in bare.stderr
    # With --media, a bare WAV is taken to start at the video's first frame.
    foley("regenerate", str(wav), "--in", "1", "--out", "1.5", "--media", video)
    now, _ = sf.read(str(wav), dtype="int32")
    was, _ = sf.read(str(tmp_path / "v.before-regenerate-1.wav"), dtype="int32")
    np.testing.assert_array_equal(now[:48000], was[:48000])
    np.testing.assert_array_equal(now[72000:], was[72000:])


def _read(path):
    return sf.read(str(path), dtype="float32", always_2d=True)[0]


def test_a_stems_and_takes_set_is_redone_together_or_one_file_alone(tmp_path):
    video = make_sample_video(str(tmp_path / "v.mp4"), duration=4, fps=Fraction(25), width=64, height=36,
                              impacts_every=Fraction(1), impact_offset=Fraction(1, 2)).path
    flags = ["--prompt", "footsteps on wood, room tone", "--format", "float", "--loudness", "off",
             "--stems", "feet,bg", "--takes", "2"]
    foley("generate", video, "-o", str(tmp_path / "shot.wav"), *flags)
    names = ["shot_FOLEY_FEET.wav", "shot_FOLEY_BG.wav", "shot_take2_FOLEY_FEET.wav", "shot_take2_FOLEY_BG.wav"]
    old = {n: _read(tmp_path / n) for n in names}
    # Any file of the set re-does the whole set over the range, every file landing together.
    done = json.loads(foley("regenerate", str(tmp_path / "shot_take2_FOLEY_BG.wav"), "--in", "1", "--out", "2",
                            "--seed", "5", "--json").stdout)
    assert sorted(os.path.basename(f["path"]) for f in done["files"]) == sorted(names)
    foley("generate", video, "-o", str(tmp_path / "fresh.wav"), *flags, "--seed", "5", "--in", "1", "--out", "2")
    a, b, fade = 48000, 96000, 960
    for n in names:
        new = _read(tmp_path / n)
        assert len(new) == len(old[n]) == 4 * 48000
        np.testing.assert_array_equal(new[:a], old[n][:a])
        np.testing.assert_array_equal(new[b:], old[n][b:])
        fresh = _read(tmp_path / n.replace("shot", "fresh"))
        np.testing.assert_array_equal(new[a + fade:b - fade], fresh[fade:-fade])
        assert os.path.exists(tmp_path / n.replace(".wav", ".before-regenerate-1.wav"))
        assert read_sidecar(str(tmp_path / n)).edits[-1]["seed"] == 5
    # --only: this file alone (take 2 of the footsteps: the take's own seed), the others untouched.
    before = {n: _read(tmp_path / n) for n in names}
    foley("regenerate", str(tmp_path / "shot_take2_FOLEY_FEET.wav"), "--only", "--in", "3", "--out", "3.5",
          "--seed", "8")
    for n in names:
        if n != "shot_take2_FOLEY_FEET.wav":
            np.testing.assert_array_equal(_read(tmp_path / n), before[n])
    foley("generate", video, "-o", str(tmp_path / "one.wav"), *flags[:-4], "--stems", "feet", "--takes", "2",
          "--seed", "8", "--in", "3", "--out", "3.5")
    new = _read(tmp_path / "shot_take2_FOLEY_FEET.wav")
    np.testing.assert_array_equal(new[144000 + fade:168000 - fade], _read(tmp_path / "one_take2_FOLEY_FEET.wav")[fade:-fade])
    np.testing.assert_array_equal(new[:144000], before["shot_take2_FOLEY_FEET.wav"][:144000])
    assert not [n for n in os.listdir(tmp_path) if "regenerating" in n or n.endswith(".partial")]
