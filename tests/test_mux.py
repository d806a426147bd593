"""Preview MP4: video copied byte for byte, the WAV as AAC starting at the right media time, atomically."""
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile as sf

from foley_engine.errors import MediaError, OutputError
from foley_engine.media.mux import mux_preview
from foley_engine.lab.samples import make_audio_only, make_sample_video

# FFmpeg's AAC encoder puts one frame (1024 samples) of priming before the
# first input sample; PyAV reports the first packet's pts at the priming.
PRIMING = 1024
CLICK_AT = Fraction(1, 2)  # where the test WAVs click, from their first sample


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """B-frames, first pts 0.1 s, an audio track of its own, and a start timecode."""
    folder = tmp_path_factory.mktemp("mux")
    return make_sample_video(str(folder / "v.mp4"), duration=4, fps=Fraction(30000, 1001), width=160, height=90,
                             first_pts=Fraction(1, 10), with_audio=True, start_timecode="01:00:00;00",
                             impacts_every=Fraction(1), impact_offset=Fraction(1, 2))


@pytest.fixture(scope="module")
def video_at_zero(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mux0")
    return make_sample_video(str(folder / "v0.mp4"), duration=2, fps=Fraction(24), width=160, height=90,
                             impacts_every=None)


def click_wav(path, rate=48000, channels=2, seconds=2):
    audio = np.zeros((rate * seconds, channels), np.float32)
    audio[int(CLICK_AT * rate)] = 0.9
    sf.write(str(path), audio, rate, subtype="FLOAT")
    return str(path)


def packets(path, kind):
    with av.open(path) as container:
        # "audio": the Foley, the last audio track (the source's own come first)
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[-1]
        return [(bytes(p), Fraction(p.pts) * p.time_base, Fraction(p.dts) * p.time_base, p.is_keyframe)
                for p in container.demux(stream) if p.size]


def decoded_audio(path):
    """All decoded samples (2, n) of the Foley track and the time of the first one, in seconds."""
    with av.open(path) as container:
        frames = list(container.decode(container.streams.audio[-1]))
    return np.concatenate([f.to_ndarray() for f in frames], axis=1), Fraction(frames[0].pts) * frames[0].time_base


def first_video_pts(path):
    with av.open(path) as container:
        frame = next(container.decode(video=0))
        return Fraction(frame.pts) * frame.time_base


def test_video_packets_are_copied_byte_for_byte(video, tmp_path):
    out = str(tmp_path / "preview.mp4")
    mux_preview(video.path, click_wav(tmp_path / "a.wav"), out, audio_start=Fraction(1))
    assert packets(out, "video") == packets(video.path, "video")
    assert first_video_pts(out) == video.first_pts
    with av.open(out) as container:
        # the source's own audio first, then the Foley; the start timecode is kept
        assert [s.type for s in container.streams if s.type != "data"] == ["video", "audio", "audio"]
        assert container.streams.video[0].metadata["timecode"] == "01:00:00;00"


@pytest.mark.parametrize(
    "clip,audio_start,rate,channels",
    [
        ("video", Fraction(7, 5), 48000, 2),  # first sample well after the container's zero
        ("video", Fraction(1001, 30000), 44100, 1),  # resampled and upmixed
        ("video_at_zero", Fraction(0), 48000, 2),  # priming before zero: the edit list skips it
        ("video_at_zero", Fraction(1, 100), 48000, 1),
    ],
)
def test_audio_starts_at_audio_start_and_lasts_as_long_as_the_wav(request, tmp_path, clip, audio_start, rate,
                                                                  channels):
    sample = request.getfixturevalue(clip)
    wav = click_wav(tmp_path / "a.wav", rate, channels)
    out = str(tmp_path / "preview.mp4")
    mux_preview(sample.path, wav, out, audio_start=audio_start)

    with av.open(out) as container:
        stream = container.streams.audio[-1]
        assert (stream.codec_context.name, stream.rate, stream.channels) == ("aac", 48000, 2)
        assert stream.metadata.get("handler_name") == "Foley"
    start = sample.first_pts + audio_start  # container time of the WAV's first sample
    first_packet = packets(out, "audio")[0][1]
    assert abs(first_packet + Fraction(PRIMING, 48000) - start) < Fraction(1, 1000)

    audio, t0 = decoded_audio(out)
    click = t0 + Fraction(int(np.argmax(np.abs(audio[0]))), 48000)
    assert abs(click - (start + CLICK_AT)) < Fraction(1, 1000)
    assert np.abs(audio[1]).max() > 0.5  # both channels carry the sound
    end = t0 + Fraction(audio.shape[1], 48000)
    assert abs(end - start - sf.info(wav).duration) <= Fraction(PRIMING, 48000)


def test_aac_runs_at_192_kbit(video_at_zero, tmp_path):
    wav = str(tmp_path / "noise.wav")
    sf.write(wav, np.random.default_rng(1).uniform(-0.5, 0.5, (96000, 2)).astype(np.float32), 48000)
    out = str(tmp_path / "preview.mp4")
    mux_preview(video_at_zero.path, wav, out)
    with av.open(out) as container:  # silence would take far less; noise takes all it is given
        assert 170_000 < container.streams.audio[0].bit_rate <= 200_000


def test_negative_audio_start_drops_the_head_of_the_wav(video_at_zero, tmp_path):
    out = str(tmp_path / "preview.mp4")
    mux_preview(video_at_zero.path, click_wav(tmp_path / "a.wav"), out, audio_start=Fraction(-1, 4))
    audio, t0 = decoded_audio(out)
    click = t0 + Fraction(int(np.argmax(np.abs(audio[0]))), 48000)
    assert abs(click - Fraction(1, 4)) < Fraction(1, 1000)


def test_replaces_an_existing_file_and_leaves_no_temp(video, tmp_path):
    out = tmp_path / "preview.mp4"
    out.write_bytes(b"old")
    wav = click_wav(tmp_path / "a.wav")
    mux_preview(video.path, wav, str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "preview.mp4"]
    assert packets(str(out), "video") == packets(video.path, "video")


def test_errors_are_one_line_and_leave_nothing(video, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    wav = click_wav(inputs / "a.wav")
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = str(outdir / "preview.mp4")

    not_audio = inputs / "notes.wav"
    not_audio.write_text("not audio\n" * 100)
    silent = inputs / "empty.wav"
    sf.write(str(silent), np.zeros((0, 2), np.float32), 48000)
    audio_only = inputs / "a.m4a"
    make_audio_only(str(audio_only))
    cases = [
        (MediaError, "no such audio file", dict(audio_path=str(inputs / "missing.wav"))),
        (MediaError, "cannot read audio", dict(audio_path=str(not_audio))),
        (MediaError, "no samples", dict(audio_path=str(silent))),
        (MediaError, "no such file", dict(video_path=str(inputs / "missing.mp4"))),
        (MediaError, "no video stream", dict(video_path=str(audio_only))),
        (OutputError, "does not exist", dict(out_path=str(tmp_path / "nope" / "p.mp4"))),
        (OutputError, "overwrite the input", dict(out_path=video.path)),
    ]
    for error, message, change in cases:
        args = dict(video_path=video.path, audio_path=wav, out_path=out) | change
        with pytest.raises(error, match=message) as caught:
            mux_preview(args["video_path"], args["audio_path"], args["out_path"])
        assert "\n" not in str(caught.value)
        assert list(outdir.iterdir()) == []


def test_a_failure_midway_deletes_the_partial_file(video, tmp_path, monkeypatch):
    import foley_engine.media.mux as mux

    outdir = tmp_path / "out"
    outdir.mkdir()

    def failing_blocks(wav, path):
        yield np.zeros((2, 48000), np.float32)
        partial = [p.name for p in outdir.iterdir()]  # the failure comes mid-file: a hidden partial exists
        assert len(partial) == 1 and partial[0].startswith(".p.mp4.") and partial[0].endswith(".partial.mp4")
        raise MediaError(f"{path}: cannot read audio (disk went away)")

    monkeypatch.setattr(mux, "_stereo_48k", failing_blocks)
    with pytest.raises(MediaError, match="disk went away"):
        mux_preview(video.path, click_wav(tmp_path / "a.wav"), str(outdir / "p.mp4"))
    assert list(outdir.iterdir()) == []


def six_channel_clip(path, codec):
    """A clip whose own soundtrack is 5.1 (``codec``: AAC as a camera writes it, or PCM as in a .mov)."""
    rate, seconds = 48000, 2
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=24)
        v.width, v.height, v.pix_fmt = 160, 90, "yuv420p"
        a = c.add_stream(codec, rate=rate, layout="5.1")
        fmt = a.codec_context.format
        t = np.arange(rate * seconds) / rate
        # Each channel its own tone and level, so a lost or swapped channel shows.
        tones = np.stack([0.1 * (i + 1) * np.sin(2 * np.pi * (100 + 50 * i) * t) for i in range(6)]).astype(np.float32)
        for i in range(24 * seconds):
            f = av.VideoFrame.from_ndarray(np.full((90, 160, 3), i * 5 % 255, np.uint8), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for s in range(0, tones.shape[1], 1024):
            block = tones[:, s:s + 1024]
            if fmt.name.startswith("s32"):
                block = (block * 2**31).astype(np.int32)
            data = block if fmt.is_planar else block.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt.name, layout="5.1")
            frame.sample_rate, frame.pts = rate, s
            for p in a.encode(frame):
                c.mux(p)
        for stream in (v, a):
            for p in stream.encode(None):
                c.mux(p)
    return str(path)


@pytest.mark.parametrize("name,codec", [("camera.mp4", "aac"), ("master.mov", "pcm_s24le")])
def test_the_clips_own_audio_stays_first_with_every_channel(tmp_path, name, codec):
    """A 5.1 original used to come out as stereo Foley only: it is kept, the Foley added and titled."""
    src = six_channel_clip(tmp_path / name, codec)
    out = str(tmp_path / "preview.mp4")
    assert mux_preview(src, click_wav(tmp_path / "a.wav"), out) == 1  # the source's tracks kept
    with av.open(out) as container:
        original, foley = container.streams.audio
        assert original.channels == 6 and original.codec_context.layout.name == "5.1"
        assert foley.channels == 2 and foley.metadata.get("handler_name") == "Foley"
        assert container.streams.audio[0].disposition & av.stream.Disposition.default
        kept = np.concatenate([f.to_ndarray() for f in container.decode(original)], axis=1)
    assert kept.shape[1] >= 2 * 48000  # all of it (AAC pads the end)
    # every channel carries its tone (the LFE channel is low-passed by AAC, so only present)
    assert all(np.abs(kept[i]).max() > 0.05 for i in range(6))
    if codec == "aac":  # copied, not re-encoded
        with av.open(src) as container:
            before = [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]
        with av.open(out) as container:
            assert [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size] == before


def test_the_foley_alone_on_request(tmp_path):
    src = six_channel_clip(tmp_path / "camera.mp4", "aac")
    out = str(tmp_path / "preview.mp4")
    assert mux_preview(src, click_wav(tmp_path / "a.wav"), out, keep_original=False) == 0
    with av.open(out) as container:
        (foley,) = container.streams.audio
        assert foley.channels == 2
