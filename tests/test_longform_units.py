"""Window planning and crossfade stitching, without media."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_engine.longform.planner import plan_windows
from foley_engine.longform.stitch import crossfade, fade_out_weights
from foley_engine.longform.scheduler import derive_seed


@settings(max_examples=300, deadline=None)
@given(
    start=st.integers(0, 10**9),
    length=st.integers(1, 48000 * 3 * 3600),
    window=st.integers(1000, 48000 * 30),
    overlap_frac=st.floats(0, 0.49),
    cuts=st.lists(st.integers(0, 48000 * 3 * 3600), max_size=30),
)
def test_plan_covers_range_with_exact_overlaps(start, length, window, overlap_frac, cuts):
    window = max(window, length // 500)  # keep the number of windows testable
    overlap = min(int(window * overlap_frac), (window - 1) // 2)
    stop = start + length
    plan = plan_windows(start, stop, window, overlap, [start + c for c in cuts])
    assert plan[0].start == start and plan[-1].end == stop
    for w in plan:
        assert 0 < w.num_samples <= window
    for prev, nxt in zip(plan, plan[1:]):
        assert nxt.start == prev.next_start
        assert prev.end - nxt.start == overlap  # overlap is exact everywhere
        assert nxt.start > prev.start  # progress


def test_boundaries_move_to_cuts():
    sr = 48000
    cut = 17 * sr + 123
    plan = plan_windows(0, 60 * sr, 20 * sr, sr // 2, [cut])
    assert plan[0].at_cut and plan[0].next_start + sr // 4 == cut


@pytest.mark.parametrize("length", [1, 2, 7, 12000, 24001])
def test_weights_sum_to_one(length):
    w = fade_out_weights(length)
    assert np.all((w + (1.0 - w)) == 1.0)
    assert np.all(np.diff(w) <= 0) and w[0] <= 1 and w[-1] >= 0


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 5000), seed=st.integers(0, 2**32 - 1))
def test_stitching_identical_windows_reproduces_signal(n, seed):
    signal = np.random.default_rng(seed).standard_normal((n, 2)).astype(np.float32)
    assert np.array_equal(crossfade(signal, signal.copy()), signal)


def test_crossfade_moves_from_previous_to_following():
    a, b = np.ones((100, 1), np.float32), np.zeros((100, 1), np.float32)
    out = crossfade(a, b)[:, 0]
    assert out[0] > 0.99 and out[-1] < 0.01


def test_window_seeds_differ_and_repeat():
    seeds = [derive_seed(7, i) for i in range(100)]
    assert len(set(seeds)) == 100
    assert seeds == [derive_seed(7, i) for i in range(100)]
    assert derive_seed(8, 0) != derive_seed(7, 0)
