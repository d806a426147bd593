"""Local worker slots: N slots write the same bytes as one, longest item first, slots in status."""
from __future__ import annotations

import os
import signal
import time
from fractions import Fraction

import pytest

from foley_engine.engine.config import EngineConfig
from foley_engine.engine.jobbook import JobBook, item_seconds
from foley_engine.engine.journal import Journal
from foley_engine.engine.config import parse_devices
from foley_engine.engine.slots import plan_slots

from test_engine_backend import make_clip, wait_for

ENV_PULSE = "scale_backends:EnvPulse"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("clips") / "clip.mp4"), seconds=4)


def season(clip):
    """Items of mixed lengths, seeds and speeds (the shape of a timeline)."""
    ranges = [("0", "4"), ("1/2", "3/2"), ("1", "13/4"), ("0", "2"), ("3", "4"), ("1/3", "11/3")]
    return [{"media": clip, "start": a, "end": b, "seed": i, "options": {"delay": 0.05},
             "speed": "2" if i == 4 else "1"} for i, (a, b) in enumerate(ranges)]


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------- planning (no processes)


def test_slots_are_planned_from_the_options():
    assert [s.describe() for s in plan_slots(EngineConfig())] == [{"slot": 0, "kind": "local", "device": None}]
    assert len(plan_slots(EngineConfig(slots=3))) == 3
    two = plan_slots(EngineConfig(devices=["cuda:0", "cuda:3"], options={"device": "cuda:7", "steps": 4}))
    assert [s.env for s in two] == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "3"}]
    # Each worker sees only its GPU, renumbered: the backend inside always uses cuda:0.
    assert [s.options for s in two] == [{"device": "cuda:0", "steps": 4}] * 2
    assert [s.device for s in plan_slots(EngineConfig(slots=3, devices=["cuda:0", "cuda:1"]))] == \
        ["cuda:0", "cuda:1", "cuda:0"]
    ray = plan_slots(EngineConfig(slots=2, ray_address="10.0.0.1:6379", options={"device": "cuda:0"}))
    assert [s.kind for s in ray] == ["ray", "ray"] and ray[0].init["ray"]["num_gpus"] == 1.0
    assert parse_devices("cuda:0, cuda:1") == ["cuda:0", "cuda:1"]
    for bad in ("", "gpu0", "cuda:x"):
        with pytest.raises(ValueError):
            parse_devices(bad)


