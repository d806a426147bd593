"""``foley batch`` with marker prompts (OTIO inputs) and regenerations (``--regenerate``): ordinary items of
the batch (journalled, resumable), the same bytes as in process."""
from __future__ import annotations

import json
import os
import shutil

import opentimelineio as otio

from test_batch import RATE, batch
from test_engine_backend import make_clip
from test_engine_cli import foley


def read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def test_regenerations_in_a_batch_are_byte_identical_to_foley_regenerate(engines, tmp_path):
    clip = make_clip(str(tmp_path / "v.mp4"), seconds=3)
    foley("generate", clip, "-o", str(tmp_path / "a.wav"), "--prompt", "metal impacts", "--seed", "3")
    shutil.copy(tmp_path / "a.wav", tmp_path / "b.wav")
    shutil.copy(tmp_path / "a.wav.foley.json", tmp_path / "b.wav.foley.json")
    edits = tmp_path / "edits.txt"
    edits.write_text("# file  in  out  seed  prompt\na.wav  1/2  3/2  7  glass breaking\n")
    engine = engines(tmp_path / "engine", backend="procedural")
    out = tmp_path / "out"
    args = ["--regenerate", str(edits), "--out", str(out), "--connection-file", engine.connection_file,
            "--no-autostart"]
    assert batch(*args) == 0
    foley("regenerate", str(tmp_path / "b.wav"), "--in", "1/2", "--out", "3/2", "--seed", "7", "--prompt",
          "glass breaking")
    assert read(tmp_path / "a.wav") == read(tmp_path / "b.wav")  # the in-process bytes
    assert read(tmp_path / "a.before-regenerate-1.wav") == read(tmp_path / "b.before-regenerate-1.wav")
    (edit,) = json.loads((tmp_path / "a.wav.foley.json").read_text())["edits"]
    assert (edit["start"], edit["end"], edit["seed"], edit["prompt"]) == ("1/2", "3/2", 7, "glass breaking")
    doc = json.loads((out / "foley-batch-summary.json").read_text())
    assert doc["totals"]["done"] == 1 and doc["items"][0]["output"] == str(tmp_path / "a.wav")
    assert os.listdir(out / "regenerate") == []  # the new audio went into the file; nothing left beside
    with engine.client() as eng:
        assert len(eng.jobs()) == 1  # an ordinary engine job, in its journal
    # Again: the edit is done (the file is not re-done a second time).
    assert batch(*args) == 0
    assert json.loads((out / "foley-batch-summary.json").read_text())["totals"]["skipped"] == 1
    assert len(json.loads((tmp_path / "a.wav.foley.json").read_text())["edits"]) == 1


def test_a_bad_edit_line_is_one_line(tmp_path, capsys):
    edits = tmp_path / "edits.txt"
    edits.write_text("a.wav 1\n")
    assert batch("--regenerate", str(edits), "--out", str(tmp_path / "o")) == 2
    assert capsys.readouterr().err.strip() == "foley: error: edits.txt:1: want WAV IN OUT [SEED [PROMPT]], got 'a.wav 1'"
    edits.write_text("missing.wav 1 2\n")
    assert batch("--regenerate", str(edits), "--out", str(tmp_path / "o")) == 2
    assert "has no sidecar" in capsys.readouterr().err


def test_marker_prompts_of_a_timeline_are_parts_in_a_batch(engines, tmp_path):
    clip = make_clip(str(tmp_path / "c.mp4"), seconds=4)
    rt = lambda n: otio.opentime.RationalTime(n, RATE)  # noqa: E731
    tl = otio.schema.Timeline("cut")
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    ref = otio.schema.ExternalReference(target_url=otio.url_utils.url_from_filepath(clip),
                                        available_range=otio.opentime.TimeRange(rt(0), rt(120)))
    shot = otio.schema.Clip(name="shot", media_reference=ref, source_range=otio.opentime.TimeRange(rt(10), rt(90)))
    shot.markers.append(otio.schema.Marker(name="foley: rain on a tin roof",
                                           marked_range=otio.opentime.TimeRange(rt(30), rt(20))))
    shot.markers.append(otio.schema.Marker(name="cue", marked_range=otio.opentime.TimeRange(rt(40), rt(0))))
    v.append(shot)
    tl.tracks.append(v)
    otio.adapters.write_to_file(tl, str(tmp_path / "cut.otio"))
    engine = engines(tmp_path / "engine", backend="procedural")
    out = tmp_path / "out"
    assert batch(str(tmp_path / "cut.otio"), "--out", str(out), "--prompt", "footsteps", "--connection-file",
                 engine.connection_file, "--no-autostart") == 0
    filled = otio.adapters.read_from_file(str(out / "cut_foley.otio"))
    parts = filled.tracks[1].find_clips()
    assert [c.metadata["foley"]["prompt"] for c in parts] == ["footsteps", "rain on a tin roof", "footsteps"]
    assert [c.range_in_parent().start_time.value for c in parts] == [0, 32032, 64064]  # frames 0, 20, 40 at 48 kHz
    # Each part's WAV is the bytes `foley generate` writes in process for the same request.
    for i, c in enumerate(parts):
        wav = c.media_reference.target_url.replace("file://", "")
        req = json.loads(open(wav + ".foley.json").read())["request"]
        mine = tmp_path / f"part{i}.wav"
        foley("generate", clip, "-o", str(mine), "--in", req["start"], "--out", req["end"], "--prompt",
              req["prompt"], "--seed", str(req["seed"]))
        assert read(mine) == read(wav)
