"""One ``votakvot-ab`` run from options to a recorded trial: pick the engine, watch it
tick, refresh the status file and the progress line, handle Ctrl-C, summarise.
"""

from __future__ import annotations

import collections
import dataclasses
import signal
import sys
import threading
from typing import Any

import numpy as np

from .. import _source
from .engines import STOP_GRACE, LocalRun, Pacer, ProcessRun, measure_overhead, split
from .histogram import LOWER, UPPER, Histogram
from .options import Options
from .progress import Progress
from .record import SCHEDULED_HISTOGRAM_NAME, AbTrial
from .stats import Recorder
from .target import Target

__all__ = ["AbStopped", "Outcome", "run"]

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Signals that stop a run the way Ctrl-C does (the summary is kept, state interrupted)."""
TICK = 0.2
"""Seconds between status refreshes (five a second)."""
OVERHEAD_FACTOR = 10
"""Warn when the median latency is under this many times the harness overhead."""


class AbStopped(Exception):
    """Why a run ended early (``--strict``, ``--max-errors``, a worker that could not start)."""


@dataclasses.dataclass
class Outcome:
    """What a run produced."""

    summary: dict[str, Any]
    """The summary recorded as the trial's result."""
    state: str
    """``done``, ``failed`` or ``interrupted``."""
    trial: AbTrial
    """The recorded trial."""
    histogram: Histogram
    """Latencies of successful calls."""
    first_error: str | None = None
    """The first traceback (shown by ``--strict``)."""
    signal: int | None = None
    """The signal that stopped the run (SIGINT, SIGTERM, SIGHUP), if one did."""


def _plans(opts: Options) -> list[Options]:
    """Each process's share of the run: its workers, calls and warmup calls."""
    if opts.processes <= 1:
        return [
            dataclasses.replace(
                opts, concurrency=_clamp_workers(opts.concurrency, opts.number, opts.rate)
            )
        ]
    p = opts.processes if opts.number is None else min(opts.processes, opts.number)
    workers = split(opts.concurrency, p)
    numbers: list[int | None] = (
        list(split(opts.number, p)) if opts.number is not None else [None] * p
    )
    warm = split(opts.warmup_calls, p)
    return [
        dataclasses.replace(
            opts,
            concurrency=_clamp_workers(workers[i], numbers[i], opts.rate),
            number=numbers[i],
            warmup_calls=warm[i],
            processes=1,
        )
        for i in range(p)
    ]


def _clamp_workers(workers: int, number: int | None, rate: float | None) -> int:
    """No more workers than calls: more would only build idle instances."""
    if number is not None and rate is None:
        return max(1, min(workers, number))
    return workers


class _Window:
    """Calls per second over the last second, from cumulative counts."""

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[int, int]] = collections.deque()

    def add(self, t: int, calls: int) -> float | None:
        self.samples.append((t, calls))
        while len(self.samples) > 2 and t - self.samples[1][0] >= 1_000_000_000:
            self.samples.popleft()
        t0, c0 = self.samples[0]
        return (calls - c0) * 1e9 / (t - t0) if t > t0 else None


def _interval(now: np.ndarray, prev: np.ndarray, max_ns: int) -> dict[str, float | None]:
    """p50, p99 and max (seconds) of the values recorded between two snapshots."""
    diff = now - prev
    nz = np.flatnonzero(diff)
    if nz.size == 0:
        return {"p50": None, "p99": None, "max": None}
    h = Histogram()
    h.counts = diff
    h.count = int(diff.sum())
    h.min = int(LOWER[nz[0]])
    h.max = min(int(UPPER[nz[-1]]) - 1, max_ns)
    p50, p99 = h.percentiles((50, 99))
    return {
        "p50": None if p50 is None else p50 / 1e9,
        "p99": None if p99 is None else p99 / 1e9,
        "max": h.max / 1e9,
    }


