"""Exact time: the rounding rule, tiling, rates and timecode."""
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foley_engine.errors import RangeError
from plugin_host.timebase import TimeError
from foley_engine.timebase import (
    TimeRange,
    exact_rate,
    frames_to_timecode,
    num_samples,
    parse_clock,
    parse_media_time,
    range_to_indices,
    round_half_away,
    timecode_to_frames,
    to_index,
    to_time,
)

EDITOR_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30),
                Fraction(50), Fraction(60000, 1001), Fraction(60)]
SAMPLE_RATES = [44100, 48000]
THREE_HOURS = 3 * 3600


def test_round_half_away_from_zero():
    assert round_half_away(Fraction(1, 2)) == 1
    assert round_half_away(Fraction(3, 2)) == 2  # not banker's rounding
    assert round_half_away(Fraction(-1, 2)) == -1
    assert round_half_away(Fraction(5, 3)) == 2
    assert round_half_away(Fraction(4, 3)) == 1


@settings(max_examples=400, deadline=None)
@given(
    rate=st.sampled_from(EDITOR_RATES),
    sr=st.sampled_from(SAMPLE_RATES),
    cuts=st.lists(st.integers(min_value=0, max_value=int(THREE_HOURS * 60)), min_size=2, max_size=40, unique=True),
)
def test_adjacent_frame_ranges_tile_exactly(rate, sr, cuts):
    """Ranges cut at arbitrary frames of a 3-hour timeline cover every sample once."""
    frames = sorted(cuts)
    times = [to_time(f, rate) for f in frames]
    ranges = [range_to_indices(a, b, sr) for a, b in zip(times, times[1:])]
    for (_, end), (start, _) in zip(ranges, ranges[1:]):
        assert end == start  # no gap, no overlap
    total = sum(b - a for a, b in ranges)
    assert total == num_samples(times[0], times[-1], sr)
    assert ranges[0][0] == to_index(times[0], sr)


@settings(max_examples=200, deadline=None)
@given(rate=st.sampled_from(EDITOR_RATES), sr=st.sampled_from(SAMPLE_RATES),
       frame=st.integers(min_value=0, max_value=THREE_HOURS * 60))
def test_no_drift_at_any_length(rate, sr, frame):
    """Sample position of frame N is within half a sample of its true time, at any N."""
    t = to_time(frame, rate)
    assert abs(Fraction(to_index(t, sr)) - t * sr) <= Fraction(1, 2)


def test_ntsc_rates_are_exact():
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate("23.976") == Fraction(24000, 1001)
    assert exact_rate("59.94") == Fraction(60000, 1001)
    assert exact_rate(30000 / 1001) == Fraction(30000, 1001)
    assert exact_rate("25") == 25
    with pytest.raises(TimeError):  # the plug-in package's error; the engine's RangeError is one too
        exact_rate("fast")


@pytest.mark.parametrize("rate,tc,frames", [
    (Fraction(24), "00:14:30:12", (14 * 60 + 30) * 24 + 12),
    (Fraction(25), "01:00:00:00", 90000),
    (Fraction(30000, 1001), "00:01:00;02", 1800),   # drop-frame skips ;00 and ;01
    (Fraction(30000, 1001), "01:00:00;00", 107892),
    (Fraction(60000, 1001), "00:10:00;00", 35964),
])
def test_timecode_through_otio(rate, tc, frames):
    assert timecode_to_frames(tc, rate) == frames
    assert frames_to_timecode(frames, rate) == tc


def test_clock_parsing_is_exact_decimal():
    assert parse_clock("12.5") == Fraction(25, 2)
    assert parse_clock("01:02:03.250") == 3723 + Fraction(1, 4)
    assert parse_clock("2:03.1") == 123 + Fraction(1, 10)
    with pytest.raises(RangeError):
        parse_clock("soon")


def test_media_time_counts_start_timecode():
    fps = Fraction(24)
    t = parse_media_time("01:00:10:12", fps=fps, start_timecode="01:00:00:00")
    assert t == 10 + Fraction(12, 24)
    assert parse_media_time("10.5", fps=fps, start_timecode="01:00:00:00") == Fraction(21, 2)
    with pytest.raises(RangeError, match="before the media's start timecode"):
        parse_media_time("00:59:59:00", fps=fps, start_timecode="01:00:00:00")
    with pytest.raises(RangeError, match="--fps"):
        parse_media_time("00:00:01:00", fps=None, start_timecode=None)


def test_reversed_range_is_an_error():
    with pytest.raises(RangeError):
        TimeRange(Fraction(5), Fraction(4))


def test_output_duration_is_the_media_range_over_the_speed_exactly():
    from plugin_host.timebase import output_duration

    assert output_duration(Fraction(10), Fraction(15)) == 5
    assert output_duration("1001/30000", "2", Fraction(25, 24)) == (2 - Fraction(1001, 30000)) * Fraction(24, 25)
