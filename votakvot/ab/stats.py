"""What a run has measured so far, and the summary made from it.

A :class:`Recorder` belongs to one process. Workers never touch it on their hot
path: they hand over whole batches (raw latencies, result counts, errors) and the
process's monitor folds them in at each tick, so no lock or queue is taken per call.
Recorders of several processes are merged (:meth:`Recorder.merge`) after pickling.
"""

from __future__ import annotations

import reprlib
import traceback
from typing import Any

from .._values import to_plain
from .histogram import Histogram

__all__ = ["PERCENTILES", "Recorder", "result_key"]

PERCENTILES = (50, 75, 90, 95, 99, 99.9, 99.99)
"""Percentiles every summary reports."""

MAX_RESULT_KINDS = 100
"""Distinct result values counted one by one; the rest are counted as ``(other)``."""
MAX_ERROR_KINDS = 100
"""Distinct ``(type, message)`` errors kept; the rest are counted as ``(other)``."""
_TEXT_LIMIT = 200

OTHER = "(other)"


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = _TEXT_LIMIT
_repr.maxlong = 60


def result_key(value: Any) -> Any:
    """How a result value is counted and stored: itself if plain, else a short ``repr``.

    Workers turn results into keys as soon as a result differs from the previous
    one, so a batch never holds on to large results (responses, buffers).
    """
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and len(value) <= _TEXT_LIMIT:
        return value
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        # np.mean(...) as float32, np.count_nonzero(...): the number, as a tracked
        # call's result is recorded, not the text "np.float32(1.5)".
        plain = to_plain(value, "result")
        if plain is None or isinstance(plain, (bool, int, float, str)):
            return plain
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a broken __repr__ must not break the run
        text = f"<{type(value).__name__} with a failing repr: {type(exc).__name__}>"
    return text if len(text) <= _TEXT_LIMIT else text[: _TEXT_LIMIT - 3] + "..."


def error_type(exc: BaseException) -> str:
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _pct_name(q: float) -> str:
    return "p" + (f"{q:g}")


class Recorder:
    """Latency histograms, counters, result and error counts of one process."""

    def __init__(self) -> None:
        self.latency = Histogram()
        """Latencies of successful calls, from their actual start (ns)."""
        self.scheduled = Histogram()
        """Rate mode: latencies of successful calls from their scheduled start (ns)."""
        self.errors = 0
        """Calls that raised."""
        self.error_kinds: dict[tuple[str, str], list[Any]] = {}
        """``(type, message) -> [count, first traceback]``."""
        self.results: dict[Any, int] = {}
        """Result value (see :func:`result_key`) -> count."""
        self.late = 0
        """Rate mode: calls that started more than the lateness threshold after schedule."""
        self.dropped = 0
        """Rate mode: calls that were due before the end but never started."""
        self.unfinished = 0
        """Calls still running when the run stopped waiting for them (hung past ``-d``,
        or past a Ctrl-C/SIGTERM, by more than the engines' ``STOP_GRACE``)."""
        self.first_error: BaseException | None = None
        """The first exception seen (for ``--strict``); not pickled across processes."""

    @property
    def calls(self) -> int:
        """Calls finished (successful or not)."""
        return self.latency.count + self.errors

    # --- folding in what workers hand over ---------------------------------------------

    def add_results(self, value: Any, count: int) -> None:
        key = result_key(value)
        results = self.results
        if key in results:
            results[key] += count
        elif len(results) < MAX_RESULT_KINDS:
            try:
                results[key] = count
            except TypeError:  # an unhashable tuple member, say: count its repr
                self.add_results(repr(value), count)
        else:
            results[OTHER] = results.get(OTHER, 0) + count

    def add_error(self, exc: BaseException, count: int = 1, tb: str | None = None) -> None:
        self.errors += count
        if self.first_error is None:
            self.first_error = exc
        message = str(exc)
        if len(message) > _TEXT_LIMIT:
            message = message[: _TEXT_LIMIT - 3] + "..."
        key = (error_type(exc), message)
        kind = self.error_kinds.get(key)
        if kind is not None:
            kind[0] += count
            return
        if len(self.error_kinds) >= MAX_ERROR_KINDS:
            key = (OTHER, "")
            kind = self.error_kinds.setdefault(key, [0, ""])
            kind[0] += count
            return
        if tb is None:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.error_kinds[key] = [count, tb]

    def merge(self, other: Recorder) -> None:
        """Add another recorder (of another process) to this one."""
        self.latency.merge(other.latency)
        self.scheduled.merge(other.scheduled)
        self.errors += other.errors
        for key, (count, tb) in other.error_kinds.items():
            kind = self.error_kinds.get(key)
            if kind is None:
                self.error_kinds[key] = [count, tb]
            else:
                kind[0] += count
        for value, count in other.results.items():
            self.add_results(value, count)
        self.late += other.late
        self.dropped += other.dropped
        self.unfinished += other.unfinished
        if self.first_error is None:
            self.first_error = other.first_error

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["first_error"] = None  # exceptions may not pickle; the text is in error_kinds
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.unfinished = 0
        self.__dict__.update(state)

    # --- the summary ------------------------------------------------------------------

    def summary(
        self,
        *,
        wall: float,
        overhead_ns: float | None = None,
        rate: float | None = None,
    ) -> dict[str, Any]:
        """The result recorded in the trial. Latencies are in seconds."""
        calls = self.calls
        out: dict[str, Any] = {
            "count": calls,
            "ok": self.latency.count,
            "errors": self.errors,
            "unfinished": self.unfinished,
            "wall": round(wall, 6),
            "rate": round(calls / wall, 3) if wall > 0 else None,
            "latency": latency_summary(self.latency),
        }
        if rate is not None:
            out["target_rate"] = rate
            out["scheduled_latency"] = latency_summary(self.scheduled)
            out["late"] = self.late
            out["dropped"] = self.dropped
        out["results"] = self.result_counts()
        out["error_kinds"] = self.error_counts()
        if overhead_ns is not None:
            out["overhead"] = round(overhead_ns / 1e9, 9)
        return out

    def result_counts(self) -> list[dict[str, Any]]:
        """How often each result value came back, most frequent first."""
        return [
            {"value": value, "count": count}
            for value, count in sorted(self.results.items(), key=lambda kv: -kv[1])
        ]

    def error_counts(self, tracebacks: bool = True) -> list[dict[str, Any]]:
        """Errors by type and message, most frequent first, each with its first traceback."""
        return [
            {"type": t, "message": m, "count": count, **({"traceback": tb} if tracebacks else {})}
            for (t, m), (count, tb) in sorted(self.error_kinds.items(), key=lambda kv: -kv[1][0])
        ]


def latency_summary(h: Histogram) -> dict[str, float | None]:
    """min, mean, stdev, max and the percentiles of a histogram, in seconds."""
    if h.count == 0:
        return {k: None for k in ("min", "mean", "stdev", "max", *map(_pct_name, PERCENTILES))}
    out: dict[str, float | None] = {
        "min": _s(h.min),
        "mean": _s(h.mean),
        "stdev": _s(h.stdev),
        "max": _s(h.max),
    }
    for q, v in zip(PERCENTILES, h.percentiles(PERCENTILES)):
        out[_pct_name(q)] = None if v is None else _s(v)
    return out


def _s(ns: float) -> float:
    """Nanoseconds to seconds, kept to a tenth of a nanosecond."""
    return round(ns / 1e9, 10)
