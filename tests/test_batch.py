"""``foley batch``: inputs of every kind, a season through N slots, resume, an engine restart mid-batch."""
from __future__ import annotations

import argparse
import json
import os
import re
import threading

import opentimelineio as otio
import pytest

from foley_batch.cli import BatchError, expand_inputs, register

from test_engine_backend import make_clip, wait_for

ENV_PULSE = "scale_backends:EnvPulse"
RATE = 30000 / 1001


def batch(*argv) -> int:
    """``foley batch ...`` through the command's own register (the shared venv's entry points are main's)."""
    parser = argparse.ArgumentParser(prog="foley")
    register(parser.add_subparsers())
    args = parser.parse_args(["batch", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("season")
    (folder / "ep1").mkdir()
    (folder / "ep2").mkdir()
    return {
        "a": make_clip(str(folder / "ep1" / "a.mp4"), seconds=2),
        "b": make_clip(str(folder / "ep1" / "b.mov"), seconds=3),
        "c": make_clip(str(folder / "ep2" / "c.mp4"), seconds=4),
        "folder": str(folder),
    }


def timeline(path, media, frames=60):
    tl = otio.schema.Timeline("cut")
    v = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    rt = lambda n: otio.opentime.RationalTime(n, RATE)  # noqa: E731
    for i, (src, dur) in enumerate([(0, 30), (20, 40)]):
        ref = otio.schema.ExternalReference(target_url=otio.url_utils.url_from_filepath(media),
                                            available_range=otio.opentime.TimeRange(rt(0), rt(frames)))
        v.append(otio.schema.Clip(name=f"shot{i}", media_reference=ref,
                                  source_range=otio.opentime.TimeRange(rt(src), rt(dur))))
    tl.tracks.append(v)
    otio.adapters.write_to_file(tl, path)
    return path


def test_inputs_files_folders_globs_and_lists(clips, tmp_path):
    f = clips["folder"]
    (tmp_path / "notes.txt").write_text("not media")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# a comment\n{clips['c']}\n\n{f}/ep1/a.mp4\n")
    media, timelines = expand_inputs([f"{f}/ep1", f"{f}/**/*.mp4", f"@{listing}"])
    assert media == [clips["a"], clips["b"], clips["c"]]  # each once, in a stable order
    tl = timeline(str(tmp_path / "cut.otio"), clips["a"])
    assert expand_inputs([str(tmp_path)]) == ([], [tl])  # folders: known extensions only
    assert expand_inputs([f], out_dir=f"{f}/ep2") == ([clips["a"], clips["b"]], [])  # never our own outputs
    for bad in (str(tmp_path / "missing.mp4"), str(tmp_path / "*.mkv"), "@" + str(tmp_path / "nolist")):
        with pytest.raises(BatchError):
            expand_inputs([bad])


def test_usage_errors_are_one_line(clips, tmp_path, capsys):
    assert batch(str(tmp_path / "nothing"), "--out", str(tmp_path / "o")) == 2
    assert "no such file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert batch(str(empty), "--out", str(tmp_path / "o")) == 2
    assert "no media files or timelines" in capsys.readouterr().err
    assert batch(clips["a"], "--out", str(tmp_path / "o"), "--option", "nokey") == 2


def test_dry_run_lists_longest_first(clips, tmp_path, capsys):
    assert batch(clips["folder"], "--out", str(tmp_path / "o"), "--dry-run") == 0
    lines = capsys.readouterr().out.splitlines()
    # Labelled by the path below the inputs' common folder, as their WAVs are placed under --out.
    assert [ln.split()[-1] for ln in lines] == ["ep2/c.mp4", "ep1/b.mov", "ep1/a.mp4"]


def test_a_season_through_slots_then_resume_skips_everything(engines, clips, tmp_path, capsys):
    engine = engines(tmp_path / "engine", "--slots", "2", backend=ENV_PULSE)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    cut = timeline(str(tmp_path / "cut.otio"), clips["c"], frames=120)
    out = tmp_path / "out"
    args = [clips["folder"], cut, str(bad), "--out", str(out), "--connection-file", engine.connection_file,
            "--no-autostart", "--prompt", "footsteps", "--progress"]
    assert batch(*args) == 1  # the bad file fails alone
    err = capsys.readouterr().err
    assert "left" in err and "/bad.mp4: the engine refused" in err and "x real time" in err
    doc = json.loads((out / "foley-batch-summary.json").read_text())
    t = doc["totals"]
    assert (t["items"], t["done"], t["failed"], t["skipped"]) == (6, 5, 1, 0)
    assert doc["engine"] == {"backend": "pulse", "slots": 2}
    for it in doc["items"]:
        if it["status"] == "done":
            assert os.path.getsize(it["output"]) > 44
    [tl_doc] = doc["timelines"]
    assert tl_doc["filled"] == 2 and tl_doc["output"].endswith("cut_foley.otio")
    filled = otio.adapters.read_from_file(tl_doc["output"])
    assert [t.kind for t in filled.tracks] == ["Video", "Audio"] and len(filled.tracks[1].find_clips()) == 2
    md = (out / "foley-batch-summary.md").read_text()
    assert "5 done" in md and "bad.mp4" in md and "| shot1" not in md  # labels name the timeline too
    assert not [n for n in os.listdir(out) if n.endswith(".partial")]
    with engine.client() as eng:
        jobs_before = len(eng.jobs())

    assert batch(*args) == 1  # again: the finished items are skipped, the failed one is tried again
    assert "/bad.mp4: the engine refused" in capsys.readouterr().err
    doc = json.loads((out / "foley-batch-summary.json").read_text())
    t = doc["totals"]
    assert (t["done"], t["skipped"], t["failed"]) == (0, 5, 1)
    with engine.client() as eng:
        assert len(eng.jobs()) == jobs_before  # nothing generated again (the engine refused the bad file)
    # The re-run generated nothing, yet its summary keeps what the work took (it used to show zeros).
    (first,) = doc["earlier_runs"]
    assert first["done"] == 5 and first["media_seconds_generated"] > 0 and first["wall_seconds"] > 0
    assert all(it["generation_seconds"] > 0 for it in doc["items"] if it["status"] == "skipped")
    md = (out / "foley-batch-summary.md").read_text()
    assert "Earlier run (" in md and "5 done" in md


def test_the_batch_rides_through_an_engine_restart(engines, clips, tmp_path, capsys):
    folder = tmp_path / "engine"
    engine = engines(folder, "--slots", "2", backend=ENV_PULSE)
    out = tmp_path / "out"
    items = [clips["a"], clips["b"], clips["c"]]
    code = []
    runner = threading.Thread(target=lambda: code.append(batch(
        *items, "--out", str(out), "--connection-file", engine.connection_file, "--no-autostart",
        "--option", "delay=0.3", "--reconnect-timeout", "60")))
    runner.start()

    def finished_one():
        with engine.client() as eng:
            return any(j["items_done"] for j in eng.jobs())

    wait_for(finished_one, 60, "a first finished item")
    engine.kill()
    restarted = engines(folder, "--slots", "2", backend=ENV_PULSE)  # same journal, same connection file
    runner.join(120)
    assert not runner.is_alive() and code == [0], restarted.log()
    doc = json.loads((out / "foley-batch-summary.json").read_text())
    assert doc["totals"]["done"] == 3
    with restarted.client() as eng:
        jobs = [eng.job(j["job_id"]) for j in eng.jobs()]
    assert len(jobs) == 3  # the same jobs, found again by their submit ids: none submitted twice
    attempts = sorted(j["items"][0]["attempts"] for j in jobs)
    assert attempts[0] == 1  # the item finished before the kill was never run again
    outputs = sorted(os.path.join(base, n) for base, _, names in os.walk(out) for n in names if n.endswith(".wav"))
    assert outputs == sorted(it["output"] for it in doc["items"])
    # The inputs' folders kept, each WAV named after its media file.
    assert [os.path.relpath(p, out) for p in outputs] == ["ep1/a.wav", "ep1/b.wav", "ep2/c.wav"]
    assert not [n for _, _, names in os.walk(out) for n in names if n.endswith(".partial")]


def test_on_failure_stop_cancels_the_rest(engines, clips, tmp_path):
    engine = engines(tmp_path / "engine", backend=ENV_PULSE)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    out = tmp_path / "out"
    assert batch(clips["folder"], str(bad), "--out", str(out), "--connection-file", engine.connection_file,
                 "--no-autostart", "--option", "delay=0.3", "--on-failure", "stop") == 1
    items = {os.path.basename(it["label"]): it
             for it in json.loads((out / "foley-batch-summary.json").read_text())["items"]}
    assert items["bad.mp4"]["status"] == "failed" and "refused" in items["bad.mp4"]["error"]
    stopped = [it for label, it in items.items() if label != "bad.mp4" and it["status"] == "failed"]
    # One slot: the queued items never ran; the one running may have finished its window first.
    assert len(stopped) >= 2
    assert all(it["error"].startswith("not generated: ") and "bad.mp4: the engine refused it" in it["error"]
               for it in stopped)


@pytest.mark.slow
def test_an_engine_foley_batch_starts_stops_itself_when_idle(clips, tmp_path):
    """Like every adapter's: `--engine-idle-exit` (default 30 minutes) reaches the engine it starts."""
    from plugin_host.connection import read_connection_file

    connection = tmp_path / "run" / "engine.json"
    out = tmp_path / "out"
    assert batch(clips["a"], "--out", str(out), "--connection-file", str(connection), "--engine-idle-exit", "0.03",
                 f"--engine-arg=--journal={tmp_path / 'run' / 'journal.sqlite'}") == 0
    pid = read_connection_file(str(connection)).pid
    wait_for(lambda: not connection.exists(), 60, "the engine to stop itself")  # 1.8 s without a job
    with open(tmp_path / "run" / "engine.log", encoding="utf-8", errors="replace") as f:
        assert "(--idle-exit); stopping" in f.read(), pid
    args = argparse.ArgumentParser()
    register(args.add_subparsers())
    assert args.parse_args(["batch", "x", "--out", "o"]).engine_idle_exit == 30


def test_output_names_keep_folders_and_read_well():
    """WAVs mirror the inputs' folders and are named after their media; a hash only where names clash."""
    from foley_batch.names import mirrored_folders, readable_names

    media = ["/s/ep1/a.mov", "/s/ep2/a.mov", "/s/ep1/c.mov", "/s/ep1/c.mp4", "/s/ep1/d e.mov", "/s/ep1/D e.mov"]
    wavs = readable_names(media, mirrored_folders(media, "/out"))
    assert wavs["/s/ep1/a.mov"] == "/out/ep1/a.wav" and wavs["/s/ep2/a.mov"] == "/out/ep2/a.wav"
    assert (wavs["/s/ep1/c.mov"], wavs["/s/ep1/c.mp4"]) == ("/out/ep1/c_mov.wav", "/out/ep1/c_mp4.wav")
    # Names that differ only in case would clash on macOS and Windows: a short hash keeps them apart.
    clashing = [wavs["/s/ep1/d e.mov"], wavs["/s/ep1/D e.mov"]]
    assert all(re.fullmatch(r"/out/ep1/[dD]_e_mov_[0-9a-f]{8}\.wav", w) for w in clashing)
    assert len({w.lower() for w in wavs.values()}) == len(media)
