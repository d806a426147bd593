"""Sync measurement units: onset envelopes, offset estimation, offset statistics, onsets over a noise bed."""
from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import butter, lfilter

from foley_engine.analysis import Onset, VisualEvents
from foley_engine.sync import (
    SyncOffset, estimate_offset, event_envelope, event_times, offset_stats, onset_envelope, onset_samples,
)

SR = 48000


def impacts(n, start_sample, times, delay=0, bed=0.0, seed=0):
    """Noise-burst impacts (sharp attack, 40 ms decay) at ``times`` + ``delay`` samples, over an optional bed."""
    rng = np.random.default_rng(seed)
    audio = (rng.standard_normal((n, 2)) * bed).astype(np.float32)
    length = int(0.3 * SR)
    env = np.exp(-np.arange(length) / (0.04 * SR))
    for t in times:
        i = round(t * SR) - start_sample + delay
        burst = (rng.standard_normal(length) * env * 0.4).astype(np.float32)
        audio[i : i + length] += burst[: n - i, None]
    return audio


def test_event_times_accepts_events_onsets_and_times():
    onsets = [Onset(Fraction(3), "impact", 1.0, 0.0), Onset(Fraction(1), "flash", 1.0, 0.0),
              Onset(Fraction(2), "start", 1.0, 0.0)]
    assert event_times(VisualEvents(onsets=onsets)) == [1, 3]
    assert event_times(onsets, kinds=("start",)) == [2]
    assert event_times([Fraction(5, 2), Fraction(1, 3)]) == [Fraction(1, 3), Fraction(5, 2)]


def test_envelopes_peak_at_the_onset_block():
    start = 1000
    times = [Fraction(start + 24000, SR)]
    audio = impacts(48000, start, times)
    novelty = onset_envelope(audio, SR)
    assert abs(int(np.argmax(novelty)) - 24000 // 48) <= 1
    visual = event_envelope(times, start, novelty.shape[0], SR)
    assert visual.sum() == 1 and visual[24000 // 48] == 1


@pytest.mark.parametrize("delay_ms", [0, 60, -60, 37.5, 79, -79])
def test_estimate_offset_recovers_a_known_delay(delay_ms):
    start = 123457  # not a multiple of the 1 ms block
    times = [Fraction(start, SR) + Fraction(1) + Fraction(7, 3) * k for k in range(8)]
    delay = round(delay_ms * SR / 1000)
    audio = impacts(20 * SR, start, times, delay=delay, bed=0.003)
    est = estimate_offset(audio, start, SR, times)
    assert est.method == "onsets" and est.matched == len(times)
    assert abs(est.samples - delay) <= SR // 2000  # 0.5 ms


def test_estimate_offset_without_evidence_is_zero():
    start = 0
    times = [Fraction(2), Fraction(5)]
    silent = np.zeros((8 * SR, 2), np.float32)
    assert estimate_offset(silent, start, SR, times).samples == 0
    assert not estimate_offset(silent, start, SR, times).reliable
    # Events too close to the window's edges for every lag to be tried are ignored.
    edge = impacts(8 * SR, start, [Fraction(1, 100)])
    assert estimate_offset(edge, start, SR, [Fraction(1, 100)]).events == 0


@pytest.mark.parametrize("cutoff", [200, 1000])
def test_onsets_over_a_room_tone_are_not_hidden_by_its_fluctuations(cutoff):
    # A low-passed -48 dBFS bed (a room tone) makes 1 ms peaks wobble by more than 12 dB;
    # the detector must still time every impact (not fire on the bed and then sit out the impact).
    times = [Fraction(1) + Fraction(9, 7) * k for k in range(10)]
    b, a = butter(2, cutoff / (SR / 2))
    bed = lfilter(b, a, np.random.default_rng(cutoff).standard_normal((15 * SR, 2)), axis=0)
    audio = impacts(15 * SR, 0, times, seed=3) + (bed * (0.004 / bed.std())).astype(np.float32)
    found = onset_samples(audio, SR)
    for t in times:
        nearest = int(np.min(np.abs(found - round(t * SR))))
        assert nearest <= SR // 1000, (t, nearest)


def test_offset_stats_median_p95_max_and_trend():
    # Offsets that drift by exactly 2 ms per minute from -1 ms.
    offs = [SyncOffset(Fraction(6 * k), Fraction(6 * k) + Fraction(-1 + 2 * Fraction(6 * k, 60), 1000))
            for k in range(50)]
    offs.append(SyncOffset(Fraction(299), None))
    s = offset_stats(offs, Fraction(300))
    assert s.events == 51 and s.missing == 1
    assert s.trend_ms_per_min == pytest.approx(2.0, abs=1e-6)
    assert s.max_ms == pytest.approx(8.8, abs=1e-6)
    assert s.median_ms == pytest.approx(3.9, abs=1e-6)
    assert len(s.by_position) == 10 and s.by_position[0] < s.by_position[-1]
    empty = offset_stats([SyncOffset(Fraction(1), None)], Fraction(10))
    assert empty.median_ms is None and empty.missing == 1
