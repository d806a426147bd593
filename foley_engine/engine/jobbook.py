"""The job book: the one owner of job state.

Queue order, which items are running, attempts, cancel requests, requeue and
the retry policy all live here, over the journal (which makes every change
durable before it is announced).  No sockets and no processes: the server
tells the book what happened and the book says what to announce through the
``emit`` callback, so the whole policy is unit-testable with a list.
"""
from __future__ import annotations

import sqlite3
import uuid
from collections import deque
from fractions import Fraction
from typing import Callable, Optional

from ..timebase import output_duration
from .journal import Journal, unwritable
from .outputs import remove_partials

#: emit(job_id, event type, content) announces a persisted job event
Emit = Callable[[str, str, dict], None]
ItemKey = tuple[str, int]


class JobBook:
    def __init__(self, journal: Journal, emit: Emit, *, max_attempts: int = 3, longest_first: bool = False):
        self.journal = journal
        self.emit = emit
        self.max_attempts = max_attempts
        #: hand out a job's longest waiting item first (several slots: the shortest makespan)
        self.longest_first = longest_first
        #: jobs with work left, oldest first (a crash's unfinished jobs first of all)
        self.queue: deque[str] = deque(journal.recover())
        #: items handed to a worker and not yet reported back
        self.running: set[ItemKey] = set()
        self._cancel_requested: set[str] = set()
        #: results the journal could not record (its disk was full): still announced, with their file names
        self._unrecorded: dict[ItemKey, dict] = {}
        #: why the last journal write failed, or None once one succeeds again
        self.journal_error: Optional[str] = None
        for job_id, idx, attempts in getattr(journal, "interrupted", ()):
            self._announce_retry(job_id, idx, attempts, "the engine stopped while the item ran")

    # ------------------------------------------------------------------ submitting

    @staticmethod
    def new_job_id() -> str:
        return uuid.uuid4().hex

    def add(self, job_id: str, submit_id: str, out_dir: str, specs: list[dict]) -> None:
        self.journal.add_job(job_id, submit_id, out_dir, specs)  # a full disk refuses the job (sqlite3.Error)
        self.journal_error = None
        self.queue.append(job_id)

    def is_active(self, job_id: str) -> bool:
        return self.journal.job_state(job_id) in ("queued", "running")

    # ------------------------------------------------------------------ dispatching

    def next_item(self) -> Optional[tuple[str, int, dict]]:
        """The next item to run, marked as started; None when nothing is waiting."""
        for job_id in list(self.queue):
            if not self.is_active(job_id):
                self._retire(job_id)
                continue
            busy = any(key[0] == job_id for key in self.running)
            if job_id in self._cancel_requested and not busy:
                self._cancel_job(job_id)  # the cancel arrived as its previous item finished
                continue
            if job_id in self._cancel_requested:
                continue
            waiting = [(idx, spec) for idx, spec in self.journal.pending_items(job_id)
                       if (job_id, idx) not in self.running and (job_id, idx) not in self._unrecorded]
            if not waiting:
                if not busy:
                    self._finish_job(job_id)
                continue
            idx, spec = min(waiting, key=self._order)
            self.journal.item_started(job_id, idx)
            remove_partials(spec["out_path"])
            self.running.add((job_id, idx))
            return job_id, idx, spec
        return None

    def _order(self, entry: tuple[int, dict]) -> tuple:
        idx, spec = entry
        return (-item_seconds(spec) if self.longest_first else 0, idx)

    def _others_running(self, job_id: str) -> bool:
        return any(key[0] == job_id for key in self.running)

    # ------------------------------------------------------------------ what workers report

    def _record(self, write: Callable, *args, **kwargs) -> bool:
        """A journal write; False when the journal cannot be written (its disk is full): the work in hand
        still finishes and is announced (the WAV is in place, and a client's own output name depends on
        the announcement), and :attr:`journal_error` says why."""
        try:
            write(*args, **kwargs)
        except sqlite3.Error as exc:
            self.journal_error = unwritable(self.journal.path, exc)
            return False
        self.journal_error = None
        return True

    def item_done(self, job_id: str, idx: int, result: dict) -> None:
        self.running.discard((job_id, idx))
        recorded = self._record(self.journal.item_done, job_id, idx, result)
        if job_id not in self.queue:
            return  # its job already failed or was cancelled while this item ran: kept, not announced
        if not recorded:
            self._unrecorded[(job_id, idx)] = result
        self.emit(job_id, "item", {"job_id": job_id, "item": idx, "result": result})
        if not [i for i, _ in self.journal.pending_items(job_id) if (job_id, i) not in self._unrecorded]:
            self._finish_job(job_id)

    def item_failed(self, job_id: str, idx: int, code: str, message: str) -> None:
        """An item failed: its job fails (the caller stops the job's other running items)."""
        self._release(job_id, idx)
        if job_id in self.queue:
            self._fail_job(job_id, code, message, idx)

    def item_cancelled(self, job_id: str, idx: int, *, stopping: bool) -> None:
        """A worker stopped an item: the user's cancel ends the job (once none of its items runs);
        a shutdown's keeps it queued."""
        self._release(job_id, idx)
        if job_id not in self.queue:
            return
        if stopping and job_id not in self._cancel_requested:
            self.journal.item_requeued(job_id, idx)  # resume at the next start
            self._announce_retry(job_id, idx, self.journal.item_attempts(job_id, idx), "the engine is stopping")
        elif not self._others_running(job_id):
            self._cancel_job(job_id)

    def item_lost(self, job_id: str, idx: int, reason: str, *, stopping: bool) -> None:
        """The worker died (or was killed) mid-item: run it again, up to ``max_attempts`` runs."""
        self._release(job_id, idx)
        if job_id not in self.queue:
            return
        attempts = self.journal.item_attempts(job_id, idx)
        if job_id in self._cancel_requested:
            if not self._others_running(job_id):
                self._cancel_job(job_id)
        elif stopping or attempts < self.max_attempts:
            self.journal.item_requeued(job_id, idx)
            self._announce_retry(job_id, idx, attempts, reason)
        else:
            self._fail_job(job_id, "worker", f"{reason}; gave up on items[{idx}] after {attempts} attempts", idx)

    def _announce_retry(self, job_id: str, idx: int, attempts: int, reason: str) -> None:
        """Tell clients an item runs again; they keep the spans they have (none is sent twice)."""
        self.emit(job_id, "retry", {"job_id": job_id, "item": idx, "attempt": attempts + 1, "reason": reason,
                                    "spans_until": self.journal.span_end(job_id, idx)})

    # ------------------------------------------------------------------ requests

    def cancel(self, job_id: str) -> Optional[str]:
        """Cancel a job: ``"cancelling"`` while one of its items runs (the caller stops it), else
        the job's state after the request; None when there is no such job."""
        state = self.journal.job_state(job_id)
        if state is None:
            return None
        if state not in ("queued", "running"):
            return state
        self._cancel_requested.add(job_id)
        if self.running_items(job_id):
            return "cancelling"
        self._cancel_job(job_id)
        return "cancelled"

    def cancel_requested(self, job_id: str) -> bool:
        return job_id in self._cancel_requested

    def fail_all(self, code: str, message: str) -> None:
        """Nothing can run any more (the backend cannot load): every waiting job fails."""
        for job_id in list(self.queue):
            self._fail_job(job_id, code, message, None)

    def running_items(self, job_id: Optional[str] = None) -> list[ItemKey]:
        return sorted(key for key in self.running if job_id is None or key[0] == job_id)

    # ------------------------------------------------------------------ job ends

    def orphaned_jobs(self) -> list[str]:
        """Jobs that ended (failed, cancelled) while some of their items still run: stop those."""
        return sorted({job_id for job_id, _ in self.running if job_id not in self.queue})

    def _release(self, job_id: str, idx: int) -> None:
        self.running.discard((job_id, idx))
        remove_partials(self.journal.item_spec(job_id, idx)["out_path"])

    def _results(self, job_id: str) -> list[dict]:
        unrecorded = {i: r for (j, i), r in self._unrecorded.items() if j == job_id}
        recorded = self.journal.results(job_id)
        return sorted(recorded + list(unrecorded.values()), key=lambda r: r.get("item", 0)) if unrecorded \
            else recorded

    def _finish_job(self, job_id: str) -> None:
        self._record(self.journal.set_job_state, job_id, "done")
        self.emit(job_id, "done", {"job_id": job_id, "results": self._results(job_id)})
        self._retire(job_id)

    def _fail_job(self, job_id: str, code: str, message: str, item: Optional[int]) -> None:
        self._record(self.journal.set_job_state, job_id, "failed", error_code=code, error=message, error_item=item)
        self.emit(job_id, "failed", {"job_id": job_id, "code": code, "message": message, "item": item})
        self._retire(job_id)

    def _cancel_job(self, job_id: str) -> None:
        self._record(self.journal.set_job_state, job_id, "cancelled")
        self.emit(job_id, "cancelled", {"job_id": job_id, "results": self._results(job_id)})
        self._retire(job_id)

    def _retire(self, job_id: str) -> None:
        for key in [k for k in self._unrecorded if k[0] == job_id]:
            del self._unrecorded[key]
        if job_id in self.queue:
            self.queue.remove(job_id)
        self._cancel_requested.discard(job_id)


def item_seconds(spec: dict) -> Fraction:
    """How long an item's output lasts (0 when its range is open: then it keeps its place)."""
    try:
        return output_duration(spec["start"], spec["end"], spec.get("speed") or 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return Fraction(0)