def run(opts: Options, target: Target) -> Outcome:
    """Run the benchmark ``opts`` describes on ``target`` and record it as a trial.

    SIGINT, SIGTERM and SIGHUP are taken over for the whole run (from before the
    trial starts), so a Ctrl-C, ``docker stop``, ``timeout`` or a closed terminal
    at any moment ends in a recorded ``interrupted`` trial, never a stale one. A
    second one quits at once. A signal that was ignored (``nohup``) stays ignored.
    """
    engine: LocalRun | ProcessRun
    if opts.processes > 1:
        engine = ProcessRun(_plans(opts), tick=TICK)
    else:
        engine = LocalRun(_plans(opts)[0], lambda _i: target.make(opts.kwargs))

    interrupts = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal interrupts
        interrupts += 1
        if engine.stop_signal is None:
            engine.stop_signal = signum
        engine.stop("interrupted")
        if interrupts > 1:
            raise KeyboardInterrupt

    previous_handlers: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            current = signal.getsignal(signum)
            if current is None or (signum != signal.SIGINT and current == signal.SIG_IGN):
                continue  # set outside Python, or ignored on purpose (nohup)
            previous_handlers[signum] = signal.signal(signum, on_signal)
    switch_interval = sys.getswitchinterval()
    if not opts.gevent:
        sys.setswitchinterval(min(switch_interval, Pacer.SWITCH_INTERVAL))
    try:
        overhead_ns = measure_overhead()[0]  # children run the same loop on the same CPU
        source = _source.describe(target.obj)
        trial = AbTrial(opts.path, opts.tid, target.short, target.name, opts.params(), source)
        trial.start()
        if not (opts.quiet or opts.json):
            print(f"trial: {trial.url}", file=sys.stderr, flush=True)
        try:
            return _drive(opts, engine, trial, overhead_ns)
        except BaseException as exc:
            # A bug or a storage failure of ours: the trial must not stay "running".
            engine.stop("setup")
            if not trial.trial.finished:
                trial.trial.fail(exc)
            raise
    finally:
        sys.setswitchinterval(switch_interval)
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)


