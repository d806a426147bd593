"""OTIO round-trip with a test double for the engine: selection, placement, idempotence, FCP XML.

The double writes real WAVs of exactly the requested number of samples whose
values encode the media sample index, so a mix-down of the Foley track shows
which media sample plays at each record sample.
"""
from __future__ import annotations

import os
import tempfile
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otio_adapters import FillOptions, Selection, fill, read_timeline, write_timeline
from otio_adapters.generator import Result
from otio_adapters.selection import video_clips
from otio_adapters.timeline_jobs import url_to_path
from otio_adapters.timemath import exact_rate, samples, seconds, to_index

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
SR = 48000

# name, exact rate, drop-frame timecode
RATES = [
    ("23.976", Fraction(24000, 1001), False),
    ("24", Fraction(24), False),
    ("25", Fraction(25), False),
    ("29.97NDF", Fraction(30000, 1001), False),
    ("29.97DF", Fraction(30000, 1001), True),
    ("30", Fraction(30), False),
    ("50", Fraction(50), False),
    ("59.94", Fraction(60000, 1001), True),
    ("60", Fraction(60), False),
]


def code(k):
    """The value the double writes for media sample ``k`` (exact in float32)."""
    return ((np.asarray(k) % 997) + 1).astype(np.float32) / 1024


class FakeEngine:
    """Generator double: one WAV per request, exactly round(end*sr) - round(start*sr) samples."""

    def __init__(self, fail_keys=()):
        self.requests = []
        self.fail_keys = set(fail_keys)

    def run(self, requests, out_dir, on_result=None):
        results = []
        for req in requests:
            self.requests.append(req)
            if any(name in req.key for name in self.fail_keys):
                res = Result(req.key, error=f"{req.label}: decode failed")
            else:
                # Like the engine: the source plays at req.speed, the WAV lasts (end - start) / speed.
                a = to_index(req.start, SR)
                b = to_index(req.start + (req.end - req.start) / req.speed, SR)
                k = np.arange(b - a, dtype=np.int64)
                media_samples = a + k * req.speed.numerator // req.speed.denominator
                path = os.path.join(out_dir, f"item{len(self.requests):04d}.wav")
                sf.write(path, code(media_samples), SR, subtype="FLOAT")
                res = Result(req.key, path, a, b - a, SR, "fake", f"job{len(self.requests)}", req.seed)
            results.append(res)
            if on_result:
                on_result(res)
        return results


def rt(n, rate):
    return RT(n, float(rate))


def tr(start, dur, rate):
    return TR(rt(start, rate), rt(dur, rate))


def media(folder, name):
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        open(path, "wb").close()
    return path


def ref(path, rate, start=0, length=100000):
    return otio.schema.ExternalReference(target_url=path, available_range=tr(start, length, rate))


def vclip(name, path, rate, src, dur, media_start=0, **kw):
    clip = otio.schema.Clip(name=name, media_reference=ref(path, rate, media_start), source_range=tr(src, dur, rate))
    clip.metadata.update(kw.get("metadata", {}))
    return clip


def gap(n, rate):
    return otio.schema.Gap(source_range=tr(0, n, rate))


def timeline_start(rate, drop, hour=1):
    if not hour:
        return rt(0, rate)
    tc = "01:00:00;00" if drop else "01:00:00:00"
    return otio.opentime.from_timecode(tc, float(rate))


TC0 = 108000  # the media's own start timecode, in frames


def grid_timeline(folder, rate, drop, hour):
    """Offsets, start timecodes, a transition, a missing file, a speed change, a nested stack, a freeze."""
    tl = otio.schema.Timeline("grid", global_start_time=timeline_start(rate, drop, hour))
    tc_media, plain = media(folder, "with_tc.mp4"), media(folder, "plain.mp4")
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    v.append(gap(12, rate))
    v.append(vclip("A", tc_media, rate, TC0 + 30, 48, media_start=TC0))
    v.append(otio.schema.Transition(name="dissolve", transition_type="SMPTE_Dissolve",
                                    in_offset=rt(6, rate), out_offset=rt(6, rate)))
    v.append(vclip("B", plain, rate, 10, 40))
    v.append(vclip("C", os.path.join(folder, "missing.mp4"), rate, 0, 20))
    d = vclip("D", plain, rate, 100, 24)
    d.effects.append(otio.schema.LinearTimeWarp(time_scalar=1.5))
    v.append(d)
    nested = otio.schema.Stack(name="compound", source_range=tr(5, 40, rate))
    inner = otio.schema.Track("inner", kind=otio.schema.TrackKind.Video)
    inner.append(gap(3, rate))
    inner.append(vclip("F", tc_media, rate, TC0 + 200, 30, media_start=TC0))
    inner.append(vclip("G", plain, rate, 300, 30))
    nested.append(inner)
    v.append(nested)
    h = vclip("H", plain, rate, 400, 10)
    h.effects.append(otio.schema.FreezeFrame())
    v.append(h)
    v.append(vclip("I", plain, rate, 500, 36))
    tl.tracks.append(v)
    return tl


