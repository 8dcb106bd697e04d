"""Trials of a process stopped by SIGTERM or SIGHUP end recorded ``interrupted``.

``docker stop``, Kubernetes, systemd, CI time-outs, ``timeout`` and Dask stop a
process with SIGTERM (a closed terminal sends SIGHUP). Python's default for both
is to die on the spot, which would leave every running trial ``running`` until
its heartbeat goes stale, with up to a second of metrics and output lost.

So while trials can run, votakvot's handler sits in front of whatever handled the
signal before (chained, never replaced):

* the default action (``SIG_DFL``): every running trial, in any thread, is
  flushed and recorded ``interrupted`` with ``error: {type: SIGTERM, ...,
  signal: SIGTERM}`` and where each one was; then the default action is restored
  and the signal sent again, so the process still dies "killed by SIGTERM";
* ``SIG_IGN``: left alone, the signal is ignored and the trials go on;
* a Python handler (the user's, a framework's, installed before or after us): it
  is called. If it raises (``sys.exit``, ``KeyboardInterrupt``) the tracked call
  records that exception as usual, and ``error.signal`` names the signal.

``signal.signal`` works only on the main thread, so the handlers are installed
by ``votakvot.init()`` and by each trial that starts on the main thread (which
also wraps a handler installed since); nothing is installed at import. See
docs/stopping.md.
"""

from __future__ import annotations

import _signal
import atexit
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from . import _active
from ._active import ActiveTrial
from ._flusher import flusher as _flusher
from .layout import TRACEBACK_NAME

__all__ = ["SIGNALS", "install", "interrupt", "mark", "signal_name", "stop_hooks"]

logger = logging.getLogger("votakvot")

SIGNALS: tuple[int, ...] = tuple(
    int(s) for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s
)
"""The signals whose arrival is recorded (SIGINT needs nothing: it raises KeyboardInterrupt)."""

stop_hooks: list[Callable[[int], None]] = []
"""Called first with the signal when SIGTERM/SIGHUP arrives, before the trials are
recorded and the process ends: the process runner stops its pools there."""

RECORD_TIMEOUT = 5.0
"""Seconds the handler waits for the records to be written before the process dies anyway.

Docker and Kubernetes send SIGKILL 10 and 30 seconds after SIGTERM."""

_SIGNAL_ATTR = "stopped_by"  # ActiveTrial.stopped_by
_THREAD_ATTR = "_votakvot_thread"

_running: dict[ActiveTrial, int] = {}
"""Trials of this process that have started and not ended -> the thread that runs them."""
_CHAIN_ATTR = "__votakvot_chains_to__"
_received: int | None = None
"""The last recorded signal that arrived (for trials still running at exit)."""
_atexit_registered = False
_stopping: _Stopping | None = None
"""Set while the handler's records of a stop are being written."""


def signal_name(signum: int) -> str:
    """``15`` -> ``"SIGTERM"``."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install() -> None:
    """Put our handler in front of the current SIGTERM/SIGHUP handlers (main thread only).

    Cheap to call again: a signal already handled by us is skipped. A signal that is
    ignored (``SIG_IGN``, e.g. under ``nohup``) or handled outside Python is left alone.
    """
    global _atexit_registered
    if not _on_main_thread():
        return
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if _is_ours(current) or current is None or current == signal.SIG_IGN:
            continue
        try:
            signal.signal(signum, _chained_to(current))
        except (OSError, ValueError) as exc:  # an embedded interpreter, say
            logger.warning(
                "votakvot: cannot handle %s (%s); trials stopped by it stay 'running' "
                "until their heartbeat goes stale",
                signal_name(signum),
                exc,
            )
            continue
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_at_exit)


class _SignalHook:
    """Keeps :data:`_running` and names a received signal in a trial's error."""

    def on_start(self, trial: ActiveTrial) -> None:
        ident = threading.get_ident()
        setattr(trial, _THREAD_ATTR, ident)
        _running[trial] = ident
        if ident == _main_ident:
            # Frameworks install their handlers late: wrap whatever is there now.
            for signum in SIGNALS:
                if not _is_ours(_signal.getsignal(signum)):  # the C call: no enum lookup
                    install()
                    break

    def on_end(self, trial: ActiveTrial) -> None:
        _running.pop(trial, None)
        name = getattr(trial, _SIGNAL_ATTR, None)
        error = trial.data.get("error")
        if name is not None and isinstance(error, dict):
            error.setdefault("signal", name)


