"""`foley generate` as users run it: good input works, bad input fails cleanly and leaves nothing."""
import os
import subprocess
import sys
from fractions import Fraction

import pytest
import soundfile as sf

from foley_engine.cli import main
from foley_engine.lab.samples import make_audio_only, make_sample_video, make_truncated_copy, make_zero_frame_video
from foley_engine.timebase import num_samples


def run_cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def outdir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def assert_clean_failure(code, err, outdir, pattern):
    assert code == 2
    lines = [l for l in err.strip().splitlines() if l]
    assert len(lines) == 1 and lines[0].startswith("foley: error: "), err
    assert pattern in lines[0], lines[0]
    assert list(outdir.iterdir()) == []


def test_generate_whole_clip(capsys, clip_24, outdir):
    out = outdir / "f.wav"
    code, stdout, _ = run_cli(capsys, "generate", clip_24.path, "--prompt", "metal impacts", "-o", str(out))
    assert code == 0, stdout
    info = sf.info(str(out))
    assert info.samplerate == 48000 and info.subtype == "PCM_24"
    assert info.frames == num_samples(0, clip_24.duration, 48000)


def test_generate_smpte_range_counts_start_timecode(capsys, clip_24, outdir):
    out = outdir / "r.wav"
    # clip_24 starts at 00:10:00:00; 00:10:02:12 is 2.5 s into the media.
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "00:10:02:12", "--out", "00:10:05:00",
                           "-o", str(out), "--json")
    assert code == 0, err
    assert sf.info(str(out)).frames == num_samples(Fraction(5, 2), Fraction(5), 48000)


def test_generate_with_explicit_fps_and_clock_times(capsys, clip_24, outdir):
    out = outdir / "c.wav"
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "00:00:01.250", "--out", "3.5", "-o", str(out))
    assert code == 0, err
    assert sf.info(str(out)).frames == 108000


def test_bad_media_paths(capsys, tmp_path, outdir):
    out = str(outdir / "x.wav")
    code, _, err = run_cli(capsys, "generate", str(tmp_path / "missing.mp4"), "-o", out)
    assert_clean_failure(code, err, outdir, "no such file")
    code, _, err = run_cli(capsys, "generate", str(tmp_path), "-o", out)
    assert_clean_failure(code, err, outdir, "is a directory")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    code, _, err = run_cli(capsys, "generate", str(text), "-o", out)
    assert_clean_failure(code, err, outdir, "not a video file")


def test_truncated_mp4(capsys, clip_2997, tmp_path, outdir):
    broken = tmp_path / "truncated.mp4"
    make_truncated_copy(clip_2997.path, str(broken), keep_fraction=0.5)
    code, _, err = run_cli(capsys, "generate", str(broken), "-o", str(outdir / "x.wav"))
    assert code == 2 and list(outdir.iterdir()) == []
    assert err.startswith("foley: error: ") and ("truncated" in err or "damaged" in err)


def test_audio_only_and_zero_frames(capsys, tmp_path, outdir):
    audio = tmp_path / "a.m4a"
    make_audio_only(str(audio))
    code, _, err = run_cli(capsys, "generate", str(audio), "-o", str(outdir / "x.wav"))
    assert_clean_failure(code, err, outdir, "no video stream")
    empty = tmp_path / "empty.mp4"
    make_zero_frame_video(str(empty))
    code, _, err = run_cli(capsys, "generate", str(empty), "-o", str(outdir / "x.wav"))
    assert code == 2 and list(outdir.iterdir()) == []
    assert "no frames" in err or "no video stream" in err


def test_bad_ranges(capsys, clip_24, outdir):
    out = str(outdir / "x.wav")
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "5", "--out", "2", "-o", out)
    assert_clean_failure(code, err, outdir, "not before")
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "2", "--out", "99", "-o", out)
    assert_clean_failure(code, err, outdir, "beyond the end")
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "00:09:00:00", "-o", out)
    assert_clean_failure(code, err, outdir, "before the media's start timecode")


