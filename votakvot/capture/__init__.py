"""What a trial printed and logged, kept in its folder and read back.

While a trial runs with ``capture="all"`` (the default), text its call writes to
``sys.stdout``/``sys.stderr`` still reaches the terminal and is also appended to
``output.log`` in the trial folder; with ``"all"`` or ``"logging"``, the
``logging`` records it emits go to ``log.jsonl``, one JSON object a line. Both
files are flushed about once a second while the trial runs and are capped at
``init(capture_limit=...)`` bytes each: past the cap a file keeps its start and
its end, with a marker line saying what was left out in between. Progress bars
that redraw their line (``\\r``) are kept as a terminal shows them: the last
state of each line, plus at most about one redraw a second while it ran.

Text is routed by context (the same context that makes ``votakvot.meter`` find
its trial), so trials running at once in threads or asyncio tasks each get
their own text, and text written outside any trial is left alone.

>>> trial = votakvot.run("demo", lambda: print("hi"))   # doctest: +SKIP
>>> trial.output                                          # doctest: +SKIP
'hi\\n'
"""

from __future__ import annotations

import atexit
import datetime
import json
import logging
from typing import TYPE_CHECKING, Any

from .. import _active
from .._active import ActiveTrial
from ..layout import LOG_NAME, OUTPUT_NAME, SIDE_FILE_LIMIT
from ..storage import open_storage
from . import _logging, _streams
from ._redraw import render
from ._sink import Sink, drain_all, marker_pattern, register, tail_name, unregister

if TYPE_CHECKING:
    import pandas


__all__ = ["read_logs", "read_output", "render_output"]

logger = logging.getLogger("votakvot")


LOG_COLUMNS = ("time", "level", "logger", "message", "exception")

_STATE_ATTR = "_votakvot_capture"


class _TrialCapture:
    """What one trial's capture set up, to undo it when the trial ends."""

    __slots__ = ("log", "log_before", "log_token", "out", "out_before", "out_token")

    def __init__(self) -> None:
        self.out: Sink | None = None
        self.out_token: Any = None
        self.out_before: Any = None
        self.log: Sink | None = None
        self.log_token: Any = None
        self.log_before: Any = None


class _CaptureHook:
    """Starts and ends the capture of each trial (see ``votakvot._active.hooks``)."""

    def on_start(self, trial: ActiveTrial) -> None:
        mode = trial.capture
        if mode == "none":
            return  # the outer trial, if any, keeps what this call prints
        state = _TrialCapture()
        state.log = Sink(trial, LOG_NAME, jsonl=True)
        if mode == "all":
            state.out = Sink(trial, OUTPUT_NAME)
        # Recorded first, so that on_end undoes whatever part of this was done.
        setattr(trial, _STATE_ATTR, state)
        if state.out is not None:
            state.out_before = _streams.output.get()
            state.out_token = _streams.output.set(state.out.parts)
            _streams.start()
        state.log_before = _logging.records.get()
        state.log_token = _logging.records.set(state.log)
        _logging.install()
        if state.out is None:
            register(state.log)
        else:
            register(state.out, state.log)

    def on_end(self, trial: ActiveTrial) -> None:
        state: _TrialCapture | None = getattr(trial, _STATE_ATTR, None)
        if state is None:
            return
        delattr(trial, _STATE_ATTR)
        if state.log_token is not None:
            _reset(_logging.records, state.log_token, state.log_before)
        if state.out_token is not None:
            _reset(_streams.output, state.out_token, state.out_before)
            _streams.stop()
        log = state.log
        out = state.out
        if log is None:
            return
        if out is None:
            unregister(log)
        else:
            unregister(out, log)
            out.drain(final=True)
        log.drain(final=True)


def _reset(var: Any, token: Any, before: Any) -> None:
    try:
        var.reset(token)
    except ValueError:
        # Ended from another context (a resumed generator, a callback).
        var.set(before)


_hook = _CaptureHook()
if not any(isinstance(h, _CaptureHook) for h in _active.hooks):
    _active.hooks.append(_hook)