_main_ident = threading.main_thread().ident


def _is_ours(handler: Any) -> bool:
    return hasattr(handler, _CHAIN_ATTR)


def _chained_to(previous: Any) -> Callable[[int, FrameType | None], None]:
    """Our handler in front of ``previous``.

    Each installation is its own function holding its own ``previous``: code that saved
    and later restores a handler (``votakvot-ab``, a framework) restores the right chain.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        _handle(signum, frame, previous)

    setattr(handler, _CHAIN_ATTR, previous)
    return handler


def _handle(signum: int, frame: FrameType | None, previous: Any) -> None:
    """Record the running trials, then do what the previous handler did."""
    global _received, _stopping
    if _stopping is not None:
        _stopping.resignalled()  # our own reminder (see _Stopping): the records are done
        return
    _received = signum
    for hook in list(stop_hooks):
        try:
            hook(signum)
        except Exception:
            logger.exception("votakvot: stop hook %r failed on %s", hook, signal_name(signum))
    trials = _running_trials()
    for trial in trials:
        mark(trial, signum)
    if callable(previous):
        # The user's or a framework's: it decides. What it raises reaches the tracked
        # call on the main thread, whose failure path records it (on_end names the signal).
        previous(signum, frame)
        return
    if not trials:
        _die(signum)
    _stopping = _Stopping(signum, trials, frame)
    _stopping.start()


def _die(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)  # dies here, "killed by signal" as without votakvot


def _running_trials() -> list[ActiveTrial]:
    """Every trial of this process that has started and not ended, oldest first.

    Besides those our hook saw start, the ones whose first record is written but whose
    hooks have not run yet: the main thread's current trial (and its parents), and
    those the background flusher already keeps fresh.
    """
    trials = list(_running)
    newer: list[ActiveTrial] = []
    trial = _active.current()
    while trial is not None:
        if not hasattr(trial, _THREAD_ATTR):
            setattr(trial, _THREAD_ATTR, threading.get_ident())
        newer.insert(0, trial)
        trial = trial.parent
    flusher = _flusher
    try:
        newer.extend(getattr(flusher, "_trials", ()))
    except RuntimeError:  # another thread changed the set meanwhile: those are in _running
        pass
    seen = set(trials)
    for trial in newer:
        if trial not in seen and not trial.finished:
            seen.add(trial)
            trials.append(trial)
    return trials


class _Stopping:
    """Records the running trials as interrupted from a helper thread, then dies.

    Not from the handler itself: the main thread may have been stopped while holding
    one of votakvot's locks (starting a trial, say), and the records need it. So the
    handler waits a moment; if the helper is not done by then, the handler returns to
    let the main thread go on (and release the lock), and the helper sends the signal
    again once the records are written, which brings the main thread back to die. A
    watchdog sends it after :data:`RECORD_TIMEOUT` whatever happens, so the process
    never outlives a stop by more than that.
    """

    WAIT = 0.2
    """Seconds the handler waits for the records before letting the main thread go on."""

    def __init__(self, signum: int, trials: list[ActiveTrial], frame: Any) -> None:
        self.signum = signum
        self.trials = trials
        frames = sys._current_frames()
        if frame is not None:
            frames[threading.get_ident()] = frame
        self.where = {t: _where(frames.get(getattr(t, _THREAD_ATTR, 0))) for t in trials}
        self.done = threading.Event()
        self.waiting = False
        self.deadline = time.monotonic() + RECORD_TIMEOUT

    def start(self) -> None:
        try:
            helper = threading.Thread(target=self._work, name="votakvot-signal", daemon=True)
            helper.start()
        except RuntimeError:  # no new threads at interpreter shutdown: do it here
            self._work()
        if not self.done.wait(self.WAIT):
            self.waiting = True
            if not self.done.is_set():  # else the helper did not see `waiting`: die now
                watchdog = threading.Timer(RECORD_TIMEOUT, self._remind)
                watchdog.daemon = True
                watchdog.start()
                return
        _die(self.signum)

    def _work(self) -> None:
        try:
            for trial in reversed(self.trials):  # inner trials first
                try:
                    interrupt(trial, self.signum, self.where[trial])
                except Exception:
                    logger.exception("votakvot: could not record trial %r as stopped", trial.tid)
        finally:
            self.done.set()
            if self.waiting:
                self._remind()

    def _remind(self) -> None:
        os.kill(os.getpid(), self.signum)

    def resignalled(self) -> None:
        """The signal came again: ours once the records are done, the watchdog's, or
        the sender's (twice in a row): die, unless the records are still being written
        and have time left."""
        if not self.done.is_set():
            if time.monotonic() < self.deadline:
                return  # the helper or the watchdog sends it again
            logger.error(
                "votakvot: recording %d running trial(s) as stopped by %s took over %g s; "
                "the process ends now and they may stay 'running'",
                len(self.trials),
                signal_name(self.signum),
                RECORD_TIMEOUT,
            )
        _die(self.signum)


def _where(frame: FrameType | None) -> str:
    """The stack a thread was at, as a traceback without votakvot's own frames."""
    if frame is None:
        return ""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    stack = traceback.StackSummary.from_list(
        [f for f in traceback.extract_stack(frame, limit=50) if not f.filename.startswith(here)]
    )
    return "Traceback (most recent call last):\n" + "".join(stack.format())