# name: (record start frame, record frames, media frame at record start, speed) - worked out by hand
GRID_EXPECTED = {
    "A": (12, 48, 30, 1),
    "B": (60, 40, 10, 1),
    "D": (120, 24, 100, Fraction(3, 2)),
    "F": (144, 28, 202, 1),  # the stack shows its inner time 5.. at record 144: F's first 2 frames are cut
    "G": (172, 12, 300, 1),
    "I": (194, 36, 500, 1),
}


def foley_tracks(tl):
    return [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Audio and "foley" in t.metadata]


def foley_clips(track):
    return {c.metadata["foley"]["source_clip"]: c for c in track.find_clips(shallow_search=True)}


def record_samples(item):
    r = item.range_in_parent()
    return samples(r.start_time), samples(r.end_time_exclusive())


def mixdown(track, length):
    """Place each clip's WAV at its record sample; gaps stay silent."""
    buf = np.zeros(length, np.float64)
    pos = Fraction(0)
    for item in track:
        if isinstance(item, otio.schema.Transition):
            continue
        dur = seconds(item.trimmed_range().duration)
        start, end = to_index(pos, SR), to_index(pos + dur, SR)
        pos += dur
        if not isinstance(item, otio.schema.Clip):
            continue
        wav, rate = sf.read(url_to_path(item.media_reference.target_url, "/"), dtype="float32")
        if wav.ndim == 2:
            wav = wav.sum(axis=1)  # the engine may write stereo
        assert rate == SR and len(wav) == samples(item.media_reference.available_range.duration)
        assert not item.effects, "Foley clips are generated at record speed"
        first = samples(item.source_range.start_time)
        idx = first + np.arange(end - start, dtype=np.int64)
        assert idx[-1] < len(wav), f"{item.name} reads past its WAV"
        buf[start:end] += wav[idx]
    return buf


def fill_with(tl, folder, engine=None, **kw):
    engine = engine or FakeEngine()
    opts = FillOptions(out_dir=os.path.join(folder, "foley"), base_dir=folder, **kw)
    return fill(tl, engine, opts), engine


# ------------------------------------------------------------------ the rate grid


