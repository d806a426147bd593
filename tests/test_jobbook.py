"""The job book alone: queue order, cancel, requeue and the retry policy, with no sockets or processes."""
from __future__ import annotations

import pytest

from foley_engine.engine.jobbook import JobBook
from foley_engine.engine.journal import Journal


@pytest.fixture
def book(tmp_path):
    events = []
    journal = Journal(str(tmp_path / "journal.sqlite"))
    b = JobBook(journal, lambda job_id, kind, content: events.append((job_id, kind)), max_attempts=2)
    b.events = events
    yield b
    journal.close()


def specs(tmp_path, n):
    return [{"media": "/m.mp4", "out_path": str(tmp_path / f"out{i}.wav")} for i in range(n)]


def submit(book, tmp_path, n=1):
    job_id = book.new_job_id()
    book.add(job_id, "", str(tmp_path), specs(tmp_path, n))
    return job_id


def test_items_run_in_order_and_jobs_finish(book, tmp_path):
    a, b = submit(book, tmp_path, 2), submit(book, tmp_path)
    assert book.next_item()[:2] == (a, 0)
    assert book.next_item()[:2] == (a, 1)  # a second slot may take the next item of the same job
    assert book.next_item()[:2] == (b, 0)
    assert book.next_item() is None
    book.item_done(a, 0, {"path": "x"})
    book.item_done(a, 1, {"path": "y"})
    book.item_done(b, 0, {"path": "z"})
    assert book.events == [(a, "item"), (a, "item"), (a, "done"), (b, "item"), (b, "done")]
    assert not book.queue and not book.running


def test_cancel_a_running_job_waits_for_its_item_a_queued_one_is_cancelled_at_once(book, tmp_path):
    a, b = submit(book, tmp_path, 2), submit(book, tmp_path)
    book.next_item()
    assert book.cancel(a) == "cancelling" and book.cancel_requested(a)
    assert book.cancel(b) == "cancelled"
    book.item_cancelled(a, 0, stopping=False)
    assert book.events == [(b, "cancelled"), (a, "cancelled")]
    assert book.next_item() is None
    assert book.cancel(a) == "cancelled" and book.cancel("0" * 32) is None


def test_a_lost_item_is_retried_then_fails_after_max_attempts(book, tmp_path):
    a = submit(book, tmp_path)
    book.next_item()
    book.item_lost(a, 0, "worker was killed by SIGKILL", stopping=False)
    assert book.events == [(a, "retry")] and book.next_item()[:2] == (a, 0)  # clients keep their spans
    book.item_lost(a, 0, "worker was killed by SIGKILL", stopping=False)
    assert book.events == [(a, "retry"), (a, "failed")]
    assert "gave up on items[0] after 2 attempts" in book.journal.job(a)["error"]["message"]


def test_a_shutdown_keeps_the_item_queued_for_the_next_start(book, tmp_path):
    a = submit(book, tmp_path)
    book.next_item()
    book.item_cancelled(a, 0, stopping=True)
    assert book.events == [(a, "retry")]
    again = JobBook(book.journal, lambda *e: None)
    assert list(again.queue) == [a] and again.next_item()[:2] == (a, 0)


def test_a_backend_that_cannot_load_fails_every_waiting_job(book, tmp_path):
    a, b = submit(book, tmp_path), submit(book, tmp_path)
    book.fail_all("backend", "cannot load backend 'x'")
    assert book.events == [(a, "failed"), (b, "failed")] and not book.queue
