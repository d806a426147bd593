"""Window fan-out: the full window plan equals the lazy one, and windows generated side by side
are stitched into the same bytes as one after the other (backends with independent windows)."""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_engine.backends.procedural import ProceduralBackend
from foley_engine.generate import generate_to_file
from foley_engine.job import Job
from foley_engine.longform.fanout import ThreadWindowPool
from foley_engine.longform.planner import cut_search_range, next_window, plan_windows
from foley_engine.longform.scheduler import LongformScheduler
from foley_engine.media.probe import probe
from foley_engine.lab.samples import make_sample_video
from foley_engine.timebase import to_index, to_time

SR = 48000


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory):
    """14 s at 29.97 with impacts, flashes and three shot cuts (seams move onto them)."""
    return make_sample_video(str(tmp_path_factory.mktemp("fan") / "cuts.mp4"), duration=14,
                             fps=Fraction(30000, 1001), width=160, height=90, impacts_every=Fraction(3, 2),
                             cuts=(Fraction(5, 2), Fraction(7), Fraction(23, 2)), flashes=(Fraction(4),))


def lazy_plan(first, stop, window, overlap, cut_times):
    """The scheduler's lazy planning, written out: cuts it knows by time, filtered by sample index."""
    plan, start = [], first
    while True:
        lo, hi = cut_search_range(start, window, overlap)
        known = [to_index(c, SR) for c in cut_times if to_time(lo - 1, SR) <= c < to_time(hi + 1, SR)]
        w = next_window(len(plan), start, stop, window, overlap, known)
        plan.append(w)
        if w.is_last:
            return plan
        start = w.next_start


@settings(max_examples=300, deadline=None)
@given(first=st.integers(0, 10 * SR), length=st.integers(1, 200 * SR), window_s=st.integers(2, 30),
       overlap_ms=st.integers(0, 900),
       cut_frames=st.lists(st.integers(0, 300 * 30), max_size=40))
def test_the_full_plan_equals_the_lazy_plan(first, length, window_s, overlap_ms, cut_frames):
    window, overlap = window_s * SR, overlap_ms * SR // 1000
    cut_times = sorted({Fraction(f * 1001, 30000) for f in cut_frames})
    full = plan_windows(first, first + length, window, overlap, [to_index(c, SR) for c in cut_times])
    assert lazy_plan(first, first + length, window, overlap, cut_times) == full


@pytest.mark.parametrize("start,end,speed", [(None, None, 1), ("1/3", "13", 1), ("2", "14", 2)])
def test_the_scheduler_plans_lazily_what_plan_computes_at_once(cut_clip, start, end, speed):
    scheduler = LongformScheduler(ProceduralBackend(), window=Fraction(3), overlap=Fraction(1, 4))
    job = Job(cut_clip.path, start=Fraction(start) if start else None, end=Fraction(end) if end else None,
              speed=Fraction(speed))
    info = probe(cut_clip.path)
    lazy = [w for w, _ in scheduler.requests(job, info)]
    assert lazy == scheduler.plan(job, info)
    assert len(lazy) >= 3 and any(w.at_cut for w in lazy)  # seams really moved onto cuts


def wav(tmp_path, name, clip, pool=None, backend=None, **job):
    backend = backend or ProceduralBackend()
    scheduler = LongformScheduler(backend, window=Fraction(2), overlap=Fraction(1, 4))
    out = generate_to_file(Job(clip.path, prompt="footsteps, glass, rain", seed=7, **job), backend,
                           str(tmp_path / f"{name}.wav"), scheduler=scheduler, pool=pool)
    with open(out.path, "rb") as f:
        return out, f.read()


@pytest.mark.parametrize("width", [2, 3, 5])
def test_windows_side_by_side_write_the_same_bytes(cut_clip, tmp_path, width):
    ref, want = wav(tmp_path, "sequential", cut_clip)
    with ThreadWindowPool([ProceduralBackend() for _ in range(width)]) as pool:
        got, data = wav(tmp_path, f"fan{width}", cut_clip, pool=pool)
    assert ref.windows == got.windows > width
    assert data == want


def test_fan_out_with_alignment_and_speed_is_still_identical(cut_clip, tmp_path):
    _, want = wav(tmp_path, "seq", cut_clip, align=True, speed=Fraction(3, 2))
    with ThreadWindowPool([ProceduralBackend() for _ in range(3)]) as pool:
        _, data = wav(tmp_path, "fan", cut_clip, pool=pool, align=True, speed=Fraction(3, 2))
    assert data == want


def test_a_backend_with_dependent_windows_is_never_fanned_out(cut_clip, tmp_path, click_backend):
    class Chained(ProceduralBackend):
        independent_windows = False

        def __init__(self):
            super().__init__()
            self.calls = []

        def generate(self, request):
            self.calls.append(request.previous_tail is not None)
            return super().generate(request)

    main = Chained()
    spare = Chained()
    with ThreadWindowPool([spare, spare]) as pool:
        wav(tmp_path, "chained", cut_clip, pool=pool, backend=main)
    assert spare.calls == [] and main.calls[1:] and all(main.calls[1:])  # sequential, with the tail


def test_hunyuan_declares_independent_windows_only_for_crossfade():
    from foley_engine.backends.hunyuan.backend import HunyuanBackend


    for continuity, independent in (("inpaint", False), ("crossfade", True)):
        b = HunyuanBackend.__new__(HunyuanBackend)
        b.continuity = continuity
        assert b.independent_windows is independent
