"""End to end: real sample videos, a real engine (procedural backend), the `foley otio fill` command."""
from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from foley_engine.cli import main
from foley_engine.lab.samples import make_sample_video, make_truncated_copy
from otio_adapters.timeline_jobs import url_to_path
from otio_adapters.timemath import samples, seconds, to_index
from test_engine_backend import EngineProcess
from test_otio import foley_clips, foley_tracks, gap, mixdown, rt, tr

RATE = Fraction(30000, 1001)
SR = 48000


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("otio_engine"), backend="procedural").start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("otio_media")
    # Start timecode 01:00:00;00 and a first frame that is not at pts 0.
    with_tc = make_sample_video(folder / "with tc.mp4", duration=4, fps=RATE, width=320, height=180,
                                start_timecode="01:00:00;00", first_pts=Fraction(1, 10))
    plain = make_sample_video(folder / "plain.mp4", duration=3, fps=RATE, width=320, height=180)
    return str(folder), with_tc, plain


def build_cut(folder, with_tc, plain):
    tc0 = int(otio.opentime.from_timecode("01:00:00;00", float(RATE)).value)
    tl = otio.schema.Timeline("cut", global_start_time=otio.opentime.from_timecode("01:00:00;00", float(RATE)))
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)

    def clip(name, path, src, dur, start=0, frames=90):
        ref = otio.schema.ExternalReference(target_url=otio.url_utils.url_from_filepath(path),
                                            available_range=tr(start, frames, RATE))
        return otio.schema.Clip(name=name, media_reference=ref, source_range=tr(start + src, dur, RATE))

    v.append(gap(15, RATE))
    v.append(clip("impacts", with_tc.path, 20, 45, start=tc0, frames=with_tc.frame_count))
    v.append(otio.schema.Transition(in_offset=rt(4, RATE), out_offset=rt(4, RATE)))
    v.append(clip("plain", plain.path, 10, 40, frames=plain.frame_count))
    v.append(clip("lost", os.path.join(folder, "gone.mp4"), 0, 20))
    damaged = os.path.join(folder, "damaged.mp4")
    make_truncated_copy(plain.path, damaged)
    v.append(clip("damaged", damaged, 0, 20))
    tl.tracks.append(v)
    path = os.path.join(folder, "cut.otio")
    otio.adapters.write_to_file(tl, path)
    return path, tl


def test_fill_through_the_engine(engine, videos, capsys):
    folder, with_tc, plain = videos
    src, tl = build_cut(folder, with_tc, plain)
    out = os.path.join(folder, "cut_foley.otio")
    common = ["--connection-file", engine.connection_file, "--no-autostart"]

    rc = main(["otio", "fill", src, "-o", out, "--prompt", "wooden block falls on a floor", *common])
    err = capsys.readouterr().err
    assert rc == 1 and "V1 / 'lost': media file not found" in err  # the other clips are still filled
    assert "foley: error: V1 / 'damaged': " in err, err  # the engine failed that one job alone
    print(err)

    result = otio.adapters.read_from_file(out)
    (track,) = foley_tracks(result)
    clips = foley_clips(track)
    assert set(clips) == {"impacts", "plain"}
    for video in tl.tracks[0].find_clips():
        if video.name not in clips:
            continue
        vr, fr = video.range_in_parent(), clips[video.name].range_in_parent()
        assert (fr.start_time.value, fr.duration.value) == (
            samples(vr.start_time), samples(vr.end_time_exclusive()) - samples(vr.start_time))
        meta = clips[video.name].metadata["foley"]
        assert meta["backend"] == "procedural" and meta["prompt"] == "wooden block falls on a floor"
        info = sf.info(url_to_path(clips[video.name].media_reference.target_url, "/"))
        assert info.samplerate == SR and info.frames == samples(clips[video.name].media_reference.available_range.duration)
    # Media time counts from the first frame: the start timecode (and the 0.1 s first pts) are not in it.
    assert Fraction(clips["impacts"].metadata["foley"]["media_start"]) == Fraction(to_index(Fraction(20) / RATE, SR), SR)

    # The mixed-down Foley track sounds under the clips and is silent in the gaps.
    buf = mixdown(track, samples(track.duration()))
    for name in clips:
        r = clips[name].range_in_parent()
        a, b = samples(r.start_time), samples(r.end_time_exclusive())
        assert np.sqrt(np.mean(buf[a:b] ** 2)) > 1e-3, name
    assert np.all(buf[: samples(clips["impacts"].range_in_parent().start_time)] == 0)

    # Again, in place: nothing regenerated, nothing duplicated.
    jobs_before = len(_jobs(engine))
    rc = main(["otio", "fill", out, "-o", out, *common])
    assert rc == 1 and "2 up to date" in capsys.readouterr().out
    assert len(_jobs(engine)) == jobs_before
    assert len(foley_tracks(otio.adapters.read_from_file(out))) == 1

    # And out as FCP 7 XML: every Foley clip on its video clip's frame.
    xml = os.path.join(folder, "cut_foley.xml")
    assert main(["otio", "fill", out, "-o", xml, "--select", "name:impacts", *common]) == 0
    back = otio.adapters.read_from_file(xml)
    audio = [t for t in back.tracks if t.kind == otio.schema.TrackKind.Audio]
    (foley,) = audio
    starts = {c.name: to_index(seconds(c.range_in_parent().start_time), RATE) for c in foley.find_clips()}
    video = {c.name: to_index(seconds(c.range_in_parent().start_time), RATE) for c in back.tracks[0].find_clips()}
    assert starts == {"Foley: impacts": video["impacts"], "Foley: plain": video["plain"]}


def test_no_engine_is_one_clear_line(videos, tmp_path, capsys):
    folder, with_tc, plain = videos
    src, _ = build_cut(folder, with_tc, plain)
    rc = main(["otio", "fill", src, "-o", str(tmp_path / "o.otio"), "--no-autostart",
               "--connection-file", str(tmp_path / "none.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("foley: error: no engine is running") and err.count("\n") == 1


def _jobs(engine):
    with engine.client() as eng:
        return eng.jobs(limit=1000)



def test_a_request_the_item_checks_refuse_fails_alone_before_any_engine_is_asked(tmp_path):
    from otio_adapters.engine import EngineGenerator
    from otio_adapters.generator import Request

    bad = Request("k1", str(tmp_path / "a.mov"), Fraction(1), Fraction(2), prompt="x" * 2001, label="door")
    seen = []
    gen = EngineGenerator(str(tmp_path / "no-engine.json"), autostart=False)
    results = gen.run([bad], str(tmp_path / "out"), on_result=seen.append)
    assert results == seen and len(results) == 1 and not results[0].ok
    assert results[0].error == "door: prompt: is 2001 characters; the limit is 2000"
