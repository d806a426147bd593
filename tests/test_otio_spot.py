"""`foley otio fill --spot`: the engine's events as markers on the Foley clips, at their exact frames."""
from __future__ import annotations

import os
from fractions import Fraction

import opentimelineio as otio
import pytest

from foley_engine.cli import main
from foley_engine.lab.samples import make_sample_video
from otio_adapters.spot import is_spot_marker
from otio_adapters.timemath import samples, to_index

from test_engine_backend import EngineProcess
from test_otio import gap, tr

SR = 48000


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("spot_engine"), backend="procedural").start()
    yield eng
    eng.stop()


@pytest.mark.parametrize("rate,drop", [(Fraction(24000, 1001), False), (Fraction(25), False),
                                       (Fraction(30000, 1001), True)], ids=["23.976", "25", "29.97DF"])
def test_events_become_markers_at_their_frames_and_reruns_keep_the_users(engine, tmp_path, rate, drop):
    video = make_sample_video(tmp_path / "hits.mp4", duration=6, fps=rate, width=64, height=36,
                              impacts_every=Fraction(1), impact_offset=Fraction(1, 2), cuts=(Fraction(4),))
    tl = otio.schema.Timeline("cut", global_start_time=otio.opentime.from_timecode(
        "01:00:00;00" if drop else "01:00:00:00", float(rate)))
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    ref = otio.schema.ExternalReference(target_url=otio.url_utils.url_from_filepath(video.path),
                                        available_range=tr(0, video.frame_count, rate))
    src0, frames = 10, video.frame_count - 20
    v.extend([gap(7, rate), otio.schema.Clip(name="hits", media_reference=ref, source_range=tr(src0, frames, rate))])
    tl.tracks.append(v)
    cut, out = str(tmp_path / "cut.otio"), str(tmp_path / "out.otio")
    otio.adapters.write_to_file(tl, cut)
    argv = ["otio", "fill", cut, "-o", out, "--spot", "--connection-file", engine.connection_file,
            "--no-autostart", "--prompt", "metal impacts"]
    assert main(argv) == 0
    filled = otio.adapters.read_from_file(out)
    foley = [t for t in filled.tracks if t.kind == otio.schema.TrackKind.Audio][0].find_clips()[0]
    marks = [m for m in foley.markers if is_spot_marker(m)]
    # Every impact and the cut inside the clip, named by kind, on the first sample of its frame.
    src_lo, src_hi = Fraction(src0) / rate, Fraction(src0 + frames) / rate
    want = sorted([(t, "impact") for t in video.impact_times if src_lo <= t < src_hi]
                  + [(t, "cut") for t in video.cut_times if src_lo <= t < src_hi])
    start_sample = to_index(src_lo, SR)  # the WAV starts at the clip's first frame (no handles here)
    got = sorted((samples(m.marked_range.start_time) + start_sample, m.name) for m in marks)
    assert set((to_index(t, SR), k) for t, k in want) <= set(got)
    # ... and exactly the events the engine saw (the WAV's sidecar), no more, no fewer.
    from foley_engine.media.sidecar import read_sidecar
    from otio_adapters.timeline_jobs import url_to_path

    seen = read_sidecar(url_to_path(foley.media_reference.target_url, "/")).events
    assert got == sorted((to_index(Fraction(e["time"]), SR), e["kind"]) for e in seen
                         if to_index(src_lo, SR) <= to_index(Fraction(e["time"]), SR) < to_index(src_hi, SR))
    assert all(m.marked_range.duration.value == 0 for m in marks)
    # The user adds a marker of their own to the Foley clip; a re-run replaces only ours.
    foley.markers.append(otio.schema.Marker(name="fix this door", marked_range=tr(3, 0, rate)))
    otio.adapters.write_to_file(filled, out)
    assert main(["otio", "fill", out, "-o", out, "--spot", "--connection-file", engine.connection_file,
                 "--no-autostart", "--prompt", "metal impacts"]) == 0
    refilled = otio.adapters.read_from_file(out)
    again = [t for t in refilled.tracks if t.kind == otio.schema.TrackKind.Audio][0].find_clips()[0]
    assert [m.name for m in again.markers if not is_spot_marker(m)] == ["fix this door"]
    assert sorted((samples(m.marked_range.start_time), m.name) for m in again.markers if is_spot_marker(m)) == \
        sorted((samples(m.marked_range.start_time), m.name) for m in marks)
    assert os.path.isfile(out)
