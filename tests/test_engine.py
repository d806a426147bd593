"""One real engine (subprocess, real ZeroMQ sockets) serving exact results, bad input and many clients."""
import os
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from plugin_host.client import EngineClient, JobCancelled, RequestRejected, VersionMismatch, WrongKey
from plugin_host.connection import ConnectionInfo, read_connection_file
from plugin_host.envelope import DELIMITER, MAX_MESSAGE_BYTES
from foley_engine.timebase import to_index

from test_engine_backend import EngineProcess, PulseBackend, exchange, make_clip, raw_socket


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = EngineProcess(tmp_path_factory.mktemp("engine")).start()
    yield eng
    eng.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip 1.mp4"), seconds=3)


@pytest.fixture
def eng(engine):
    with engine.client() as client:
        yield client


def assert_answers(engine):
    assert engine.status()["status"] == "ok"


def test_hello_and_status(eng, engine):
    hello = eng.hello()
    assert hello["backend"]["name"] == "pulse" and hello["pid"] == engine.proc.pid
    st = eng.status()
    assert st["worker"]["state"] in ("ready", "busy") and st["memory"]["engine_rss"] > 0
    assert st["memory"]["worker_rss"] > 0 and st["memory"]["gpu"] is None
    assert set(st["jobs"]) == {"queued", "running", "done", "failed", "cancelled"}
    latencies = []
    for _ in range(50):
        t = time.perf_counter()
        eng.status()
        latencies.append(time.perf_counter() - t)
    assert sorted(latencies)[25] < 0.05


def test_results_carry_exact_placement(eng, clip, tmp_path):
    items = [
        {"media": clip, "start": "1001/30000", "end": "2.5", "prompt": "glass", "seed": 5,
         "record_start": {"frame": 86400, "rate": "24000/1001"}},
        {"media": clip, "start": "1/3", "end": "2.9", "format": "float"},
    ]
    job = eng.submit(items, out_dir=str(tmp_path))
    events = list(job.events(timeout=30))
    kinds = [e.type for e in events]
    assert kinds[0] == "accepted" and kinds[-1] == "done" and kinds.count("item") == 2
    results = job.results()
    for item, result in zip(items, results):
        start, end = Fraction(item["start"]), Fraction(item["end"])
        assert result["start"] == str(start) and result["end"] == str(end)
        assert result["start_sample"] == to_index(start, 48000)
        assert result["num_samples"] == to_index(end, 48000) - to_index(start, 48000)
        assert sf.info(result["path"]).frames == result["num_samples"]
        assert os.path.dirname(result["path"]) == str(tmp_path)
        assert os.path.basename(result["path"]).startswith("clip_1_") and job.job_id[:8] in result["path"]
        # Spans tile the item exactly.
        spans = [e.content for e in events if e.type == "span" and e.content["item"] == result["item"]]
        assert spans[0]["start_sample"] == result["start_sample"]
        for a, b in zip(spans, spans[1:]):
            assert a["start_sample"] + a["num_samples"] == b["start_sample"]
        assert spans[-1]["start_sample"] + spans[-1]["num_samples"] == result["start_sample"] + result["num_samples"]
    assert results[0]["record_start"] == items[0]["record_start"] and "record_start" not in results[1]
    assert results[1]["format"] == "float" and sf.info(results[1]["path"]).subtype == "FLOAT"
    # The same samples as an in-process run.
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job

    local = generate_to_file(Job(clip, Fraction(1001, 30000), Fraction(5, 2), "glass", seed=5), PulseBackend(),
                             str(tmp_path / "local.wav"))
    np.testing.assert_array_equal(sf.read(local.path, dtype="int32")[0], sf.read(results[0]["path"], dtype="int32")[0])
    # Finished results stay listed.
    listed = eng.job(job.job_id)
    assert listed["state"] == "done" and [i["result"]["path"] for i in listed["items"]] == [r["path"] for r in results]
    assert any(j["job_id"] == job.job_id for j in eng.jobs())


def test_retimed_item_lasts_range_over_speed(eng, clip, tmp_path):
    result = eng.submit([{"media": clip, "start": "1/2", "end": "5/2", "speed": "2"}], out_dir=str(tmp_path)).wait()[0]
    assert result["speed"] == "2" and result["start_sample"] == 24000 and result["num_samples"] == 48000
    assert sf.info(result["path"]).frames == 48000


