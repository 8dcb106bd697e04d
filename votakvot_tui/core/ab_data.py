"""What the ab monitor shows, read from an ab trial's files (no Textual here).

A ``votakvot-ab`` run writes (see ``votakvot/ab/record.py`` and ``docs/ab.md``):
``votakvot.yaml`` (params; the summary as ``result`` once it ends),
``ab.status.json`` (replaced about five times a second while it runs),
``votakvot.metrics.*.csv`` (one row per second: calls, errors, p50, p99, max) and
``ab.histogram.csv`` (latency buckets, at the end). :class:`AbReader` reads them
again only when they changed, so polling it several times a second is cheap.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Sequence
from typing import Any

from votakvot.ab.histogram import read_csv_rows
from votakvot.ab.progress import fmt_seconds
from votakvot.ab.record import HISTOGRAM_NAME, STATUS_NAME
from votakvot.layout import METRICS_PREFIX, YAML_NAME
from votakvot.reading import read_metrics_rows, read_side_file
from votakvot.storage import Storage, list_folder, open_storage
from votakvot.trial import Trial, read_trial

__all__ = [
    "AbReader",
    "AbSnapshot",
    "age",
    "display_bins",
    "fmt_latency",
    "percentile_of",
]

PERCENTILE_ROWS = ("p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99")
"""Percentiles the monitor lists (what ``votakvot-ab`` summarises)."""

MAX_LIVE = 3000
"""Status samples kept for the live calls/s line (ten minutes at five a second)."""

Bucket = tuple[int, int, int]
"""``(lower_ns, upper_ns, count)`` of one histogram bucket."""


def fmt_latency(value: float | None) -> str:
    """Seconds as a short human text: ``812 ns``, ``3.4 µs``, ``12.1 ms``, ``1.204 s``
    (``votakvot-ab``'s own format, with the micro sign a terminal UI can draw)."""
    return fmt_seconds(value, micro="µs")


def percentile_of(buckets: Sequence[Bucket], q: float) -> float | None:
    """The ``q`` percentile (seconds) of histogram buckets, as the middle of its bucket."""
    total = sum(b[2] for b in buckets)
    if total == 0:
        return None
    rank = max(1, math.ceil(total * q / 100.0))
    seen = 0
    for lower, upper, count in buckets:
        seen += count
        if seen >= rank:
            return (lower + upper - 1) / 2.0 / 1e9
    return (buckets[-1][1] - 1) / 1e9


def display_bins(buckets: Sequence[Bucket], bins: int = 12) -> list[tuple[float, int]]:
    """Regroup buckets into ``bins`` equal latency ranges, like oha's histogram.

    Returns ``(upper edge in seconds, count)`` per range, from the fastest to the
    slowest call; a bucket goes to the range holding its middle.
    """
    rows = [b for b in buckets if b[2] > 0]
    if not rows:
        return []
    low = rows[0][0]
    high = rows[-1][1]
    if high - low <= 0:
        return [(high / 1e9, sum(b[2] for b in rows))]
    width = (high - low) / bins
    counts = [0] * bins
    for lower, upper, count in rows:
        mid = (lower + upper) / 2.0
        counts[min(int((mid - low) / width), bins - 1)] += count
    return [((low + width * (i + 1)) / 1e9, counts[i]) for i in range(bins)]


@dataclasses.dataclass
class AbSnapshot:
    """Everything the monitor draws at one moment."""

    path: str
    """The trial folder."""
    record: dict[str, Any] | None = None
    """``votakvot.yaml`` as read (``None`` before it exists)."""
    state: str = "unknown"
    """The trial's state (``stale`` for a run whose heartbeat stopped)."""
    status: dict[str, Any] | None = None
    """The last ``ab.status.json``."""
    series: list[dict[str, float]] = dataclasses.field(default_factory=list)
    """Per-second rows: ``at``, ``second``, ``calls``, ``errors``, ``p50``, ``p99``, ``max``."""
    buckets: list[Bucket] = dataclasses.field(default_factory=list)
    """The latency histogram of successful calls."""
    live_rate: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    """``(elapsed, calls/s over the last second)`` from each status file seen while the
    run went on: a calls/s line that moves five times a second, before the per-second
    metric rows are flushed."""
    buckets_final: bool = False
    """``buckets`` come from the final ``ab.histogram.csv`` (fine buckets), not the
    live status file (coarse ones)."""
    error: str | None = None
    """Why something could not be read."""

    @property
    def summary(self) -> dict[str, Any]:
        """The recorded result (the run's summary) once it ended, else ``{}``."""
        result = (self.record or {}).get("result")
        return result if isinstance(result, dict) else {}

    @property
    def params(self) -> dict[str, Any]:
        params = (self.record or {}).get("params")
        return params if isinstance(params, dict) else {}

    @property
    def is_ab(self) -> bool:
        """The folder holds a ``votakvot-ab`` run."""
        return (self.record or {}).get("kind") == "ab" or self.status is not None

    @property
    def running(self) -> bool:
        return self.state == "running" or (self.record is None and self.status is not None)

    @property
    def callable(self) -> str:
        return str(self.params.get("callable") or (self.status or {}).get("callable") or self.path)

    def value(self, key: str) -> Any:
        """A live figure: from the status file, else from the summary."""
        status = self.status or {}
        if key in status and status[key] is not None:
            return status[key]
        return self.summary.get(key)

    @property
    def done(self) -> int:
        """Calls finished so far."""
        status = self.status or {}
        if "done" in status:
            return int(status["done"])
        return int(self.summary.get("count") or 0)

    @property
    def errors(self) -> int:
        status = self.status or {}
        if "errors" in status:
            return int(status["errors"])
        return int(self.summary.get("errors") or 0)

    @property
    def elapsed(self) -> float:
        status = self.status or {}
        if status.get("elapsed") is not None:
            return float(status["elapsed"])
        return float(self.summary.get("wall") or 0.0)

    def progress(self) -> tuple[float, float, str]:
        """``(progress, total, text)``: calls of ``-n`` or seconds of ``-d``."""
        params = self.params
        status = self.status or {}
        total = status.get("total", params.get("number"))
        duration = status.get("duration", params.get("duration"))
        if duration:
            done = min(self.elapsed, float(duration))
            return done, float(duration), f"{self.elapsed:.1f}s / {float(duration):g}s"
        if total:
            pct = 100.0 * self.done / float(total)
            return float(self.done), float(total), f"{self.done:,} / {int(total):,} ({pct:.0f}%)"
        return float(self.done), 0.0, f"{self.done:,} calls"

    def rate(self) -> float | None:
        """Calls per second: now while running, the average once done."""
        if self.running:
            value = (self.status or {}).get("rate_now")
            if value is not None:
                return float(value)
        rate = self.summary.get("rate")
        if rate is not None:
            return float(rate)
        value = (self.status or {}).get("rate_avg")
        return None if value is None else float(value)

    def percentiles(self) -> list[tuple[str, float | None]]:
        """Latency percentiles (seconds): the summary's, else from the live histogram."""
        latency = self.summary.get("latency")
        if isinstance(latency, dict) and latency:
            return [(name, latency.get(name)) for name in PERCENTILE_ROWS]
        status = self.status or {}
        out: list[tuple[str, float | None]] = []
        for name in PERCENTILE_ROWS:
            if name in ("p50", "p99") and status.get(name) is not None:
                out.append((name, float(status[name])))
            else:
                out.append((name, percentile_of(self.buckets, float(name[1:]))))
        return out

    def latency(self, key: str) -> float | None:
        """``min``, ``mean`` or ``max`` latency (seconds)."""
        latency = self.summary.get("latency")
        if isinstance(latency, dict) and latency.get(key) is not None:
            return float(latency[key])
        status = self.status or {}
        if status.get(key) is not None:
            return float(status[key])
        if key == "min" and self.buckets:
            return self.buckets[0][0] / 1e9
        return None

    def results(self) -> list[tuple[Any, int]]:
        """``(result value, count)``, most frequent first (once the run ended, or live
        when the status file carries them)."""
        rows = self.summary.get("results") or (self.status or {}).get("results") or []
        out = []
        for row in rows:
            if isinstance(row, dict):
                out.append((row.get("value"), int(row.get("count") or 0)))
        return out

    def error_kinds(self) -> list[dict[str, Any]]:
        """``{type, message, count, traceback}`` per kind of error, most frequent first."""
        rows = self.summary.get("error_kinds") or (self.status or {}).get("error_kinds") or []
        return [r for r in rows if isinstance(r, dict)]


class AbReader:
    """Reads one ab trial folder, again only what changed since the last read.

    Args:
        path: the trial folder (local path or fsspec URL).
    """

    def __init__(self, path: str) -> None:
        self.path = path.rstrip("/")
        self._stamps: dict[str, tuple[Any, Any]] = {}
        self._last = AbSnapshot(self.path)
        self._metric_rows: dict[str, list[dict[str, float]]] = {}
        self._storage: Storage | None = None

    def _join(self, name: str) -> str:
        return f"{self.path}/{name}"

    def _changed(self, name: str) -> bool | None:
        """Whether a file changed since last read; ``None`` if it does not exist."""
        storage = self._store()
        stamp = storage.stamp(storage.join(storage.root, name))
        if stamp is None:
            self._stamps.pop(name, None)
            return None
        if self._stamps.get(name) == stamp:
            return False
        self._stamps[name] = stamp
        return True

    def _store(self) -> Storage:
        if self._storage is None:  # kept: a remote one holds its connection
            self._storage = open_storage(self.path)
        return self._storage

    def _read(self, name: str) -> bytes | None:
        """A file of the run, ``None`` if missing; a FIFO, a device or a huge file
        raises TrialLoadError naming it (shown as the snapshot's error), never hangs."""
        return read_side_file(self.path, name)

    def _list(self) -> list[str]:
        storage = self._store()
        return list_folder(storage, storage.root)

    def read(self) -> AbSnapshot:
        """The trial as its files say now (reuses what did not change)."""
        last = self._last
        snap = dataclasses.replace(last, error=None)
        try:
            self._read_record(snap)
            self._read_status(snap)
            self._read_series(snap)
            self._read_histogram(snap)
        except Exception as exc:  # a torn or foreign file: show why, keep the last figures
            snap.error = f"{type(exc).__name__}: {exc}"
        self._last = snap
        return snap

    def _read_record(self, snap: AbSnapshot) -> None:
        changed = self._changed(YAML_NAME)
        if changed is None:
            snap.record = None
            snap.state = "starting" if snap.status is None else "running"
            return
        if changed:
            trial = read_trial(self.path)
            snap.record = dict(trial.data) if trial is not None else None
        if snap.record is not None:
            # Re-derived every time: a silent run turns stale without any file changing.
            snap.state = Trial(self.path, snap.record).state

    def _read_status(self, snap: AbSnapshot) -> None:
        changed = self._changed(STATUS_NAME)
        if changed is None:
            snap.status = None
            return
        if changed:
            raw = self._read(STATUS_NAME)
            if raw:
                try:
                    status = json.loads(raw)
                except ValueError:
                    return  # replaced atomically, so only a foreign writer gets here
                if isinstance(status, dict):
                    snap.status = status
                    elapsed, rate = status.get("elapsed"), status.get("rate_now")
                    if isinstance(elapsed, (int, float)) and isinstance(rate, (int, float)):
                        live = snap.live_rate
                        if not live or elapsed > live[-1][0]:
                            snap.live_rate = [*live[-MAX_LIVE + 1 :], (float(elapsed), float(rate))]

    def _read_series(self, snap: AbSnapshot) -> None:
        names = sorted(n for n in self._list() if n.startswith(METRICS_PREFIX))
        touched = False
        for name in names:
            changed = self._changed(name)
            if changed:
                raw = self._read(name) or b""
                self._metric_rows[name] = read_metrics_rows(raw, self._join(name), live=True)
                touched = True
        if touched or len(names) != len(self._metric_rows):
            rows = [r for n in names for r in self._metric_rows.get(n, [])]
            rows.sort(key=lambda r: r.get("at", 0.0))
            snap.series = rows

    def _read_histogram(self, snap: AbSnapshot) -> None:
        """The final histogram file once written, else the live one in the status file."""
        changed = self._changed(HISTOGRAM_NAME)
        if changed is None:
            snap.buckets_final = False
            hist = (snap.status or {}).get("histogram")
            snap.buckets = _buckets(hist) if isinstance(hist, list) else []
            return
        if changed or not snap.buckets_final:
            raw = self._read(HISTOGRAM_NAME) or b""
            snap.buckets = read_csv_rows(raw.decode("utf-8", "replace"))
        snap.buckets_final = True


def _buckets(rows: list[Any]) -> list[Bucket]:
    out = []
    for row in rows:
        if isinstance(row, (list, tuple)) and len(row) == 3:
            out.append((int(row[0]), int(row[1]), int(row[2])))
    out.sort()
    return out


def age(snapshot: AbSnapshot, now: float | None = None) -> float | None:
    """Seconds since the status file was last written (``None`` without one)."""
    updated = (snapshot.status or {}).get("updated")
    if not isinstance(updated, (int, float)):
        return None
    return (now or time.time()) - float(updated)
