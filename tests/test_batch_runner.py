"""The one batch runner over a real engine: all items followed at once, submit ids, failure policy."""
from __future__ import annotations

from fractions import Fraction

import pytest

from plugin_host.batch import BatchRunner, item_key, submit_id_for
from plugin_host.items import Item

from test_engine_backend import make_clip

ENV_PULSE = "scale_backends:EnvPulse"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(str(tmp_path_factory.mktemp("runner") / "a.mp4"), seconds=2)


def items(clip, n=3, **kw):
    return [Item(clip, Fraction(k, 4), Fraction(k, 4) + 1, seed=k, label=f"item{k}", **kw) for k in range(n)]


def test_submit_ids_come_from_the_work():
    a, b = items("/abs/a.mp4", 2)
    assert item_key(a, "/out") == item_key(Item("/abs/a.mp4", Fraction(0), Fraction(1)), "/out")  # label aside
    assert item_key(a, "/out") != item_key(b, "/out") != item_key(b, "/elsewhere")
    assert submit_id_for(a, "/out", "2") == item_key(a, "/out") + "-2"
    with pytest.raises(ValueError, match="failure policy"):
        BatchRunner(None, "/out", policy="retry", connect=lambda: None)


def test_items_run_at_once_and_a_resumed_run_finds_the_engines_jobs(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", "--slots", "2", backend=ENV_PULSE)
    out = str(tmp_path)
    work = items(clip)
    progress = []
    with engine.client() as eng:
        first = BatchRunner(eng, out, resume=True).run(work, on_progress=progress.append)
        assert [o.ok for o in first.outcomes] == [True, True, True]
        assert progress and all(0 <= p.fraction <= 1 for p in progress)
        jobs = len(eng.jobs())
        again = BatchRunner(eng, out, resume=True).run(work)  # the same work: the engine's jobs, not new ones
        assert [o.job_id for o in again.outcomes] == [o.job_id for o in first.outcomes]
        assert [o.result.path for o in again.outcomes] == [o.result.path for o in first.outcomes]
        assert len(eng.jobs()) == jobs
        fresh = BatchRunner(eng, out).run(work[:1])  # not resuming: a run is its own work
        assert fresh.outcomes[0].ok and fresh.outcomes[0].job_id not in {o.job_id for o in first.outcomes}
        twice = BatchRunner(eng, out, resume=True).run([work[0], work[0]])  # the same work twice: two jobs
        assert twice.outcomes[0].job_id == first.outcomes[0].job_id != twice.outcomes[1].job_id
        assert all(o.ok for o in twice.outcomes)


def test_isolate_and_stop(engines, clip, tmp_path):
    engine = engines(tmp_path / "engine", backend=ENV_PULSE)
    out = str(tmp_path)
    bad = Item(clip, Fraction(0), Fraction(99), label="past the end")
    with engine.client() as eng:
        isolated = BatchRunner(eng, out).run([bad, *items(clip, 2)])
        assert [o.ok for o in isolated.outcomes] == [False, True, True]
        assert isolated.outcomes[0].error.startswith("past the end: the engine refused it")
        slow = items(clip, 3, options={"delay": 0.3})
        stopped = BatchRunner(eng, out, policy="stop").run([*slow, bad])
    assert not stopped.outcomes[-1].ok
    # The first failure (refused at submit) cancelled the rest; the running one may finish its window.
    assert sum(o.reason and o.reason.startswith("not generated: past the end") for o in stopped.outcomes) >= 2


def test_a_refused_second_clip_is_not_called_items_0(engines, clip, tmp_path):
    """Each item is a job of its own: the engine's `items[0]` named the batch's second clip (the README's
    example printed it); the failure names the clip and the field, and its index is the batch's."""
    engine = engines(tmp_path / "engine", backend=ENV_PULSE)
    good, bad = Item(clip, Fraction(0), Fraction(1), label="a.mov"), Item(clip, Fraction(0), Fraction(99),
                                                                           label="b.mov")
    with engine.client() as eng:
        outcome = BatchRunner(eng, str(tmp_path)).run([good, bad])
    (failed,) = outcome.failed
    assert failed.index == 1 and failed.error.startswith("b.mov: the engine refused it: end")
    assert "items[" not in failed.error
