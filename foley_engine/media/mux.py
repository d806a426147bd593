"""A preview MP4: the original video stream copied as is, the Foley WAV as AAC.

The video packets are copied byte for byte with their timestamps, so the
picture and its timing are the source's.  The source's own audio tracks come
next, every channel of each (packets copied where MP4 holds the codec, else
re-encoded as AAC with the same channels), the default track as before.  The
WAV follows as a track of its own, titled "Foley": 48 kHz stereo AAC placed so
that its first sample plays at media time ``audio_start`` (media time zero is
the first video frame's pts).  ``keep_original=False`` leaves the source's
audio out (the Foley alone).  The file appears under its name only when complete.
"""
from __future__ import annotations

import heapq
import math
import os
from fractions import Fraction
from typing import Iterator

import av
import numpy as np
import soundfile as sf

from plugin_host.atomic import atomic_path

from ..errors import MediaError, OutputError
from ..timebase import SAMPLE_RATE, as_fraction, exact_rate, round_half_away
from .probe import first_frame_pts, open_container, video_stream
from .wav import check_output_path

AAC_RATE = SAMPLE_RATE
AAC_BIT_RATE = 192_000
READ_BLOCK = SAMPLE_RATE  # WAV frames per read (a second): memory stays small for hour-long audio
# The MP4 muxer keeps a track time scale of at least this (doubling smaller ones).
MIN_TRACK_TIMESCALE = 10000


#: the title of the Foley track (players list it by this name)
FOLEY_TRACK_TITLE = "Foley"
#: audio codecs the MP4 muxer takes as they are (others, PCM from a .mov say, are re-encoded as AAC)
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})


def mux_preview(video_path, audio_path, out_path, *, audio_start: Fraction = Fraction(0),
                keep_original: bool = True) -> int:
    """Write ``out_path``: ``video_path``'s video stream copied, its audio tracks (unless not
    ``keep_original``), then ``audio_path`` as an AAC track titled "Foley" from ``audio_start``.
    Returns how many of the source's audio tracks were kept."""
    video_path, audio_path = os.fspath(video_path), os.fspath(audio_path)
    out_path = check_output_path(os.fspath(out_path), inputs=(video_path, audio_path))
    audio_start = as_fraction(audio_start)
    with atomic_path(out_path, suffix=".mp4") as tmp:  # PyAV picks the container by the extension
        return _write(video_path, audio_path, tmp, out_path, audio_start, keep_original)


def _write(video_path: str, audio_path: str, tmp: str, out_path: str, audio_start: Fraction,
           keep_original: bool) -> int:
    first = _first_video_pts(video_path)
    # The first WAV sample's place in the container, in samples at 48 kHz.
    start_sample = round_half_away((first + audio_start) * AAC_RATE)
    with open_container(video_path) as src, _open_wav(audio_path) as wav:
        vin = video_stream(src, video_path)
        originals = list(src.streams.audio) if keep_original else []
        out = _open_output(tmp, out_path, vin)
        try:
            vout = out.add_stream_from_template(vin)
            _carry_timecode(vin, vout)
            copied = {s.index: _original_track(out, s) for s in originals}
            aout = out.add_stream("aac", rate=AAC_RATE, layout="stereo")
            aout.bit_rate = AAC_BIT_RATE
            _title(aout, FOLEY_TRACK_TITLE)
            if originals:
                _set_disposition(aout, 0)  # the original stays the track a player picks first
            # A start before the container's zero drops the WAV's head instead.
            blocks = _trimmed(_stereo_48k(wav, audio_path), max(0, -start_sample))
            audio = _aac_packets(aout, blocks, max(0, start_sample))
            source = _source_packets(src, vin, vout, copied, video_path)
            # Interleave by time so the file plays from the start without seeking.
            for packet in heapq.merge(source, audio, key=_packet_time):
                _mux(out, packet, out_path)
        except BaseException:
            _close_quietly(out)
            raise
        _close(out, out_path)
        return len(originals)


def _first_video_pts(path: str) -> Fraction:
    with open_container(path) as container:
        return first_frame_pts(container, video_stream(container, path), path)


def _open_output(tmp: str, out_path: str, vin):
    # Keep the source's track time scale (so copied timestamps need no rounding)
    # and write edit lists in a movie time scale that holds both tracks' starts
    # exactly (the default, 1/1000 s, would round them).
    track = vin.time_base.denominator
    while track < MIN_TRACK_TIMESCALE:
        track *= 2
    movie = math.lcm(track, AAC_RATE)
    if movie >= 2**31:
        movie = track
    options = {"video_track_timescale": str(track), "movie_timescale": str(movie)}
    try:
        return av.open(tmp, "w", format="mp4", options=options)
    except (av.error.FFmpegError, OSError) as exc:
        raise OutputError(f"{out_path}: cannot write the preview ({_reason(exc)})") from None


def _carry_timecode(vin, vout) -> None:
    """Keep the source's start timecode; the muxer needs the frame rate to write it."""
    timecode = vin.metadata.get("timecode")
    rate = vin.average_rate or vin.guessed_rate
    if timecode and rate:
        vout.codec_context.framerate = exact_rate(Fraction(rate))
        vout.metadata["timecode"] = timecode


def _mux(out, packet, out_path: str) -> None:
    try:
        out.mux(packet)
    except (av.error.FFmpegError, OSError) as exc:
        raise OutputError(f"{out_path}: cannot write the preview ({_reason(exc)})") from None


