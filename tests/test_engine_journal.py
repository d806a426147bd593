"""The journal on its own: what survives a crash, and what a restart resumes."""
import sqlite3

from foley_engine.engine.journal import Journal


def specs(n):
    return [{"media": f"/m{i}.mp4", "out_path": f"/out/{i}.wav"} for i in range(n)]


def test_recover_resumes_only_unfinished_items(tmp_path):
    path = str(tmp_path / "j.sqlite")
    journal = Journal(path)
    journal.add_job("aa", "submit-1", "/out", specs(3))
    journal.add_job("bb", "", "/out", specs(1))
    journal.add_job("cc", "", "/out", specs(1))
    assert journal.item_started("aa", 0) == 1
    journal.item_done("aa", 0, {"item": 0, "path": "/out/0.wav"})
    assert journal.add_event("aa", "item", {"job_id": "aa"}) == 1
    journal.item_started("aa", 1)
    journal.set_job_state("cc", "cancelled")
    # No close: the process "dies" here, with item 1 running.
    again = Journal(path)
    assert again.recover() == ["aa", "bb"]
    assert [i for i, _ in again.pending_items("aa")] == [1, 2]
    assert again.item_attempts("aa", 1) == 1 and again.results("aa") == [{"item": 0, "path": "/out/0.wav"}]
    assert again.job_by_submit_id("submit-1") == "aa" and again.job_by_submit_id("") is None
    assert again.add_event("aa", "span", {"job_id": "aa"}) == 2
    assert [t for t, _ in again.events_since("aa", 1)] == ["span"]
    job = again.job("aa")
    assert job["state"] == "queued" and job["items_done"] == 1 and [i["state"] for i in job["items"]] == [
        "done", "queued", "queued"]
    assert again.counts() == {"queued": 2, "running": 0, "done": 0, "failed": 0, "cancelled": 1}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_failed_job_keeps_finished_items(tmp_path):
    journal = Journal(str(tmp_path / "j.sqlite"))
    journal.add_job("aa", "", "/out", specs(2))
    journal.item_started("aa", 0)
    journal.item_done("aa", 0, {"item": 0})
    journal.item_started("aa", 1)
    journal.set_job_state("aa", "failed", error_code="media", error="bad file", error_item=1)
    job = journal.job("aa")
    assert [i["state"] for i in job["items"]] == ["done", "failed"]
    assert job["error"] == {"code": "media", "message": "bad file", "item": 1}
    assert journal.recover() == [] and journal.jobs(state="failed")[0]["job_id"] == "aa"
