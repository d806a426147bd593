"""Careless input through the real `foley` command: one-line errors, exit 2, nothing written or damaged."""
import os
import signal
import stat
import subprocess
import sys
import time
from fractions import Fraction

import pytest
import soundfile as sf

from test_engine_backend import EngineProcess

RATES = ["12", "15", "16", "18", "20", "72", "90", "96", "100", "119.88", "120", "240"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from foley_engine.lab.samples import make_sample_video

    return make_sample_video(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), duration=3, fps=Fraction(15),
                             width=160, height=90).path


@pytest.fixture
def out(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def foley(*args, timeout=60, **kwargs):
    return subprocess.run([sys.executable, "-m", "foley_engine.cli", *args], capture_output=True, text=True,
                          env=EngineProcess.env(), timeout=timeout, **kwargs)


def refused(proc, pattern, folder=None):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("foley: error: "), proc.stderr
    assert pattern in lines[0], lines[0]
    if folder is not None:
        assert os.listdir(folder) == []
    return lines[0]


@pytest.mark.parametrize("args, pattern", [
    (["--in", "1e-999999999", "--out", "1"], "not a time"),
    (["--in", "0", "--out", "1e-4301"], "not a time"),
    (["--in", "9" * 5000], "not a time"),
    (["--in", "00:00:00:01", "--fps", "30/0"], "not a frame rate"),
    (["--in", "00:00:00:01", "--fps", "1e-99999999"], "not a frame rate"),
    (["--speed", "1e-99999999"], "not a speed"),
])
def test_times_have_a_bounded_grammar_on_the_command_line(clip, out, args, pattern):
    t = time.monotonic()
    proc = foley("generate", clip, "-o", str(out / "o.wav"), *args, timeout=30)
    assert "Traceback" not in proc.stderr
    if pattern == "not a speed":  # argparse's own one-line usage error
        assert proc.returncode == 2 and pattern in proc.stderr
    else:
        refused(proc, pattern, out)
    assert time.monotonic() - t < 20


@pytest.mark.parametrize("args", [["--in", "1", "--out", "1.00001"], ["--speed", "1000000"],
                                  ["--fps", "1000000", "--in", "00:00:00:01", "--out", "00:00:00:02"]])
def test_ranges_of_no_samples_are_refused(clip, out, args):
    refused(foley("generate", clip, "-o", str(out / "o.wav"), *args), "0 samples", out)


def test_outputs_beyond_the_maximum_duration_are_refused(clip, out):
    refused(foley("generate", clip, "-o", str(out / "o.wav"), "--speed", "0.000001"), "the limit is 6:00:00", out)
    refused(foley("generate", clip, "-o", str(out / "o.wav"), "--max-duration", "2"), "the limit is 0:00:02", out)
    ok = foley("generate", clip, "-o", str(out / "o.wav"), "--max-duration", "3")
    assert ok.returncode == 0, ok.stderr


def test_free_space_is_checked_before_starting(clip, out, monkeypatch, capsys):
    import shutil

    from foley_engine.cli import main

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10 * 2**20))
    assert main(["generate", clip, "-o", str(out / "o.wav")]) == 2
    assert "not enough free disk space" in capsys.readouterr().err
    assert os.listdir(out) == []


def test_a_full_disk_says_so_with_the_path(clip, out, monkeypatch, capsys):
    import shutil

    import soundfile

    from foley_engine.cli import main

    real = shutil.disk_usage
    calls = []

    def failing_write(self, data):
        calls.append(1)
        monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=0))
        raise soundfile.LibsndfileError(2, "System error.") if hasattr(soundfile, "LibsndfileError") \
            else RuntimeError("System error.")

    monkeypatch.setattr(soundfile.SoundFile, "write", failing_write)
    assert main(["generate", clip, "-o", str(out / "o.wav")]) == 2
    err = capsys.readouterr().err
    assert calls and f"{out / 'o.wav'}: disk full" in err, err
    assert os.listdir(out) == []


