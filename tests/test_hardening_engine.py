"""The engine against careless or hostile submits: where it writes, how much, what it reads, what it repeats."""
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from plugin_host.client import RequestRejected

from test_engine_backend import EngineProcess, make_clip, wait_for


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("engine"), "--probe-timeout", "60").start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=2)


def rejected(engine, items, out_dir, field):
    with engine.client() as eng, pytest.raises(RequestRejected) as info:
        eng.submit(items, out_dir=str(out_dir))
    assert info.value.field == field, str(info.value)
    return str(info.value)


def foley(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "foley_engine.cli", *args], capture_output=True, text=True,
                          env=EngineProcess.env(), timeout=60, **kwargs)


def test_system_folders_are_refused(engine, tmp_path):
    # The media is missing on purpose: an engine without the policy refuses it instead of writing into /etc.
    missing = str(tmp_path / "missing.mp4")
    for folder in ("/etc", "/usr/lib", "/dev", "/"):
        assert "system folder" in rejected(engine, [{"media": missing}], folder, "out_dir")
    link = tmp_path / "innocent"
    os.symlink("/etc", link)
    assert "system folder" in rejected(engine, [{"media": missing}], link, "out_dir")


def test_output_roots_allow_only_their_folders(engines, clip, tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    other = tmp_path / "other"
    other.mkdir()
    eng = engines(tmp_path / "engine", "--output-root", str(root))
    assert "outside the folders this engine writes to" in rejected(eng, [{"media": clip}], other, "out_dir")
    with eng.client() as client:
        result = client.submit([{"media": clip, "end": "1/2"}], out_dir=str(root / "sub")).wait(timeout=30)[0]
    assert os.path.dirname(result["path"]) == str(root / "sub")


def test_no_samples_and_too_long_are_refused(engine, clip, tmp_path):
    assert "0 samples" in rejected(engine, [{"media": clip, "start": "1", "end": "1.00001"}], tmp_path, "items[0].end")
    assert "0 samples" in rejected(engine, [{"media": clip, "speed": "1000000"}], tmp_path, "items[0].end")
    assert "the limit is 6:00:00" in rejected(engine, [{"media": clip, "speed": "1/1000000000"}], tmp_path,
                                              "items[0].speed")
    assert os.listdir(tmp_path) == []


def test_max_duration_and_free_space_at_serve_time(engines, clip, tmp_path):
    eng = engines(tmp_path / "engine", "--max-duration", "1")
    out = tmp_path / "out"
    out.mkdir()
    assert "the limit is 0:00:01" in rejected(eng, [{"media": clip}], out, "items[0].end")
    with eng.client() as client:
        assert client.submit([{"media": clip, "end": "1"}], out_dir=str(out)).wait(timeout=30)
    # A job larger than the disk's free space: 1 h at speed 1/1800 of a 2 s clip, allowed by the duration limit.
    import shutil

    free = shutil.disk_usage(out).free
    hours = free // (48000 * 3 * 3600) + 2
    eng2 = engines(tmp_path / "engine2", "--max-duration", str(hours * 3600 * 2))
    speed = f"2/{hours * 3600}"
    assert "not enough free disk space" in rejected(eng2, [{"media": clip, "speed": speed}], out, "out_dir")


def test_fifo_media_is_refused_and_status_always_answers(engine, clip, tmp_path):
    fifo = tmp_path / "fifo.mp4"
    os.mkfifo(fifo)
    t = time.monotonic()
    assert "is a FIFO" in rejected(engine, [{"media": str(fifo)}], tmp_path, "items[0].media")
    assert time.monotonic() - t < 3
    # 600 distinct paths (hard links of one clip): the loop answers status while they are probed.
    links = tmp_path / "links"
    links.mkdir()
    paths = []
    for i in range(600):
        p = links / f"c{i}.mp4"
        os.link(clip, p)
        paths.append(str(p))
    out = tmp_path / "out"
    out.mkdir()
    done = {}

    def submit():
        with engine.client(timeout=60) as eng:
            done["job"] = eng.submit([{"media": p, "end": "1/100"} for p in paths], out_dir=str(out))
            done["job"].cancel()

    thread = threading.Thread(target=submit)
    thread.start()
    latencies = []
    while thread.is_alive():
        t = time.monotonic()
        engine.status()
        latencies.append(time.monotonic() - t)
    thread.join()
    assert "job" in done and len(latencies) >= 2
    assert max(latencies) < 1.0, latencies


def test_probing_has_a_time_out(engines, clip, tmp_path):
    eng = engines(tmp_path / "engine", "--probe-timeout", "0.2")
    links = tmp_path / "links"
    links.mkdir()
    paths = []
    for i in range(400):
        p = links / f"c{i}.mp4"
        os.link(clip, p)
        paths.append(str(p))
    message = rejected(eng, [{"media": p} for p in paths], tmp_path, "items")
    assert "took longer than 0.2 s" in message
    assert eng.status()["status"] == "ok"


def test_journal_is_private(engines, tmp_path):
    eng = engines(tmp_path / "engine")
    eng.stop()
    folder = tmp_path / "private"
    journal = folder / "journal.sqlite"
    eng = EngineProcess(tmp_path / "engine2")
    eng.args[eng.args.index("--journal") + 1] = str(journal)
    eng.start()
    try:
        assert eng.status()["status"] == "ok"
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        for name in os.listdir(folder):
            if name.startswith("journal.sqlite"):
                assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600, name
    finally:
        eng.stop()


def test_engine_cancel_command_and_broken_pipe(engines, clip, tmp_path):
    eng = engines(tmp_path / "engine")
    out = tmp_path / "out"
    out.mkdir()
    with eng.client() as client:
        job = client.submit([{"media": clip, "options": {"delay": 3}}], out_dir=str(out))
        for event in job.events(timeout=30):
            if event.type == "span":
                break
        proc = foley("engine", "cancel", job.job_id[:8], "--connection-file", eng.connection_file)
        assert proc.returncode == 0 and "cancelling" in proc.stdout, proc.stderr
        wait_for(lambda: client.job(job.job_id)["state"] == "cancelled", what="cancel")
        for _ in range(3):
            client.submit([{"media": clip, "end": "1/10"}], out_dir=str(out)).wait(timeout=30)
    assert not [n for n in os.listdir(out) if n.endswith(".partial")]
    bad = foley("engine", "cancel", "zz", "--connection-file", eng.connection_file)
    assert bad.returncode == 2 and bad.stderr.startswith("foley: error: not a job id")
    # `foley engine jobs | head -0`: the reader is gone before the first line.
    reader, writer = os.pipe()
    os.close(reader)
    proc = subprocess.run([sys.executable, "-m", "foley_engine.cli", "engine", "jobs", "--connection-file",
                           eng.connection_file], stdout=writer, stderr=subprocess.PIPE, text=True,
                          env=EngineProcess.env(), timeout=60)
    os.close(writer)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_spans_are_never_repeated_after_crashes(engines, clip, tmp_path):
    eng = engines(tmp_path / "engine")
    out = tmp_path / "out"
    out.mkdir()
    with eng.client() as client:
        job = client.submit([{"media": clip, "options": {"delay": 0.4}, "seed": 3}], out_dir=str(out))
        seen = []
        killed = False
        for event in job.events(timeout=60):
            seen.append(event)
            if event.type == "span" and not killed and event.content["window"] >= 1:
                os.kill(client.status()["worker"]["pid"], signal.SIGKILL)
                killed = True
        assert seen[-1].type == "done"
        result = seen[-1].content["results"][0]
    spans = [e.content for e in seen if e.type == "span"]
    retries = [e.content for e in seen if e.type == "retry"]
    assert len(retries) == 1 and retries[0]["item"] == 0 and retries[0]["attempt"] == 2
    assert retries[0]["spans_until"] == spans[1]["start_sample"] + spans[1]["num_samples"]
    # Spans tile the result exactly once.
    starts = [s["start_sample"] for s in spans]
    assert starts == sorted(set(starts)), starts
    assert spans[0]["start_sample"] == result["start_sample"]
    for a, b in zip(spans, spans[1:]):
        assert a["start_sample"] + a["num_samples"] == b["start_sample"]
    assert spans[-1]["start_sample"] + spans[-1]["num_samples"] == result["start_sample"] + result["num_samples"]
    # The journal (what a client catching up reads) agrees.
    with eng.client() as client:
        listed = client.request("job", {"job_id": job.job_id, "watch": True, "since": 0})["events"]
    assert [e["content"]["start_sample"] for e in listed if e["type"] == "span"] == starts


def test_spans_are_never_repeated_after_an_engine_crash(engines, clip, tmp_path):
    eng = engines(tmp_path / "engine")
    out = tmp_path / "out"
    out.mkdir()
    with eng.client() as client:
        job = client.submit([{"media": clip, "options": {"delay": 0.4}}], out_dir=str(out))
        for event in job.events(timeout=30):
            if event.type == "span" and event.content["window"] >= 1:
                break
    eng.kill()
    eng.start()
    with eng.client() as client:
        client.attach(job.job_id).wait(timeout=60)
        events = client.request("job", {"job_id": job.job_id, "watch": True, "since": 0})["events"]
    starts = [e["content"]["start_sample"] for e in events if e["type"] == "span"]
    assert starts == sorted(set(starts)), starts
    assert any(e["type"] == "retry" for e in events)