def _close(out, out_path: str) -> None:
    try:
        out.close()
    except (av.error.FFmpegError, OSError) as exc:
        raise OutputError(f"{out_path}: cannot finish the preview ({_reason(exc)})") from None


def _close_quietly(out) -> None:
    """Close after a failure; the first error is the one to report."""
    try:
        out.close()
    except (av.error.FFmpegError, OSError):
        pass


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc).splitlines()[0]


def _packet_time(packet) -> Fraction:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return Fraction(stamp) * packet.time_base


def _source_packets(src, vin, vout, copied: dict, path: str) -> Iterator:
    """The source's video packets and its kept audio tracks' (copied or re-encoded), in file order."""
    try:
        for packet in src.demux(vin, *(src.streams[i] for i in copied)):
            if packet.stream.index == vin.index:
                if packet.size == 0 or (packet.dts is None and packet.pts is None):
                    continue  # the demuxer's end-of-stream marker
                packet.stream = vout
                yield packet
            else:
                yield from copied[packet.stream.index](packet)
        for track in copied.values():
            yield from track(None)  # flush the re-encoders
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot be read ({_reason(exc)}); the file may be truncated") from None


def _original_track(out, stream):
    """An output track for one source audio track, all its channels: ``feed(packet)`` -> output packets
    (``feed(None)`` flushes).  Copied as is where MP4 holds the codec, else decoded and encoded as AAC."""
    if stream.codec_context.name in MP4_AUDIO_CODECS:
        track = out.add_stream_from_template(stream)
        _title(track, stream.metadata.get("title") or "Original audio")

        def copy(packet):
            if packet is None or packet.size == 0 or (packet.dts is None and packet.pts is None):
                return
            packet.stream = track
            yield packet

        return copy
    ctx = stream.codec_context
    track = out.add_stream("aac", rate=ctx.sample_rate, layout=ctx.layout.name)
    track.bit_rate = AAC_BIT_RATE * max(1, ctx.channels) // 2  # the Foley's rate per channel pair
    _title(track, stream.metadata.get("title") or "Original audio")
    # The encoder wants whole frames of its own size: the resampler re-blocks the decoded audio.
    reblock = av.AudioResampler(format="fltp", layout=ctx.layout.name, rate=ctx.sample_rate,
                                frame_size=track.codec_context.frame_size or 1024)

    def encode(packet):
        frames = [None] if packet is None else stream.codec_context.decode(packet)
        for frame in frames:
            for chunk in reblock.resample(frame):
                yield from track.encode(chunk)
        if packet is None:
            yield from track.encode(None)

    return encode


def _title(stream, title: str) -> None:
    stream.metadata["title"] = title
    stream.metadata["handler_name"] = title  # what the MP4 track's handler box shows


def _set_disposition(stream, value: int) -> None:
    try:
        stream.disposition = value
    except (AttributeError, TypeError, ValueError):
        pass  # an older PyAV: the muxer marks the first audio track default anyway


# ------------------------------------------------------------------ audio


def _open_wav(path: str) -> sf.SoundFile:
    if not os.path.isfile(path):
        raise MediaError(f"{path}: no such audio file")
    try:
        wav = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise MediaError(f"{path}: cannot read audio ({str(exc).splitlines()[0]})") from None
    if wav.frames == 0:
        wav.close()
        raise MediaError(f"{path}: audio has no samples")
    return wav


def _stereo_48k(wav: sf.SoundFile, path: str) -> Iterator[np.ndarray]:
    """The WAV as planar float32 stereo blocks at 48 kHz."""
    resampler = None
    if wav.samplerate != AAC_RATE or wav.channels > 2:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AAC_RATE)
    try:
        for block in wav.blocks(READ_BLOCK, dtype="float32", always_2d=True):
            if block.shape[1] == 1:
                block = np.repeat(block, 2, axis=1)  # mono plays on both sides at full level
            planar = np.ascontiguousarray(block.T)
            if resampler is None:
                yield planar
                continue
            frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=f"{planar.shape[0]}c")
            frame.sample_rate = wav.samplerate
            for out in resampler.resample(frame):
                yield out.to_ndarray()
        if resampler is not None:
            for out in resampler.resample(None):
                yield out.to_ndarray()
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise MediaError(f"{path}: cannot read audio ({str(exc).splitlines()[0]})") from None


def _trimmed(blocks: Iterator[np.ndarray], skip: int) -> Iterator[np.ndarray]:
    for block in blocks:
        if skip >= block.shape[1]:
            skip -= block.shape[1]
            continue
        yield np.ascontiguousarray(block[:, skip:])
        skip = 0


def _aac_packets(stream, blocks: Iterator[np.ndarray], start_sample: int) -> Iterator:
    """Encoded packets; the first input sample has pts ``start_sample`` (1/48000 s).

    The AAC encoder's priming (1024 samples) comes first, so the first packet's
    pts is ``start_sample - 1024``; when that is negative the MP4 muxer writes an
    edit list that skips it.
    """
    done = 0
    for block in blocks:
        frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
        frame.sample_rate = AAC_RATE
        frame.pts = start_sample + done
        frame.time_base = Fraction(1, AAC_RATE)
        done += block.shape[1]
        yield from stream.encode(frame)
    yield from stream.encode(None)