def test_serve_refuses_bad_slot_options(capsys):
    from foley_engine.engine.server import main

    for argv in (["--slots", "0"], ["--slots", "two"], ["--devices", "cuda:a"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert "slots" in capsys.readouterr().err or "cuda" in capsys.readouterr().err


def test_longest_item_first(tmp_path):
    events = []
    journal = Journal(str(tmp_path / "j.sqlite"))
    book = JobBook(journal, lambda *e: events.append(e), longest_first=True)
    specs = [{"media": "/m.mp4", "start": a, "end": b, "speed": s, "out_path": str(tmp_path / f"{i}.wav")}
             for i, (a, b, s) in enumerate([("0", "2", "1"), ("0", "10", "1"), ("0", "10", "4"), ("1", "7", "1")])]
    assert [item_seconds(s) for s in specs] == [2, 10, Fraction(5, 2), 6]
    book.add("a" * 32, "", str(tmp_path), specs)
    assert [book.next_item()[1] for _ in range(4)] == [1, 3, 2, 0]
    journal.close()


def test_an_item_failure_stops_the_jobs_other_running_items(tmp_path):
    events = []
    journal = Journal(str(tmp_path / "j.sqlite"))
    book = JobBook(journal, lambda job_id, kind, content: events.append(kind))
    specs = [{"media": "/m.mp4", "out_path": str(tmp_path / f"{i}.wav")} for i in range(3)]
    book.add("a" * 32, "", str(tmp_path), specs)
    for _ in range(3):
        book.next_item()
    book.item_failed("a" * 32, 1, "backend", "boom")
    assert book.orphaned_jobs() == ["a" * 32]  # the server cancels items 0 and 2
    book.item_done("a" * 32, 0, {"path": "x"})
    book.item_cancelled("a" * 32, 2, stopping=False)
    assert events == ["failed"] and not book.running and book.orphaned_jobs() == []
    journal.close()


def test_a_cancelled_job_ends_once_its_last_running_item_stopped(tmp_path):
    events = []
    journal = Journal(str(tmp_path / "j.sqlite"))
    book = JobBook(journal, lambda job_id, kind, content: events.append(kind))
    book.add("b" * 32, "", str(tmp_path), [{"media": "/m.mp4", "out_path": str(tmp_path / f"{i}.wav")}
                                            for i in range(3)])
    book.next_item(), book.next_item()
    assert book.cancel("b" * 32) == "cancelling"
    book.item_cancelled("b" * 32, 0, stopping=False)
    assert events == []
    book.item_cancelled("b" * 32, 1, stopping=False)
    assert events == ["cancelled"] and book.next_item() is None
    journal.close()


# ---------------------------------------------------------------------- real engines


def run_season(engine, items, out):
    out.mkdir(exist_ok=True)
    with engine.client(timeout=10) as eng:
        job = eng.submit(items, out_dir=str(out))
        return job.wait(timeout=120)


def test_n_slots_write_the_same_bytes_as_one(engines, clip, tmp_path):
    one = engines(tmp_path / "one", backend=ENV_PULSE)
    three = engines(tmp_path / "three", "--slots", "3", backend=ENV_PULSE)
    items = season(clip)
    with three.client(timeout=10) as eng:
        # Also as separate jobs (how `foley batch` submits), at the same time as the one big job.
        singles = [eng.submit([it], out_dir=str(tmp_path)) for it in items[:3]]
        st = eng.status()
        assert [s["slot"] for s in st["slots"]] == [0, 1, 2] and st["workers"]["slots"] == 3
        reference = run_season(one, items, tmp_path / "out1")
        spread = run_season(three, items, tmp_path / "out3")
        assert len(reference) == len(spread) == len(items)
        for a, b in zip(reference, spread):
            assert a["num_samples"] == b["num_samples"] and a["start_sample"] == b["start_sample"]
            assert file_bytes(a["path"]) == file_bytes(b["path"])  # header and samples
        for job, ref in zip(singles, reference):
            assert file_bytes(job.wait(timeout=60)[0]["path"]) == file_bytes(ref["path"])
    st = three.status()
    assert sum(s["items_run"] for s in st["slots"]) == len(items) + 3
    assert all(s["items_run"] > 0 for s in st["slots"])  # every slot took work


def test_slots_run_side_by_side_and_status_lists_them(engines, clip, tmp_path):
    engine = engines(tmp_path / "e", "--devices", "cuda:0,cuda:1", backend=ENV_PULSE)
    items = [{"media": clip, "seed": i, "options": {"delay": 0.4}} for i in range(2)]
    with engine.client() as eng:
        job = eng.submit(items, out_dir=str(tmp_path))
        st = wait_for(lambda: (lambda s: s if all(x["current"] for x in s["slots"]) else None)(eng.status()),
                      30, "both slots busy")
        slots = st["slots"]
        assert {(s["current"]["job_id"], s["current"]["item"]) for s in slots} == {(job.job_id, 0), (job.job_id, 1)}
        assert [s["device"] for s in slots] == ["cuda:0", "cuda:1"]
        assert [s["cuda_visible_devices"] for s in slots] == ["0", "1"]
        # What the worker process itself saw:
        assert [s["backend_device"] for s in slots] == ["cuda:0 (CUDA_VISIBLE_DEVICES=0)",
                                                       "cuda:0 (CUDA_VISIBLE_DEVICES=1)"]
        assert all(s["state"] == "busy" and s["pid"] and s["rss"] for s in slots)
        assert {s["where"]["host"] for s in slots} == {"local"}
        assert len(st["queue"]["running_items"]) == 2
        job.wait(timeout=60)


def test_cli_status_prints_one_line_per_slot(engines, clip, tmp_path, capsys):
    from foley_engine.engine.cli import cmd_status

    engine = engines(tmp_path / "e", "--slots", "2", backend=ENV_PULSE)

    class Args:
        connection_file = engine.connection_file
        json = False

    wait_for(lambda: all(s["state"] == "ready" for s in engine.status()["slots"]), 30, "both slots ready")
    assert cmd_status(Args()) == 0
    out = capsys.readouterr().out
    assert "slot 0" in out and "slot 1" in out and "local" in out


def test_one_failing_item_stops_its_siblings_and_fails_the_job_once(engines, clip, tmp_path):
    engine = engines(tmp_path / "e", "--slots", "3", backend=ENV_PULSE)
    items = [{"media": clip, "seed": i, "options": {"delay": 0.3}} for i in range(3)]
    items[1]["options"] = {"delay": 0.3, "fail": True}
    from plugin_host.client import JobFailed

    with engine.client() as eng:
        job = eng.submit(items, out_dir=str(tmp_path))
        with pytest.raises(JobFailed) as info:
            job.wait(timeout=60)
        assert info.value.item == 1
        events = [e["type"] for e in eng.request("job", {"job_id": job.job_id, "watch": True})["events"]]
    assert events.count("failed") == 1 and "item" not in events[events.index("failed"):]
    wait_for(lambda: all(s["current"] is None for s in engine.status()["slots"]), 20, "the siblings to stop")
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".partial")]


