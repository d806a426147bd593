"""Segment-parallel decoding (foley_engine/media/segments.py) gives the pictures one decoder gives.

Real encodes (x264, x265, MJPEG through PyAV), read twice through the real FrameReader: once on one
frame-threaded decoder, once split into segments decoded side by side; times and analysis pictures
must be identical, and the split must really happen where it is safe (IDR pictures) and only there.
"""
from __future__ import annotations

import threading
from fractions import Fraction

import av
import numpy as np
import pytest

import foley_engine.media.decode as decode
import foley_engine.media.segments as segments
from foley_engine.errors import MediaError
from foley_engine.media.probe import probe


def _encode(path: str, codec: str, options: dict, frames: int = 75, fps: int = 25, size=(320, 180),
            pix_fmt: str = "yuv420p") -> str:
    """A moving picture (a bright square crossing a textured background, a cut half way)."""
    rng = np.random.default_rng(7)
    w, h = size
    backgrounds = [rng.integers(0, 200, (h, w, 3), dtype=np.uint8) for _ in range(2)]
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = options
        for i in range(frames):
            img = backgrounds[i * 2 // frames].copy()
            x = (i * 7) % (w - 40)
            img[60:100, x: x + 40] = 250
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _read(path: str, split: bool, monkeypatch, start=Fraction(0), end=None):
    """(time, grey picture) of every frame, and how many segments were decoded side by side."""
    calls = []
    real = segments._decode_segment

    def counting(*args):
        calls.append(len(args[1]))
        return real(*args)

    with monkeypatch.context() as m:
        m.setattr(decode, "workers", lambda: 2 if split else 1)
        m.setattr(segments, "_decode_segment", counting)
        info = probe(path)
        reader = decode.FrameReader(info, start, info.duration if end is None else end)
        pictures = [(f.time, f.gray) for f in reader]
    return pictures, len(calls)


def _same(a, b) -> bool:
    return len(a) == len(b) and all(ta == tb and np.array_equal(ga, gb) for (ta, ga), (tb, gb) in zip(a, b))


X264_CLOSED = {"preset": "ultrafast", "x264-params": "keyint=15:min-keyint=15:scenecut=0:bframes=2"}
X265_CLOSED = {"preset": "ultrafast", "x265-params": "keyint=15:min-keyint=15:scenecut=0:bframes=2:open-gop=0:log-level=error"}
X265_OPEN = {"preset": "ultrafast", "x265-params": "keyint=15:min-keyint=15:scenecut=0:bframes=3:open-gop=1:log-level=error"}


@pytest.mark.parametrize("codec,options,pix_fmt,ext", [
    ("libx264", X264_CLOSED, "yuv420p", "mp4"),  # NAL units length-prefixed (avcC)
    ("libx264", X264_CLOSED, "yuv420p", "ts"),  # Annex B start codes
    ("libx265", X265_CLOSED, "yuv420p", "mp4"),
    ("libx265", X265_CLOSED, "yuv420p", "ts"),
    ("mjpeg", {}, "yuvj420p", "mkv"),  # intra-only: any packet starts a segment
    ("prores_ks", {}, "yuv422p10le", "mov"),
])
def test_segments_decode_exactly_what_one_decoder_does(tmp_path, monkeypatch, codec, options, pix_fmt, ext):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV build has no {codec} encoder")
    path = _encode(str(tmp_path / f"clip.{ext}"), codec, options, pix_fmt=pix_fmt)
    one, _ = _read(path, False, monkeypatch)
    split, parts = _read(path, True, monkeypatch)
    assert len(one) == 75 and _same(one, split)
    assert parts >= 3  # 3 s of pictures with an IDR every 0.6 s: split into >= 1-s segments


def test_open_gop_keyframes_are_not_split_at(tmp_path, monkeypatch):
    """x265's open GOPs start at CRA pictures whose leading pictures refer back: never a segment start."""
    path = _encode(str(tmp_path / "open.mp4"), "libx265", X265_OPEN)
    with av.open(path) as c:
        keyframes = sum(p.is_keyframe for p in c.demux(c.streams.video[0]) if p.size)
    assert keyframes > 2  # the container does call them keyframes
    one, _ = _read(path, False, monkeypatch)
    split, parts = _read(path, True, monkeypatch)
    assert parts == 1 and _same(one, split)


def test_a_range_in_the_middle(tmp_path, monkeypatch):
    path = _encode(str(tmp_path / "clip.mp4"), "libx264", X264_CLOSED, frames=150)
    a, b = Fraction(13, 10), Fraction(47, 10)
    one, _ = _read(path, False, monkeypatch, a, b)
    split, parts = _read(path, True, monkeypatch, a, b)
    assert _same(one, split) and parts >= 2
    assert one[0][0] <= a < one[1][0] and one[-1][0] < b


def test_no_restart_for_too_long_goes_on_through_one_decoder(tmp_path, monkeypatch):
    """Past MAX_SEGMENT without an IDR the rest is decoded in order by one decoder (bounded memory)."""
    path = _encode(str(tmp_path / "long_gop.mp4"), "libx264",
                   {"preset": "ultrafast", "x264-params": "keyint=1000:scenecut=0:bframes=2"}, frames=100)
    monkeypatch.setattr(segments, "MAX_SEGMENT", Fraction(1))
    one, _ = _read(path, False, monkeypatch)
    split, parts = _read(path, True, monkeypatch)
    assert parts == 0 and _same(one, split)


def test_closing_early_stops_the_workers(tmp_path, monkeypatch):
    path = _encode(str(tmp_path / "clip.mp4"), "libx264", X264_CLOSED, frames=150)
    monkeypatch.setattr(decode, "workers", lambda: 2)
    before = {t.name for t in threading.enumerate()}
    reader = decode.FrameReader(probe(path), Fraction(0), Fraction(6))
    it = iter(reader)
    next(it)
    it.close()
    left = [t for t in threading.enumerate() if t.name not in before and t.name.startswith("foley-segment")]
    assert left == []


def test_a_file_cut_short_fails_with_the_usual_message(tmp_path, monkeypatch):
    """Index first (faststart), media cut half way: the segment decoders say where decoding failed.
    (One frame-threaded decoder drops the last broken packet's error and stops short instead.)"""
    source = _encode(str(tmp_path / "clip.mp4"), "libx264", X264_CLOSED, frames=150)
    fast = str(tmp_path / "faststart.mp4")
    with av.open(source) as src, av.open(fast, "w", options={"movflags": "faststart"}) as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = out
                dst.mux(packet)
    data = open(fast, "rb").read()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: len(data) // 2])
    monkeypatch.setattr(decode, "workers", lambda: 2)
    info = probe(str(broken))
    with pytest.raises(MediaError) as err:
        list(decode.FrameReader(info, Fraction(0), info.duration))
    assert "broken.mp4: decoding failed at 00:00:0" in str(err.value) and "damaged or truncated" in str(err.value)


def test_which_codecs_split():
    assert segments.splittable("h264") and segments.splittable("hevc") and segments.splittable("prores")
    assert not segments.splittable("vp9") and not segments.splittable("mpeg4")