atexit.register(drain_all)


# --- reading ----------------------------------------------------------------------------


def _read(trial: Any, name: str) -> tuple[bytes | None, str]:
    """The file's bytes, followed by the kept end of a running trial that passed the cap."""
    if isinstance(trial, str):
        storage = open_storage(trial)
    elif isinstance(trial, ActiveTrial):
        # A running trial, read from inside its own call: its folder on its root's store.
        storage = open_storage(trial.url, trial.storage.storage_options)
    else:
        storage = trial.storage  # a Trial: its folder, with its storage_options
    file = storage.shown(storage.join(storage.root, name))
    # Bounded and regular-file-only: an output.log that is a FIFO raises, never hangs.
    raw = storage.read(storage.join(storage.root, name), SIDE_FILE_LIMIT)
    if raw is not None:
        tail = storage.read(storage.join(storage.root, tail_name(name)), SIDE_FILE_LIMIT)
        if tail:
            # Written while the trial runs (or until it was killed); at its end the
            # tail is appended to the file itself and this one removed.
            raw = (raw if raw.endswith(b"\n") or tail.startswith(b"\n") else raw + b"\n") + tail
    return raw, file


def render_output(raw: bytes) -> str:
    """Captured output as a terminal shows it: each redrawn line (``\\r``, cursor-up)
    in its last state, head and tail of a capped file rendered apart around the marker.

    Args:
        raw: the bytes of ``output.log`` (or its end: a start cut inside a character
            is replaced, never raises).
    """
    parts = marker_pattern(OUTPUT_NAME).split(raw)
    markers = marker_pattern(OUTPUT_NAME).findall(raw)
    out = [render(parts[0].decode("utf-8", "replace"))]
    for marker, part in zip(markers, parts[1:]):
        if out[-1] and not out[-1].endswith("\n"):
            out.append("\n")
        out.append(marker.lstrip(b"\n").decode("utf-8", "replace"))
        out.append(render(part.decode("utf-8", "replace")))
    return "".join(out)


def read_output(trial: Any) -> str:
    """What the trial printed (``output.log``), or ``""`` when it printed nothing.

    Progress-bar redraws come back in their last state (see :func:`render_output`);
    a file that reached ``capture_limit`` comes back as its start, the marker line and
    its end, also while the trial still runs.

    Args:
        trial: a :class:`votakvot.Trial`, the path/URL of a trial folder, or the
            running trial (``votakvot._active.current()``).
    """
    raw, _ = _read(trial, OUTPUT_NAME)
    return render_output(raw) if raw else ""


def read_logs(trial: Any) -> pandas.DataFrame:
    """The trial's logging records (``log.jsonl``): one row each, oldest first.

    Columns: ``time`` (timezone-aware), ``level``, ``logger``, ``message``,
    ``exception`` (the formatted traceback, or ``None``). A line cut off by a
    killed process is left out; any other line that is not JSON is left out
    with a warning naming the file and line.

    Args:
        trial: a :class:`votakvot.Trial`, or the path/URL of a trial folder.
    """
    import pandas

    raw, file = _read(trial, LOG_NAME)
    rows: list[dict[str, Any]] = []
    if raw:
        lines = raw.split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                if number == len(lines):
                    continue  # the torn last line of a process killed mid-write
                logger.warning("votakvot: %s line %d is not a JSON record; skipped", file, number)
                continue
            if isinstance(row, dict):
                rows.append(row)
            else:
                logger.warning("votakvot: %s line %d is not a JSON object; skipped", file, number)
    extra = sorted({k for row in rows for k in row} - set(LOG_COLUMNS))
    frame = pandas.DataFrame(rows, columns=[*LOG_COLUMNS, *extra])
    # ``None`` when there is no exception, whatever dtype pandas picks for the text.
    frame["exception"] = pandas.Series([r.get("exception") for r in rows], dtype=object)
    local = datetime.datetime.now().astimezone().tzinfo
    frame["time"] = pandas.to_datetime(frame["time"], format="ISO8601", utc=True).dt.tz_convert(
        local
    )
    return frame