@pytest.mark.parametrize("hour", [0, 1], ids=["00h", "01h"])
@pytest.mark.parametrize("name,rate,drop", RATES, ids=[r[0] for r in RATES])
def test_rate_grid_places_every_clip_exactly(tmp_path, name, rate, drop, hour):
    folder = str(tmp_path)
    tl = grid_timeline(folder, rate, drop, hour)
    report, engine = fill_with(tl, folder, prompt="steps")

    assert report.failed == [f"V1 / 'C': media file not found: {folder}/missing.mp4 (moved? pass --relink DIR)"]
    assert report.skipped == ["V1 / 'H': skipped: freeze frame"]
    (track,) = foley_tracks(report.timeline)
    assert track.name == "Foley"
    clips = foley_clips(track)
    assert set(clips) == set(GRID_EXPECTED)
    buf = mixdown(track, to_index(Fraction(260) / rate, SR))
    covered = np.zeros(len(buf), bool)
    for clip_name, (rec, frames, src, speed) in GRID_EXPECTED.items():
        r0, r1 = to_index(Fraction(rec) / rate, SR), to_index(Fraction(rec + frames) / rate, SR)
        assert record_samples(clips[clip_name]) == (r0, r1), clip_name
        covered[r0:r1] = True
        if speed == 1:
            # Record sample r0 + i plays media sample round(src/rate * sr) + i: picture and sound in sync.
            m0 = to_index(Fraction(src) / rate, SR)
            np.testing.assert_array_equal(buf[r0:r1], code(np.arange(m0, m0 + r1 - r0)), err_msg=clip_name)
        else:
            # Generated at the record duration from the source played at speed.
            m0 = to_index(Fraction(src) / rate, SR)
            i = np.arange(r1 - r0, dtype=np.int64)
            expected = code(m0 + i * speed.numerator // speed.denominator)
            np.testing.assert_allclose(buf[r0:r1], expected, err_msg=clip_name)
    assert np.all(buf[~covered] == 0), "sound outside the clips"
    # The video timeline itself is untouched.
    assert otio.adapters.write_to_string(report.timeline.tracks[0]) == otio.adapters.write_to_string(tl.tracks[0])
    assert report.timeline.global_start_time == tl.global_start_time
    # Media times are media-relative (start timecode removed), with the transition handles.
    a = next(r for r in engine.requests if "|A|" in r.key)
    handle = to_index(Fraction(36) / rate, SR) - to_index(Fraction(30) / rate, SR)  # B's 6-frame out_offset side
    assert to_index(a.start, SR) == to_index(Fraction(30) / rate, SR)
    assert to_index(a.end, SR) - to_index(a.start, SR) == \
        to_index(Fraction(60) / rate, SR) - to_index(Fraction(12) / rate, SR) + handle
    b = next(r for r in engine.requests if "|B|" in r.key)
    assert to_index(b.start, SR) == to_index(Fraction(10) / rate, SR) - (
        to_index(Fraction(60) / rate, SR) - to_index(Fraction(54) / rate, SR))


def test_transition_is_mirrored_with_handle_audio(tmp_path):
    rate = Fraction(25)
    report, _ = fill_with(grid_timeline(str(tmp_path), rate, False, 1), str(tmp_path))
    (track,) = foley_tracks(report.timeline)
    items = list(track)
    i = next(k for k, it in enumerate(items) if isinstance(it, otio.schema.Transition))
    t = items[i]
    assert (items[i - 1].name, items[i + 1].name) == ("Foley: A", "Foley: B")
    assert (t.in_offset, t.out_offset) == (RT(11520, SR), RT(11520, SR))  # 6 frames at 25 fps
    assert t.transition_type == "SMPTE_Dissolve"
    # Each side's WAV holds the handle the dissolve plays.
    a, b = items[i - 1], items[i + 1]
    assert samples(a.media_reference.available_range.duration) == samples(a.source_range.end_time_exclusive()) + 11520
    assert samples(b.source_range.start_time) == 11520
    # OTIO agrees the transition has media under it.
    assert samples(b.visible_range().start_time) == 0


def test_warp_generates_for_the_record_duration_from_the_source_at_speed(tmp_path):
    rate = Fraction(24)
    report, engine = fill_with(grid_timeline(str(tmp_path), rate, False, 0), str(tmp_path))
    d = next(r for r in engine.requests if "|D|" in r.key)
    record = to_index(Fraction(144, 24), SR) - to_index(Fraction(120, 24), SR)
    assert d.speed == Fraction(3, 2)
    assert d.end - d.start == Fraction(36, 24)  # 24 record frames show 36 source frames
    assert to_index(d.start, SR) == to_index(Fraction(100, 24), SR)
    fc = foley_clips(foley_tracks(report.timeline)[0])["D"]
    assert samples(fc.media_reference.available_range.duration) == record
    assert not fc.effects


@pytest.mark.parametrize("rate", [Fraction(30000, 1001), Fraction(24000, 1001), Fraction(25)])
@pytest.mark.parametrize("rec", [0, 1, 2, 3, 4])
def test_clip_ending_on_the_last_frame_stays_inside_its_media(tmp_path, rate, rec):
    folder = str(tmp_path)
    tl = otio.schema.Timeline("end")
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    path = media(folder, "m.mp4")
    clip = otio.schema.Clip("last", ref(path, rate, 0, 100), tr(61, 39, rate))
    v.extend([gap(rec, rate), clip])
    tl.tracks.append(v)
    report, engine = fill_with(tl, folder)
    (req,) = engine.requests
    assert req.end <= Fraction(100) / rate  # the engine refuses ranges past the media's end
    fc = foley_clips(foley_tracks(report.timeline)[0])["last"]
    wav_len = samples(fc.media_reference.available_range.duration)
    assert samples(fc.source_range.end_time_exclusive()) <= wav_len
    assert fc.range_in_parent().duration.value == to_index(Fraction(rec + 39) / rate, SR) - to_index(Fraction(rec) / rate, SR)
    # At most one sample (21 us) earlier than the exact media sample, and only here at the very end.
    shift = to_index(Fraction(61) / rate, SR) - (to_index(req.start, SR) + samples(fc.source_range.start_time))
    assert shift in (0, 1)


def test_clip_without_any_range_is_a_clear_error(tmp_path):
    from otio_adapters.selection import TimelineError

    tl = otio.schema.Timeline("bad")
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    v.append(otio.schema.Clip("no range", otio.schema.ExternalReference(media(str(tmp_path), "m.mp4"))))
    tl.tracks.append(v)
    with pytest.raises(TimelineError, match="Clip 'no range' has no source range"):
        fill_with(tl, str(tmp_path))


# ------------------------------------------------------------------ property: exact record start and length


@st.composite
def random_timelines(draw):
    name, rate, drop = draw(st.sampled_from(RATES))
    hour = draw(st.booleans())
    items = [("clip", draw(st.integers(0, 5000)), draw(st.integers(5, 300)), draw(st.booleans()))]
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.sampled_from(["clip", "clip", "gap", "transition"]))
        if kind == "gap":
            items.append(("gap", draw(st.integers(1, 200))))
        elif kind == "transition" and items and items[-1][0] == "clip":
            items.append(("transition", draw(st.integers(1, 4)), draw(st.integers(1, 4))))
        else:
            items.append(("clip", draw(st.integers(0, 5000)), draw(st.integers(5, 300)), draw(st.booleans())))
    return rate, drop, hour, items


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_timelines())
def test_property_record_start_and_length_in_samples(spec):
    rate, drop, hour, items = spec
    with tempfile.TemporaryDirectory() as folder:
        tl = otio.schema.Timeline("rnd", global_start_time=timeline_start(rate, drop, hour))
        v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
        path = media(folder, "m.mp4")
        for n, item in enumerate(items):
            if item[0] == "gap":
                v.append(gap(item[1], rate))
            elif item[0] == "transition":
                if isinstance(v[-1], otio.schema.Clip):
                    v.append(otio.schema.Transition(in_offset=rt(item[1], rate), out_offset=rt(item[2], rate)))
            else:
                tc = TC0 if item[3] else 0
                v.append(vclip(f"c{n}", path, rate, tc + 10 + item[1], item[2], media_start=tc))
        if len(v) and isinstance(v[-1], otio.schema.Transition):
            v.append(vclip("tail", path, rate, 20, 10))
        tl.tracks.append(v)
        report, _ = fill_with(tl, folder)
        assert not report.failed and not report.warnings
        video = [c for c in v.find_clips()]
        (track,) = foley_tracks(report.timeline)
        clips = foley_clips(track)
        assert len(clips) == len(video)
        for c in video:
            vr = c.range_in_parent()
            start, end = samples(vr.start_time), samples(vr.end_time_exclusive())
            fr = clips[c.name].range_in_parent()
            assert fr.start_time.rate == SR and fr.start_time.value == start
            # Length: the clip's record samples under the tiling rule (round each end).
            assert fr.duration.value == end - start
        buf = mixdown(track, samples(track.duration()) + 1)
        for c in video:
            start, end = samples(c.range_in_parent().start_time), samples(c.range_in_parent().end_time_exclusive())
            m0 = to_index(seconds(c.source_range.start_time) - seconds(c.media_reference.available_range.start_time), SR)
            np.testing.assert_array_equal(buf[start:end], code(np.arange(m0, m0 + end - start)))


