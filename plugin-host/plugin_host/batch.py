"""The one batch runner every adapter uses: submit items, follow them all, cancel, check results.

    from plugin_host.batch import BatchRunner
    from plugin_host.items import Item

    with EngineClient.open(EngineSpec()) as eng:
        outcome = BatchRunner(eng, "/abs/foley").run(
            [Item("/abs/a.mov", Fraction(25, 2), Fraction(77, 4), prompt="glass breaks")],
            on_result=lambda done: place(done.result), cancel=user_pressed_escape)

Every item is its own engine job, submitted at once (so N engine slots work
in parallel), and the runner follows all of them on one connection, calling
back as things happen.  Every result is checked against the item that asked
for it before ``on_result`` sees it.

**Failure policy** (``policy=``), the same meaning wherever it is used:

- ``"isolate"`` (the default, everywhere): one bad clip fails alone; the
  others are still generated.
- ``"stop"``: the first failure cancels every unfinished item; they fail
  with ``not generated: <the first failure>``.

**Submit ids.**  Each job is submitted with an id, and the engine answers the
same id with the job it already has (from its journal) instead of a new one.
By default the ids are fresh for each run but stable across the reconnects of
that run; ``resume=True`` derives them from the item and its output folder
alone (:func:`submit_id_for`), so running the same batch again finds the
engine's existing jobs and nothing finished is generated twice; or pass your
own ``submit_ids`` to :meth:`BatchRunner.run`.

**Reconnect window.**  With ``reconnect_window=S`` an engine that went away
(a crash, a restart) is waited for up to ``S`` seconds; when it answers again
the unfinished items are submitted again with the same ids, which finds their
jobs in its journal.  Without it (the default) they fail with the reason.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .client import EngineClient, EngineError, EngineJob, EngineTimeout, RequestRejected
from .items import Item, Result

ISOLATE = "isolate"
STOP = "stop"
POLICIES = (ISOLATE, STOP)


def item_key(item: Item, out_dir: str) -> str:
    """A stable id for ``item`` written into ``out_dir``: the same work, the same key."""
    wire = json.dumps([item.to_wire(), os.path.abspath(out_dir)], sort_keys=True)
    return hashlib.sha256(wire.encode()).hexdigest()[:32]


def submit_id_for(item: Item, out_dir: str, salt: str = "") -> str:
    """The content-derived submit id of ``item`` (``salt`` makes a deliberately new one)."""
    key = item_key(item, out_dir)
    return f"{key}-{salt}" if salt else key


@dataclass(frozen=True)
class BatchProgress:
    """Item ``index`` of ``items`` is ``done_samples`` of ``total_samples`` in; ``overall`` is the batch's."""

    index: int
    items: int
    done_samples: int
    total_samples: int
    windows_done: int = 0
    windows_estimate: int = 0
    #: the whole batch's progress 0..1 (the mean over items; finished and failed items count as 1)
    overall: Optional[float] = None

    @property
    def item_fraction(self) -> float:
        return min(1.0, self.done_samples / self.total_samples) if self.total_samples else 0.0

    @property
    def fraction(self) -> float:
        """The whole batch's progress, 0..1."""
        if self.overall is not None:
            return self.overall
        return min(1.0, (self.index + self.item_fraction) / max(1, self.items))


@dataclass
class ItemOutcome:
    index: int
    item: Item
    result: Optional[Result] = None
    #: why it failed (None while it has not), without the item's name
    reason: Optional[str] = None
    job_id: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def ended(self) -> bool:
        return self.result is not None or self.reason is not None

    @property
    def error(self) -> Optional[str]:
        """The failure as one line naming the item, or None."""
        return None if self.reason is None else f"{self.item.name}: {self.reason}"


@dataclass
class BatchOutcome:
    outcomes: list = field(default_factory=list)
    cancelled: bool = False
    #: the user pressed Ctrl-C (KeyboardInterrupt) while waiting; unfinished jobs were cancelled
    interrupted: bool = False

    @property
    def done(self) -> list:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list:
        return [o for o in self.outcomes if o.error is not None]


def refusal(exc: RequestRejected) -> str:
    """An engine refusal as one line that names the field once.  Each item is a job of its own, so the
    engine calls every item ``items[0]``: that index is dropped (the failure names the item already;
    ``items[0]`` for the batch's second clip misled)."""
    field, text = exc.field or "", str(exc)
    if field.startswith(SINGLE_ITEM):
        text = text.replace(field, field[len(SINGLE_ITEM):], 1)
        field = field[len(SINGLE_ITEM):]
    where = f"{field}: " if field and not text.startswith(field) else ""
    return f"the engine refused it: {where}{text}"


#: the field prefix of the one item in a job the runner submitted
SINGLE_ITEM = "items[0]."