def test_bad_outputs(capsys, clip_24, tmp_path, outdir):
    code, _, err = run_cli(capsys, "generate", clip_24.path, "-o", clip_24.path)
    assert_clean_failure(code, err, outdir, "overwrite the input")
    code, _, err = run_cli(capsys, "generate", clip_24.path, "-o", str(outdir / "x.wav" / "y.wav"),
                           "--in", "5", "--out", "2")
    assert_clean_failure(code, err, outdir, "not before")
    blocked = outdir / "file"
    blocked.write_text("")
    code, _, err = run_cli(capsys, "generate", clip_24.path, "-o", str(blocked / "sub" / "x.wav"))
    assert code == 2 and ("not a folder" in err or "Not a directory" in err), err
    blocked.unlink()
    if os.geteuid() == 0:
        locked = "/sys/kernel"  # root ignores mode bits; sysfs refuses new files
    else:
        locked_dir = tmp_path / "locked"
        locked_dir.mkdir()
        locked_dir.chmod(0o500)
        locked = str(locked_dir)
    code, _, err = run_cli(capsys, "generate", clip_24.path, "-o", os.path.join(locked, "x.wav"))
    assert code == 2 and ("not writable" in err or "cannot write" in err), err
    assert not os.path.exists(os.path.join(locked, "x.wav"))


def test_4k_and_vfr_inputs_work(capsys, tmp_path, outdir, clip_vfr):
    uhd = make_sample_video(str(tmp_path / "uhd.mp4"), duration=2, fps=Fraction(25), width=3840, height=2160,
                            impacts_every=Fraction(1), impact_offset=Fraction(1, 2))
    code, _, err = run_cli(capsys, "generate", uhd.path, "-o", str(outdir / "uhd.wav"))
    assert code == 0, err
    assert sf.info(str(outdir / "uhd.wav")).frames == num_samples(0, uhd.duration, 48000)
    code, _, err = run_cli(capsys, "generate", clip_vfr.path, "-o", str(outdir / "vfr.wav"))
    assert code == 0, err
    assert sf.info(str(outdir / "vfr.wav")).frames == num_samples(0, clip_vfr.duration, 48000)


def test_console_script_with_mux(clip_24, outdir):
    wav, mp4 = outdir / "m.wav", outdir / "m.mp4"
    proc = subprocess.run(
        [sys.executable, "-m", "foley_engine.cli", "generate", clip_24.path, "--prompt", "footsteps on concrete",
         "-o", str(wav), "--mux", str(mp4), "--in", "1", "--out", "4"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert wav.exists() and mp4.exists()
    assert sorted(p.name for p in outdir.iterdir()) == ["m.mp4", "m.wav", "m.wav.foley.json"]


def test_backends_listing(capsys):
    code, out, _ = run_cli(capsys, "backends")
    assert code == 0
    assert "procedural" in out and "available: yes" in out


def test_output_into_new_folders_makes_them(capsys, clip_24, outdir):
    """`-o renders/day1/x.wav` where renders/ does not exist yet: made, as users expect (it used to fail)."""
    out = outdir / "renders" / "day1" / "x.wav"
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "0", "--out", "1", "-o", str(out),
                           "--mux", str(outdir / "previews" / "x.mp4"))
    assert code == 0, err
    assert sf.info(str(out)).frames == 48000 and (outdir / "previews" / "x.mp4").is_file()


def test_a_failed_generate_leaves_no_new_folder(capsys, clip_24, outdir):
    """The folders are made when the work starts; a failure before or during it leaves none behind."""
    code, _, err = run_cli(capsys, "generate", clip_24.path, "--in", "0", "--out", "99",
                           "-o", str(outdir / "new" / "x.wav"))
    assert_clean_failure(code, err, outdir, "beyond the end")
    from foley_engine.errors import OutputError
    from foley_engine.media.wav import output_folders

    with pytest.raises(OutputError):
        with output_folders(str(outdir / "a" / "b" / "x.wav")):
            assert (outdir / "a" / "b").is_dir()
            raise OutputError("the write failed")
    assert list(outdir.iterdir()) == []


def test_generate_does_not_import_other_packages_commands():
    # `foley generate` builds its parser without importing the sub-commands other packages
    # register (they cost every run ~0.1 CPU s); the overall help still lists them.
    code = ("import sys; from foley_engine.cli import build_parser; build_parser(['generate', 'x.mp4']); "
            "print(sorted(m for m in ('otio_adapters.cli', 'foley_batch.cli', 'foley_engine.engine.cli') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    listing = subprocess.run([sys.executable, "-m", "foley_engine.cli", "--help"], capture_output=True, text=True,
                             check=True).stdout
    assert "engine" in listing and "generate" in listing
