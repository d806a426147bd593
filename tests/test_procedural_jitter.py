"""Periodic sounds are irregular the way real ones are, and still a pure function of (seed, time)."""
import numpy as np

from foley_engine.analysis import VisualEvents
from foley_engine.backends.procedural.backend import render
from foley_engine.backends.procedural.beds import _song, _species
from foley_engine.backends.procedural.dsp import SR, rng_for


def note_starts(song):
    on = np.abs(song) > 1e-3
    return np.flatnonzero(on[1:] & ~on[:-1]) + 1


def test_bird_phrases_do_not_keep_time():
    spread = []
    for k in range(20):
        sp = _species(rng_for(7, 1, k))
        starts = note_starts(_song(rng_for(7, 2, k), sp))
        if starts.size >= 3:
            spread.append(np.std(np.diff(starts)) / np.mean(np.diff(starts)))
    assert len(spread) >= 10 and np.median(spread) > 0.05


def test_jittered_beds_are_deterministic_and_window_independent():
    ev = VisualEvents()
    mix = {"forest": 1.0, "drip": 1.0}
    whole = render(mix, ev, 5, 0, 6 * SR)
    np.testing.assert_array_equal(whole, render(mix, ev, 5, 0, 6 * SR))
    parts = np.concatenate([render(mix, ev, 5, 0, 2 * SR + 17), render(mix, ev, 5, 2 * SR + 17, 4 * SR - 17)])
    np.testing.assert_array_equal(whole, parts)
    assert np.abs(whole).max() > 0
