"""Synthetic sample videos: exact pts, timecode, odd files, and events the analyser really finds."""
from fractions import Fraction

import av
import numpy as np
import pytest

from foley_engine.analysis import analyse_frames
from foley_engine.errors import MediaError
from foley_engine.media.probe import probe
from foley_engine.lab.samples import (
    EVENT_CLEARANCE,
    make_audio_only,
    make_sample_video,
    make_truncated_copy,
    make_zero_frame_video,
)


def gray_frames(path):
    """``(media time, 96x54 grey)`` per frame, as the brief's reader makes them."""
    with av.open(path) as container:
        first = None
        for frame in container.decode(video=0):
            t = Fraction(frame.pts) * frame.time_base
            first = t if first is None else first
            yield t - first, frame.reformat(width=96, height=54, format="gray").to_ndarray()


def frame_times(path):
    with av.open(path) as container:
        return [Fraction(f.pts) * f.time_base for f in container.decode(video=0)]


def onsets(events, kind):
    return [o.time for o in events.onsets if o.kind == kind]


EVENT_CASES = {
    "2997_flash_cut_tc": dict(duration=10, fps=Fraction(30000, 1001), impacts_every=Fraction(2),
                              flashes=(Fraction(5, 2),), cuts=(Fraction(7),), first_pts=Fraction(1, 10),
                              start_timecode="01:00:00;00"),
    "24_walking_dense": dict(duration=8, fps=Fraction(24), impacts_every=Fraction(1), impact_offset=Fraction(1, 2),
                             walking=True, cuts=(Fraction(3), Fraction(6)), flashes=(Fraction(4),)),
    "vfr_walking": dict(duration=8, fps=Fraction(30), vfr=True, walking=True, impacts_every=Fraction(7, 3),
                        cuts=(Fraction(5),)),
    "5994_no_bframes": dict(duration=6, fps=Fraction(60000, 1001), bframes=False, impacts_every=Fraction(3, 2),
                            first_pts=Fraction(1, 3)),
}