def test_cancel_stops_every_running_item_of_the_job(engines, clip, tmp_path):
    engine = engines(tmp_path / "e", "--slots", "2", backend=ENV_PULSE)
    items = [{"media": clip, "seed": i, "options": {"delay": 0.5}} for i in range(3)]
    from plugin_host.client import JobCancelled

    with engine.client() as eng:
        job = eng.submit(items, out_dir=str(tmp_path))
        wait_for(lambda: all(s["current"] for s in eng.status()["slots"]), 30, "both slots busy")
        t = time.monotonic()
        job.cancel()
        with pytest.raises(JobCancelled):
            job.wait(timeout=30)
        assert time.monotonic() - t < 5  # within a window (0.5 s) plus slack for a loaded machine
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".wav") or n.endswith(".partial")]


def test_a_killed_slot_restarts_and_its_item_reruns_identically(engines, clip, tmp_path):
    engine = engines(tmp_path / "e", "--slots", "2", backend=ENV_PULSE)
    items = [{"media": clip, "seed": 5 + i, "options": {"delay": 0.25}} for i in range(2)]
    reference = run_season(engines(tmp_path / "ref", backend=ENV_PULSE), items, tmp_path / "ref_out")
    out = tmp_path / "out"
    out.mkdir()
    with engine.client() as eng:
        job = eng.submit(items, out_dir=str(out))
        st = wait_for(lambda: (lambda s: s if all(x["current"] for x in s["slots"]) else None)(eng.status()),
                      30, "both slots busy")
        victim = st["slots"][1]
        os.kill(victim["pid"], signal.SIGKILL)
        results = job.wait(timeout=60)
        st = eng.status()
    assert st["slots"][1]["restarts"] == 1 and st["slots"][0]["restarts"] == 0
    assert "SIGKILL" in st["slots"][1]["last_exit"]
    for a, b in zip(reference, results):
        assert file_bytes(a["path"]) == file_bytes(b["path"])
    # Each WAV and its sidecar (<wav>.foley.json), nothing else: no partial file left behind.
    assert sorted(os.listdir(out)) == sorted(os.path.basename(r["path"]) + tail for r in results
                                             for tail in ("", ".foley.json"))