# ------------------------------------------------------------------ selection


def marked_timeline(folder, rate=Fraction(25)):
    tl = otio.schema.Timeline("sel", global_start_time=timeline_start(rate, False, 1))
    v1 = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    v2 = otio.schema.Track("Cutaways", kind=otio.schema.TrackKind.Video)
    path = media(folder, "m.mp4")
    a = vclip("door_slam", path, rate, 0, 50)
    a.markers.append(otio.schema.Marker("FOLEY", tr(5, 1, rate), color="RED", comment="heavy door slams"))
    b = vclip("walk_01", path, rate, 100, 50, metadata={"foley": {"prompt": "gravel footsteps", "seed": 7}})
    c = vclip("walk_02", path, rate, 200, 50)
    c.markers.append(otio.schema.Marker("NOTE", tr(0, 1, rate), color="GREEN", comment="not a prompt"))
    v1.extend([a, gap(25, rate), b, c])
    d = vclip("insert", path, rate, 300, 40)
    v2.extend([gap(250, rate), d])
    tl.tracks.extend([v1, v2])
    # A timeline marker inside walk_02's record range (Resolve exports markers this way).
    tl.tracks.markers.append(otio.schema.Marker("FOLEY", tr(140, 1, rate), color="BLUE", comment="rain on roof"))
    return tl


