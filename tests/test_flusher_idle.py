"""The flusher looks often only while a trial runs: an idle long-lived process
(a notebook between cells) is woken once a flush interval, not 20 times a second."""

from __future__ import annotations

import threading
import time

import votakvot
from votakvot._config import get_config
from votakvot._flusher import CHECK_EVERY, flusher


class _SpyEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        return super().wait(timeout)


def _seen(spy: _SpyEvent, timeout: float) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if timeout in spy.timeouts:
            return True
        time.sleep(0.01)
    return False


def test_short_looks_while_a_trial_runs_long_sleeps_after(root) -> None:
    votakvot.init(path=str(root))
    interval = get_config().flush_interval
    started = threading.Event()
    release = threading.Event()

    @votakvot.track()
    def busy() -> None:
        started.set()
        release.wait(10)

    spy = _SpyEvent()
    flusher.ensure_running()
    flusher._wake = spy
    worker = threading.Thread(target=busy)
    worker.start()
    try:
        assert started.wait(10)
        assert _seen(spy, min(interval, CHECK_EVERY))  # a deferred record may come due
    finally:
        release.set()
        worker.join()
    spy.timeouts.clear()
    assert _seen(spy, interval)  # nothing runs: a whole interval


def test_a_trial_after_idle_wakes_the_flusher(root) -> None:
    """With a 60 s flush interval the idle thread sleeps 60 s; a trial that starts
    meanwhile wakes it at once, so its ``running`` record still shows within ~0.15 s."""
    votakvot.init(path=str(root), flush_interval=60)
    flusher.ensure_running()
    spy = _SpyEvent()
    flusher._wake = spy
    flusher._wake.set()  # let the thread pick up the new interval now
    assert _seen(spy, 60)
    started = threading.Event()
    release = threading.Event()

    @votakvot.track()
    def busy() -> None:
        started.set()
        release.wait(60)

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        assert started.wait(10)
        records = lambda: list(root.rglob("votakvot.yaml"))  # noqa: E731
        deadline = time.monotonic() + 10  # far below the 60 s the thread would sleep
        while not records() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert records(), "the running record was not written while the thread slept"
    finally:
        release.set()
        worker.join()


class _CountingEvent(_SpyEvent):
    def __init__(self) -> None:
        super().__init__()
        self.sets = 0

    def set(self) -> None:
        self.sets += 1
        super().set()


def test_short_calls_one_after_another_do_not_wake_the_thread_each(root) -> None:
    """Each wake is a thread switch in the middle of the next call (and was a whole
    tick): back-to-back short calls must find the thread already looking."""
    votakvot.init(path=str(root))

    @votakvot.track()
    def short(i: int) -> int:
        return i

    short(0)  # the thread runs and has seen a trial
    spy = _CountingEvent()
    woken, flusher._wake = flusher._wake, spy
    woken.set()  # the thread now waits on the spy
    deadline = time.monotonic() + 10
    while not spy.timeouts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert spy.timeouts
    for i in range(200):
        short(i)
    assert spy.sets <= 1, f"the flusher was woken {spy.sets} times by 200 short calls"