class BatchRunner:
    def __init__(self, client: Optional[EngineClient], out_dir: str, *, policy: str = ISOLATE,
                 sample_rate: Optional[int] = None, timeout: Optional[float] = None,
                 reconnect_window: float = 0.0, connect: Optional[Callable[[], EngineClient]] = None,
                 resume: bool = False, keep_jobs_on_interrupt: bool = False):
        """``client``: a connected client, or None to connect with ``connect()`` (then the reconnect window
        covers the first connection too).  ``sample_rate``: refuse results at another rate (adapters placing
        on a 48 kHz grid).  ``timeout``: seconds the whole batch may take.  ``connect()``: a new connected
        client after the engine went away (default: the same connection file, no autostart).
        ``keep_jobs_on_interrupt``: Ctrl-C leaves the engine's jobs running (their items fail as
        ``interrupted``), so a re-run with the same submit ids picks them up; by default they are cancelled."""
        if policy not in POLICIES:
            raise ValueError(f"failure policy {policy!r} is not one of {', '.join(POLICIES)}")
        if client is None and connect is None:
            raise ValueError("BatchRunner needs a client or a connect function")
        self.client = client
        self.out_dir = out_dir
        self.policy = policy
        self.sample_rate = sample_rate
        self.timeout = timeout
        self.reconnect_window = reconnect_window
        self.resume = resume
        self.keep_jobs_on_interrupt = keep_jobs_on_interrupt
        self.connect = connect or (lambda: EngineClient.connect(
            client.connection_file, timeout=client.timeout, retries=client.retries, heartbeat=client.heartbeat_interval))

    def run(self, items: Sequence[Item], *,
            out_dirs: Optional[Sequence[str]] = None,
            submit_ids: Optional[Sequence[str]] = None,
            on_progress: Optional[Callable[[BatchProgress], None]] = None,
            on_result: Optional[Callable[[ItemOutcome], None]] = None,
            on_failure: Optional[Callable[[ItemOutcome], None]] = None,
            on_submitted: Optional[Callable[[str], None]] = None,
            on_disconnect: Optional[Callable[[str], None]] = None,
            on_connect: Optional[Callable[[EngineClient], None]] = None,
            on_span: Optional[Callable[[int, dict], None]] = None,
            cancel: Optional[Callable[[], bool]] = None) -> BatchOutcome:
        """Generate ``items``; callbacks run on the calling thread as things happen.

        ``out_dirs``: a folder per item (default: the runner's).  ``cancel()`` is polled while
        waiting: once it returns True every unfinished job is cancelled in the engine (finished
        results are kept).  Ctrl-C (KeyboardInterrupt) does the same and sets ``interrupted``.
        ``on_disconnect(reason)``: the engine went away and the runner waits for it;
        ``on_connect(client)``: the runner connected (``connect()``) to an engine.
        ``on_span(index, span)``: a finished span of item ``index`` (``start_sample``, ``num_samples``; for
        early placement or seam checks).
        """
        folders = list(out_dirs) if out_dirs is not None else [self.out_dir] * len(items)
        if submit_ids is None:
            salt = "" if self.resume else uuid.uuid4().hex[:12]
            submit_ids = [submit_id_for(item, d, salt) for item, d in zip(items, folders)]
        run = _Run(self, list(items), folders, _distinct(submit_ids), cancel,
                   dict(progress=on_progress, result=on_result, failure=on_failure, submitted=on_submitted,
                        disconnect=on_disconnect, connect=on_connect,
                        span=on_span))
        return run.go()


def _distinct(ids: Sequence[str]) -> list:
    """The same work twice in one batch is two jobs: a repeated id gets ``~2``, ``~3``, ... (stable)."""
    seen: dict = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        out.append(i if seen[i] == 1 else f"{i}~{seen[i]}")
    return out