def chosen(tl, folder, specs=(), rng=None, prompt="default"):
    sel = Selection.parse(list(specs), rng, tl)
    return {vc.name: vc.prompt for vc in sel.apply(video_clips(tl), tl, prompt)}


def test_selection_kinds(tmp_path):
    tl, f = marked_timeline(str(tmp_path)), str(tmp_path)
    assert chosen(tl, f) == {"door_slam": "default", "walk_01": "gravel footsteps", "walk_02": "default",
                             "insert": "default"}
    assert chosen(tl, f, ["marker:FOLEY"]) == {"door_slam": "heavy door slams", "walk_02": "rain on roof"}
    assert chosen(tl, f, ["color:green"]) == {"walk_02": "not a prompt"}
    assert chosen(tl, f, ["name:walk_*"]) == {"walk_01": "gravel footsteps", "walk_02": "default"}
    assert chosen(tl, f, ["track:V2"]) == chosen(tl, f, ["track:Cutaways"]) == {"insert": "default"}
    assert chosen(tl, f, ["track:V1", "name:*_02"]) == {"walk_02": "default"}
    # Record range in the timeline timecode (starts 01:00:00:00): 01:00:05:00 is frame 125, walk_02
    assert chosen(tl, f, rng="01:00:05:00-01:00:06:00") == {"walk_02": "default"}
    assert set(chosen(tl, f, rng="01:00:03:00-01:00:10:10")) == {"walk_01", "walk_02", "insert"}


def test_drop_frame_range(tmp_path):
    rate = Fraction(30000, 1001)
    tl = otio.schema.Timeline("df", global_start_time=timeline_start(rate, True, 1))
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    path = media(str(tmp_path), "m.mp4")
    # 01:01:00;02 is 1798 frames after 01:00:00;00 in drop-frame (frames ;00 and ;01 are skipped).
    v.extend([gap(1798, rate), vclip("x", path, rate, 0, 10), vclip("y", path, rate, 0, 10)])
    tl.tracks.append(v)
    assert set(chosen(tl, "", rng="01:01:00;02-01:01:00;03")) == {"x"}
    assert set(chosen(tl, "", rng="01:01:00;12-01:01:00;13")) == {"y"}


def test_bad_selection_is_one_clear_line(tmp_path):
    from otio_adapters.selection import SelectionError

    tl = marked_timeline(str(tmp_path))
    for spec, text in [(["colr:RED"], "unknown kind 'colr'"), (["marker"], "expected KIND:VALUE")]:
        with pytest.raises(SelectionError, match=text):
            Selection.parse(spec, None, tl)
    with pytest.raises(SelectionError, match="end is not after"):
        Selection.parse([], "01:00:05:00-01:00:01:00", tl)


def test_one_foley_track_per_source_track_and_prompts(tmp_path):
    f = str(tmp_path)
    report, engine = fill_with(marked_timeline(f), f, prompt="default")
    names = [t.name for t in foley_tracks(report.timeline)]
    assert names == ["Foley V1", "Foley Cutaways"]
    prompts = {r.label: (r.prompt, r.seed) for r in engine.requests}
    assert prompts["V1 / 'walk_01'"] == ("gravel footsteps", 7)
    meta = foley_clips(foley_tracks(report.timeline)[0])["walk_01"].metadata["foley"]
    assert (meta["prompt"], meta["seed"], meta["backend"], meta["source_clip"]) == ("gravel footsteps", 7, "fake", "walk_01")
    assert meta["job_id"].startswith("job")


def test_tracks_sharing_a_name_get_their_own_foley_track(tmp_path):
    f, rate = str(tmp_path), Fraction(25)
    tl = otio.schema.Timeline("dup")
    for n in range(2):
        v = otio.schema.Track("Video", kind=otio.schema.TrackKind.Video)
        v.extend([gap(10 * n, rate), vclip(f"c{n}", media(f, "m.mp4"), rate, 0, 20)])
        tl.tracks.append(v)
    first, _ = fill_with(tl, f)
    assert [t.name for t in foley_tracks(first.timeline)] == ["Foley V1", "Foley V2"]
    again, engine = fill_with(first.timeline, f, selection=Selection.parse(["track:V2"]))
    assert [t.name for t in foley_tracks(again.timeline)] == ["Foley V1", "Foley V2"] and len(again.reused) == 1


# ------------------------------------------------------------------ idempotence


