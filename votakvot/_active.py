"""A trial being run by this process: its folder, its record, its buffers.

:class:`ActiveTrial` is the write side of one trial. It writes the record when
the call starts and when it ends (each write atomic), buffers ``meter`` rows for
the flusher thread, hands out attached files that never raise storage errors
into the user's code, and tells the hooks (output capture, signals) when it
starts and ends.

The trial of the current call lives in a ``ContextVar`` (:func:`current`), so calls
running at once in threads or asyncio tasks each see their own.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import io
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import IO, Any, Protocol

from . import meta
from ._config import Config, get_config
from ._flusher import flusher
from ._tracebacks import error_type, is_interruption, traceback_text
from ._values import _short_floats, dump_record
from ._version import __version__
from .exceptions import StorageError
from .layout import (
    HEARTBEAT_NAME,
    METRICS_PREFIX,
    TRACEBACK_NAME,
    YAML_NAME,
    safe_relative,
)
from .storage import list_folder, redact

__all__ = ["ActiveTrial", "TrialHook", "current", "hooks", "parent_tid"]

logger = logging.getLogger("votakvot")


_current: contextvars.ContextVar[ActiveTrial | None] = contextvars.ContextVar(
    "votakvot_trial", default=None
)


class TrialHook(Protocol):
    """Something that wants to act when a trial starts and ends (output capture, ...).

    ``on_start`` runs in the trial's context right before the call; ``on_end`` right
    after it, before the final write, so it may still add to ``trial.data``.
    """

    def on_start(self, trial: ActiveTrial) -> None: ...

    def on_end(self, trial: ActiveTrial) -> None: ...


hooks: list[TrialHook] = []
"""Hooks called for every trial, in order."""


def current() -> ActiveTrial | None:
    """The trial of the current call, or ``None`` outside any tracked call."""
    return _current.get()


def _parent_tid(parent: ActiveTrial | None) -> str | None:
    return parent.tid if parent is not None else None


parent_tid: Callable[[ActiveTrial | None], str | None] = _parent_tid
"""How a new trial names its ``parent``, given the trial of the call it runs in.

