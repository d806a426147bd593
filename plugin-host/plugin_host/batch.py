"""The one batch runner every adapter uses: submit items, stream progress, cancel, check results.

    from plugin_host.batch import BatchRunner
    from plugin_host.items import Item

    with EngineClient.connect(autostart=True) as eng:
        outcome = BatchRunner(eng, "/abs/foley").run(
            [Item("/abs/a.mov", Fraction(25, 2), Fraction(77, 4), prompt="glass breaks")],
            on_result=lambda done: place(done.result), cancel=user_pressed_escape)

The failure policy is explicit: ``isolate=True`` (the default, everywhere)
runs each item as its own engine job, so one bad clip fails alone and the
others are still generated; ``isolate=False`` submits the batch as one job
that stops at its first failure.  Every result is checked against the item
that asked for it before ``on_result`` sees it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .client import EngineClient, EngineError, EngineJob, RequestRejected
from .items import Item, Result


@dataclass(frozen=True)
class BatchProgress:
    """Where a batch stands: item ``index`` of ``items`` is ``done_samples`` of ``total_samples`` in."""

    index: int
    items: int
    done_samples: int
    total_samples: int
    windows_done: int = 0
    windows_estimate: int = 0

    @property
    def fraction(self) -> float:
        """The whole batch's progress, 0..1."""
        within = self.done_samples / self.total_samples if self.total_samples else 0.0
        return min(1.0, (self.index + within) / max(1, self.items))


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
    """An engine refusal as one line that names the field once."""
    where = f"{exc.field}: " if exc.field and not str(exc).startswith(exc.field) else ""
    return f"the engine refused it: {where}{exc}"


class BatchRunner:
    def __init__(self, client: EngineClient, out_dir: str, *, isolate: bool = True,
                 sample_rate: Optional[int] = None, timeout: Optional[float] = None):
        """``sample_rate``: refuse results at another rate (adapters placing on a 48 kHz grid)."""
        self.client = client
        self.out_dir = out_dir
        self.isolate = isolate
        self.sample_rate = sample_rate
        self.timeout = timeout

    def run(self, items: Sequence[Item], *,
            on_progress: Optional[Callable[[BatchProgress], None]] = None,
            on_result: Optional[Callable[[ItemOutcome], None]] = None,
            on_failure: Optional[Callable[[ItemOutcome], None]] = None,
            on_submitted: Optional[Callable[[str], None]] = None,
            cancel: Optional[Callable[[], bool]] = None) -> BatchOutcome:
        """Generate ``items``; callbacks run on the calling thread as things happen.

        ``cancel()`` is polled while waiting: once it returns True every
        unfinished job is cancelled in the engine (finished results are kept).
        Ctrl-C (KeyboardInterrupt) does the same and sets ``interrupted``.
        """
        outcome = BatchOutcome([ItemOutcome(i, item) for i, item in enumerate(items)])

        def succeed(index: int, result: Result, job_id: str) -> None:
            o = outcome.outcomes[index]
            o.job_id = job_id
            problem = result.problem(o.item, self.sample_rate)
            if problem:
                fail(index, problem, job_id)
                return
            o.result = result
            if on_result is not None:
                on_result(o)

        def fail(index: int, message: str, job_id: str = "") -> None:
            o = outcome.outcomes[index]
            if o.ok or o.reason is not None:
                return
            o.reason, o.job_id = message, job_id or o.job_id
            if on_failure is not None:
                on_failure(o)

        groups = [[i] for i in range(len(items))] if self.isolate else [list(range(len(items)))]
        jobs: list[tuple[list[int], EngineJob]] = []
        for group in groups:
            if not group:
                continue
            try:
                job = self.client.submit([items[i].to_wire() for i in group], out_dir=self.out_dir)
            except RequestRejected as exc:
                for i in group:
                    fail(i, refusal(exc))
                continue
            if on_submitted is not None:
                on_submitted(job.job_id)
            jobs.append((group, job))

        def cancel_unfinished(first: int) -> None:
            outcome.cancelled = True
            for _, job in jobs[first:]:
                if job.final is None:
                    try:
                        job.cancel()  # takes effect at the engine's next window
                    except EngineError:
                        pass  # the engine is gone: nothing left to cancel

        n = len(items)
        for k, (group, job) in enumerate(jobs):
            def idle() -> None:
                if cancel is not None and not outcome.cancelled and cancel():
                    cancel_unfinished(k)

            try:
                for event in job.events(timeout=self.timeout, on_idle=idle):
                    c = event.content
                    if event.type == "progress" and on_progress is not None:
                        index = group[c.get("item", 0)] if c.get("item", 0) < len(group) else group[0]
                        on_progress(BatchProgress(index, n, c.get("done_samples", 0), c.get("total_samples", 0),
                                                  c.get("windows_done", 0), c.get("windows_estimate", 0)))
                    elif event.type == "item":
                        succeed(group[c["item"]], Result.from_wire(c["result"]), job.job_id)
                    idle()
                final = job.final
                if final.type == "failed":
                    reason = final.content.get("message", "failed")
                    bad = final.content.get("item")
                    for pos, i in enumerate(group):
                        if bad is None or pos == bad or not self.isolate:
                            fail(i, reason if bad is None or pos == bad else f"not generated: {reason}", job.job_id)
                elif final.type == "cancelled":
                    for i in group:
                        fail(i, "cancelled", job.job_id)
            except KeyboardInterrupt:
                cancel_unfinished(k)
                outcome.interrupted = True
                for later_group, later in jobs[k:]:
                    for i in later_group:
                        fail(i, "cancelled", later.job_id)
                break
            except EngineError as exc:
                for i in group:
                    fail(i, str(exc), job.job_id)
            if outcome.cancelled:
                # Not waited for: their jobs were cancelled before they ran.
                for later_group, later in jobs[k + 1:]:
                    for i in later_group:
                        fail(i, "cancelled", later.job_id)
                break
        return outcome
