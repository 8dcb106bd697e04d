"""``runner="process"``: a pool of local worker processes, for CPU-bound trials.

Each worker calls ``votakvot.init`` once with the client's settings, then writes
its trials straight to the root. Functions and params travel by pickle: the
function must be importable (defined at the top level of a module), not a lambda
or a function nested in another.

The pool is votakvot's own, not a ``ProcessPoolExecutor``: one pipe per worker and
one task at a time on each, so when a worker dies (a segfault, ``os._exit``, the
OOM killer) the runner knows which calls it held and how it ended. A batch it held
is run again call by call (the innocent calls finish, the culprit is found); a
single call it held is recorded ``crashed`` with the signal or exit code, and
retried when ``retries=`` allows; unless the worker died before the call began (no
record of the call from it: killed while idle), then the call goes to another
worker. Only that worker is replaced; the map goes on.
A call past ``timeout=`` has its worker killed and is recorded ``timeout``.

Stops: Ctrl-C in the parent alone (a notebook's interrupt) cancels the map's calls,
and the runner sends SIGINT to the workers running them, so their trials end
``interrupted``. SIGTERM or SIGHUP to the parent (``docker stop``, a CI time-out)
is sent on to every worker (their trials end ``interrupted`` naming the signal),
queued calls never start, and once the workers are gone the parent ends as the
signal says. A worker whose parent dies anyhow (SIGKILL) gets SIGTERM from the
kernel (Linux) or sees its parent gone, and exits: no orphans.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import logging
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import pickle
import platform
import signal
import sys
import threading
import time
import weakref
from typing import Any

from .. import _active, _signals
from .._config import Config
from ..exceptions import WorkerCrashedError
from ._attempts import exit_description, read_record, record_ended_elsewhere
from ._base import Runner, check_options
from ._call import Call, _Failure, apply_settings, execute_many, worker_settings

logger = logging.getLogger("votakvot")

BATCH_SECONDS = 0.02
"""``map`` sends calls shorter than this to a worker in batches taking about this long:
one round trip per batch instead of per call. Longer calls go one by one."""

__all__ = ["ProcessRunner", "check_shareable_root", "not_picklable"]


def check_shareable_root(runner: str, config: Config) -> None:
    if config.storage.url.startswith("memory://"):
        raise ValueError(
            f"runner {runner!r} cannot write trials to {config.storage.url!r}: memory:// "
            "lives inside one process, so the workers' trials would be lost. Use a local "
            "folder or a shared fsspec URL (s3://..., sftp://...) in votakvot.init(path=...)"
        )


def not_picklable(what: str, value: Any, runner: str, exc: BaseException) -> TypeError:
    return TypeError(
        f"{what} cannot be sent to the {runner!r} runner's workers: "
        f"{type(exc).__name__}: {exc}. Workers receive functions by reference, so define "
        "the function at the top level of an importable module (not a lambda, nor a "
        "function inside another function), or use runner='inplace' or 'thread'"
    )


@dataclasses.dataclass(eq=False)
class _Entry:
    """One call waiting for, or held by, a worker, and the future the user holds."""

    call: Call
    future: concurrent.futures.Future[Any]
    batchable: bool
    timeout: float | None = None
    started: bool = False
    resent: int = 0
    """How often the call was sent again after a worker died before the call began."""
    cancelled: bool = False
    """Cancelled by Ctrl-C while it ran: its worker is sent SIGINT."""


class _Interrupt:
    """What ``runners._cancel`` calls on Ctrl-C for a future whose call runs already:
    its worker is sent SIGINT, so its trial ends ``interrupted``."""

    def __init__(self, runner: ProcessRunner, entry: _Entry) -> None:
        self.runner = runner
        self.entry = entry

    def __call__(self) -> None:
        if not self.entry.future.done():
            self.entry.cancelled = True
            self.runner._wake()


@dataclasses.dataclass(eq=False)
class _Slot:
    """One worker process, the pipe to it, and the entries it holds (one task)."""

    process: Any
    conn: Any
    held: list[_Entry] = dataclasses.field(default_factory=list)
    deadline: float | None = None
    sent_at: float = 0.0
    tasks: int = 0
    interrupted: bool = False
    """SIGINT was sent to it for a cancelled call it holds."""


class ProcessRunner(Runner):
    """Local worker processes that record trials with the client's settings.

    Args:
        config: the settings trials are recorded with.
        workers: worker processes (default: the number of CPUs).
        mp_context: ``"fork"``, ``"spawn"`` or ``"forkserver"`` (default: the
            platform's default start method).
        max_tasks_per_child: replace a worker after this many tasks.
    """

    name = "process"
    can_timeout = True

    def __init__(
        self,
        config: Config,
        *,
        workers: int | None = None,
        mp_context: str | None = None,
        max_tasks_per_child: int | None = None,
        **options: Any,
    ) -> None:
        check_options(self.name, options, ("workers", "mp_context", "max_tasks_per_child"))
        super().__init__(config)
        check_shareable_root(self.name, config)
        if workers is not None and workers < 1:
            raise ValueError(f"runner 'process': workers must be >= 1 (got {workers!r})")
        self.context = multiprocessing.get_context(mp_context)
        self.settings = worker_settings(config)
        if self.context.get_start_method() != "fork":
            try:
                pickle.dumps(self.settings)
            except Exception as exc:
                raise TypeError(
                    f"the settings of votakvot.init cannot be sent to {mp_context or 'spawned'} "
                    f"worker processes: {type(exc).__name__}: {exc}. Meta providers must be "
                    "top-level functions (not lambdas) for this start method; or pass "
                    "mp_context='fork'"
                ) from exc
        self.workers = workers or os.cpu_count() or 1
        self.max_tasks_per_child = max_tasks_per_child
        self._checked: dict[int, Any] = {}
        self._cond = threading.Condition()
        self._queue: collections.deque[_Entry] = collections.deque()
        self._slots: list[_Slot | None] = [None] * self.workers
        self._per_call: float | None = None
        self._closing = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._signalled: int | None = None
        """SIGTERM/SIGHUP that reached the parent: the pool stops, nothing is retried."""
        self._forwarded = False
        _live.add(self)

    # --- submitting ---------------------------------------------------------------

    def _check_function(self, fn: Any) -> None:
        """Fail at submit, naming the function, rather than later in the dispatcher."""
        if self._checked.get(id(fn)) is fn:
            return
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise not_picklable(f"function {fn!r}", fn, self.name, exc) from exc
        self._checked[id(fn)] = fn

    def _check_params(self, call: Call) -> None:
        try:
            pickle.dumps(call.params)
        except Exception as exc:
            bad = [k for k, v in call.params.items() if not _picklable(v)]
            raise TypeError(
                f"params {', '.join(map(repr, bad)) or '?'} of {call.fn!r} cannot be sent to "
                f"the 'process' runner's workers: {type(exc).__name__}: {exc}. Pass values "
                "pickle can copy (no locks, open files or connections), or use runner='thread'"
            ) from exc

    def submit(self, call: Call, *, timeout: float | None = None) -> concurrent.futures.Future[Any]:
        return self.submit_many([call], timeout=timeout, batch=False)[0]

    def submit_many(
        self, calls: list[Call], *, timeout: float | None = None, batch: bool = True
    ) -> list[concurrent.futures.Future[Any]]:
        """Futures of many calls, in order; short calls go to workers in batches.

        The first call of each worker goes alone; once calls come back, the time
        they took sizes the batches of the rest (about ``BATCH_SECONDS`` each, and
        at most a quarter of a worker's share of what is queued, so the workers stay
        balanced). Calls with a ``timeout`` always go alone.
        """
        for fn in {id(call.fn): call.fn for call in calls}.values():
            self._check_function(fn)
        for call in calls:
            self._check_params(call)
        entries = [
            _Entry(c, concurrent.futures.Future(), batch and timeout is None, timeout)
            for c in calls
        ]
        for entry in entries:
            entry.future._votakvot_interrupt = _Interrupt(self, entry)  # type: ignore[attr-defined]
        _signals.install()  # its handler runs _stop_pools first (see _signals.stop_hooks)
        with self._cond:
            if self._closing:
                raise RuntimeError("the 'process' runner was shut down; call votakvot.init again")
            self._queue.extend(entries)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._dispatch, name="votakvot-process-runner", daemon=True
                )
                self._thread.start()
        self._wake()
        return [entry.future for entry in entries]

    def _wake(self) -> None:
        with self._cond:
            self._wake_locked()

    def _wake_locked(self) -> None:
        if self._wake_w < 0:
            return  # the dispatcher ended and closed the pipe
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the dispatcher wakes up anyway

    def close(self, wait: bool = True) -> None:
        if os.getpid() != self._pid:
            return  # a forked copy: the pool is the parent's
        with self._cond:
            self._closing = True
            if not wait:
                while self._queue:
                    self._queue.popleft().future.cancel()
            thread = self._thread
        self._wake()
        if thread is not None and wait and thread is not threading.current_thread():
            thread.join()

    # --- the dispatcher thread -------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug here must not leave futures waiting forever
            logger.exception("votakvot: the process runner's dispatcher failed")
            with self._cond:
                pending = list(self._queue)
                self._queue.clear()
            for slot in self._slots:
                if slot is not None:
                    pending.extend(slot.held)
            for entry in pending:
                _fail(entry.future, exc)
        finally:
            self._stop_workers()

    def stop(self, signum: int) -> None:
        """The parent got ``signum`` (SIGTERM, SIGHUP): cancel the queued calls and send
        it on to every worker; the dispatcher then ends once they are gone."""
        if os.getpid() != self._pid:
            return
        with self._cond:
            self._signalled = signum
            self._closing = True
            while self._queue:
                self._queue.popleft().future.cancel()
        self._wake()

    def _signal_workers(self) -> None:
        """Send a stop on to the workers, from the dispatcher (which alone owns the slots)."""
        if self._signalled is not None and not self._forwarded:
            self._forwarded = True
            for slot in self._slots:
                if slot is not None:
                    _kill(slot.process.pid, self._signalled)
        for slot in self._slots:
            if slot is not None and not slot.interrupted and any(e.cancelled for e in slot.held):
                slot.interrupted = True
                _kill(slot.process.pid, signal.SIGINT)

    def _loop(self) -> None:
        while True:
            self._signal_workers()
            self._fill()
            busy = [s for s in self._slots if s is not None and s.held]
            with self._cond:
                if self._closing and not busy and not self._queue:
                    return
            waitables: list[Any] = [self._wake_r]
            for slot in busy:
                waitables += [slot.conn, slot.process.sentinel]
            deadlines = [s.deadline for s in busy if s.deadline is not None]
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = multiprocessing.connection.wait(waitables, timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            for index, held in enumerate(self._slots):
                if held is None or not held.held:
                    continue
                if held.conn in ready or held.process.sentinel in ready:
                    self._receive(index, held)
                elif held.deadline is not None and time.monotonic() >= held.deadline:
                    self._timed_out(index, held)

    def _fill(self) -> None:
        """Hand queued calls to idle workers, starting or replacing workers as needed."""
        for index in range(self.workers):
            slot = self._slots[index]
            if slot is not None and slot.held:
                continue
            entries = self._take()
            if not entries:
                return
            if slot is None or not slot.process.is_alive() or self._worn(slot) or slot.interrupted:
                if slot is not None:
                    self._retire(slot)
                slot = self._slots[index] = self._start_worker()
            slot.held = entries
            slot.sent_at = time.monotonic()
            timeouts = [e.timeout for e in entries if e.timeout is not None]
            slot.deadline = slot.sent_at + min(timeouts) if timeouts else None
            slot.tasks += 1
            try:
                slot.conn.send([e.call for e in entries])
            except (OSError, ValueError):
                pass  # the worker is gone: its sentinel says so on the next wait
            except Exception as exc:  # cannot be pickled after all
                slot.held = []
                for entry in entries:
                    _fail(entry.future, not_picklable(f"{entry.call.fn!r}", None, self.name, exc))

    def _worn(self, slot: _Slot) -> bool:
        return self.max_tasks_per_child is not None and slot.tasks >= self.max_tasks_per_child

    def _take(self) -> list[_Entry]:
        """The next task: one call, or a batch of short ones."""
        out: list[_Entry] = []
        with self._cond:
            size = 1
            if self._per_call is not None:
                size = int(BATCH_SECONDS / max(self._per_call, 1e-6))
                size = max(1, min(size, math.ceil(len(self._queue) / (4 * self.workers))))
            while self._queue and len(out) < size:
                entry = self._queue[0]
                if out and not entry.batchable:
                    break
                self._queue.popleft()
                if not entry.started:
                    if not entry.future.set_running_or_notify_cancel():
                        continue  # cancelled while queued
                    entry.started = True
                out.append(entry)
                if not entry.batchable:
                    break
        return out

    def _start_worker(self) -> _Slot:
        mine, theirs = self.context.Pipe(duplex=True)
        # A forkserver's children are its own: their parent is not this process.
        parent = None if self.context.get_start_method() == "forkserver" else os.getpid()
        process = self.context.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(theirs, self.settings, parent),
            name="votakvot-process-worker",
            daemon=False,  # as ProcessPoolExecutor's: a trial may start processes of its own
        )
        process.start()
        theirs.close()
        return _Slot(process, mine)

    def _retire(self, slot: _Slot) -> None:
        try:
            slot.conn.send(None)
        except (OSError, ValueError):
            pass
        slot.conn.close()
        slot.process.join(timeout=5)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join()

    def _stop_workers(self) -> None:
        for index, slot in enumerate(self._slots):
            if slot is not None:
                self._retire(slot)
                self._slots[index] = None
        with self._cond:
            fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), -1, -1
        for fd in fds:
            os.close(fd)

    def _receive(self, index: int, slot: _Slot) -> None:
        entries, slot.held = slot.held, []
        try:
            if not slot.conn.poll():
                raise EOFError
            outcomes, seconds = slot.conn.recv()
        except (EOFError, OSError):
            self._died(index, slot, entries)
            return
        if len(entries) > 1 or entries[0].batchable:
            per_call = seconds / len(entries)
            self._per_call = per_call if self._per_call is None else min(self._per_call, per_call)
        for entry, (ok, value) in zip(entries, outcomes, strict=True):
            if ok:
                entry.future.set_result(value)
            else:
                _fail(entry.future, value)

    def _died(self, index: int, slot: _Slot, entries: list[_Entry]) -> None:
        """The worker is gone: find the call that took it down, run the others again."""
        slot.process.join(timeout=5)
        exitcode = slot.process.exitcode
        pid = slot.process.pid
        slot.conn.close()
        self._slots[index] = None
        stopped = [e for e in entries if e.cancelled or self._signalled is not None]
        if stopped:
            self._stopped(stopped, pid)
            entries = [e for e in entries if e not in stopped]
            if not entries:
                return
        if len(entries) > 1:
            # Which call of the batch did it is unknown: each runs again on its own.
            for entry in entries:
                entry.batchable = False
                # Some may have run: their files are cleared before they run again.
                origin = {**(entry.call.origin or {}), "again": True}
                entry.call = dataclasses.replace(entry.call, origin=origin)
            with self._cond:
                self._queue.extendleft(reversed(entries))
            return
        kind, words = exit_description(exitcode)
        entry = entries[0]
        if entry.resent < 1 and not self._began(entry.call, pid):
            # It died before the call wrote its record (killed while idle, say): the call
            # never ran, so it goes to another worker. A call that takes workers down
            # before it begins (unpickling it crashes) is recorded crashed the next time.
            logger.warning(
                "votakvot: worker process (pid %s) %s before trial %r began; running the "
                "trial on another worker",
                pid,
                words.removeprefix("the worker process "),
                entry.call.tid,
            )
            entry.resent += 1
            with self._cond:
                self._queue.appendleft(entry)
            return
        self._ended_elsewhere(
            entry,
            "crashed",
            {"type": kind, "message": f"{words} (pid {pid}) while it ran this trial"},
            {"exitcode": exitcode, "pid": pid},
            WorkerCrashedError,
        )

    def _stopped(self, entries: list[_Entry], pid: int | None) -> None:
        """Calls whose worker was stopped (a signal to the parent, a cancel) are not run
        again: a trial the worker began and could not end is recorded ``interrupted``."""
        signum = self._signalled
        if signum is not None:
            name = _signals.signal_name(signum)
            error = {
                "type": name,
                "message": f"stopped by {name} (signal {signum}) sent to process {self._pid}; "
                f"its worker process (pid {pid}) ended before recording it",
                "signal": name,
            }
        else:
            error = {
                "type": "KeyboardInterrupt",
                "message": f"cancelled: its worker process (pid {pid}) was interrupted and "
                "ended before recording it",
            }
        for entry in entries:
            if self._began(entry.call, pid):
                section = {"kind": self.name, "host": platform.node(), "pid": pid}
                section["attempt"] = entry.call.attempt
                record_ended_elsewhere(entry.call, "interrupted", error, section, self.config)
            why = f"stopped by {error['type']}" if signum is not None else "cancelled"
            stop = concurrent.futures.CancelledError(f"trial {entry.call.tid!r} {why}")
            _fail(entry.future, stop)

    def _began(self, call: Call, pid: int | None) -> bool:
        """Whether the worker ``pid`` began ``call``: a worker writes the trial's record
        (naming its pid) before the function runs."""
        if call.tid is None:
            return True  # cannot tell: count it as run, never run a call twice
        data = read_record(self.config, call.tid) or {}
        section = data.get("meta")
        runner = section.get("runner") if isinstance(section, dict) else None
        return isinstance(runner, dict) and runner.get("pid") == pid

    def _timed_out(self, index: int, slot: _Slot) -> None:
        entries, slot.held = slot.held, []
        pid = slot.process.pid
        slot.process.kill()
        slot.process.join()
        slot.conn.close()
        self._slots[index] = None
        for entry in entries:
            message = (
                f"ran longer than timeout={entry.timeout:g} s: the runner killed its worker "
                f"process (pid {pid})"
            )
            self._ended_elsewhere(
                entry,
                "timeout",
                {"type": "TimeoutError", "message": message},
                {"pid": pid},
                TimeoutError,
            )

    def _ended_elsewhere(
        self,
        entry: _Entry,
        state: str,
        error: dict[str, Any],
        runner: dict[str, Any],
        raises: type[BaseException],
    ) -> None:
        """Record the call's trial as ``state``, then retry it or fail its future."""
        call = entry.call
        section = {"kind": self.name, "host": platform.node(), "attempt": call.attempt, **runner}
        ended = record_ended_elsewhere(call, state, error, section, self.config)
        if ended is None and call.attempt <= call.retries and self._signalled is None:
            logger.warning(
                "votakvot: trial %r %s (attempt %d of %d): %s; running it again",
                call.tid,
                state,
                call.attempt,
                call.retries + 1,
                error["message"],
            )
            entry.call = dataclasses.replace(call, attempt=call.attempt + 1, rerun=True)
            with self._cond:
                self._queue.appendleft(entry)
            return
        if ended is not None:
            state = ended
            error = {"message": "its worker process ended after recording it so"}
        _fail(entry.future, raises(f"trial {call.tid!r} {state}: {error['message']}"))


_live: weakref.WeakSet[ProcessRunner] = weakref.WeakSet()


def _close_live() -> None:
    """At exit, before multiprocessing joins its children: stop our workers first
    (they are not daemons, so that a trial may start processes of its own)."""
    for runner in list(_live):
        runner.close(wait=True)


multiprocessing.util.Finalize(None, _close_live, exitpriority=100)


def _fail(future: concurrent.futures.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


_stopping = False
"""Set while the handler stops the pools (a second signal meanwhile goes straight on)."""


def _stop_pools(signum: int) -> None:
    """Send ``signum`` on to every pool's workers and wait (a bounded time) until they
    recorded their trials and exited, so none outlives its parent."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    pools = [r for r in list(_live) if r._pid == os.getpid() and r._thread is not None]
    for runner in pools:
        runner.stop(signum)
    deadline = time.monotonic() + _signals.RECORD_TIMEOUT + 1
    for runner in pools:
        thread = runner._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.error(
                    "votakvot: the process runner's workers did not end within %g s of %s",
                    _signals.RECORD_TIMEOUT + 1,
                    _signals.signal_name(signum),
                )


_signals.stop_hooks.append(_stop_pools)


def _kill(pid: int | None, signum: int) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass  # it is gone already: its sentinel says so


def _after_fork() -> None:
    global _stopping
    _stopping = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _die_with_parent(parent: int | None) -> None:
    """Have the kernel send SIGTERM to this worker when its parent dies (Linux), so its
    trial ends ``interrupted`` rather than running on with no one to report to."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:
        logger.warning("votakvot: worker %s cannot follow its parent's death: %s", os.getpid(), exc)
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # the parent died before the line above: nothing to run for


def _on_sigint(signum: int, frame: Any) -> None:
    """A worker's SIGINT: the trial running here names it as ``error.signal``; a second
    one while the trial records its end is ignored, so the record gets written."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    trial = _active.current()
    while trial is not None:
        _signals.mark(trial, signum)
        trial = trial.parent
    raise KeyboardInterrupt


_PARENT_CHECK_SECONDS = 1.0
"""How often an idle worker checks that its parent is alive (where no prctl tells it)."""


def _worker_main(conn: Any, settings: dict[str, Any], parent: int | None = None) -> None:
    """A worker process: apply the client's settings, then run tasks until told to stop,
    or until its parent is gone."""
    _die_with_parent(parent)
    start_parent = parent if parent is not None else os.getppid()
    apply_settings(settings)
    while True:
        try:
            signal.signal(signal.SIGINT, _on_sigint)
            while not conn.poll(_PARENT_CHECK_SECONDS):
                if os.getppid() != start_parent:
                    return  # the parent died: no one will send a task or read a result
            calls = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if calls is None:
            return
        try:
            outcome = execute_many(calls)
        except KeyboardInterrupt:
            return  # Ctrl-C reached the worker too: its trial is recorded interrupted
        try:
            conn.send(outcome)
        except Exception as exc:  # a result pickle cannot copy: each call says so
            failure = TypeError(
                f"the result could not be sent back from the worker process: "
                f"{type(exc).__name__}: {exc}; return values pickle can copy"
            )
            conn.send(([(False, _Failure(failure)) for _ in calls], outcome[1]))


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True