def test_rerun_updates_never_duplicates(tmp_path):
    f = str(tmp_path)
    tl = marked_timeline(f)
    first, _ = fill_with(tl, f, prompt="p")
    again, engine = fill_with(first.timeline, f, prompt="p")
    assert engine.requests == [] and len(again.reused) == 4
    assert otio.adapters.write_to_string(again.timeline) == otio.adapters.write_to_string(first.timeline)

    # A new prompt regenerates and replaces, in the same tracks.
    changed, engine = fill_with(first.timeline, f, prompt="rain")
    assert len(engine.requests) == 3 and len(changed.timeline.tracks) == len(first.timeline.tracks)
    assert [len(list(t.find_clips())) for t in foley_tracks(changed.timeline)] == [3, 1]

    # Selecting fewer clips keeps the others' Foley where it was.
    partial, engine = fill_with(first.timeline, f, prompt="rain", selection=Selection.parse(["track:V2"]))
    assert len(engine.requests) == 1
    assert foley_clips(foley_tracks(partial.timeline)[0])["door_slam"].metadata["foley"]["prompt"] == "p"


def test_user_edits_are_kept_unless_forced(tmp_path):
    f = str(tmp_path)
    first, _ = fill_with(marked_timeline(f), f)
    edited = first.timeline
    track = foley_tracks(edited)[0]
    door = foley_clips(track)["door_slam"]
    door.source_range = TR(door.source_range.start_time, RT(door.source_range.duration.value - 4800, SR))  # trimmed
    mine = otio.schema.Clip("my own whoosh", otio.schema.ExternalReference("/sfx/whoosh.wav", TR(RT(0, SR), RT(96000, SR))),
                            TR(RT(0, SR), RT(1000, SR)))
    gap_index = next(i for i, it in enumerate(track) if isinstance(it, otio.schema.Gap))
    g = track[gap_index]
    g.source_range = TR(RT(0, SR), RT(samples(g.source_range.duration) - 1000, SR))
    track.insert(gap_index + 1, mine)  # the user dropped a clip into the Foley track's gap

    again, engine = fill_with(edited, f, prompt="new")
    assert any("door_slam" in k and "kept the Foley clip you edited" in k for k in again.kept_edited)
    clips = foley_clips_any(foley_tracks(again.timeline)[0])
    assert samples(clips["Foley: door_slam"].source_range.duration) == samples(door.source_range.duration)
    assert "my own whoosh" in clips and len(foley_tracks(again.timeline)) == 2
    assert not any("door_slam" in r.key for r in engine.requests)

    forced, engine = fill_with(edited, f, prompt="new", force=True)
    assert any("door_slam" in r.key for r in engine.requests)
    clips = foley_clips_any(foley_tracks(forced.timeline)[0])
    assert clips["Foley: door_slam"].metadata["foley"]["prompt"] == "new" and "my own whoosh" in clips


def foley_clips_any(track):
    return {c.name: c for c in track.find_clips(shallow_search=True)}


def test_retrimmed_video_clip_replaces_its_stale_foley(tmp_path):
    f = str(tmp_path)
    first, _ = fill_with(marked_timeline(f), f)
    tl = first.timeline
    walk = next(c for c in tl.tracks[0].find_clips() if c.name == "walk_01")
    walk.source_range = tr(110, 30, Fraction(25))
    again, engine = fill_with(tl, f)
    assert [r.label for r in engine.requests] == ["V1 / 'walk_01'", "V1 / 'walk_02'"]  # walk_02 moved too
    clips = foley_clips_any(foley_tracks(again.timeline)[0])
    assert len(clips) == 3 and not again.warnings


def test_one_shot_used_twice_gets_two_foley_clips(tmp_path):
    f, rate = str(tmp_path), Fraction(24)
    tl = otio.schema.Timeline("twice")
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    path = media(f, "m.mp4")
    v.extend([vclip("shot", path, rate, 10, 24), gap(12, rate), vclip("shot", path, rate, 10, 24)])
    tl.tracks.append(v)
    first, _ = fill_with(tl, f)
    starts = [samples(c.range_in_parent().start_time) for c in foley_tracks(first.timeline)[0].find_clips()]
    assert starts == [0, to_index(Fraction(36, 24), SR)]
    # Moving the second copy moves its Foley (regenerated), and leaves nothing behind.
    moved = first.timeline
    g = moved.tracks[0][1]
    g.source_range = tr(0, 20, rate)
    again, engine = fill_with(moved, f)
    assert len(engine.requests) == 1 and len(again.reused) == 1
    starts = [samples(c.range_in_parent().start_time) for c in foley_tracks(again.timeline)[0].find_clips()]
    assert starts == [0, to_index(Fraction(44, 24), SR)]