def _drive(
    opts: Options, engine: LocalRun | ProcessRun, trial: AbTrial, overhead_ns: float | None
) -> Outcome:
    """Start the engine, tick until it is done, then summarise and record."""
    progress = Progress(opts) if opts.progress else None
    window = _Window()
    second_counts = np.zeros_like(engine.recorder.latency.counts)
    second_calls = second_errors = 0
    next_second = 1_000_000_000
    forced = False
    try:
        engine.start()
        pacer = Pacer(engine, TICK)
        while not engine.done:
            pacer.sleep()
            if engine.overdue():  # calls hang past -d or past a stop: stop waiting
                engine.abandon()
            rec = engine.collect()
            if not engine.measuring:
                pacer.release()
                continue
            elapsed = engine.elapsed_ns()
            calls_now = window.add(elapsed, rec.calls)
            if elapsed >= next_second:
                _meter(trial, rec, elapsed, second_counts, second_calls, second_errors)
                second_counts = rec.latency.counts.copy()
                second_calls, second_errors = rec.calls, rec.errors
                next_second = (elapsed // 1_000_000_000 + 1) * 1_000_000_000
            status = _status(opts, rec, elapsed, calls_now, "running")
            trial.status(status)
            if progress is not None:
                progress.update(status)
            pacer.release()
    except KeyboardInterrupt:
        forced = True  # a second Ctrl-C: do not wait for calls in flight
        engine.stop("interrupted")
    finally:
        if isinstance(engine, LocalRun):
            engine.stop_ticks()  # nobody parks once the monitor is gone
        if progress is not None:
            progress.clear()

    if forced and isinstance(engine, ProcessRun):
        engine.kill()
    rec = engine.finish()
    elapsed = engine.elapsed_ns()
    if rec.calls > second_calls or rec.errors > second_errors:
        _meter(trial, rec, elapsed, second_counts, second_calls, second_errors)

    summary = rec.summary(wall=elapsed / 1e9, overhead_ns=overhead_ns, rate=opts.rate)
    warnings = _warnings(rec, overhead_ns, engine.close_errors)
    if rec.unfinished:
        warnings.insert(
            0,
            f"{rec.unfinished} call(s) were still running {STOP_GRACE:g} s after the run "
            "should have ended and were not waited for (counted as unfinished, not in "
            "the latencies)",
        )
    if warnings:
        summary["warnings"] = warnings
    reason = engine.stop_reason
    summary["stopped"] = reason
    error: BaseException | None = None
    state = "done"
    first_tb = next(iter(rec.error_kinds.values()))[1] if rec.error_kinds else None
    stop_signal = engine.stop_signal
    if reason == "interrupted":
        error = KeyboardInterrupt("stopped by SIGINT (Ctrl-C); partial results kept")
        state = "interrupted"
        if stop_signal is None or stop_signal == signal.SIGINT:
            stop_signal = signal.SIGINT
        else:
            error = None  # recorded as stopped by that signal, see AbTrial.finish
    elif reason == "setup":
        error = AbStopped(f"a worker could not start:\n{engine.setup_error}")
        state = "failed"
        first_tb = engine.setup_error
    elif reason == "strict":
        first = rec.first_error
        error = first if first is not None else AbStopped("stopped at the first error (--strict)")
        state = "failed"
    elif reason == "max-errors":
        error = AbStopped(f"stopped after {rec.errors} errors (--max-errors {opts.max_errors})")
        state = "failed"

    trial.attach_histogram(rec.latency)
    if opts.rate:
        trial.attach_histogram(rec.scheduled, SCHEDULED_HISTOGRAM_NAME)
    trial.status(_status(opts, rec, elapsed, None, state))
    trial.finish(summary, error, signal=stop_signal if state == "interrupted" else None)
    return Outcome(
        summary,
        state,
        trial,
        rec.latency,
        first_tb,
        signal=stop_signal if state == "interrupted" else None,
    )


def _meter(
    trial: AbTrial,
    rec: Recorder,
    elapsed: int,
    prev_counts: np.ndarray,
    prev_calls: int,
    prev_errors: int,
) -> None:
    row: dict[str, Any] = {
        "second": round(elapsed / 1e9, 3),
        "calls": rec.calls - prev_calls,
        "errors": rec.errors - prev_errors,
    }
    row.update(_interval(rec.latency.counts, prev_counts, rec.latency.max))
    trial.meter(row)


def _status(
    opts: Options, rec: Recorder, elapsed: int, calls_now: float | None, state: str
) -> dict[str, Any]:
    lat = rec.latency
    p50, p99 = lat.percentiles((50, 99))
    status: dict[str, Any] = {
        "state": state,
        "callable": opts.spec,
        "elapsed": round(elapsed / 1e9, 3),
        "total": opts.number if opts.duration is None else None,
        "duration": opts.duration,
        "done": rec.calls,
        "ok": lat.count,
        "errors": rec.errors,
        "unfinished": rec.unfinished,
        "rate_now": None if calls_now is None else round(calls_now, 1),
        "rate_avg": round(rec.calls * 1e9 / elapsed, 1) if elapsed > 0 else None,
        "p50": None if p50 is None else p50 / 1e9,
        "p99": None if p99 is None else p99 / 1e9,
        "max": lat.max / 1e9 if lat.count else None,
        "mean": lat.mean / 1e9 if lat.count else None,
        "target_rate": opts.rate,
        "late": rec.late,
        "histogram": lat.coarse(),
        # So a live viewer shows what came back and what failed while the run goes on.
        "results": rec.result_counts(),
        "error_kinds": rec.error_counts(),
    }
    return status


def _warnings(rec: Recorder, overhead_ns: float | None, close_errors: list[str]) -> list[str]:
    out = []
    p50 = rec.latency.percentile(50)
    if overhead_ns and p50 is not None and p50 < OVERHEAD_FACTOR * overhead_ns:
        out.append(
            f"the callable's median latency ({p50:.0f} ns) is under {OVERHEAD_FACTOR}x the "
            f"harness's own timing overhead ({overhead_ns:.0f} ns): latencies mostly "
            "measure the harness"
        )
    out.extend(f"close() failed in {line}" for line in close_errors[:10])
    return out