def test_special_files_are_never_replaced(clip, tmp_path):
    from foley_engine.errors import OutputError
    from foley_engine.media.wav import check_output_path

    # Checked in-process first, so a regression cannot replace the machine's /dev/null.
    for dev in ("/dev/null", "/dev/full"):
        with pytest.raises(OutputError, match="is a device"):
            check_output_path(dev)
    for dev in ("/dev/null", "/dev/full"):
        before = os.stat(dev)
        refused(foley("generate", clip, "-o", dev), "is a device; outputs are written only to regular files")
        after = os.stat(dev)
        assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    refused(foley("generate", clip, "-o", str(fifo)), "is a FIFO")
    mux_fifo = tmp_path / "fifo.mp4"
    os.mkfifo(mux_fifo)
    refused(foley("generate", clip, "-o", str(tmp_path / "o.wav"), "--mux", str(mux_fifo)), "is a FIFO")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISFIFO(os.stat(mux_fifo).st_mode)


def test_a_fifo_input_is_refused_at_once(tmp_path, out):
    fifo = tmp_path / "in.mp4"
    os.mkfifo(fifo)
    refused(foley("generate", str(fifo), "-o", str(out / "o.wav"), timeout=20), "is a FIFO", out)


def test_mux_container_follows_the_name(clip, out):
    refused(foley("generate", clip, "-o", str(out / "o.wav"), "--mux", str(out / "x.mkv")), "the preview is an MP4",
            out)


def test_output_names_near_255_characters(clip, out):
    name = "n" * 251 + ".wav"
    proc = foley("generate", clip, "-o", str(out / name), "--out", "1")
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(out) == [name] and sf.info(str(out / name)).frames == 48000
    refused(foley("generate", clip, "-o", str(out / ("n" * 252 + ".wav"))), "longer than 255 bytes")


def test_one_validation_for_both_paths(clip, out):
    for extra in ([], ["--engine", "--connection-file", str(out / "none.json")]):
        refused(foley("generate", clip, "-o", str(out / "o.wav"), "--seed", str(2**32), *extra),
                "--seed: must be between 0 and 4294967295", out)
        refused(foley("generate", clip, "-o", str(out / "o.wav"), "--prompt", "x" * 2001, *extra),
                "--prompt: is 2001 characters; the limit is 2000", out)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_leave_no_partial(tmp_path, out, signum):
    from foley_engine.lab.samples import make_sample_video

    long_clip = make_sample_video(str(tmp_path / "long.mp4"), duration=40, fps=Fraction(24), width=320,
                                  height=180).path
    proc = subprocess.Popen([sys.executable, "-m", "foley_engine.cli", "generate", long_clip, "-o",
                             str(out / "o.wav")], env=EngineProcess.env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [n for n in os.listdir(out) if n.endswith(".partial")]:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.01)
    proc.send_signal(signum)
    err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 128 + signum, err
    assert os.listdir(out) == []
    assert "Traceback" not in err


def test_stale_partials_of_dead_writers_are_swept(clip, out):
    stale = out / ".o.wav.999999999.partial"
    stale.write_bytes(b"RIFF" + b"\0" * 1000)
    live = out / f".o.wav.{os.getpid()}.abcd.partial"
    live.write_bytes(b"RIFF")
    assert foley("generate", clip, "-o", str(out / "o.wav"), "--out", "1").returncode == 0
    assert sorted(os.listdir(out)) == sorted(["o.wav", "o.wav.foley.json", live.name])


# ------------------------------------------------------------------ SMPTE at the media's own rate


@pytest.mark.parametrize("rate", RATES)
def test_timecode_counts_frames_at_the_media_rate(rate):
    from foley_engine.timebase import exact_rate, parse_media_time
    from plugin_host.timebase import frames_to_timecode, timecode_to_frames

    fps = exact_rate(rate)
    base = round(fps)
    one_second = parse_media_time("00:00:01:00", fps=fps, start_timecode=None)
    assert one_second == Fraction(base) / fps  # one timecode second = `base` frames at the real rate
    if fps.denominator == 1:
        assert one_second == 1
    last = f"00:00:00:{base - 1:02d}" if base <= 100 else f"00:00:00:{base - 1}"
    assert timecode_to_frames(last, fps) == base - 1
    with pytest.raises(ValueError):
        timecode_to_frames(f"00:00:00:{base}", fps)  # frames count to base - 1 at this rate
    for frames in (0, 1, base - 1, base, 3600 * base + 7):
        assert timecode_to_frames(frames_to_timecode(frames, fps), fps) == frames
    # With a start timecode the offset is counted at the same rate.
    assert parse_media_time("01:00:02:00", fps=fps, start_timecode="01:00:00:00") == 2 * Fraction(base) / fps


