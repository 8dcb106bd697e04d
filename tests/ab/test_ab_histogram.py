"""The latency histogram: layout, accuracy, merging and its file format."""

from __future__ import annotations

import array
import pickle
import random

import pytest

from votakvot.ab.histogram import NBUCKETS, Histogram, bucket_bounds, bucket_of


def test_buckets_tile_the_range() -> None:
    """Buckets are contiguous, each value lands in the bucket whose bounds hold it, and
    no bucket is wider than 1/256 of its lower bound (the promised precision)."""
    previous_upper = 0
    for i in range(NBUCKETS):
        lower, upper = bucket_bounds(i)
        assert lower == previous_upper
        assert bucket_of(lower) == i and bucket_of(upper - 1) == i
        assert upper - lower == 1 or (upper - lower) / lower <= 1 / 256
        previous_upper = upper


def test_percentiles_are_within_half_a_percent() -> None:
    """Percentiles from the buckets match exact order statistics within 0.5 %."""
    rng = random.Random(7)
    values = [int(rng.lognormvariate(12, 1.5)) + 1 for _ in range(50_000)]
    h = Histogram()
    h.record_batch(array.array("q", values))
    values.sort()
    for q in (50, 90, 99, 99.9):
        exact = values[max(0, int(len(values) * q / 100 + 0.999999) - 1)]
        got = h.percentile(q)
        assert got is not None
        assert abs(got - exact) <= 0.005 * exact + 1
    assert h.min == values[0] and h.max == values[-1]
    assert h.mean == pytest.approx(sum(values) / len(values))


def test_merge_equals_recording_everything_at_once() -> None:
    """Two histograms merged (as processes' are) equal one fed with all values."""
    rng = random.Random(1)
    a_vals = [rng.randint(1, 10**6) for _ in range(1000)]
    b_vals = [rng.randint(10**5, 10**8) for _ in range(3000)]
    a, b, both = Histogram(), Histogram(), Histogram()
    a.record_batch(a_vals)
    b.record_batch(b_vals)
    both.record_batch(a_vals + b_vals)
    a.merge(b)
    assert (a.counts == both.counts).all()
    assert a.count == both.count and a.min == both.min and a.max == both.max
    assert a.mean == pytest.approx(both.mean)
    assert a.stdev == pytest.approx(both.stdev)


def test_csv_and_pickle_round_trip() -> None:
    """The CSV file and the pickled form (sent between processes) keep every count."""
    h = Histogram()
    h.record_batch([5, 5, 700, 123_456, 10**10])
    text = h.to_csv()
    assert text.splitlines()[0] == "lower_ns,upper_ns,count"
    back = Histogram.from_csv(text)
    assert (back.counts == h.counts).all()
    again = pickle.loads(pickle.dumps(h))
    assert (again.counts == h.counts).all() and again.max == h.max


def test_empty_and_huge_values() -> None:
    """An empty histogram has no percentiles; values beyond the range are clamped, max kept."""
    h = Histogram()
    assert h.percentile(50) is None
    h.record_batch([2**50])
    assert h.count == 1 and h.max == 2**44 - 1
    assert h.percentile(99) == pytest.approx(h.max)


def test_coarse_regrouping_keeps_the_total() -> None:
    """The status file's coarse histogram has the same total in far fewer rows."""
    h = Histogram()
    h.record_batch(list(range(1, 200_000, 7)))
    rows = h.coarse()
    assert sum(r[2] for r in rows) == h.count
    assert len(rows) < 400
    assert all(lo < hi for lo, hi, _ in rows)