def test_bad_messages_get_an_error_naming_the_field(engine):
    sock, session = raw_socket(engine)
    try:
        def expect(frames, field, code=None):
            reply = exchange(sock, session, frames)
            assert reply is not None, field
            assert reply.content["status"] == "error" and reply.content["field"] == field, reply.content
            if code:
                assert reply.content["code"] == code
            assert_answers(engine)

        expect([os.urandom(64)], "frames")
        expect([DELIMITER, b"sig", b"{}"], "frames")
        good, header = session.serialize("status", {})
        expect([DELIMITER, b"0" * 64] + good[2:], "signature", "signature")
        ok = exchange(sock, session, good)
        assert ok.content["status"] == "ok" and ok.parent_id == header["msg_id"]
        expect(good, "header.msg_id", "replay")  # the same signed frames again
        expect(session.serialize("launch_missiles", {})[0], "header.msg_type", "unknown_type")
        expect(session.serialize("status", {"extra": 1})[0], "extra", "schema")
    finally:
        sock.close()


def test_oversized_message_drops_only_that_peer(engine):
    sock, session = raw_socket(engine)
    try:
        frames, _ = session.serialize("status", {"pad": "x" * (MAX_MESSAGE_BYTES + 10)})
        assert exchange(sock, session, frames, timeout=1.0) is None
    finally:
        sock.close()
    assert_answers(engine)


def test_bad_submits_are_refused_with_the_field(eng, engine, clip, tmp_path):
    out = str(tmp_path)

    def refused(item, field, out_dir=out):
        with pytest.raises(RequestRejected) as info:
            eng.submit([dict({"media": clip}, **item)], out_dir=out_dir)
        assert info.value.field == field, str(info.value)
        return str(info.value)

    assert "no such file" in refused({"media": str(tmp_path / "missing.mp4")}, "items[0].media")
    refused({"start": "2", "end": "1"}, "items[0].end")
    refused({"start": "-1"}, "items[0].start")
    refused({"start": "soon"}, "items[0].start")
    refused({"start": 1.5}, "items[0].start")
    assert "beyond the end" in refused({"end": "99"}, "items[0].end")
    refused({"prompt": "x" * (10 * 1024 * 1024)}, "items[0].prompt")
    refused({"media": "relative.mp4"}, "items[0].media")
    refused({}, "out_dir", out_dir=str(tmp_path / "nope"))
    assert os.listdir(out) == []
    assert_answers(engine)


def test_wrong_key_and_wrong_version(engine):
    info = read_connection_file(engine.connection_file)
    bad = ConnectionInfo(info.endpoint, "00" * 32, info.pid, info.version)
    with pytest.raises(WrongKey, match="wrong key"):
        with EngineClient(bad, timeout=2, retries=1) as client:
            client.status()
    with engine.client() as client, pytest.raises(VersionMismatch, match="9.0"):
        client.request("hello", {"version": "9.0"})
    assert_answers(engine)


def test_cancel_at_window_granularity_leaves_no_file(eng, engine, clip, tmp_path):
    slow = {"media": clip, "options": {"delay": 0.5}}  # four windows of 1 s, each taking 0.5 s
    running = eng.submit([slow], out_dir=str(tmp_path))
    queued = eng.submit([slow], out_dir=str(tmp_path))
    assert queued.cancel() == "cancelled"  # not started: cancelled at once
    seen = []
    for event in running.events(timeout=30):
        seen.append(event.type)
        if event.type == "span" and seen.count("span") == 1:
            assert running.cancel() == "cancelling"
    assert seen[-1] == "cancelled" and seen.count("span") < 4
    with pytest.raises(JobCancelled):
        queued.wait(timeout=5)
    assert os.listdir(tmp_path) == []
    assert eng.job(running.job_id)["state"] == "cancelled"
    assert_answers(engine)


def test_client_that_vanishes_mid_job(engine, clip, tmp_path):
    client = engine.client()
    job = client.submit([{"media": clip, "options": {"delay": 0.1}}], out_dir=str(tmp_path))
    client.close()  # gone without a word, while the job runs
    with engine.client() as other:
        results = other.attach(job.job_id).wait(timeout=30)
        assert other.job(job.job_id)["state"] == "done"
    assert os.path.exists(results[0]["path"])
    assert_answers(engine)


def test_eight_clients_ten_jobs_each(engine, clip, tmp_path):
    results, errors = {}, []

    def client_run(n):
        try:
            with engine.client() as eng:
                jobs = [eng.submit([{"media": clip, "start": f"{k}/10", "end": f"{k + 5}/10", "seed": n}],
                                   out_dir=str(tmp_path)) for k in range(10)]
                for job in jobs:
                    results[job.job_id] = job.wait(timeout=60)[0]
        except Exception as exc:  # reported below, with the thread's client number
            errors.append((n, exc))

    threads = [threading.Thread(target=client_run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(results) == 80
    paths = sorted(r["path"] for r in results.values())
    assert len(set(paths)) == 80 and sorted(str(tmp_path / p) for p in os.listdir(tmp_path)
                                            if not p.endswith(".foley.json")) == paths
    with engine.client() as eng:
        for job_id in results:
            job = eng.job(job_id)
            assert job["state"] == "done" and [i["attempts"] for i in job["items"]] == [1]
    assert_answers(engine)
