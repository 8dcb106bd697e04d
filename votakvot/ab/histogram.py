"""A bounded-memory latency histogram, log-linear like HdrHistogram.

Why our own and not the ``hdrhistogram`` package: its ``record_value`` costs about
1.5 us per value in Python, which alone would use up the whole 2 us per-call budget
of ``votakvot-ab -c1``. Here workers only append raw nanoseconds to an
``array('q')`` (~30 ns) and whole batches are folded in with numpy (~10 ns a value).

Layout (values are integer nanoseconds): with ``SUB = 256`` sub-buckets per octave,
values below ``2 * SUB`` (512 ns) get one exact bucket each; above that, a value
``v`` with ``shift = v.bit_length() - 9`` goes to bucket ``shift * SUB + (v >> shift)``,
so every bucket is at most 1/256 (0.39 %) of its value wide. 9,472 buckets cover
1 ns to 2**44 ns (about 4.9 hours); longer values are clamped into the last bucket
(``max`` stays exact). Memory is 74 KiB whatever the call count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["NBUCKETS", "Histogram", "bucket_bounds", "bucket_of", "read_csv_rows"]

SUB_BITS = 8
SUB = 1 << SUB_BITS
MAX_BITS = 44
NBUCKETS = (MAX_BITS - SUB_BITS - 1) * SUB + 2 * SUB
"""Number of buckets: 9472."""
_MAX_VALUE = (1 << MAX_BITS) - 1


def read_csv_rows(text: str) -> list[tuple[int, int, int]]:
    """The ``(lower_ns, upper_ns, count)`` rows of a histogram file (:meth:`Histogram.to_csv`),
    sorted; a line that is not three integers (torn, or foreign) is left out.

    The one parser of the file: :meth:`Histogram.from_csv` and the dashboard's live
    monitor (which shows the rows as written) both read through it.
    """
    rows = []
    for line in text.strip().splitlines()[1:]:
        parts = line.split(",")
        if len(parts) == 3:
            try:
                rows.append((int(parts[0]), int(parts[1]), int(parts[2])))
            except ValueError:
                continue
    rows.sort()
    return rows


def bucket_of(value: int) -> int:
    """The bucket index of one value in nanoseconds (the scalar twin of the numpy fold)."""
    value = min(max(int(value), 0), _MAX_VALUE)
    shift = max(value.bit_length() - SUB_BITS - 1, 0)
    return shift * SUB + (value >> shift)


def bucket_bounds(index: int) -> tuple[int, int]:
    """``(lower, upper)`` nanoseconds of a bucket: it holds ``lower <= v < upper``."""
    if index < 2 * SUB:
        return index, index + 1
    shift = index // SUB - 1
    mantissa = index - shift * SUB
    return mantissa << shift, (mantissa + 1) << shift


def _bounds_arrays() -> tuple[np.ndarray, np.ndarray]:
    index = np.arange(NBUCKETS, dtype=np.int64)
    shift = np.maximum(index // SUB - 1, 0)
    mantissa = index - shift * SUB
    lower = np.where(index < 2 * SUB, index, mantissa << shift)
    upper = np.where(index < 2 * SUB, index + 1, (mantissa + 1) << shift)
    return lower, upper


LOWER, UPPER = _bounds_arrays()
"""Bucket bounds as arrays (``LOWER[i] <= v < UPPER[i]``)."""


class Histogram:
    """Counts of latencies per bucket plus exact count, min, max, mean and variance.

    Mean and variance are merged with Chan's formula per batch, so they stay exact
    (up to float rounding) however many values go in.
    """

    __slots__ = ("count", "counts", "m2", "max", "mean", "min")

    def __init__(self) -> None:
        self.counts = np.zeros(NBUCKETS, dtype=np.int64)
        """How many values fell into each bucket."""
        self.count = 0
        """How many values were recorded."""
        self.min = 0
        """The smallest value recorded (ns); 0 when empty."""
        self.max = 0
        """The largest value recorded (ns); 0 when empty."""
        self.mean = 0.0
        """Mean of the values (ns)."""
        self.m2 = 0.0
        """Sum of squared deviations from the mean (ns**2), for the variance."""

    # --- recording ------------------------------------------------------------------

    def record_batch(self, values: Any) -> None:
        """Add a batch of nanosecond values (an ``array('q')``, a list or a numpy array)."""
        if isinstance(values, np.ndarray):
            a = values.astype(np.int64, copy=False)
        elif getattr(values, "typecode", None) == "q":
            a = np.frombuffer(values, dtype=np.int64)
        else:
            a = np.asarray(values, dtype=np.int64)
        n = int(a.size)
        if n == 0:
            return
        a = np.clip(a, 0, _MAX_VALUE)
        shift = np.maximum(np.frexp(a)[1].astype(np.int64) - (SUB_BITS + 1), 0)
        self.counts += np.bincount(shift * SUB + (a >> shift), minlength=NBUCKETS)
        lo, hi = int(a.min()), int(a.max())
        mean_b = float(a.mean())
        m2_b = float(((a - mean_b) ** 2).sum()) if n > 1 else 0.0
        self._merge_moments(n, mean_b, m2_b, lo, hi)

    def record(self, value: int) -> None:
        """Add one value (slow path; workers use :meth:`record_batch`)."""
        self.record_batch(np.array([value], dtype=np.int64))

    def _merge_moments(self, n: int, mean: float, m2: float, lo: int, hi: int) -> None:
        if n == 0:
            return
        if self.count == 0:
            self.count, self.mean, self.m2, self.min, self.max = n, mean, m2, lo, hi
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)

    def merge(self, other: Histogram) -> None:
        """Add another histogram's values to this one."""
        self.counts += other.counts
        self._merge_moments(other.count, other.mean, other.m2, other.min, other.max)

    def copy(self) -> Histogram:
        h = Histogram()
        h.counts = self.counts.copy()
        h.count, h.min, h.max, h.mean, h.m2 = self.count, self.min, self.max, self.mean, self.m2
        return h

    # --- reading --------------------------------------------------------------------

    @property
    def stdev(self) -> float:
        """Population standard deviation (ns)."""
        return math.sqrt(self.m2 / self.count) if self.count > 1 else 0.0

    def percentile(self, q: float) -> float | None:
        """The value below which ``q`` percent of the values fall (ns), ``None`` if empty.

        Reported as the middle of the bucket holding that rank, clamped to the exact
        min and max, so its error is at most half a bucket (0.2 %).
        """
        return self.percentiles([q])[0]

    def percentiles(self, qs: Iterable[float]) -> list[float | None]:
        qs = list(qs)
        total = int(self.counts.sum())
        if total == 0:
            return [None] * len(qs)
        cum = np.cumsum(self.counts)
        out: list[float | None] = []
        for q in qs:
            rank = max(1, math.ceil(total * q / 100.0))
            i = int(np.searchsorted(cum, rank))
            lower, upper = bucket_bounds(i)
            mid = lower if upper - lower == 1 else (lower + upper - 1) / 2.0
            lo = self.min if self.count else lower
            hi = self.max if self.count else upper
            out.append(float(min(max(mid, lo), hi)))
        return out

    def nonzero(self) -> Iterator[tuple[int, int, int]]:
        """``(lower_ns, upper_ns, count)`` of every bucket that holds values."""
        for i in np.flatnonzero(self.counts):
            yield int(LOWER[i]), int(UPPER[i]), int(self.counts[i])

    def coarse(self, sub_bits: int = 4) -> list[list[int]]:
        """Nonzero buckets regrouped to ``2**sub_bits`` per octave: ``[[lower, upper, count]]``.

        A few hundred rows at most; what the live status file carries.
        """
        idx = np.flatnonzero(self.counts)
        if idx.size == 0:
            return []
        lower = LOWER[idx]
        counts = self.counts[idx]
        bits = np.frexp(lower.astype(np.float64))[1].astype(np.int64)  # bit_length (lower >= 0)
        shift = np.maximum(bits - sub_bits - 1, 0)
        lo = (lower >> shift) << shift
        keys, first = np.unique(lo, return_index=True)
        sums = np.add.reduceat(counts, first)
        widths = np.left_shift(1, shift[first])
        return [[int(k), int(k + w), int(c)] for k, w, c in zip(keys, widths, sums, strict=True)]

    # --- files ------------------------------------------------------------------------

    def to_csv(self) -> str:
        """The histogram file: a header ``lower_ns,upper_ns,count`` and one row per bucket."""
        lines = ["lower_ns,upper_ns,count"]
        lines.extend(f"{lo},{hi},{n}" for lo, hi, n in self.nonzero())
        return "\n".join(lines) + "\n"

    @classmethod
    def from_csv(cls, text: str) -> Histogram:
        """Read :meth:`to_csv` back (count, min and max from the buckets; mean from mids)."""
        h = cls()
        rows = read_csv_rows(text)
        if not rows:
            return h
        for lower, _upper, count in rows:
            h.counts[bucket_of(int(lower))] += int(count)
        idx = np.flatnonzero(h.counts)
        mids = (LOWER[idx] + UPPER[idx] - 1) / 2.0
        weights = h.counts[idx]
        h.count = int(weights.sum())
        h.min = int(LOWER[idx[0]])
        h.max = int(UPPER[idx[-1]] - 1)
        h.mean = float((mids * weights).sum() / h.count)
        h.m2 = float((weights * (mids - h.mean) ** 2).sum())
        return h

    # --- crossing processes -------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        idx = np.flatnonzero(self.counts)
        return {
            "idx": idx.astype(np.int32),
            "val": self.counts[idx],
            "m": (self.count, self.min, self.max, self.mean, self.m2),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.counts = np.zeros(NBUCKETS, dtype=np.int64)
        self.counts[state["idx"]] = state["val"]
        self.count, self.min, self.max, self.mean, self.m2 = state["m"]
