"""What a call records into its trial: ``inform``, ``meter``, ``attach``, ``tid``.

Each finds the current trial through :mod:`votakvot._active` (or, in a child
process started inside a trial, that trial: :mod:`votakvot._children`). Outside
any trial they warn and record nothing, so instrumented code also runs untracked.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from typing import IO, Any

from . import _active, _children
from .layout import attach_name

__all__ = ["attach", "inform", "meter", "tid"]

logger = logging.getLogger("votakvot")

_current_trial = _active._current.get
"""The current trial's getter, bound once: ``meter`` is a hot path, and a name imported
with ``from ... import`` would make CPython 3.11 look ``.get`` up as a module attribute
on every call (about 70 ns more per ``meter``)."""


_time_ns = time.time_ns
"""Rows keep ``at`` as integer microseconds: written as ``at_us`` with ``%d``, far
cheaper than the ``repr`` of a float time (see ``_active.metric_csv``)."""


def _outside(what: str) -> None:
    if threading.current_thread() is not threading.main_thread():
        # The usual cause: a thread started inside a trial, which Python starts with an
        # empty context. Say how to keep its rows rather than just dropping them.
        logger.warning(
            "votakvot.%s() called outside any tracked call (in thread %r); nothing is "
            "recorded. A thread started inside a tracked call does not see its trial: start "
            "it as threading.Thread(target=contextvars.copy_context().run, args=(work, ...)) "
            "to record into that trial (ThreadPoolExecutor tasks submitted inside a trial "
            "already do)",
            what,
            threading.current_thread().name,
        )
        return
    logger.warning("votakvot.%s() called outside any tracked call; nothing is recorded", what)


def _elsewhere(what: str, fields: dict[str, Any]) -> None:
    """``inform``/``meter`` without a current trial: to the trial of the process that
    started this one (a child process), else a warning; kept off their fast path."""
    outer = _children.outer()
    if outer is None:
        _outside(what)
    elif what == "meter":
        outer.meter(fields)
    else:
        outer.inform(fields)


def inform(**fields: Any) -> None:
    """Record extra fields under ``info`` of the current trial (later calls update them)."""
    trial = _current_trial()
    if trial is None:
        _elsewhere("inform", fields)
        return
    trial.inform(fields)


def meter(**fields: Any) -> None:
    """Add one row of metrics (plus an ``at`` timestamp) to the current trial.

    Rows are buffered and written by the background flusher about once a second
    and when the trial ends. This is a hot path: it does no I/O and takes no lock.
    """
    trial = _current_trial()
    if trial is None:
        _elsewhere("meter", fields)
        return
    # One flat list per set of names, a row being its time then its values: no tuple a
    # row, which also spares the cyclic GC (100,000 rows of tuples made it rescan them).
    # The flusher takes only whole rows, so it may run between these two lines.
    rows = trial._metric_rows.get(tuple(fields))
    if rows is None:
        rows = trial._metric_rows.setdefault(tuple(fields), [])
    rows.append(_time_ns() // 1000)
    rows += fields.values()


def attach(name: str, mode: str = "w") -> IO[Any]:
    """Open a file inside the current trial's folder (subfolders are made as needed).

    Outside any tracked call it logs a warning and returns a file that keeps nothing.
    Raises ValueError for a name that would leave the trial folder or that votakvot
    keeps for its own files (``votakvot.yaml``, ``output.log``, ``votakvot.*``, ...):
    a wrong name is a bug in the caller, unlike a full disk, which never raises.
    """
    attach_name(name)
    trial = _current_trial()
    if trial is None:
        outer = _children.outer()  # in a child process started by a trial
        if outer is not None:
            return outer.attach(name, mode)
        _outside("attach")
        return io.BytesIO() if "b" in mode else io.StringIO()
    return trial.attach(name, mode)


def tid() -> str | None:
    """The id of the current trial, or ``None`` outside any tracked call.

    In a child process started inside a trial, the id of that trial while it runs:
    the child's ``meter`` rows and ``attach`` files go there.
    """
    trial = _current_trial()
    if trial is not None:
        if trial.finished and _children.ended_elsewhere(trial):
            return None  # a forked pool worker kept after its trial ended
        return trial.tid
    outer = _children.outer()
    return outer.tid if outer is not None else None
