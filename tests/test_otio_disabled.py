"""`foley otio fill` and what an editor neither shows nor plays: disabled clips and tracks; the OTIO it needs."""
from __future__ import annotations

import os
from fractions import Fraction

import opentimelineio as otio
import pytest

from otio_adapters import Selection, read_timeline, video_clips
from otio_adapters.timeline_io import check_otio_version
from test_otio import FakeEngine, fill_with, foley_tracks, gap, marked_timeline, media, run_cli, tr, vclip

RATE = Fraction(25)


def _disabled_timeline(folder):
    """V1: door_slam (disabled), walk_01, walk_02; Cutaways (a disabled track): insert; V3: a nested stack
    that is disabled, holding 'inner'."""
    tl = marked_timeline(folder)
    v1, v2 = tl.tracks[0], tl.tracks[1]
    v1[0].enabled = False
    v2.enabled = False
    v3 = otio.schema.Track("V3", kind=otio.schema.TrackKind.Video)
    inner_track = otio.schema.Track("inner track", kind=otio.schema.TrackKind.Video)
    inner_track.append(vclip("inner", media(folder, "m.mp4"), RATE, 400, 30))
    nest = otio.schema.Stack("compound", children=[inner_track], source_range=tr(0, 30, RATE))
    nest.enabled = False
    v3.extend([gap(10, RATE), nest])
    tl.tracks.append(v3)
    return tl


def test_disabled_clips_and_tracks_are_left_out_by_default(tmp_path):
    tl = _disabled_timeline(str(tmp_path))
    sel = Selection.parse([], None, tl)
    names = [vc.name for vc in sel.apply(video_clips(tl), tl, "")]
    assert names == ["walk_01", "walk_02"]
    assert sel.left_out == [
        "V1 / 'door_slam': not filled: the clip is disabled (--include-disabled fills it)",
        "Cutaways / 'insert': not filled: track Cutaways is disabled (--include-disabled fills it)",
        "V3 / compound / 'inner': not filled: nested 'compound' is disabled (--include-disabled "
        "fills it)",
    ]
    everything = Selection.parse([], None, tl, include_disabled=True)
    assert [vc.name for vc in everything.apply(video_clips(tl), tl, "")] == \
        ["door_slam", "walk_01", "walk_02", "insert", "inner"]


def test_fill_reports_what_it_left_out(tmp_path):
    tl = _disabled_timeline(str(tmp_path))
    report, engine = fill_with(tl, str(tmp_path), selection=Selection())
    assert len(engine.requests) == 2 and len(report.skipped) == 3
    assert len(list(foley_tracks(report.timeline)[0].find_clips())) == 2


def test_cli_include_disabled(tmp_path, capsys):
    f = str(tmp_path)
    src = os.path.join(f, "cut.otio")
    otio.adapters.write_to_file(_disabled_timeline(f), src)
    assert run_cli([src, "-o", os.path.join(f, "o.otio"), "--dry-run"], None) == 0
    out = capsys.readouterr().out
    assert "door_slam': not filled: the clip is disabled" in out and "'door_slam': media" not in out
    assert run_cli([src, "-o", os.path.join(f, "o.otio"), "--dry-run", "--include-disabled"], None) == 0
    out = capsys.readouterr().out
    assert "'door_slam': media" in out and "'insert': media" in out and "not filled" not in out
    engine = FakeEngine()
    run_cli([src, "-o", os.path.join(f, "o.otio")], engine)
    assert len(engine.requests) == 2
    assert "foley: warning: V1 / 'door_slam': not filled: the clip is disabled" in capsys.readouterr().err


def test_opentimelineio_before_0_18_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match=r"^OpenTimelineIO 0\.17\.0 is too old: foley needs 0\.18 or later"):
        check_otio_version("0.17.0")
    check_otio_version("0.18.1")
    check_otio_version(otio.__version__)  # the installed one is new enough
    src = os.path.join(str(tmp_path), "cut.otio")
    otio.adapters.write_to_file(marked_timeline(str(tmp_path)), src)
    monkeypatch.setattr(otio, "__version__", "0.17.0")
    with pytest.raises(ValueError, match="too old"):
        read_timeline(src)
    assert run_cli([src, "-o", src], FakeEngine()) == 2
    assert "foley: error: OpenTimelineIO 0.17.0 is too old" in capsys.readouterr().err