@pytest.mark.parametrize("rate", ["15", "120"])
def test_generate_in_timecode_lands_at_the_right_second(tmp_path, rate, out):
    import json

    from foley_engine.lab.samples import make_sample_video

    clip = make_sample_video(str(tmp_path / f"c{rate}.mp4"), duration=3, fps=Fraction(rate), width=160,
                             height=90).path
    proc = foley("generate", clip, "-o", str(out / "o.wav"), "--in", "00:00:01:00", "--out", "00:00:02:00", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["start"] == "1" and result["end"] == "2" and result["start_sample"] == 48000


@pytest.mark.parametrize("rate", RATES)
def test_otio_record_range_at_every_rate(rate):
    import opentimelineio as otio

    from otio_adapters.selection import Selection
    from plugin_host.timebase import exact_rate

    fps = exact_rate(rate)
    tl = otio.schema.Timeline(name="t")
    tl.global_start_time = otio.opentime.RationalTime(3600 * round(fps), float(fps))
    sel = Selection.parse([], "01:00:01:00-01:00:02:00", tl)
    lo, hi = sel.record_range
    base = round(fps)
    hour = 3600 * base
    assert (lo, hi) == (Fraction(hour + base) / fps, Fraction(hour + 2 * base) / fps), (lo, hi)


# ------------------------------------------------------------------ foley otio fill: files and folders


@pytest.fixture
def empty_timeline(tmp_path):
    import opentimelineio as otio

    path = tmp_path / "cut.otio"
    otio.adapters.write_to_file(otio.schema.Timeline(name="cut"), str(path))
    return path


def test_otio_fill_keeps_the_file_mode_and_makes_missing_folders(empty_timeline, tmp_path):
    fresh = tmp_path / "fresh.otio"
    proc = foley("otio", "fill", str(empty_timeline), "-o", str(fresh), "--no-autostart",
                 preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o644
    os.chmod(empty_timeline, 0o640)
    assert foley("otio", "fill", str(empty_timeline), "-o", str(empty_timeline), "--no-autostart").returncode == 0
    assert stat.S_IMODE(os.stat(empty_timeline).st_mode) == 0o640
    # Folders that do not exist yet are made, as `-o new/cut.otio` asks (they used to be refused).
    missing = tmp_path / "missing" / "deeper"
    assert foley("otio", "fill", str(empty_timeline), "-o", str(missing / "o.otio"), "--no-autostart").returncode == 0
    assert (missing / "o.otio").is_file() and (missing / "o_otio_wavs").is_dir()
    assert foley("otio", "fill", str(empty_timeline), "-o", str(tmp_path / "o.otio"), "--out-dir",
                 str(tmp_path / "other" / "wavs"), "--no-autostart").returncode == 0
    assert (tmp_path / "other" / "wavs").is_dir()
    # Where a folder cannot be made, one clear line.
    (tmp_path / "plain").write_text("")
    refused(foley("otio", "fill", str(empty_timeline), "-o", str(tmp_path / "plain" / "o.otio"), "--no-autostart"),
            "cannot create the output folder")


def test_otio_parse_errors_name_types_plainly(tmp_path):
    bad = tmp_path / "bad.otio"
    bad.write_text('{"OTIO_SCHEMA": "Timeline.1", "tracks": 5}')
    line = refused(foley("otio", "fill", str(bad), "-o", str(tmp_path / "o.otio"), "--no-autostart"), "Timeline")
    assert "opentimelineio" not in line and "N14" not in line and " l " not in line
