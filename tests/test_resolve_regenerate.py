"""*Foley – Regenerate Range* end to end: the fake Resolve, a real sample video, a real engine and the real
``foley regenerate`` (run by the script as a child process, as in Resolve)."""
from __future__ import annotations

import os

import numpy as np
import soundfile as sf

from resolve_helpers import ScriptedUI
from resolve_scripts.engine import EngineSpec
from resolve_scripts.foley_resolve import Options, run
from test_resolve_engine import SR, cut, engine, video  # noqa: F401 (fixtures)


def fill(tl, resolve, engine, tmp_path):
    opts = Options(EngineSpec(connection_file=engine.connection_file), out_root=str(tmp_path / "out"))
    report = run(resolve, "range", ScriptedUI({"prompt": "wooden block falls on a floor", "seed": "3"}), opts)
    assert report.error is None and len(report.placed) == 2, report.summary()
    return opts


def test_regenerate_the_marked_range_of_the_foley_clip_under_the_playhead(engine, video, tmp_path):  # noqa: F811
    tl, resolve, (a, b) = cut(video)
    opts = fill(tl, resolve, engine, tmp_path)
    foley = tl.GetItemListInTrack("audio", 2)[0]  # under shot A: record +12..+42
    wav = foley.GetMediaPoolItem().GetClipProperty("File Path")
    old = sf.read(wav, dtype="int32")[0]
    tl.playhead = tl.start_frame + 20
    tl.marks = {"in": 20, "out": 29}  # frames +20..+29 shown, the out included: 10 frames = [8/25 s, 18/25 s)
    report = run(resolve, "regenerate", ScriptedUI({"prompt": "glass breaking", "seed": "11"}), opts)
    assert report.error is None and report.route == "regenerate", report.summary()
    assert report.summary().startswith("Foley: re-did 01:00:00:20 – 01:00:01:04 of ")
    new = sf.read(wav, dtype="int32")[0]
    lo, hi = 8 * SR // 25, 18 * SR // 25
    assert len(new) == len(old)
    np.testing.assert_array_equal(new[:lo], old[:lo])
    np.testing.assert_array_equal(new[hi:], old[hi:])
    backup = wav[:-4] + ".before-regenerate-1.wav"
    np.testing.assert_array_equal(sf.read(backup, dtype="int32")[0], old)
    assert foley.GetMediaPoolItem().replaced == 1  # Resolve reads the file again
    # The other Foley clip and everything else on the timeline are as they were.
    assert [(p.GetStart(), p.GetEnd()) for p in tl.GetItemListInTrack("audio", 2)] == \
        [(c.GetStart(), c.GetEnd()) for c in (a, b)]


def test_a_marker_range_under_the_playhead_is_the_range_and_nothing_under_it_is_one_line(engine, video,  # noqa: F811
                                                                                        tmp_path):
    tl, resolve, (a, b) = cut(video)
    opts = fill(tl, resolve, engine, tmp_path)
    tl.marks = {}
    tl.markers[45] = {"color": "Blue", "duration": 5.0, "note": "", "name": "redo", "customData": ""}
    tl.playhead = tl.start_frame + 47  # over shot B's Foley (+42..+67) and the marker (+45..+50)
    report = run(resolve, "regenerate", ScriptedUI({"seed": "2"}), opts)
    assert report.error is None, report.summary()
    assert report.summary().startswith("Foley: re-did 01:00:01:20 – 01:00:01:24 of ")
    tl.playhead = tl.start_frame + 90  # past every clip
    report = run(resolve, "regenerate", ScriptedUI(), opts)
    assert report.error == "no Foley clip made by these scripts under the playhead at 01:00:03:15; put the " \
                           "playhead on the Foley clip to re-do"
    assert not [n for n in os.listdir(tmp_path / "out" / "Foley test" / "Cut") if "regenerating" in n]