@pytest.fixture(scope="module", params=sorted(EVENT_CASES))
def event_clip(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / f"{request.param}.mp4"
    sample = make_sample_video(str(path), width=320, height=180, **EVENT_CASES[request.param])
    return sample, analyse_frames(gray_frames(sample.path))


def test_every_impact_is_found_within_a_frame_and_nothing_else(event_clip):
    sample, events = event_clip
    found = onsets(events, "impact")
    one_frame = 1 / sample.fps
    assert len(sample.impact_times) >= 2
    for t in sample.impact_times:
        assert any(abs(f - t) <= one_frame for f in found), f"impact at {float(t):.3f} s not found in {found}"
    spurious = [f for f in found if not any(abs(f - t) <= one_frame for t in sample.impact_times)]
    assert not spurious, f"impacts where the sample has none: {[float(f) for f in spurious]}"


def test_flashes_and_cuts_are_found_exactly(event_clip):
    sample, events = event_clip
    assert onsets(events, "flash") == sample.flash_times
    assert events.cuts == sample.cut_times


def test_frame_after_a_flash_is_not_a_cut(tmp_path):
    sample = make_sample_video(str(tmp_path / "f.mp4"), duration=4, width=192, height=108, impacts_every=None,
                               flashes=(Fraction(2),))
    events = analyse_frames(gray_frames(sample.path))
    assert onsets(events, "flash") == sample.flash_times
    assert events.cuts == []


def test_impacts_land_on_frames_nearest_the_request(tmp_path):
    fps = Fraction(30000, 1001)
    sample = make_sample_video(str(tmp_path / "v.mp4"), duration=9, fps=fps, width=192, height=108,
                               impacts_every=Fraction(7, 3), impact_offset=Fraction(1))
    wanted = [Fraction(1) + k * Fraction(7, 3) for k in range(4)]
    assert len(sample.impact_times) == 4
    for got, want in zip(sample.impact_times, wanted):
        assert abs(got - want) <= 1 / (2 * fps)
        assert (got * fps).denominator == 1  # a frame time


def test_impacts_keep_clear_of_cuts_and_flashes(tmp_path):
    fps = Fraction(25)
    sample = make_sample_video(str(tmp_path / "v.mp4"), duration=8, fps=fps, width=192, height=108,
                               impacts_every=Fraction(2), impact_offset=Fraction(1),
                               cuts=(Fraction(3),), flashes=(Fraction(5) + Fraction(2, 25),))
    events = [t * fps for t in sample.cut_times + sample.flash_times]
    assert len(sample.impact_times) == 4
    for t in sample.impact_times:
        assert all(abs(t * fps - e) > EVENT_CLEARANCE for e in events)


def test_too_dense_impacts_are_refused(tmp_path):
    with pytest.raises(ValueError, match="too short"):
        make_sample_video(str(tmp_path / "v.mp4"), duration=4, impacts_every=Fraction(1, 4))


def test_pts_are_exact_with_non_zero_first_pts_and_bframes(tmp_path):
    fps = Fraction(30000, 1001)
    sample = make_sample_video(str(tmp_path / "v.mp4"), duration=3, fps=fps, width=160, height=90,
                               first_pts=Fraction(1001, 15000), bframes=True)
    times = frame_times(sample.path)
    assert sample.first_pts == Fraction(1001, 15000) == times[0]
    assert times == [sample.first_pts + Fraction(i * 1001, 30000) for i in range(sample.frame_count)]
    assert sample.duration == sample.frame_count / fps
    info = probe(sample.path)
    assert (info.first_pts, info.duration, info.fps) == (sample.first_pts, sample.duration, fps)
    with av.open(sample.path) as container:  # B-frames really are there: decode order differs
        packets = [p for p in container.demux(video=0) if p.size]
        assert [p.pts for p in packets] != sorted(p.pts for p in packets)


def test_variable_frame_rate_pts(tmp_path):
    sample = make_sample_video(str(tmp_path / "v.mp4"), duration=4, fps=Fraction(30), width=160, height=90,
                               vfr=True, impacts_every=Fraction(3, 2))
    times = frame_times(sample.path)
    gaps = {b - a for a, b in zip(times, times[1:])}
    assert gaps == {Fraction(1, 60), Fraction(1, 30), Fraction(1, 20)}
    assert len(times) == sample.frame_count
    media = [t - times[0] for t in times]
    assert all(t in media for t in sample.impact_times)
    assert probe(sample.path).duration == sample.duration


@pytest.mark.parametrize("fps,timecode", [(Fraction(30000, 1001), "00:59:59;28"), (Fraction(25), "10:00:00:00")])
def test_start_timecode_is_readable(tmp_path, fps, timecode):
    sample = make_sample_video(str(tmp_path / "v.mp4"), duration=2, fps=fps, width=160, height=90,
                               impacts_every=None, start_timecode=timecode)
    with av.open(sample.path) as container:
        assert container.streams.video[0].metadata["timecode"] == timecode
        data = [s for s in container.streams if s.type == "data"]
        assert data and data[0].metadata["timecode"] == timecode  # the tmcd track
    assert probe(sample.path).start_timecode == timecode


def test_walker_moves_with_a_two_hertz_period(tmp_path):
    sample = make_sample_video(str(tmp_path / "w.mp4"), duration=8, fps=Fraction(30), width=320, height=180,
                               impacts_every=None, walking=True)
    events = analyse_frames(gray_frames(sample.path))
    assert not onsets(events, "impact")
    motion = events.motion[1:] - events.motion[1:].mean()
    spectrum = np.abs(np.fft.rfft(motion))
    freqs = np.fft.rfftfreq(motion.size, d=1 / 30)
    assert abs(freqs[np.argmax(spectrum[1:]) + 1] - 2.0) < 0.2


def test_quiet_audio_track_and_other_codec(tmp_path):
    sample = make_sample_video(str(tmp_path / "a.mp4"), duration=2, fps=Fraction(25), width=160, height=90,
                               impacts_every=Fraction(1), impact_offset=Fraction(1, 2), with_audio=True,
                               codec="mpeg4", bframes=False)
    with av.open(sample.path) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.video[0].codec_context.name == "mpeg4"
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.rate, audio.channels) == ("aac", 48000, 2)
    info = probe(sample.path)
    assert info.has_audio and info.first_pts == 0 and info.duration == 2
    found = onsets(analyse_frames(gray_frames(sample.path)), "impact")
    assert found == sample.impact_times


def test_audio_only_zero_frames_and_truncated_files(tmp_path):
    audio = tmp_path / "a.m4a"
    make_audio_only(str(audio))
    with av.open(str(audio)) as container:
        assert [s.type for s in container.streams] == ["audio"]
    with pytest.raises(MediaError, match="no video stream"):
        probe(str(audio))

    empty = tmp_path / "empty.mp4"
    make_zero_frame_video(str(empty))
    with av.open(str(empty)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert list(container.decode(video=0)) == []
    with pytest.raises(MediaError, match="no frames"):
        probe(str(empty))

    whole = make_sample_video(str(tmp_path / "whole.mp4"), duration=2, width=160, height=90, impacts_every=None)
    cut = tmp_path / "cut.mp4"
    make_truncated_copy(whole.path, str(cut), keep_fraction=0.5)
    assert cut.stat().st_size == (tmp_path / "whole.mp4").stat().st_size // 2
    with pytest.raises(MediaError, match="damaged"):
        probe(str(cut))
