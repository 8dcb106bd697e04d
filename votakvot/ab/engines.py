"""The loops that call the target: threads or greenlets in this process
(:class:`LocalRun`), or several such processes (:class:`ProcessRun`).

Speed comes from what the hot loop does not do: no queue, no lock and no shared
counter per call. Each worker claims a *batch* of calls (sized to last about 10 ms,
or 0.3 ms under gevent so greenlets take turns), times each call with
``perf_counter_ns`` into its own ``array('q')``, counts identical results by
run length, and hands the batch over with one ``list.append``. The process's
monitor folds the batches into its :class:`~votakvot.ab.stats.Recorder` a few
times a second. Stopping (end of duration, Ctrl-C, ``--strict``) is a flag
checked at each claim.

In rate mode (open model) worker ``w`` takes the next slot ``i`` of a shared
schedule ``start + i / rate`` and sleeps until it is due, so calls start on time
whether or not earlier ones returned, as long as a worker is free; each call's
latency is measured both from its scheduled and from its actual start.
"""

from __future__ import annotations

import array
import itertools
import logging
import math
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from itertools import repeat
from time import perf_counter_ns
from typing import Any

from .options import Options
from .stats import Recorder, result_key

__all__ = ["STOP_GRACE", "LocalRun", "Pacer", "ProcessRun", "measure_overhead", "split"]

logger = logging.getLogger("votakvot.ab")

LATE_NS = 1_000_000
"""Rate mode: a call starting more than this after its scheduled time counts as late."""
_MAX_BATCH = 50_000
STOP_GRACE = 1.0
"""Seconds calls in flight are waited for once the run should end (the end of ``-d``, a
Ctrl-C, SIGTERM, ``--strict``); calls still running then are counted as ``unfinished``
and not waited for, so a hung call never hangs the run."""
_PROCESS_GRACE = STOP_GRACE + 2.0
"""The parent of ``--processes`` children waits this long: they give up on their own
calls after ``STOP_GRACE`` and report; only a child that cannot report is killed."""
_NOTHING = object()


class SetupError(Exception):
    """Building a worker's callable failed (the class's constructor raised, say)."""


class _RunState:
    """What every engine reports to the driver, whether its workers are local or not."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        """Everything measured so far (folded in by ``collect``)."""
        self.stopping = False
        """Set to make every worker stop at its next claim."""
        self.stop_reason: str | None = None
        """``"strict"``, ``"max-errors"``, ``"interrupted"`` or ``"setup"`` when stopped early."""
        self.setup_error: str | None = None
        """The traceback of a worker whose callable could not be built."""
        self.close_errors: list[str] = []
        """One line per worker whose ``close()`` raised."""
        self.t_start: int | None = None
        """``perf_counter_ns`` when measuring started (after warmup)."""
        self.t_end: int | None = None
        """``perf_counter_ns`` when the last worker finished."""
        self.stopped_ns: int | None = None
        """``perf_counter_ns`` when :meth:`stop` was first called."""
        self.stop_signal: int | None = None
        """The signal (SIGINT, SIGTERM, SIGHUP) that stopped the run, if one did."""

    @property
    def measuring(self) -> bool:
        """Whether warmup is over and calls are being measured."""
        return self.t_start is not None

    def elapsed_ns(self) -> int:
        """Nanoseconds measured so far (up to the end, once the run ended)."""
        if self.t_start is None:
            return 0
        return (self.t_end or perf_counter_ns()) - self.t_start

    def _mark_stopping(self, reason: str) -> None:
        """The first stop names the reason (unless one was set) and the time; every
        engine's ``stop`` starts here, then tells its workers its own way."""
        if not self.stopping:
            self.stop_reason = self.stop_reason or reason
            self.stopped_ns = perf_counter_ns()
        self.stopping = True

    def _overdue(self, deadline_ns: int | None, grace: float) -> bool:
        """Whether the run should have ended more than ``grace`` seconds ago."""
        ends = [t for t in (self.stopped_ns, deadline_ns) if t is not None]
        return bool(ends) and perf_counter_ns() > min(ends) + int(grace * 1e9)