def test_failed_clip_keeps_its_previous_foley(tmp_path):
    f = str(tmp_path)
    first, _ = fill_with(marked_timeline(f), f, prompt="p")
    again, _ = fill_with(first.timeline, f, prompt="q", engine=FakeEngine(fail_keys={"|walk_02|"}))
    assert again.failed == ["V1 / 'walk_02': decode failed"]
    assert foley_clips(foley_tracks(again.timeline)[0])["walk_02"].metadata["foley"]["prompt"] == "p"


def test_relink_finds_moved_media(tmp_path):
    f = str(tmp_path)
    tl = marked_timeline(f)
    os.makedirs(tmp_path / "moved" / "deep")
    os.rename(tmp_path / "m.mp4", tmp_path / "moved" / "deep" / "m.mp4")
    report, _ = fill_with(tl, f)
    assert len(report.failed) == 4 and "pass --relink" in report.failed[0]
    report, engine = fill_with(tl, f, relink=[str(tmp_path / "moved")])
    assert not report.failed and {r.media for r in engine.requests} == {str(tmp_path / "moved" / "deep" / "m.mp4")}


# ------------------------------------------------------------------ FCP 7 XML


@pytest.mark.parametrize("name,rate,drop", [RATES[4], RATES[2], RATES[0]], ids=["29.97DF", "25", "23.976"])
def test_fcp_xml_round_trip_keeps_placement_to_the_frame(tmp_path, name, rate, drop):
    f = str(tmp_path)
    tl = otio.schema.Timeline("xml", global_start_time=timeline_start(rate, drop, 1))
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    path = media(f, "with_tc.mp4")
    v.extend([gap(17, rate), vclip("a", path, rate, TC0 + 31, 47, media_start=TC0), vclip("b", path, rate, TC0 + 500, 33, media_start=TC0),
              gap(9, rate), vclip("c", path, rate, TC0 + 7, 61, media_start=TC0)])
    tl.tracks.append(v)
    report, _ = fill_with(tl, f)
    write_timeline(report.timeline, os.path.join(f, "out.xml"))
    back = read_timeline(os.path.join(f, "out.xml"))
    video = {c.name: c for c in back.tracks[0].find_clips()}
    audio = [t for t in back.tracks if t.kind == otio.schema.TrackKind.Audio]
    assert len(audio) == 1
    foley = foley_clips_any(audio[0])
    assert set(foley) == {"Foley: a", "Foley: b", "Foley: c"}
    for n, clip in video.items():
        vr, fr = clip.range_in_parent(), foley["Foley: " + n].range_in_parent()
        frames = lambda t: to_index(seconds(t), rate)  # noqa: E731
        assert (frames(fr.start_time), frames(fr.duration)) == (frames(vr.start_time), frames(vr.duration)), n
    # And re-filling the XML updates that track instead of adding one.
    again, _ = fill_with(back, f)
    assert len([t for t in again.timeline.tracks if t.kind == otio.schema.TrackKind.Audio]) == 1


@pytest.mark.parametrize("name,rate,drop", [RATES[4], RATES[1]], ids=["29.97DF", "24"])
def test_fcp_xml_round_trip_with_transition_warp_and_nesting(tmp_path, name, rate, drop):
    f = str(tmp_path)
    report, _ = fill_with(grid_timeline(f, rate, drop, 1), f)
    write_timeline(report.timeline, os.path.join(f, "grid.xml"))
    back = read_timeline(os.path.join(f, "grid.xml"))
    (audio,) = [t for t in back.tracks if t.kind == otio.schema.TrackKind.Audio]
    items = [i for i in audio if not isinstance(i, otio.schema.Gap)]
    assert [i.name for i in items] == ["Foley: A", "dissolve", "Foley: B", "Foley: D", "Foley: F", "Foley: G", "Foley: I"]
    for clip in audio.find_clips():
        rec, frames, _, _ = GRID_EXPECTED[clip.name[len("Foley: "):]]
        r = clip.range_in_parent()
        assert (to_index(seconds(r.start_time), rate), to_index(seconds(r.duration), rate)) == (rec, frames), clip.name


# ------------------------------------------------------------------ CLI


def run_cli(argv, engine):
    from foley_engine.cli import build_parser
    from otio_adapters.cli import cmd_fill

    args = build_parser().parse_args(["otio", "fill", *argv])
    return cmd_fill(args, generator=engine)


