"""Prompts from OTIO markers: clips split at marker edges, parts tiling the clip sample-exactly."""
from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

from otio_adapters import read_timeline, write_timeline
from otio_adapters.markers import ONE_SHOT, marker_text
from otio_adapters.timemath import samples, seconds, to_index

from test_otio import RATES, SR, TC0, code, fill_with, gap, media, mixdown, rt, timeline_start, tr, vclip

MARKER_RATES = [RATES[0], RATES[2], RATES[4]]
IDS = ["23.976", "25", "29.97DF"]


def marker(name, start, dur, rate, comment="", color=otio.schema.MarkerColor.RED):
    return otio.schema.Marker(name=name, marked_range=tr(start, dur, rate), color=color, comment=comment)


def marked(folder, rate, drop):
    """Clip A at record frames 12..108 (source TC0+30..): a clip range marker, a point marker, a track
    range marker running past the clip's end, and a user's own marker that is not a prompt."""
    tl = otio.schema.Timeline("markers", global_start_time=timeline_start(rate, drop, 1))
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    a = vclip("A", media(folder, "with_tc.mp4"), rate, TC0 + 30, 96, media_start=TC0)
    a.markers.append(marker("foley: rain on a tin roof", TC0 + 40, 20, rate))       # record 22..42
    a.markers.append(marker("Marker 2", TC0 + 70, 0, rate, comment="FOLEY: glass breaks"))  # point, record 52
    a.markers.append(marker("director's note", TC0 + 35, 5, rate, comment="too loud?"))
    v.extend([gap(12, rate), a])
    v.markers.append(marker("foley+: wind gusts", 100, 30, rate))                    # record 100..130
    tl.tracks.append(v)
    return tl


def foley_parts(tl):
    track = next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Audio)
    out = []
    for clip in track.find_clips(shallow_search=True):
        r = clip.range_in_parent()
        out.append((samples(r.start_time), samples(r.end_time_exclusive()), clip.metadata["foley"]["prompt"]))
    return track, out


def test_the_marker_syntax():
    m = lambda name, comment="": otio.schema.Marker(name=name, comment=comment)  # noqa: E731
    assert marker_text(m("foley: rain")) == ("rain", False)
    assert marker_text(m("Foley+ : rain")) == ("rain", True)
    assert marker_text(m("cue 3", "FOLEY: door slam")) == ("door slam", False)
    assert marker_text(m("foley:", "")) is None and marker_text(m("rain", "foley rain")) is None


@pytest.mark.parametrize("name,rate,drop", MARKER_RATES, ids=IDS)
def test_marker_prompts_land_on_exactly_the_marked_samples(tmp_path, name, rate, drop):
    f = str(tmp_path)
    report, engine = fill_with(marked(f, rate, drop), f, prompt="footsteps")
    assert report.ok, report.failed
    at = lambda frames: to_index(Fraction(frames) / rate, SR)  # noqa: E731
    one_shot_end = to_index(Fraction(52) / rate + ONE_SHOT, SR)
    track, parts = foley_parts(report.timeline)
    assert parts == [
        (at(12), at(22), "footsteps"),
        (at(22), at(42), "rain on a tin roof"),
        (at(42), at(52), "footsteps"),
        (at(52), one_shot_end, "footsteps, glass breaks"),
        (one_shot_end, at(100), "footsteps"),
        (at(100), at(108), "footsteps, wind gusts"),
    ]
    # The parts tile the clip: each starts where the one before ends, from its first sample to its last.
    assert parts[0][0] == at(12) and parts[-1][1] == at(108)
    assert all(p[1] == q[0] for p, q in zip(parts, parts[1:]))
    # And the audio under them is the clip's media, sample for sample: no gap, no overlap, no shift.
    mix = mixdown(track, at(108))
    first_media = to_index(Fraction(30) / rate, SR)
    np.testing.assert_array_equal(mix[at(12):at(108)], code(first_media + np.arange(at(108) - at(12))))
    assert [r.prompt for r in engine.requests] == [p[2] for p in parts]


@pytest.mark.parametrize("name,rate,drop", MARKER_RATES, ids=IDS)
def test_reruns_are_idempotent_and_leave_the_users_markers_alone(tmp_path, name, rate, drop):
    f = str(tmp_path)
    first, _ = fill_with(marked(f, rate, drop), f, prompt="footsteps")
    again, engine = fill_with(first.timeline, f, prompt="footsteps")
    assert engine.requests == [] and len(again.reused) == 6
    assert foley_parts(again.timeline)[1] == foley_parts(first.timeline)[1]
    clip = again.timeline.tracks[0].find_clips()[0]
    assert [m.name for m in clip.markers] == ["foley: rain on a tin roof", "Marker 2", "director's note"]
    # Without --prompt, the clip's own prompt comes back from its earlier Foley, not a marker's.
    third, engine = fill_with(first.timeline, f)
    assert engine.requests == [] and len(third.reused) == 6
    # Moving a marker re-does only the parts it changes.
    moved = first.timeline.clone()
    moved.tracks[0].find_clips()[0].markers[0].marked_range = tr(TC0 + 40, 10, rate)
    fourth, engine = fill_with(moved, f, prompt="footsteps")
    assert [r.prompt for r in engine.requests] == ["rain on a tin roof", "footsteps"]
    assert len(foley_parts(fourth.timeline)[1]) == 6


@pytest.mark.parametrize("name,rate,drop", MARKER_RATES, ids=IDS)
def test_fcp7_xml_markers_come_through_otios_adapter(tmp_path, name, rate, drop):
    """FCP 7 XML keeps clip and sequence markers, a marker's note as ``<comment>``; track markers it has not."""
    f = str(tmp_path)
    tl = marked(f, rate, drop)
    # As an FCP 7 XML from an editor holds them: the note in <comment>, the timeline's marker on the sequence.
    tl.tracks[0].find_clips()[0].markers[1].metadata["fcp_xml"] = {"comment": "FOLEY: glass breaks"}
    tl.tracks.markers.append(tl.tracks[0].markers.pop())
    write_timeline(tl, os.path.join(f, "cut.xml"))
    assert "<comment>FOLEY: glass breaks</comment>" in open(os.path.join(f, "cut.xml")).read()
    back = read_timeline(os.path.join(f, "cut.xml"))
    report, _ = fill_with(back, f, prompt="footsteps")
    direct, _ = fill_with(marked(f, rate, drop), f, prompt="footsteps")
    assert [p[2] for p in foley_parts(report.timeline)[1]] == [p[2] for p in foley_parts(direct.timeline)[1]]
    assert [p[:2] for p in foley_parts(report.timeline)[1]] == [p[:2] for p in foley_parts(direct.timeline)[1]]
