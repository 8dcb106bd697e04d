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
from collections.abc import Callable
from typing import Any

from ._capture_sink import SPILL_PARTS, Sink, _iso

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


def install() -> None:
    """Put the capturing record factory in place, over whatever factory is current."""
    global _installed, _generation
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
