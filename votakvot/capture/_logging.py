"""Copying the ``logging`` records a trial emits into its ``log.jsonl``.

The copy is taken where records are made (``logging.setLogRecordFactory``), not
by a handler on the root logger: a root handler would turn ``logging.basicConfig()``
into a silent no-op (it only configures a root without handlers), hide
``logging.lastResort`` (unconfigured warnings would stop reaching stderr) and
miss loggers with ``propagate=False``. The factory changes nothing about how a
record is handled afterwards; it sees exactly the records that pass the logger
levels the program set, in the context of the code that logs them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

from ._sink import SPILL_PARTS, Sink, _iso

__all__ = ["install", "record_line", "records"]

records: contextvars.ContextVar[Sink | None] = contextvars.ContextVar(
    "votakvot_records", default=None
)
"""The log sink of the innermost trial in this context that captures logging."""

_lock = threading.Lock()
_installed: Callable[..., logging.LogRecord] | None = None
_generation = 0
_formatter = logging.Formatter()
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
"""One encoder for every record: ``json.dumps`` with options builds a new one per call."""


def record_line(record: logging.LogRecord) -> str:
    """One ``log.jsonl`` line for a record; never raises (a logging call must not fail)."""
    try:
        message = record.getMessage()
    except Exception as exc:
        message = f"{record.msg!r} % {record.args!r} (could not format: {exc!r})"
    exception = None
    exc_info = record.exc_info
    if exc_info and exc_info[0] is not None:
        try:
            exception = _formatter.formatException(exc_info)
        except Exception as exc:
            exception = f"{exc_info[0].__name__}: (could not format the traceback: {exc!r})"
    fields = {
        "time": _iso(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": message,
        "exception": exception,
    }
    return _encode(fields) + "\n"


def _warning_record(
    message: Warning | str, category: type[Warning], filename: str, lineno: int
) -> logging.LogRecord:
    """The record ``logging.captureWarnings`` would make, without going through logging."""
    text = f"{filename}:{lineno}: {category.__name__}: {message}"
    return logging.LogRecord("py.warnings", logging.WARNING, filename, lineno, text, None, None)


def _show_and_keep(inner: Callable[..., Any]) -> Callable[..., Any]:
    """``warnings.showwarning`` that also keeps the warning in the trial's ``log.jsonl``.

    Only warnings that are shown reach it, so the filters (``-W``, ``simplefilter``,
    "once per location") decide as before, and ``catch_warnings(record=True)`` or
    ``pytest.warns`` (which replace the display while they run) see every warning.
    """
    get = records.get
    # logging.captureWarnings(True) makes a py.warnings record: our factory keeps that one.
    logs_itself = inner is getattr(logging, "_showwarning", None)

    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        sink = get()
        if sink is not None and not logs_itself:
            sink.parts.append(record_line(_warning_record(message, category, filename, lineno)))
            if len(sink.parts) > SPILL_PARTS:
                sink.spill()
        inner(message, category, filename, lineno, file, line)

    showwarning.__votakvot_inner__ = inner  # type: ignore[attr-defined]
    return showwarning


def _install_warnings() -> None:
    """Wrap the current ``warnings.showwarning`` (again, if the program replaced ours)."""
    current = warnings.showwarning
    if hasattr(current, "__votakvot_inner__"):
        return
    with _lock:
        current = warnings.showwarning
        if not hasattr(current, "__votakvot_inner__"):
            warnings.showwarning = _show_and_keep(current)


def install() -> None:
    """Put the capturing record factory in place, over whatever factory is current,
    and the capturing ``warnings.showwarning`` over whatever shows warnings now."""
    global _installed, _generation
    if not hasattr(warnings.showwarning, "__votakvot_inner__"):
        _install_warnings()
    if logging.getLogRecordFactory() is _installed:
        return
    with _lock:
        inner = logging.getLogRecordFactory()
        if inner is _installed:
            return
        _generation += 1
        generation = _generation
        get = records.get

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = inner(*args, **kwargs)
            sink = get()
            # Only the newest of our factories copies: an older one may sit inside a chain.
            if sink is not None and generation == _generation:
                parts = sink.parts
                parts.append(record_line(record))
                if len(parts) > SPILL_PARTS:
                    sink.spill()
            return record

        _installed = factory
        logging.setLogRecordFactory(factory)
