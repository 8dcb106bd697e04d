"""One daemon thread per process that keeps running trials' files fresh.

About once a second it writes the metrics rows buffered by ``meter`` (and the
record, when ``info`` changed) and refreshes heartbeats, so a viewer sees a
running trial progress and can tell a dead one from a live one.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from ._config import get_config

__all__ = ["flusher"]

logger = logging.getLogger("votakvot")

CHECK_EVERY = 0.05
"""Seconds between the thread's looks for deferred ``running`` records that are due
(see ``ActiveTrial.start(record_after=...)``); metrics still flush once a flush interval."""

LINGER = 0.5
"""Seconds the thread keeps looking every ``CHECK_EVERY`` after the last trial it saw.
Short calls one after another would otherwise each find it asleep and wake it: a
thread switch per call, which cost a 0.1 ms call about as much again."""


class Flushed(Protocol):
    """What the flusher keeps fresh: a running trial."""

    tid: str

    def background_flush(self, now: float, force: bool = False) -> None: ...


class _Flusher:
    """One daemon thread per process that keeps running trials' files fresh."""

    def __init__(self) -> None:
        self._trials: weakref.WeakSet[Flushed] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._idle = False
        self._registered = False
        self.tick_handlers: list[Callable[[], None]] = []
        """Called on every tick after the trials (captured output is drained so)."""
        self.fork_handlers: list[Callable[[list[Any]], None]] = []
        """Called in a forked child with the trials that ran in the parent at the fork."""
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The parent's running trials are the parent's to record: in this child they
        # become views that add rows and files but never rewrite the record.
        trials = list(self._trials)
        for handler in self.fork_handlers:
            handler(trials)
        self._trials = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread = None
        self._wake = threading.Event()
        self._idle = False
        self._registered = False

    def register(self, trial: Flushed) -> None:
        with self._lock:
            self._trials.add(trial)
            self._registered = True
            self._start()
            if self._idle:  # the thread sleeps a whole interval: back to short looks
                self._idle = False
                self._wake.set()

    def ensure_running(self) -> None:
        """Start the thread if it is not running (tick handlers have work for it)."""
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                self._start()

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            # An empty context: the flusher must never look like part of a trial.
            ctx = contextvars.Context()
            self._thread = threading.Thread(
                target=ctx.run, args=(self._run,), name="votakvot-flusher", daemon=True
            )
            self._thread.start()

    def unregister(self, trial: Flushed) -> None:
        with self._lock:
            self._trials.discard(trial)

    def flush_now(self) -> None:
        """Flush every running trial at once (tests, and before a process exits),
        deferred records included."""
        self._tick(force=True)

    def _tick(self, force: bool = False) -> None:
        with self._lock:
            trials = list(self._trials)
        now = time.time()
        for trial in trials:
            try:
                trial.background_flush(now, force) if force else trial.background_flush(now)
            except Exception:
                logger.exception("votakvot: background flush of trial %r failed", trial.tid)
        for handler in self.tick_handlers:
            try:
                handler()
            except Exception:
                logger.exception("votakvot: flusher handler %r failed", handler)

    def _publish(self) -> None:
        """Write the deferred ``running`` records that are due (between full ticks)."""
        with self._lock:
            trials = list(self._trials)
        for trial in trials:
            publish = getattr(trial, "publish_due", None)
            if publish is None:
                continue
            try:
                publish()
            except Exception:
                logger.exception("votakvot: writing the record of trial %r failed", trial.tid)

    def _run(self) -> None:
        last = time.monotonic()
        busy_until = 0.0
        while True:
            interval = get_config().flush_interval
            # No trial for a while: nothing can become due, so a long-lived process (a
            # notebook) is woken once an interval, not 20 times a second. No lock here:
            # under gevent this thread is a greenlet started while register() holds the
            # lock. Idle is set before the trials are looked at, so a trial registered
            # meanwhile is either seen here or sees idle and wakes the thread.
            self._idle = True
            now = time.monotonic()
            if self._trials or self._registered:  # a trial since the last look
                self._registered = False
                busy_until = now + LINGER
            if now < busy_until:
                self._idle = False
            woken = self._wake.wait(interval if self._idle else min(interval, CHECK_EVERY))
            if woken:  # a trial woke the idle thread: it needs short looks, not a tick
                self._wake.clear()
            now = time.monotonic()
            if now - last >= interval:
                last = now
                self._tick()
            else:
                self._publish()


flusher = _Flusher()
"""The process's flusher."""
