"""Faults against real engine processes: kill -9 of the worker and of the engine, recycling, limits."""
import os
import signal
import time

import numpy as np
import pytest
import soundfile as sf

from plugin_host.client import EngineClient, EngineNotRunning, JobFailed

from test_engine_backend import PulseBackend, make_clip, pid_alive, wait_for


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=3)


def first_span(job):
    for event in job.events(timeout=30):
        if event.type == "span":
            return event
    raise AssertionError("job ended before its first span")


def in_process(clip, folder, **job):
    """The same item generated without the engine, for sample-exact comparison."""
    from foley_engine.generate import generate_to_file
    from foley_engine.job import Job

    result = generate_to_file(Job(clip, **job), PulseBackend(), str(folder / f"reference_{job.get('seed', 0)}.wav"))
    return sf.read(result.path, dtype="int32")[0]


def test_worker_kill_9_mid_job_retries_to_identical_output(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine")
    out = tmp_path / "out"
    out.mkdir()
    with engine.client() as eng:
        worker = eng.status()["worker"]["pid"]
        # Four windows of 0.3 s: even on a busy machine the kill lands mid-job.
        job = eng.submit([{"media": clip, "seed": 9, "options": {"delay": 0.3}}], out_dir=str(out))
        first_span(job)
        os.kill(worker, signal.SIGKILL)
        results = job.wait(timeout=60)
        st = eng.status()
        assert st["workers"]["restarts"] == 1 and st["worker"]["pid"] != worker
        assert eng.job(job.job_id)["items"][0]["attempts"] == 2
    name = os.path.basename(results[0]["path"])
    assert sorted(os.listdir(out)) == [name, name + ".foley.json"]  # the WAV and its sidecar; no partial file
    reference = in_process(clip, tmp_path, seed=9)
    np.testing.assert_array_equal(sf.read(results[0]["path"], dtype="int32")[0], reference)


def test_retries_are_bounded(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", "--max-attempts", "2")
    with engine.client() as eng:
        job = eng.submit([{"media": clip, "options": {"delay": 0.3}}], out_dir=str(tmp_path))
        for attempt in range(2):
            first_span(job)
            worker = wait_for(lambda: (eng.status()["worker"] or {}).get("pid"), what="a worker")
            os.kill(worker, signal.SIGKILL)
        with pytest.raises(JobFailed, match="SIGKILL") as info:
            job.wait(timeout=30)
        assert info.value.code == "worker" and info.value.item == 0
        assert "after 2 attempts" in info.value.reason
        assert eng.status()["jobs"]["failed"] == 1
    assert [p for p in os.listdir(tmp_path) if p.endswith((".wav", ".partial"))] == []


def test_engine_kill_9_then_serve_again_resumes_the_queue(engines, clip, tmp_path):
    folder = tmp_path / "engine"
    engine = engines(folder)
    with engine.client() as eng:
        worker = eng.status()["worker"]["pid"]
        jobs = [eng.submit([{"media": clip, "seed": k, "options": {"delay": 0.1}}], out_dir=str(tmp_path))
                for k in range(3)]
        first_span(jobs[0])
    engine.kill()
    wait_for(lambda: not pid_alive(worker), 10, "the orphaned worker to exit")
    assert os.path.exists(engine.connection_file)  # stale: its owner died without cleaning up
    with pytest.raises(EngineNotRunning, match="not running"):
        EngineClient.connect(engine.connection_file)
    again = engines(folder)
    assert "removed a stale connection file" in again.log()
    reference = tmp_path / "reference"
    reference.mkdir()
    with again.client() as eng:
        for k, job in enumerate(jobs):
            results = eng.attach(job.job_id).wait(timeout=60)
            np.testing.assert_array_equal(sf.read(results[0]["path"], dtype="int32")[0],
                                          in_process(clip, reference, seed=k))
        assert [j["state"] for j in eng.jobs()] == ["done"] * 3
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_client_rides_through_an_engine_restart(engines, clip, tmp_path):
    folder = tmp_path / "engine"
    engine = engines(folder)
    with engine.client(timeout=1.0, retries=20) as eng:
        job = eng.submit([{"media": clip, "options": {"delay": 0.2}}], out_dir=str(tmp_path))
        first_span(job)
        engine.kill()
        engines(folder)
        results = job.wait(timeout=60)  # heartbeats fail, the client re-reads the connection file
    assert sf.info(results[0]["path"]).frames == results[0]["num_samples"]


def test_worker_recycled_after_n_jobs_without_losing_work(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", "--max-jobs-per-worker", "2")
    with engine.client() as eng:
        first = eng.status()["worker"]["pid"]
        jobs = [eng.submit([{"media": clip, "start": "0", "end": "1/2", "seed": k}], out_dir=str(tmp_path))
                for k in range(5)]
        for job in jobs:
            job.wait(timeout=60)
        st = eng.status()
        assert st["workers"]["recycles"] >= 2 and st["workers"]["restarts"] == 0
        assert st["workers"]["items_run"] == 5 and st["worker"]["pid"] != first
        assert all(eng.job(j.job_id)["items"][0]["attempts"] == 1 for j in jobs)
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".wav")]) == 5


def test_worker_recycled_when_its_memory_grows(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", "--max-worker-growth-mb", "20")
    with engine.client() as eng:
        jobs = [eng.submit([{"media": clip, "start": "0", "end": "1/2", "options": {"leak_mb": 30}}],
                           out_dir=str(tmp_path)) for _ in range(3)]
        for job in jobs:
            job.wait(timeout=60)
        st = eng.status()
        assert st["workers"]["recycles"] >= 2 and st["workers"]["items_run"] == 3
    assert len([p for p in os.listdir(tmp_path) if p.endswith(".wav")]) == 3


def test_client_silent_longer_than_the_timeout_catches_up(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", "--client-timeout", "0.5")
    with engine.client() as eng:
        job = eng.submit([{"media": clip, "options": {"delay": 0.5}}], out_dir=str(tmp_path))
        time.sleep(1.5)  # the engine forgets us (after 0.5-0.75 s) and stops sending our events
        events = list(job.events(timeout=30))
        assert eng.generation >= 1  # told by a heartbeat that it was forgotten, it watched again
    spans = [e for e in events if e.type == "span"]
    assert events[-1].type == "done" and [s.seq for s in spans] == sorted({s.seq for s in spans})
    assert len(spans) == events[-1].content["results"][0]["windows"]


def test_stop_mid_job_resumes_at_the_next_start(engines, clip, tmp_path):
    folder = tmp_path / "engine"
    engine = engines(folder)
    with engine.client() as eng:
        job = eng.submit([{"media": clip, "seed": 2, "options": {"delay": 0.4}}], out_dir=str(tmp_path))
        first_span(job)
        eng.shutdown()
    assert engine.proc.wait(20) == 0 and "stopping" in engine.log()
    assert not [p for p in os.listdir(tmp_path) if p.endswith((".wav", ".partial"))]
    with engines(folder).client() as eng:
        results = eng.attach(job.job_id).wait(timeout=60)
        assert eng.job(job.job_id)["items"][0]["attempts"] == 2
    reference = tmp_path / "reference"
    reference.mkdir()
    np.testing.assert_array_equal(sf.read(results[0]["path"], dtype="int32")[0], in_process(clip, reference, seed=2))