:mod:`votakvot._children` replaces it so that in a child process the parent can be
a trial of the process that started it, and a forked copy of an ended trial is not."""


_zone: tuple[float, float, datetime.timezone] = (0.0, 0.0, datetime.UTC)
"""The local zone as ``now().astimezone()`` gives it, with the minute it holds for."""


def _now() -> datetime.datetime:
    """Now, local time with its UTC offset: ``now().astimezone()``, whose ``localtime``
    call was the dearest of a trial's three timestamps, made once a minute (zones
    change offset on whole minutes)."""
    global _zone
    t = time.time()
    start, end, zone = _zone
    if not start <= t < end:
        local = time.localtime(t)
        zone = datetime.timezone(datetime.timedelta(seconds=local.tm_gmtoff), local.tm_zone)
        start = t - t % 60
        _zone = (start, start + 60, zone)
    return datetime.datetime.fromtimestamp(t, zone)


class ActiveTrial:
    """A trial being run by this process: its folder, its record, its buffers."""

    stopped_by: str | None = None
    """The stop signal (``SIGTERM``, ``SIGHUP``) that arrived while it ran, named by
    :mod:`votakvot._signals`: what a ``SystemExit`` raised meanwhile came from."""

    def __init__(
        self,
        tid: str,
        params: dict[str, Any],
        *,
        function: str | None = None,
        config: Config | None = None,
        extra: dict[str, Any] | None = None,
        capture: str | None = None,
        trial_id: str | None = None,
        source: dict[str, Any] | None = None,
    ) -> None:
        self.config = config or get_config()
        self.capture = capture or self.config.capture
        """What output of this trial is kept: ``all``, ``logging`` or ``none``."""
        self.storage = self.config.storage
        self.id = trial_id or str(uuid.uuid4())
        self.tid = tid
        self.path = self.storage.join(self.storage.root, *tid.split("/"))
        parent = _current.get()
        self.parent = parent
        self.info: dict[str, Any] = {}
        self.data: dict[str, Any] = {
            "votakvot": __version__,
            "id": self.id,
            "tid": tid,
            "state": "running",
        }
        if function:
            self.data["function"] = function
        if source:
            self.data["source"] = source
        link = parent_tid(parent)
        if link is not None:
            self.data["parent"] = link
        elif self.config.info:
            self.info.update(self.config.info)  # init(info=...): for top-level trials
        self.data["at"] = {"created": _now()}
        self.data["params"] = params
        self.data["info"] = self.info
        if extra:
            self.data.update(extra)
        self._lock = threading.RLock()
        self._yaml_lock = threading.RLock()
        self._metric_rows: dict[tuple[str, ...], list[Any]] = {}
        """Per set of metered names, its buffered rows flat: ``at_us, *values, at_us, ...``."""
        self._metric_files: dict[tuple[str, ...], str] = {}
        self._metric_seq = 0
        self._info_dirty = False
        self._write_failed = False
        self._last_heartbeat = 0.0
        self._record_due: float | None = None
        """``perf_counter`` time from which the flusher writes the deferred ``running`` record."""
        self._token: contextvars.Token | None = None
        self.finished = False
        self.resumed_duration = 0.0
        """Seconds earlier runs of this trial took (a resumed trial adds them to its duration)."""

    # --- where things go ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The trial folder as a path or URL a reader can be given."""
        return self.storage.to_url(self.path)

    def file(self, name: str) -> str:
        return self.storage.join(self.path, name)

    # --- guarded writes ----------------------------------------------------------

    def _guard(self, what: str, op: Callable[[], Any]) -> Any:
        """Run a storage operation; a failure never breaks the user's call unless strict."""
        try:
            return op()
        except Exception as exc:
            where, why = redact(self.url), redact(str(exc))  # no passwords in messages
            if self.config.strict:
                raise StorageError(
                    f"votakvot could not {what} for trial {self.tid!r} at {where}: {why}"
                ) from exc
            if not self._write_failed:
                self._write_failed = True
                logger.error(
                    "votakvot could not %s for trial %r at %s: %s: %s. The call goes on; "
                    "this trial's record may be incomplete (free space or fix permissions, "
                    "or pass init(strict=True) to make this an error)",
                    what,
                    self.tid,
                    where,
                    type(exc).__name__,
                    why,
                )
            return None

    def write_yaml(self) -> None:
        # One writer at a time, so the flusher thread never renames an older record
        # over a newer one (the final one above all).
        with self._yaml_lock:
            text = dump_record(self.data, self.tid)
            self._guard(
                f"write {YAML_NAME}",
                lambda: self.storage.write_atomic(self.file(YAML_NAME), text.encode("utf-8")),
            )

    def elapsed(self) -> float:
        """Seconds this trial has run so far, earlier runs of a resumed trial included."""
        t0 = getattr(self, "_t0", None)
        return self.resumed_duration + (time.perf_counter() - t0 if t0 is not None else 0.0)

    def changed(self) -> None:
        """The record changed: the flusher thread rewrites the YAML within a flush interval."""
        self._info_dirty = True

    def resume_from(self, previous: dict[str, Any], elapsed: float) -> None:
        """Continue the trial recorded as ``previous`` in the same folder (before ``start``).

        Keeps its id, creation time and ``info``, counts ``elapsed`` seconds of earlier
        runs into the duration, and numbers new metric files after the existing ones so
        nothing already written is overwritten or appended to with other columns.
        """
        if previous.get("id"):
            self.id = self.data["id"] = str(previous["id"])
        created = (previous.get("at") or {}).get("created")
        if created is not None:
            self.data["at"]["created"] = created
        info = previous.get("info")
        if isinstance(info, dict):
            self.info.update(info)
        self.resumed_duration = float(elapsed)
        seqs = [-1]
        for name in list_folder(self.storage, self.path):
            if name.startswith(METRICS_PREFIX):
                number = name[len(METRICS_PREFIX) :].partition(".")[0]
                if number.isdigit():
                    seqs.append(int(number))
        self._metric_seq = max(seqs) + 1

    # --- lifecycle ---------------------------------------------------------------

    def start(self, *, record_after: float = 0.0) -> None:
        """Begin the trial: folder made, record written, hooks told.

        Args:
            record_after: write the ``running`` record only once the trial has run
                this many seconds (from the flusher thread), so a call shorter than
                that writes its record once, at its end. 0 writes it now.
        """
        providers = self.config.meta_providers
        self.data["meta"] = meta.collect(providers)
        self.data["at"]["started"] = _now()
        self._t0 = time.perf_counter()
        self._guard("create the trial folder", lambda: self.storage.makedirs(self.path))
        if record_after > 0:
            self._record_due = self._t0 + record_after
        else:
            self.write_yaml()
        self._token = _current.set(self)
        flusher.register(self)
        for hook in hooks:
            try:
                hook.on_start(self)
            except Exception:
                logger.exception("votakvot: hook %r failed to start on trial %r", hook, self.tid)

    def _end_hooks(self) -> None:
        for hook in reversed(hooks):
            try:
                hook.on_end(self)
            except Exception:
                logger.exception("votakvot: hook %r failed to end on trial %r", hook, self.tid)

    def _detach(self) -> None:
        flusher.unregister(self)
        if self._token is not None:
            try:
                _current.reset(self._token)
            except ValueError:
                # Ended from another context (a resumed generator, a callback): just clear.
                _current.set(self.parent)
            self._token = None

    def succeed(self, result: Any) -> None:
        self._end("done", result=result)

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, SystemExit) and self.stopped_by is None:
            # A script's own sys.exit (a CLI main's last line, argparse's usage error):
            # the exit status says how it went, as it does to the shell.
            if exc.code is None or exc.code == 0:
                self._end("done")
                return
            state = "failed"
        else:
            state = "interrupted" if is_interruption(exc) else "failed"
        tb = traceback_text(exc)
        self.data["error"] = {"type": error_type(exc), "message": str(exc)}
        self.data["traceback"] = tb
        self._guard(
            f"write {TRACEBACK_NAME}",
            lambda: self.storage.write_atomic(self.file(TRACEBACK_NAME), tb.encode("utf-8")),
        )
        self._end(state)

    def _end(self, state: str, result: Any = None) -> None:
        if self.finished:
            return
        self._end_hooks()
        self._detach()
        with self._yaml_lock:  # not while the flusher thread dumps the record
            at = self.data["at"]
            at["finished"] = _now()
            earlier = self.resumed_duration + at.pop("_resumed_duration", 0.0)
            at["duration"] = time.perf_counter() - self._t0 + earlier
            self.data["state"] = state
            if state == "done":
                self.data["result"] = result
            self.flush_metrics()
            self.write_yaml()
            self.finished = True

    # --- what the call records ----------------------------------------------------

    def inform(self, fields: dict[str, Any]) -> None:
        self.info.update(fields)
        self._info_dirty = True

    def meter(self, fields: dict[str, Any]) -> None:
        rows = self._metric_rows.get(tuple(fields))
        if rows is None:
            rows = self._metric_rows.setdefault(tuple(fields), [])
        rows.append(time.time_ns() // 1000)
        rows += fields.values()

    def flush_metrics(self) -> None:
        """Write the buffered rows out.

        Each set of names buffers its rows flat (``at, *values`` one after another).
        Lock-free against ``meter``: it only appends (a time, then the values), and
        this writes the whole rows it saw, then deletes exactly those (atomic under the
        GIL), so a row metered meanwhile, even half appended, stays for the next flush.
        """
        with self._lock:
            for key, rows in list(self._metric_rows.items()):
                n = len(rows) // (len(key) + 1) * (len(key) + 1)
                if n:
                    batch = rows[:n]
                    self._guard("write metrics", functools.partial(self._write_metrics, key, batch))
                    del rows[:n]

    def _write_metrics(self, key: tuple[str, ...], rows: list[Any]) -> None:
        name = self._metric_files.get(key) if self.storage.can_append else None
        new_file = name is None
        if name is None:
            name = f"{METRICS_PREFIX}{self._metric_seq:05d}.csv"
            self._metric_seq += 1
            if self.storage.can_append:
                self._metric_files[key] = name
        data = metric_csv_flat(key, rows, header=new_file).encode("utf-8")
        path = self.file(name)
        if self.storage.can_append:
            self.storage.append(path, data)
        else:
            self.storage.write_atomic(path, data)

    def attach(self, name: str, mode: str = "w") -> IO[Any]:
        rel = safe_relative(name)
        path = self.storage.join(self.path, *rel.split("/"))
        if not any(c in mode for c in "wax+"):
            return self.storage.open(path, mode)  # reading back: the caller's own errors
        try:
            opened = self.storage.open(path, mode)
        except Exception as exc:
            self.attach_failed(rel, "open", exc)
            # Like outside a trial: the call goes on, the text is kept nowhere.
            return io.BytesIO() if "b" in mode else io.StringIO()
        return _AttachedFile(self, rel, opened)  # type: ignore[return-value]

    def attach_failed(self, rel: str, what: str, exc: BaseException) -> None:
        """An attached file could not be written whole (disk full, store gone).

        The call goes on (``strict`` raises :class:`StorageError` instead): the file
        is listed under ``incomplete`` in the record and one error names it.
        """
        where, why = redact(self.url), redact(str(exc))
        if self.config.strict:
            raise StorageError(
                f"votakvot could not {what} the attached file {rel!r} of trial {self.tid!r} "
                f"at {where}: {why}"
            ) from exc
        with self._yaml_lock:
            incomplete = self.data.setdefault("incomplete", [])
            if rel in incomplete:
                return
            incomplete.append(rel)
        self._write_failed = True  # this error says it all: no second one for the record
        logger.error(
            "votakvot could not %s the attached file %r of trial %r at %s: %s: %s. The call "
            "goes on; the file is incomplete (listed under 'incomplete' in the record; free "
            "space or fix permissions, or pass init(strict=True) to make this an error)",
            what,
            rel,
            self.tid,
            where,
            type(exc).__name__,
            why,
        )
        if self.finished:
            with self._yaml_lock:
                self.write_yaml()  # closed after the call ended: the record must say so
        else:
            self.changed()

    # --- background ---------------------------------------------------------------

    def publish_due(self, force: bool = False) -> None:
        """Called by the flusher thread: write the deferred ``running`` record once the
        call has lasted ``record_after`` (a viewer, or a kill, now sees it running)."""
        due = self._record_due
        if due is None or self.finished or (not force and time.perf_counter() < due):
            return
        with self._yaml_lock:
            if self.finished or self._record_due is None:
                return  # ended meanwhile: its final record was written instead
            self._record_due = None
            self._info_dirty = False  # the record written now has the info so far
            self.write_yaml()

    def background_flush(self, now: float, force: bool = False) -> None:
        """Called by the flusher thread: metrics, changed info, heartbeat when due.

        ``force`` (``flush_now``) writes a deferred record even before it is due."""
        if self.finished:
            return
        if self._record_due is not None:
            self.publish_due(force)
            if self._record_due is not None:
                return  # too short to show yet: its end writes everything at once
        self.flush_metrics()
        if self._info_dirty:
            self._info_dirty = False
            with self._yaml_lock:
                if not self.finished:  # the final record may have been written meanwhile
                    self.write_yaml()
        if now - self._last_heartbeat >= self.config.heartbeat_interval:
            self.heartbeat(now)

    def heartbeat(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._last_heartbeat = now
        text = f"{now:.3f} {self.config.heartbeat_interval:g}\n".encode()
        self._guard(
            "write the heartbeat",
            lambda: self.storage.write_atomic(self.file(HEARTBEAT_NAME), text),
        )


# Errors of the caller's own making (writing str to a binary file, writing after close):
# those reach the caller as they would with a plain file.
_CALLER_ERRORS = (TypeError, ValueError, AttributeError)
_DROPPED = object()
"""What ``_AttachedFile._call`` returns for a call not made or failed."""


class _AttachedFile:
    """The file ``attach`` returns: a storage error never reaches the user's code.

    A failing ``write``/``flush``/``close`` (ENOSPC, EFBIG, EIO, a lost server) is
    reported once through :meth:`ActiveTrial.attach_failed`; later writes are
    dropped, ``close`` releases the file. Everything else is the wrapped file's.
    """

    def __init__(self, trial: ActiveTrial, rel: str, file: IO[Any]) -> None:
        self._trial = trial
        self._rel = rel
        self._file = file
        self._broken = False

    def _fail(self, what: str, exc: BaseException) -> None:
        self._broken = True
        try:
            self._file.close()  # a buffered file closes its descriptor even if flush fails
        except Exception:
            pass  # the first error is the one reported, just below
        self._trial.attach_failed(self._rel, what, exc)

    def _call(self, what: str, method: Callable[..., Any], *args: Any) -> Any:
        """``method(*args)`` of the wrapped file, or ``_DROPPED`` once it failed: the
        one place a storage error is turned into a report, for write, flush and close."""
        if self._broken:
            return _DROPPED
        try:
            return method(*args)
        except _CALLER_ERRORS:
            raise
        except Exception as exc:
            self._fail(what, exc)
            return _DROPPED

    def write(self, data: Any) -> int:
        written = self._call("write", self._file.write, data)
        return len(data) if written is _DROPPED else int(written or 0)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._call("write", self._file.flush)

    def close(self) -> None:
        self._call("finish writing", self._file.close)

    @property
    def closed(self) -> bool:
        return self._broken or bool(self._file.closed)

    def __enter__(self) -> _AttachedFile:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __iter__(self) -> Any:
        return iter(self._file)

    def __next__(self) -> Any:
        return next(self._file)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)

    def __repr__(self) -> str:
        return f"<attached {self._rel!r} of trial {self._trial.tid!r}: {self._file!r}>"


_NUMBERS = frozenset({int, float})

AT_US = "at_us"
"""The column of our time stamps: integer microseconds since the epoch. Readers turn
it into ``at`` (float seconds), as older files wrote it; making the text of an
integer costs a fraction of a float's ``repr``, the largest part of a flush."""


def metric_csv(key: tuple[str, ...], rows: list[tuple[Any, ...]], *, header: bool) -> str:
    """CSV text of metered rows (``(at, *values)`` each) under the names ``key``."""
    return metric_csv_flat(key, list(itertools.chain.from_iterable(rows)), header=header)


def metric_csv_flat(key: tuple[str, ...], flat: list[Any], *, header: bool) -> str:
    """CSV text of metered rows given flat (``at, *values`` of each row one after another)
    under the names ``key``; ``flat`` may be changed.

    Our ``at`` is written as ``at_us`` (integer microseconds) when it is one (rows of
    ``meter``), as ``at`` (float seconds) when not. When the user metered an ``at`` of
    their own, theirs is kept and ours dropped; with an ``at_us`` of theirs ours is
    written as ``at``, so readers never take theirs for ours.
    """
    width = len(key) + 1
    stamps = flat[0::width]  # one C loop each below: no Python frame a row
    if "at" in key:
        del flat[0::width]
        names, width = key, width - 1
    elif type(stamps[0]) is int and AT_US not in key:
        if set(map(type, stamps)) != {int}:
            flat[0::width] = [at if type(at) is int else _as_us(at) for at in stamps]
        names = (AT_US, *key)
    else:
        if int in set(map(type, stamps)):
            flat[0::width] = [at / 1e6 if type(at) is int else at for at in stamps]
        names = ("at", *key)
    text = _csv_rows(flat, width)
    if header:
        text = _csv_rows(list(names), len(names)) + text
    return text


def _as_us(at: Any) -> int:
    """A float time in seconds (a forked child's row) as integer microseconds."""
    return round(at * 1_000_000)


def _csv_rows(flat: list[Any], width: int) -> str:
    """CSV text of the rows given flat; all-numeric batches (the usual metrics) skip the
    csv module and are formatted by one ``%`` over all their values (no Python loop a row)."""
    if set(map(type, flat)) <= _NUMBERS:
        return ((",".join(["%r"] * width) + "\n") * (len(flat) // width)) % tuple(flat)
    import csv

    buf = io.StringIO()
    values = list(map(_metric_value, flat))
    csv.writer(buf, lineterminator="\n").writerows(
        [values[i : i + width] for i in range(0, len(values), width)]
    )
    return buf.getvalue()


def _metric_value(value: Any) -> Any:
    """A metered value as a number where it is one: ``loss=tensor`` or ``np.float32`` is
    written as its number (``.item()``), not as ``tensor(0.1000)``, which no reader parses."""
    cls = type(value)
    if cls in _NUMBERS or cls is str:
        return value
    item = getattr(value, "item", None)
    if item is not None and cls.__module__.partition(".")[0] in _ARRAY_MODULES:
        short = _short_floats(value)  # np.float32(0.2) as 0.2, as records write it
        if type(short) is float:
            return repr(short)
        try:
            value = item()
        except Exception:  # not a single value (an array of several): written as it prints
            return value
        if type(value) is float:
            return repr(value)
    return value


_ARRAY_MODULES = frozenset({"numpy", "torch", "jax", "jaxlib", "cupy", "tensorflow", "mlx"})