def test_cli_fill_partial_and_exit_status(tmp_path, capsys):
    f = str(tmp_path)
    tl = grid_timeline(f, Fraction(24), False, 1)
    src, out = os.path.join(f, "cut.otio"), os.path.join(f, "cut_foley.otio")
    otio.adapters.write_to_file(tl, src)
    seen = []

    class Watching(FakeEngine):
        def run(self, requests, out_dir, on_result=None):
            def watch(result):
                on_result(result)
                seen.append(len(list(foley_tracks(otio.adapters.read_from_file(out))[0].find_clips())))
            return super().run(requests, out_dir, watch)

    rc = run_cli([src, "-o", out, "--prompt", "steps", "--partial"], Watching())
    captured = capsys.readouterr()
    assert rc == 1  # one clip's media is missing
    assert "foley: error: V1 / 'C': media file not found" in captured.err
    assert "skipped: freeze frame" in captured.err
    assert seen == [1, 2, 3, 4, 5, 6]  # the output grew clip by clip
    assert os.path.isdir(os.path.join(f, "cut_foley_otio_wavs"))  # not cut_foley_foley, nor shared with .xml
    # In place, idempotent.
    rc = run_cli([out, "-o", out, "--json"], FakeEngine())
    assert '"reused": ["V1 / ' in capsys.readouterr().out
    assert len(foley_tracks(otio.adapters.read_from_file(out))) == 1


def test_cli_outputs_into_new_folders_and_apart(tmp_path, capsys):
    """`-o` into a folder that does not exist made it (it used to fail); `cut_foley.otio` and
    `cut_foley.xml` side by side each get their own WAV folder (both used to share cut_foley_foley/)."""
    f = str(tmp_path)
    src = os.path.join(f, "cut.otio")
    otio.adapters.write_to_file(grid_timeline(f, Fraction(24), False, 1), src)
    out = os.path.join(f, "deliveries", "day1", "cut_foley.otio")
    run_cli([src, "-o", out, "--prompt", "steps"], FakeEngine())
    assert os.path.isfile(out) and os.path.isdir(os.path.join(f, "deliveries", "day1", "cut_foley_otio_wavs"))
    xml = os.path.join(f, "deliveries", "day1", "cut_foley.xml")
    run_cli([src, "-o", xml, "--prompt", "steps"], FakeEngine())
    assert os.path.isfile(xml)
    assert sorted(n for n in os.listdir(os.path.dirname(out)) if n.endswith("_wavs")) == [
        "cut_foley_otio_wavs", "cut_foley_xml_wavs"]
    blocker = os.path.join(f, "a_file")
    open(blocker, "w").close()
    capsys.readouterr()
    assert run_cli([src, "-o", os.path.join(blocker, "cut.otio")], FakeEngine()) == 2
    err = capsys.readouterr().err
    assert err.startswith("foley: error: ") and "cannot create the output folder" in err and err.count("\n") == 1


def test_cli_dry_run_and_bad_input(tmp_path, capsys):
    f = str(tmp_path)
    src = os.path.join(f, "cut.otio")
    otio.adapters.write_to_file(marked_timeline(f), src)
    assert run_cli([src, "-o", os.path.join(f, "o.otio"), "--dry-run", "--select", "marker:FOLEY"], None) == 0
    out = capsys.readouterr().out
    assert "V1 / 'door_slam': media" in out and "prompt 'heavy door slams'" in out and "walk_01" not in out
    assert run_cli([src, "-o", os.path.join(f, "o.xyz")], FakeEngine()) == 2
    assert "no OpenTimelineIO adapter" in capsys.readouterr().err
    assert run_cli([src, "-o", os.path.join(f, "o.otio"), "--select", "bogus:1"], FakeEngine()) == 2


def test_media_urls():
    import pathlib

    odd = "/media/day 1/take#3 é?.mov"
    assert url_to_path(pathlib.Path(odd).as_uri(), "/x") == odd
    assert url_to_path("file://localhost/media/a%20b.mov", "/x") == "/media/a b.mov"
    assert url_to_path("clips/a.mov", "/proj") == "/proj/clips/a.mov"
    with pytest.raises(ValueError, match="not a local file"):
        url_to_path("https://example.com/a.mov", "/x")


def test_package_imports_no_engine_internals():
    import subprocess
    import sys

    code_ = "import otio_adapters, otio_adapters.cli, sys; print(sorted(m for m in sys.modules if m.startswith(('foley_engine', 'torch'))))"
    out = subprocess.run([sys.executable, "-c", code_], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert exact_rate(29.97) == Fraction(30000, 1001) and exact_rate(23.976023976) == Fraction(24000, 1001)
