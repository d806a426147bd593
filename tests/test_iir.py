"""The numpy biquad cascade (foley_engine/iir.py) against scipy's sosfilt, fed in uneven pieces."""
import numpy as np
import pytest
from scipy.signal import sosfilt

from foley_engine.iir import BLOCK, cascade
from foley_engine.loudness import k_weighting


@pytest.mark.parametrize("sr", [44100, 48000])
def test_matches_sosfilt_across_uneven_calls(sr):
    sections = k_weighting(sr)
    sos = np.array([np.concatenate([b, a]) for b, a in sections])
    x = np.random.default_rng(3).standard_normal((2, sr * 3)) * 0.3
    x[:, sr: sr + 500] = 0.0  # silence inside: the carried state alone drives the output
    ref = sosfilt(sos, x, axis=1)
    filt = cascade(sections, 2)
    sizes = [1, 2, 3, BLOCK - 1, BLOCK, BLOCK + 1, 7, 65536, 100]
    pieces, i, k = [], 0, 0
    while i < x.shape[1]:
        n = sizes[k % len(sizes)]
        pieces.append(filt(x[:, i: i + n]))
        i, k = i + n, k + 1
    got = np.concatenate(pieces, axis=1)
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-8 * np.abs(ref).max()


def test_empty_input_keeps_state():
    sections = k_weighting(48000)
    x = np.random.default_rng(4).standard_normal((1, 1000))
    a, b = cascade(sections, 1), cascade(sections, 1)
    whole = a(x)
    parts = [b(x[:, :400]), b(np.zeros((1, 0))), b(x[:, 400:])]
    assert np.allclose(np.concatenate(parts, axis=1), whole, rtol=0, atol=1e-8)
