"""Probe, decode by PTS, grid sampling and atomic WAV writing on real encoded media."""
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from foley_engine.backends.base import FrameSpec
from foley_engine.errors import OutputError
from foley_engine.media.decode import FrameReader
from foley_engine.media.probe import probe
from foley_engine.media.wav import AtomicWavWriter


def test_probe_reads_first_pts_rate_and_timecode(clip_2997):
    info = probe(clip_2997.path)
    assert info.fps == Fraction(30000, 1001)
    assert info.first_pts == clip_2997.first_pts
    assert info.start_timecode == "01:00:00;00"
    assert info.duration == clip_2997.duration


def test_frame_times_are_pts_relative_to_first_frame(clip_2997):
    info = probe(clip_2997.path)
    times = [f.time for f in FrameReader(info, Fraction(0), info.duration)]
    assert times[0] == 0
    assert times == [Fraction(i * 1001, 30000) for i in range(len(times))]
    assert len(times) == clip_2997.frame_count


def test_variable_frame_rate_keeps_real_pts(clip_vfr):
    info = probe(clip_vfr.path)
    times = [f.time for f in FrameReader(info, Fraction(0), info.duration)]
    gaps = {b - a for a, b in zip(times, times[1:])}
    assert len(gaps) > 1, "sample should really be variable frame rate"
    assert len(times) == clip_vfr.frame_count


def test_grid_shows_latest_frame_at_or_before_each_grid_time(clip_vfr):
    info = probe(clip_vfr.path)
    spec = FrameSpec("g", Fraction(25), 32, 18, "gray")
    frames = list(FrameReader(info, Fraction(0), Fraction(3), specs=[spec]))
    times = [f.time for f in frames]
    grid = [(j, f.time) for f in frames for j, _ in f.grid.get("g", [])]
    assert [j for j, _ in grid] == list(range(75))  # exactly [0, 3) at 25 fps
    for j, shown in grid:
        t = Fraction(j, 25)
        assert shown == max(x for x in times if x <= t)


def test_seek_starts_with_the_frame_shown_at_start(clip_24):
    info = probe(clip_24.path)
    start = Fraction(5) + Fraction(1, 100)
    frames = list(FrameReader(info, start, Fraction(6)))
    assert frames[0].time <= start < frames[1].time
    assert all(b.time - a.time == Fraction(1, 24) for a, b in zip(frames, frames[1:]))


def test_atomic_writer_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.wav"
    with pytest.raises(RuntimeError):
        with AtomicWavWriter(str(target), 48000, 2) as writer:
            writer.write(np.zeros((100, 2), np.float32))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt,subtype", [("pcm24", "PCM_24"), ("float", "FLOAT"), ("pcm16", "PCM_16")])
def test_atomic_writer_formats(tmp_path, fmt, subtype):
    target = tmp_path / "out.wav"
    with AtomicWavWriter(str(target), 48000, 2, fmt) as writer:
        writer.write(np.full((480, 2), 0.25, np.float32))
    info = sf.info(str(target))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (48000, 2, 480, subtype)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]


def test_writer_refuses_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        AtomicWavWriter(str(tmp_path / "nope" / "x.wav"), 48000, 2)


def _reference_gray(luma: np.ndarray, w: int, h: int, out_w: int = 96, out_h: int = 54) -> np.ndarray:
    """The analysis picture by its definition, block by block: the mean (floored) of a sparse
    grid of ~4x4 luma samples per block (what analysis_gray computes with few numpy calls)."""
    by, bx = h // out_h, w // out_w
    sy, sx = max(1, by // 4), max(1, bx // 4)
    ky, kx = -(-by * out_h // sy) // out_h, -(-bx * out_w // sx) // out_w
    out = np.zeros((out_h, out_w), np.uint8)
    for r in range(out_h):
        for c in range(out_w):
            rows = [(r * ky + i) * sy for i in range(ky)]
            cols = [(c * kx + j) * sx for j in range(kx)]
            out[r, c] = int(luma[np.ix_(rows, cols)].astype(np.int64).sum()) // (ky * kx)
    return out


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 720), (640, 272), (176, 144), (97, 55), (3840, 2160)])
def test_analysis_gray_is_the_block_mean_of_its_samples(size):
    import av

    from foley_engine.media.decode import analysis_gray

    w, h = size
    rng = np.random.default_rng(w * h)
    frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (h, w), dtype=np.uint8), format="gray")
    frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    assert np.array_equal(analysis_gray(frame), _reference_gray(luma, w, h))