class _Run:
    """One :meth:`BatchRunner.run`: the items' fates, the live jobs, the policy."""

    def __init__(self, runner: BatchRunner, items: list, folders: list, submit_ids: list, cancel, callbacks: dict):
        self.runner, self.items, self.folders, self.submit_ids = runner, items, folders, submit_ids
        self.cancel_requested = cancel
        self.on = callbacks
        self.outcome = BatchOutcome([ItemOutcome(i, item) for i, item in enumerate(items)])
        self.fractions = [0.0] * len(items)
        self.jobs: dict[str, tuple[int, EngineJob]] = {}  # job id -> (item index, job), this connection's
        self.seen_jobs: set = set()
        self.stop_reason: Optional[str] = None  # the "stop" policy's first failure
        self.deadline = None if runner.timeout is None else time.monotonic() + runner.timeout

    # ---------------------------------------------------------------- fates

    def succeed(self, index: int, result: Result, job_id: str) -> None:
        o = self.outcome.outcomes[index]
        if o.ended:
            return
        o.job_id = job_id
        problem = result.problem(o.item, self.runner.sample_rate)
        if problem:
            self.fail(index, problem, job_id)
            return
        o.result = result
        self.fractions[index] = 1.0
        if self.on["result"] is not None:
            self.on["result"](o)

    def fail(self, index: int, message: str, job_id: str = "") -> None:
        o = self.outcome.outcomes[index]
        if o.ended:
            return
        o.reason, o.job_id = message, job_id or o.job_id
        self.fractions[index] = 1.0
        if self.on["failure"] is not None:
            self.on["failure"](o)
        if self.runner.policy == STOP and self.stop_reason is None and message != "cancelled":
            self.stop_reason = f"not generated: {o.error}"
            self.cancel_jobs()

    def unfinished(self) -> list:
        return [o.index for o in self.outcome.outcomes if not o.ended]

    def fail_unfinished(self, message: str) -> None:
        """The end of the batch: nothing is left to cancel (the engine is gone, or was told)."""
        self.stop_reason = self.stop_reason or message
        for i in self.unfinished():
            self.fail(i, message)

    # ---------------------------------------------------------------- the loop

    def go(self) -> BatchOutcome:
        client, owned, gone_since, pause = self.runner.client, [], None, False
        try:
            while self.unfinished():
                try:
                    if pause:
                        time.sleep(1.0)  # the engine went away: give it a moment
                        pause = False
                    if client is None:
                        client = self.runner.connect()
                        owned.append(client)
                        if self.on["connect"] is not None:
                            self.on["connect"](client)
                    self.submit(client)
                    self.follow(client)
                    gone_since = None
                except KeyboardInterrupt:
                    self.interrupted()
                except EngineError as exc:
                    window = self.runner.reconnect_window
                    if self.outcome.cancelled or isinstance(exc, EngineTimeout) and self.past_deadline():
                        self.fail_unfinished("cancelled" if self.outcome.cancelled else str(exc))
                        continue
                    gone_since = gone_since or time.monotonic()
                    if not window or time.monotonic() - gone_since > window:
                        self.fail_unfinished(f"the engine is gone: {exc}" if window else str(exc))
                        continue
                    # Its journal keeps our jobs: the same submit ids find them once it is back.
                    if self.on["disconnect"] is not None:
                        self.on["disconnect"](str(exc))
                    client, pause = None, True
        finally:
            for c in owned:
                c.close()
        return self.outcome

    def interrupted(self) -> None:
        """Ctrl-C: cancel the unfinished jobs, or leave them to a re-run (``keep_jobs_on_interrupt``)."""
        self.outcome.interrupted = True
        if self.runner.keep_jobs_on_interrupt:
            self.fail_unfinished("interrupted")
            return
        self.outcome.cancelled = True
        self.cancel_jobs()
        self.fail_unfinished("cancelled")

    def submit(self, client: EngineClient) -> None:
        """Each unfinished item as its own job (the same submit id finds a job the engine already has)."""
        self.jobs = {}
        for i in self.unfinished():
            if self.stop_reason is not None:
                self.fail(i, self.stop_reason)
                continue
            try:
                job = client.submit([self.items[i]], out_dir=self.folders[i], submit_id=self.submit_ids[i])
            except RequestRejected as exc:
                self.fail(i, refusal(exc))
                continue
            self.jobs[job.job_id] = (i, job)
            self.outcome.outcomes[i].job_id = job.job_id
            if job.job_id not in self.seen_jobs:
                self.seen_jobs.add(job.job_id)
                if self.on["submitted"] is not None:
                    self.on["submitted"](job.job_id)

    def follow(self, client: EngineClient) -> None:
        """Every live job's events on one connection until all have ended."""
        for job, event in client.events_of([job for _, job in self.jobs.values()], on_idle=self.idle):
            i = self.jobs[job.job_id][0]
            c = event.content
            if event.type == "progress":
                self.progress(i, c)
            elif event.type == "span" and self.on["span"] is not None:
                self.on["span"](i, c)
            elif event.type == "item":
                self.succeed(i, Result.from_wire(c["result"]), job.job_id)
            elif event.type == "failed":
                self.fail(i, c.get("message", "failed"), job.job_id)
            elif event.type == "cancelled":
                self.fail(i, self.stop_reason or "cancelled", job.job_id)
            self.idle()
        for i, job in self.jobs.values():
            self.fail(i, "the engine ended the job without a result", job.job_id)

    def progress(self, index: int, c: dict) -> None:
        p = BatchProgress(index, len(self.items), c.get("done_samples", 0), c.get("total_samples", 0),
                          c.get("windows_done", 0), c.get("windows_estimate", 0))
        self.fractions[index] = max(self.fractions[index], p.item_fraction)
        if self.on["progress"] is not None:
            overall = sum(self.fractions) / max(1, len(self.fractions))
            self.on["progress"](BatchProgress(p.index, p.items, p.done_samples, p.total_samples, p.windows_done,
                                              p.windows_estimate, overall))

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def idle(self) -> None:
        if self.past_deadline():
            raise EngineTimeout(f"the batch did not finish within {self.runner.timeout:.0f} s")
        if self.cancel_requested is not None and not self.outcome.cancelled and self.cancel_requested():
            self.outcome.cancelled = True
            self.cancel_jobs()

    def cancel_jobs(self) -> None:
        for _, job in self.jobs.values():
            if job.final is None:
                try:
                    job.cancel()  # takes effect at the engine's next window
                except EngineError:
                    pass  # the engine is gone: nothing left to cancel