def mark(trial: ActiveTrial, signum: int) -> None:
    """Name ``signum`` as ``error.signal`` if ``trial`` ends with an error."""
    setattr(trial, _SIGNAL_ATTR, signal_name(signum))


def interrupt(trial: ActiveTrial, signum: int, where: str = "") -> None:
    """End ``trial`` as ``interrupted`` by ``signum``: metrics and output flushed,
    ``error: {type: SIGTERM, message, signal: SIGTERM}``, finish time and duration set.

    ``where`` is the stack of the call when the signal came (kept as its traceback).
    """
    if trial.finished:
        return
    name = signal_name(signum)
    message = f"stopped by {name} (signal {signum}) sent to process {os.getpid()}"
    mark(trial, signum)
    _end_interrupted(trial, {"type": name, "message": message, "signal": name}, where)


def _end_interrupted(trial: ActiveTrial, error: dict[str, str], where: str) -> None:
    """End ``trial`` as ``interrupted`` with ``error`` and the traceback ``where`` it was,
    written to its traceback file too: one ending for a signal and a process exit."""
    text = f"{where}{error['type']}: {error['message']}\n"
    trial.data["error"] = error
    trial.data["traceback"] = text
    trial._guard(
        f"write {TRACEBACK_NAME}",
        lambda: trial.storage.write_atomic(trial.file(TRACEBACK_NAME), text.encode("utf-8")),
    )
    trial._end("interrupted")


def _at_exit() -> None:
    """Trials still running when the interpreter exits are ended with it.

    After a chained handler ended the process (``sys.exit``), trials in other threads
    were stopped by that signal too. Without a signal, what is left at exit runs in
    daemon threads (Python has joined the others) or in generators never finished:
    the interpreter is about to drop them, so they are recorded ``interrupted`` by the
    process exit rather than left ``running`` to turn ``stale`` later.
    """
    if not _running:
        return
    for trial in reversed(_running_trials()):
        try:
            frame = sys._current_frames().get(getattr(trial, _THREAD_ATTR, 0))
            if _received is not None:
                interrupt(trial, _received, _where(frame))
            else:
                exited(trial, _where(frame))
        except Exception:
            logger.exception("votakvot: could not record trial %r as interrupted", trial.tid)


def exited(trial: ActiveTrial, where: str = "") -> None:
    """End ``trial`` as ``interrupted`` because its process exited while it ran."""
    if trial.finished:
        return
    thread = getattr(trial, _THREAD_ATTR, None)
    message = (
        f"process {os.getpid()} exited while this trial ran"
        + (f" in thread {thread}" if thread is not None else "")
        + " (a daemon thread or an unfinished generator)"
    )
    _end_interrupted(trial, {"type": "ProcessExit", "message": message}, where)


def _after_fork() -> None:
    # A forked child runs none of its parent's trials: a SIGTERM to it must not touch them.
    global _received, _main_ident, _stopping
    _stopping = None
    _running.clear()
    _received = None
    _main_ident = threading.main_thread().ident


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)

_hook = _SignalHook()
if not any(isinstance(h, _SignalHook) for h in _active.hooks):
    _active.hooks.append(_hook)