class LocalRun(_RunState):
    """Workers (threads or greenlets) in this process calling one target.

    Args:
        plan: what this process runs (its share of the run's options: its workers,
            calls and warmup calls).
        factory: ``factory(worker_index) -> (call, close)`` builds one worker's callable.
        on_ready: called once every worker is built and warmed up; returns the
            ``perf_counter_ns`` at which measuring starts (the process runner waits
            there for its siblings).
        slot_offset, slot_stride: rate mode, this process's slots of the schedule.
    """

    def __init__(
        self,
        plan: Options,
        factory: Callable[[int], tuple[Callable[[], Any], Callable[[], Any] | None]],
        on_ready: Callable[[], int] | None = None,
        *,
        slot_offset: int = 0,
        slot_stride: int = 1,
    ) -> None:
        super().__init__()
        self.plan = plan
        self.slot_offset = slot_offset
        """Rate mode: this process takes schedule slots ``offset, offset + stride, ...``."""
        self.slot_stride = slot_stride
        """Rate mode: the number of processes."""
        self.factory = factory
        self.on_ready = on_ready
        self._pending: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._error_lock = threading.Lock()
        self._remaining = plan.number if plan.number is not None else 0
        self._warm_remaining = plan.warmup_calls
        self._deadline = 0
        self._warm_deadline = 0
        self._finished = 0
        self._closing: set[int] = set()
        self._finished_workers: set[int] = set()
        self._abandoned = False
        self._inflight: dict[int, list[Any]] = {}
        """Worker -> ``[latencies, scheduled latencies, runs, last result]`` of the batch it
        is in, published once per batch (and per change of result), so the calls a worker
        finished before one that hangs are still counted when it is abandoned."""
        self._started = 0
        self._slots = itertools.count()
        self._barrier = threading.Barrier(plan.concurrency, action=self._measure_start)
        if plan.gevent:
            import gevent

            self._yield: Callable[[], Any] | None = gevent.sleep
            self._batch_ns = 300_000
        else:
            self._yield = None
            self._batch_ns = 10_000_000
        self._workers: list[Any] = []
        # Parking (threads, closed model): see tick_begin.
        self._tick_at = 1 << 62
        self._cond = threading.Condition(self._lock)  # parked workers wait here
        self._monitor = threading.Condition(self._lock)  # the monitor waits here
        self._generation = 0
        self._parked = 0
        self._looping = 0

    # --- control -------------------------------------------------------------------

    def start(self) -> None:
        if self.plan.warmup_seconds:
            self._warm_deadline = perf_counter_ns() + int(self.plan.warmup_seconds * 1e9)
        for index in range(self.plan.concurrency):
            if self.plan.gevent:
                import gevent

                self._workers.append(gevent.spawn(self._worker, index))
            else:
                t = threading.Thread(
                    target=self._worker, args=(index,), name=f"ab-worker-{index}", daemon=True
                )
                t.start()
                self._workers.append(t)

    def stop(self, reason: str = "interrupted") -> None:
        self._mark_stopping(reason)
        self._wake_parked()

    def _wake_parked(self) -> None:
        # From a signal handler the lock may be held by this very thread: never block.
        if self._lock.acquire(blocking=False):
            try:
                self._generation += 1
                self._parked = 0
                self._cond.notify_all()
                self._monitor.notify_all()
            finally:
                self._lock.release()

    @property
    def done(self) -> bool:
        """Every worker has finished, or the rest were given up (:meth:`abandon`)."""
        return self._abandoned or self._finished >= self.plan.concurrency

    def overdue(self) -> bool:
        """Calls are still running :data:`STOP_GRACE` seconds after the run should have
        ended (the end of ``-d`` or a stop): time to :meth:`abandon` them."""
        deadline = self._deadline if self.plan.number is None and self.measuring else None
        return not self.done and self._overdue(deadline, STOP_GRACE)

    def abandon(self) -> None:
        """Stop waiting for the workers still busy; each is in one call (counted as
        ``unfinished``) or in its ``close()``. Their threads are daemons: they cannot
        keep the process alive."""
        self.stopping = True
        with self._lock:
            self._abandoned = True
            if self.t_end is None:
                self.t_end = perf_counter_ns()
            busy = [
                i
                for i in range(self.plan.concurrency)
                if i not in self._finished_workers and i not in self._closing
            ]
        if not self.measuring:
            return
        rec = self.recorder
        rec.unfinished += len(busy)
        for index in busy:
            batch = self._inflight.get(index)
            if batch is None:
                continue
            buf, sbuf, runs, last = batch
            buf = array.array("q", buf)  # a copy: the worker may still be appending
            rec.latency.record_batch(buf)
            if sbuf is not None:
                rec.scheduled.record_batch(array.array("q", sbuf))
                self._started += len(buf) + 1  # and the call that hangs
            counted = 0
            for value, count in list(runs):
                rec.add_results(value, count)
                counted += count
            if len(buf) > counted:
                rec.add_results(result_key(last), len(buf) - counted)

    # --- ticks without a GIL convoy ------------------------------------------------------

    @property
    def looping(self) -> int:
        """Workers in the closed-model loop right now."""
        return self._looping

    @property
    def can_park(self) -> bool:
        """Whether workers may park for ticks: threads in the closed model."""
        return self._yield is None and not self.plan.rate

    def tick_begin(self, at: float, grace: float = 0.05) -> bool:
        """Wait until every looping worker has parked for the tick due at ``at``
        (``perf_counter`` seconds); ``False`` if some had not by ``at + grace``.

        Closed-model threads park at their first batch end past the tick time, and the
        last one to park wakes the monitor. So the monitor never queues for the GIL
        behind CPU-bound workers: its numpy folds and file writes each give the GIL up,
        and with many busy threads each of those waits made a tick take seconds.
        Parked workers lose no throughput while the monitor holds the GIL anyway.
        """
        with self._cond:
            while not self.stopping and self._looping:
                if self._parked >= self._looping:
                    return True
                left = at + grace - time.perf_counter()
                if left <= 0:
                    return False
                self._monitor.wait(left)
        time.sleep(max(0.0, at - time.perf_counter()))  # nobody looping: a plain tick
        return True

    def tick_end(self, next_tick_ns: int) -> None:
        """Release parked workers; they park again at ``next_tick_ns`` (perf_counter_ns)."""
        with self._cond:
            self._tick_at = next_tick_ns
            self._generation += 1
            self._parked = 0  # released workers count for no later tick
            self._cond.notify_all()

    def _park(self) -> None:
        with self._cond:
            generation = self._generation
            self._parked += 1
            if self._parked >= self._looping:
                self._monitor.notify()
            # Bounded: a monitor that stopped ticking never strands a worker.
            while self._generation == generation and not self.stopping:
                if not self._cond.wait(0.5):
                    break
            if self._generation == generation:
                self._parked -= 1  # left on its own; a new generation starts from zero

    def stop_ticks(self) -> None:
        """No more parking (the monitor is done)."""
        self.tick_end(1 << 62)

    def collect(self) -> Recorder:
        """Fold the batches workers handed over into :attr:`recorder` and return it."""
        # Drain in place: workers keep a reference to this very list.
        n = len(self._pending)
        pending = self._pending[:n]
        del self._pending[:n]
        rec = self.recorder
        if not pending:
            return rec
        # One numpy fold per tick: each numpy call may give up the GIL, and getting it
        # back from busy workers costs a switch interval (5 ms).
        rec.latency.record_batch(_join([p[0] for p in pending]))
        scheduled = [p[1] for p in pending if p[1] is not None]
        if scheduled:
            rec.scheduled.record_batch(_join(scheduled))
        for _buf, _sched, runs, late, started in pending:
            for value, count in runs:
                rec.add_results(value, count)
            rec.late += late
            self._started += started
        return rec

    def finish(self) -> Recorder:
        """The final recorder once all workers are done (adds dropped rate-mode slots)."""
        rec = self.collect()
        if self.plan.rate and self.t_start is not None:
            end = self.t_end or perf_counter_ns()
            rec.dropped = max(0, self._due(end) - self._started)
        return rec

    # --- workers ---------------------------------------------------------------------

    def _worker(self, index: int) -> None:
        close = None
        try:
            try:
                call, close = self.factory(index)
            except BaseException as exc:
                self.setup_error = self.setup_error or "".join(
                    traceback.format_exception(type(exc), exc, exc.__traceback__)
                )
                self.stop("setup")
                self._barrier.abort()
                return
            self._warmup(call)
            try:
                self._barrier.wait()
            except threading.BrokenBarrierError:
                return
            if self.plan.rate:
                self._rate_loop(call, index)
            else:
                with self._lock:
                    self._looping += 1
                try:
                    self._closed_loop(call, index)
                finally:
                    with self._cond:
                        self._looping -= 1
                        if self._parked >= self._looping:
                            self._monitor.notify()
        finally:
            if close is not None:
                self._closing.add(index)
                try:
                    close()
                except Exception as exc:
                    self.close_errors.append(f"worker {index}: {type(exc).__name__}: {exc}")
                self._closing.discard(index)
            with self._lock:
                self._finished_workers.add(index)
                self._finished += 1
                if self._finished >= self.plan.concurrency and not self._abandoned:
                    self.t_end = perf_counter_ns()

    def _measure_start(self) -> None:
        """Barrier action: every worker is built and warm; measuring starts now."""
        start = self.on_ready() if self.on_ready is not None else perf_counter_ns()
        if self.plan.duration is not None:
            self._deadline = start + int(self.plan.duration * 1e9)
        self.t_start = start

    def _warmup(self, call: Callable[[], Any]) -> None:
        if not (self.plan.warmup_calls or self.plan.warmup_seconds):
            return
        while not self.stopping:
            if self.plan.warmup_seconds:
                if perf_counter_ns() >= self._warm_deadline:
                    return
                k = 16
            else:
                with self._lock:
                    k = min(16, self._warm_remaining)
                    self._warm_remaining -= k
                if k <= 0:
                    return
            for _ in repeat(None, k):
                try:
                    call()
                except Exception:
                    pass  # warmup calls are not counted, errors included
            if self._yield is not None:
                self._yield()

    def _claim(self, want: int) -> int:
        if self.stopping:
            return 0
        if self.plan.number is None:
            return want if perf_counter_ns() < self._deadline else 0
        with self._lock:
            k = min(want, self._remaining)
            self._remaining -= k
        return k

    def _on_error(self, exc: BaseException) -> None:
        with self._error_lock:
            self.recorder.add_error(exc)
            errors = self.recorder.errors
        if self.plan.strict:
            self.stop("strict")
        elif self.plan.max_errors is not None and errors >= self.plan.max_errors:
            self.stop("max-errors")

    def _closed_loop(self, call: Callable[[], Any], index: int = 0) -> None:
        pc = perf_counter_ns
        pending = self._pending
        inflight = self._inflight
        claim = self._claim
        on_error = self._on_error
        yield_ = self._yield
        target = self._batch_ns
        want = 8
        last: Any = _NOTHING
        same = 0
        while True:
            k = claim(want)
            if k <= 0:
                break
            buf = array.array("q")
            ap = buf.append
            runs: list[tuple[Any, int]] = []
            inflight[index] = batch = [buf, None, runs, last]
            b0 = pc()
            for _ in repeat(None, k):
                t0 = pc()
                try:
                    r = call()
                except Exception as exc:
                    on_error(exc)
                    if self.stopping:  # --strict / --max-errors: not one call more
                        break
                    continue
                ap(pc() - t0)
                if r is last:
                    same += 1
                else:
                    if same:
                        runs.append((result_key(last), same))
                    last = batch[3] = r
                    same = 1
            b1 = pc()
            per_call = (b1 - b0) // k or 1
            if same:
                runs.append((result_key(last), same))
                same = 0
            if self._abandoned:
                break  # the monitor took this batch from inflight already
            pending.append((buf, None, runs, 0, 0))
            want = min(max(target // per_call, 1), _MAX_BATCH)
            if yield_ is not None:
                yield_()
            elif b1 >= self._tick_at:
                self._park()

    def _slot_time(self, slot: int) -> int:
        assert self.t_start is not None and self.plan.rate
        global_slot = slot * self.slot_stride + self.slot_offset
        return self.t_start + int(global_slot * 1e9 / self.plan.rate)

    def _due(self, end: int) -> int:
        """Slots of this process scheduled before ``end``."""
        assert self.t_start is not None and self.plan.rate
        slots = (end - self.t_start) * self.plan.rate / 1e9  # global slots due
        due = max(0, math.ceil((slots - self.slot_offset) / self.slot_stride))
        if self.plan.number is not None:
            due = min(due, self.plan.number)
        return due

    def _rate_loop(self, call: Callable[[], Any], index: int) -> None:
        pc = perf_counter_ns
        sleep = time.sleep
        number = self.plan.number
        deadline = self._deadline
        slots = self._slots
        buf = array.array("q")
        sbuf = array.array("q")
        runs: list[tuple[Any, int]] = []
        late = started = 0
        last: Any = _NOTHING
        same = 0
        flushed = pc()
        self._inflight[index] = batch = [buf, sbuf, runs, last]
        while not self.stopping:
            i = next(slots)
            if number is not None and i >= number:
                break
            due = self._slot_time(i)
            if deadline and due >= deadline:
                break
            now = pc()
            while due > now and not self.stopping:
                sleep(min(due - now, 50_000_000) / 1e9)
                now = pc()
            if self.stopping:
                break
            started += 1
            t0 = pc()
            if t0 - due > LATE_NS:
                late += 1
            try:
                r = call()
            except Exception as exc:
                self._on_error(exc)
                continue
            t1 = pc()
            buf.append(t1 - t0)
            sbuf.append(t1 - due)
            if r is last:
                same += 1
            else:
                if same:
                    runs.append((result_key(last), same))
                last = batch[3] = r
                same = 1
            if t1 - flushed > 20_000_000:
                if same:
                    runs.append((result_key(last), same))
                    same = 0
                if self._abandoned:
                    return
                self._pending.append((buf, sbuf, runs, late, started))
                buf, sbuf, runs = array.array("q"), array.array("q"), []
                self._inflight[index] = batch = [buf, sbuf, runs, last]
                late = started = 0
                flushed = t1
        if same:
            runs.append((result_key(last), same))
        if not self._abandoned:
            self._pending.append((buf, sbuf, runs, late, started))


def _join(buffers: list[array.array]) -> array.array:
    if len(buffers) == 1:
        return buffers[0]
    joined = array.array("q")
    for buf in buffers:
        joined.extend(buf)
    return joined


def measure_overhead(calls: int = 20_000) -> tuple[float, float]:
    """Time the closed loop on a no-op: ``(ns added to each latency, ns per loop turn)``.

    The first is what every recorded latency includes besides the callable itself;
    a callable much faster than it cannot be measured meaningfully.
    """

    def noop() -> None:
        return None

    plan = Options("noop", number=calls)
    run = LocalRun(plan, lambda _i: (noop, None))
    run.t_start = perf_counter_ns()
    t0 = perf_counter_ns()
    run._closed_loop(noop)
    wall = perf_counter_ns() - t0
    rec = run.collect()
    return float(rec.latency.percentile(50) or 0.0), wall / calls


class Pacer:
    """Paces a monitor's ticks, and has workers park for them when that helps.

    Parking (see :meth:`LocalRun.tick_begin`) starts on for closed-model threads and
    is turned off for good after a few ticks in a row whose workers did not all park
    in time: they are inside long calls, which wait on I/O without the GIL, and
    parking would only slow them down.
    """

    NEVER = 1 << 62
    SWITCH_INTERVAL = 0.001
    """``sys.setswitchinterval`` while threads run: how long the monitor may wait for the
    GIL behind one busy thread (the default 5 ms made a tick take tens of ms)."""
    MISSES = 3
    """Ticks in a row whose workers did not all park before parking is given up."""

    def __init__(self, engine: Any, tick: float) -> None:
        self.engine = engine
        self.tick = tick
        self.parking = bool(getattr(engine, "can_park", False))
        self._next = time.perf_counter()
        self._misses = 0
        self._parking_now = False
        self._announce()

    def _announce(self) -> None:
        # A single worker is never parked: while the monitor's numpy folds run without
        # the GIL it keeps calling on the other core, and with SWITCH_INTERVAL each wait
        # for the GIL behind one thread is short.
        self._parking_now = self.parking and getattr(self.engine, "looping", 0) >= 2
        next_ns = int((self._next + self.tick) * 1e9) if self._parking_now else self.NEVER
        self.engine.tick_end(next_ns)

    def sleep(self) -> None:
        """Return at the next tick, with the workers parked when parking is on."""
        self._next += self.tick
        if self._parking_now:
            if self.engine.tick_begin(self._next):
                self._misses = 0
            else:
                self._misses += 1
                self.parking = self._misses < self.MISSES
        else:
            time.sleep(max(0.0, self._next - time.perf_counter()))
        self._next = max(self._next, time.perf_counter() - self.tick)

    def release(self) -> None:
        """The tick's work is done: workers go on until the next tick."""
        self._announce()


# --- processes -------------------------------------------------------------------------


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as integers allow."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class ProcessRun(_RunState):
    """The same interface as :class:`LocalRun`, over ``--processes`` child processes.

    Each child runs a :class:`LocalRun` and sends its whole recorder (a few KB: only
    nonzero buckets) to the parent five times a second through a pipe; the parent
    merges the latest one of each child. Children ignore SIGINT; the parent tells
    them to stop, so a Ctrl-C still gets every child's results.
    """

    def __init__(self, plans: list[Options], tick: float = 0.2) -> None:
        import multiprocessing

        super().__init__()
        self.plans = plans
        self.tick = tick
        self._ctx = multiprocessing.get_context("spawn")
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        self._latest: list[Recorder | None] = [None] * len(plans)
        self._done = [False] * len(plans)
        self._ready = [False] * len(plans)
        self._reasons: list[str | None] = [None] * len(plans)
        self._child_end: int | None = None
        self._lost = 0
        """Workers of children that were killed without reporting (see :meth:`abandon`)."""

    def start(self) -> None:
        for index, plan in enumerate(self.plans):
            parent, child = self._ctx.Pipe(duplex=True)
            for end in (parent, child):  # gevent's patched socketpair makes them non-blocking
                os.set_blocking(end.fileno(), True)
            proc = self._ctx.Process(
                target=child_main,
                args=(plan, index, child, self.tick, len(self.plans)),
                name=f"votakvot-ab-{index}",
                daemon=True,
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def stop(self, reason: str = "interrupted") -> None:
        self._mark_stopping(reason)
        for conn, done in zip(self._conns, self._done):
            if not done:
                try:
                    conn.send(("stop", reason))
                except OSError:
                    pass

    @property
    def done(self) -> bool:
        return all(self._done)

    def overdue(self) -> bool:
        """A child has not reported well after the run should have ended."""
        plan = self.plans[0]
        deadline = None
        if plan.number is None and plan.duration is not None and self.t_start is not None:
            deadline = self.t_start + int(plan.duration * 1e9)
        return not self.done and self._overdue(deadline, _PROCESS_GRACE)

    def abandon(self) -> None:
        """Kill the children that did not report (stuck where their own grace cannot
        help); all their workers count as ``unfinished``, their last tick is kept."""
        self.stopping = True
        for index, proc in enumerate(self._procs):
            if not self._done[index]:
                self._done[index] = True
                if self.t_start is not None:
                    self._lost += self.plans[index].concurrency
                if proc.is_alive():
                    proc.kill()  # children ignore SIGINT and SIGTERM
        if self.t_end is None:
            self.t_end = perf_counter_ns()

    def _receive(self) -> None:
        from multiprocessing.connection import wait

        ready: list[Any] = wait([c for c, d in zip(self._conns, self._done) if not d], timeout=0)
        for conn in ready:
            index = self._conns.index(conn)
            try:
                while conn.poll():
                    self._handle(index, conn.recv())
            except (EOFError, OSError):
                if not self._done[index]:
                    self._done[index] = True
                    code = self._procs[index].exitcode
                    self.setup_error = self.setup_error or (
                        f"worker process {index} died (exit code {code}) before reporting"
                    )
                    self.stop("setup")
        if self.t_end is None and self.done:
            self.t_end = self._child_end or perf_counter_ns()

    def _handle(self, index: int, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "ready":
            self._ready[index] = True
            if all(self._ready):
                self.t_start = perf_counter_ns() + 20_000_000  # room to deliver "go"
                for conn in self._conns:
                    conn.send(("go", self.t_start))
        elif kind == "tick":
            self._latest[index] = message[1]
            max_errors = self.plans[0].max_errors
            if max_errors is not None and not self.stopping:
                errors = sum(r.errors for r in self._latest if r is not None)
                if errors >= max_errors:
                    self.stop("max-errors")
        elif kind == "end":
            _, rec, reason, setup_error, close_errors, t_end = message
            self._latest[index] = rec
            if t_end is not None:  # CLOCK_MONOTONIC is the same clock in every process
                self._child_end = max(self._child_end or 0, t_end)
            self._done[index] = True
            self.close_errors.extend(close_errors)
            if setup_error and not self.setup_error:
                self.setup_error = setup_error
            if reason and reason != "interrupted" and not self.stopping:
                self.stop(reason)
            self._reasons[index] = reason

    def collect(self) -> Recorder:
        self._receive()
        rec = Recorder()
        for r in self._latest:
            if r is not None:
                rec.merge(r)
        rec.unfinished += self._lost
        self.recorder = rec
        return rec

    def finish(self) -> Recorder:
        rec = self.collect()
        for proc in self._procs:
            proc.join(timeout=5)
        return rec

    def tick_begin(self, at: float, grace: float = 0.02) -> bool:
        return False  # the children pace their own workers

    def tick_end(self, next_tick_ns: int) -> None:
        return None

    def kill(self) -> None:
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()


def child_main(plan: Options, index: int, conn: Any, tick: float, processes: int) -> None:
    """Entry point of a ``--processes`` child: run its share ``plan`` (child ``index`` of
    ``processes``), report to the parent."""
    import signal

    # The parent decides when to stop: a Ctrl-C, or a SIGTERM sent to the whole group
    # (systemd, kill -TERM -PGID), reaches it too and it tells the children.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    if plan.gevent:
        from .gevent_support import patch

        patch()
        # The pipe is read with plain os.read; gevent may have made the fd non-blocking.
        os.set_blocking(conn.fileno(), True)
    from .target import resolve

    if not plan.gevent:
        sys.setswitchinterval(min(sys.getswitchinterval(), Pacer.SWITCH_INTERVAL))
    local: LocalRun | None = None
    try:
        target = resolve(plan.spec)

        def on_ready() -> int:
            conn.send(("ready",))
            while True:
                message = conn.recv()
                if message[0] == "go":
                    return int(message[1])
                if message[0] == "stop" and local is not None:
                    local.stop(message[1])
                    return perf_counter_ns()

        local = LocalRun(
            plan,
            lambda _i: target.make(plan.kwargs),
            on_ready=on_ready,
            slot_offset=index,
            slot_stride=processes,
        )
        local.start()
        pacer = Pacer(local, tick)
        while not local.done:
            pacer.sleep()
            if local.overdue():
                local.abandon()
            if local.measuring:  # until then the pipe is the barrier action's ("go"/"stop")
                while conn.poll():
                    message = conn.recv()
                    if message[0] == "stop":
                        local.stop(message[1])
                conn.send(("tick", local.collect()))
            pacer.release()
        local.stop_ticks()
        rec = local.finish()
        conn.send(
            ("end", rec, local.stop_reason, local.setup_error, local.close_errors, local.t_end)
        )
    except BaseException as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        rec = local.finish() if local is not None else Recorder()
        try:
            conn.send(("end", rec, "setup", text, [], perf_counter_ns()))
        except OSError:
            pass
    finally:
        conn.close()
