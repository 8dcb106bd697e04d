"""Trials of tracked calls: creating their folders, recording them, and the context
that ``inform``/``meter``/``attach`` act on.

The current trial lives in a ``ContextVar``, so calls running at once in threads
or asyncio tasks each see their own. One background thread per process flushes
metrics (and ``info`` that changed) about once a second and refreshes heartbeats,
so a viewer sees a running trial progress and can tell a dead one from a live one.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import inspect
import io
import logging
import os
import posixpath
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from . import _children, _source, meta
from ._config import Capture, Config, get_config
from ._layout import (
    HEARTBEAT_NAME,
    LOG_NAME,
    METRICS_PREFIX,
    OUTPUT_NAME,
    TRACEBACK_NAME,
    YAML_NAME,
)
from ._storage import redact
from ._values import dump_record
from ._version import __version__
from .exceptions import StorageError

if TYPE_CHECKING:
    from .trial import Trial

__all__ = [
    "ActiveTrial",
    "TrialHook",
    "attach",
    "current",
    "hooks",
    "inform",
    "meter",
    "run",
    "tid",
    "track",
]

logger = logging.getLogger("votakvot")

F = TypeVar("F", bound=Callable[..., Any])

# States a trial can end in; "stale" is never written, readers derive it from the heartbeat.
INTERRUPTING = (KeyboardInterrupt, SystemExit, GeneratorExit)

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


def _now() -> datetime.datetime:
    return datetime.datetime.now().astimezone()


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


class ActiveTrial:
    """A trial being run by this process: its folder, its record, its buffers."""

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
        if not _children._installed:
            _children.install()  # once per process: follow trials into pools and children
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
        if parent is not None:
            if not _children.ended_elsewhere(parent):
                self.data["parent"] = parent.tid
        else:
            outer = _children.outer()  # a trial of the process that started this one
            if outer is not None:
                self.data["parent"] = outer.tid
        self.data["at"] = {"created": _now()}
        self.data["params"] = params
        self.data["info"] = self.info
        if extra:
            self.data.update(extra)
        self._lock = threading.RLock()
        self._yaml_lock = threading.RLock()
        self._metric_rows: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        self._metric_files: dict[tuple[str, ...], str] = {}
        self._metric_seq = 0
        self._info_dirty = False
        self._write_failed = False
        self._last_heartbeat = 0.0
        self._token: contextvars.Token | None = None
        self.finished = False
        self.resumed_duration = 0.0
        """Seconds earlier runs of this trial took (a resumed trial adds them to its duration)."""

    # --- where things go ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The trial folder as a path or URL a reader can be given."""
        to_url = getattr(self.storage, "to_url", None)
        return to_url(self.path) if to_url else self.path

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
        for name in _list_folder(self.storage, self.path):
            if name.startswith(METRICS_PREFIX):
                number = name[len(METRICS_PREFIX) :].partition(".")[0]
                if number.isdigit():
                    seqs.append(int(number))
        self._metric_seq = max(seqs) + 1

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        providers = self.config.meta_providers
        self.data["meta"] = meta.collect(providers)
        self.data["at"]["started"] = _now()
        self._t0 = time.perf_counter()
        self._guard("create the trial folder", lambda: self.storage.makedirs(self.path))
        self.write_yaml()
        self._token = _current.set(self)
        _flusher.register(self)
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
        _flusher.unregister(self)
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
        state = "interrupted" if _is_interruption(exc) else "failed"
        tb = _traceback_text(exc)
        self.data["error"] = {"type": _error_type(exc), "message": str(exc)}
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
        rows.append((time.time(), *fields.values()))

    def flush_metrics(self) -> None:
        """Write the buffered rows out.

        Lock-free against ``meter``: it only appends, and this writes the first ``n``
        rows it saw, then deletes exactly those (atomic under the GIL), so a row
        metered meanwhile stays for the next flush.
        """
        with self._lock:
            for key, rows in list(self._metric_rows.items()):
                n = len(rows)
                if n:
                    batch = rows[:n]
                    self._guard("write metrics", functools.partial(self._write_metrics, key, batch))
                    del rows[:n]

    def _write_metrics(self, key: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        user_at = "at" in key
        name = self._metric_files.get(key) if self.storage.can_append else None
        new_file = name is None
        if name is None:
            name = f"{METRICS_PREFIX}{self._metric_seq:05d}.csv"
            self._metric_seq += 1
            if self.storage.can_append:
                self._metric_files[key] = name
        if user_at:
            # The user metered their own ``at``: keep theirs, drop ours.
            rows = [row[1:] for row in rows]
        text = _csv_rows(rows)
        if new_file:
            text = _csv_rows([key if user_at else ("at", *key)]) + text
        data = text.encode("utf-8")
        path = self.file(name)
        if self.storage.can_append:
            self.storage.append(path, data)
        else:
            self.storage.write_atomic(path, data)

    def attach(self, name: str, mode: str = "w") -> IO[Any]:
        rel = _safe_relative(name)
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

    def background_flush(self, now: float) -> None:
        """Called by the flusher thread: metrics, changed info, heartbeat when due."""
        if self.finished:
            return
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

    def write(self, data: Any) -> int:
        if self._broken:
            return len(data)
        try:
            return int(self._file.write(data) or 0)
        except _CALLER_ERRORS:
            raise
        except Exception as exc:
            self._fail("write", exc)
            return len(data)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._broken:
            return
        try:
            self._file.flush()
        except _CALLER_ERRORS:
            raise
        except Exception as exc:
            self._fail("write", exc)

    def close(self) -> None:
        if self._broken:
            return
        try:
            self._file.close()
        except _CALLER_ERRORS:
            raise
        except Exception as exc:
            self._fail("finish writing", exc)

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


def _csv_rows(rows: list[tuple[Any, ...]]) -> str:
    """CSV text of the rows; all-numeric batches (the usual metrics) skip the csv module."""
    if {type(v) for row in rows for v in row} <= _NUMBERS:
        fmt = ",".join(["%r"] * len(rows[0])) + "\n"
        if all(len(row) == len(rows[0]) for row in rows):
            return "".join([fmt % row for row in rows])
    import csv

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        [tuple(map(_metric_value, row)) for row in rows]
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
        try:
            value = item()
        except Exception:  # not a single value (an array of several): written as it prints
            return value
        if type(value) is float:
            return repr(value)
    return value


_ARRAY_MODULES = frozenset({"numpy", "torch", "jax", "jaxlib", "cupy", "tensorflow", "mlx"})


def _user_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the user's code on: votakvot's wrapper frames are noise there.

    Only the recorded text is trimmed; the exception re-raised to the caller keeps its
    traceback as it was.
    """
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return tb


def _traceback_text(exc: BaseException) -> str:
    """The recorded traceback: from the user's frames on, notebook cells named ``Cell In[N]``."""
    te = traceback.TracebackException(type(exc), exc, _user_frames(exc.__traceback__))
    if "IPython" in sys.modules:  # only a kernel or IPython shell has cells to name
        from ._notebook import label_cells

        label_cells(te)
    return "".join(te.format())


def _is_interruption(exc: BaseException) -> bool:
    if isinstance(exc, INTERRUPTING):
        return True
    return type(exc).__name__ == "CancelledError"


def _safe_relative(name: str) -> str:
    """A file name inside the trial folder, or a ValueError saying why it is not."""
    if not name or name.startswith(("/", "\\")) or "://" in name or os.path.isabs(name):
        raise ValueError(
            f"attach({name!r}): the name must be relative to the trial folder, "
            "e.g. 'plots/loss.png'"
        )
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise ValueError(
            f"attach({name!r}) would write outside the trial folder; use a name below it"
        )
    return norm


class _Flusher:
    """One daemon thread per process that keeps running trials' files fresh."""

    def __init__(self) -> None:
        self._trials: weakref.WeakSet[ActiveTrial] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The parent's running trials are the parent's to record: in this child they
        # become views that add rows and files but never rewrite the record.
        _children.adopt_after_fork(list(self._trials))
        self._trials = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread = None
        self._wake = threading.Event()

    def register(self, trial: ActiveTrial) -> None:
        with self._lock:
            self._trials.add(trial)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="votakvot-flusher", daemon=True
                )
                self._thread.start()

    def unregister(self, trial: ActiveTrial) -> None:
        with self._lock:
            self._trials.discard(trial)

    def flush_now(self) -> None:
        """Flush every running trial at once (tests, and before a process exits)."""
        self._tick()

    def _tick(self) -> None:
        with self._lock:
            trials = list(self._trials)
        now = time.time()
        for trial in trials:
            try:
                trial.background_flush(now)
            except Exception:
                logger.exception("votakvot: background flush of trial %r failed", trial.tid)

    def _run(self) -> None:
        while True:
            self._wake.wait(get_config().flush_interval)
            self._wake.clear()
            self._tick()


_flusher = _Flusher()


# --- ids -------------------------------------------------------------------------


def _module_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "__main__"
    if module in ("__main__", "__mp_main__"):  # __mp_main__: a spawned child's __main__
        main = sys.modules.get(module)
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            return spec.name.removesuffix(".__main__")
        file = getattr(main, "__file__", None)
        if file:
            return os.path.splitext(os.path.basename(file))[0]
    return module


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function: how a later process can import it again."""
    return f"{_module_name(fn)}.{getattr(fn, '__qualname__', getattr(fn, '__name__', 'call'))}"


def _default_prefix(fn: Callable[..., Any]) -> str:
    """``{module}/{qualname}``; a notebook's functions go under the notebook's name.

    ``analysis/train`` for ``train`` defined in ``analysis.ipynb``, when the kernel
    knows its notebook (see :mod:`votakvot._notebook`); ``__main__/train`` when not.
    """
    qualname = str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "call"))
    qualname = qualname.replace("<locals>.", "").replace("<", "").replace(">", "")
    module = _module_name(fn)
    if module == "__main__":
        from ._notebook import folder_name, main_notebook

        notebook = main_notebook(getattr(fn, "__module__", None) or "__main__")
        if notebook:
            module = folder_name(notebook)
    return f"{module}/{qualname}"


def new_tid(prefix: str, trial_uuid: str | None = None) -> tuple[str, str]:
    """A fresh ``prefix/yy-mm-dd/HH:MM:SS/uuid`` and its uuid."""
    trial_uuid = trial_uuid or str(uuid.uuid4())
    now = datetime.datetime.now()
    return f"{prefix}/{now:%y-%m-%d}/{now:%H:%M:%S}/{trial_uuid}", trial_uuid


# --- the public API -----------------------------------------------------------------


class _Binder:
    """Turns a call's arguments into the ``params`` mapping that is recorded."""

    def __init__(self, fn: Callable[..., Any], first_is_class: bool = False) -> None:
        self.signature = inspect.signature(fn)
        params = list(self.signature.parameters.values())
        qualname = getattr(fn, "__qualname__", "")
        is_method = bool(params) and (
            first_is_class  # a classmethod's first parameter, whatever its name
            or (params[0].name in ("self", "cls") and "." in qualname.replace("<locals>.", ""))
        )
        self.skip = params[0].name if is_method else None
        self.kinds = {p.name: p.kind for p in params}
        # Calls by keyword only (how runners call) skip Signature.bind, which costs
        # more than the rest of recording a trivial trial: signature order, defaults filled.
        plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        empty = inspect.Parameter.empty
        self.by_keyword: tuple[tuple[str, Any], ...] | None = (
            tuple((p.name, p.default) for p in params)
            if self.skip is None and all(p.kind in plain for p in params)
            else None
        )
        self.names = frozenset(self.kinds)
        self.required = frozenset(p.name for p in params if p.default is empty)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if (
            not args
            and self.by_keyword is not None
            and kwargs.keys() <= self.names
            and self.required <= kwargs.keys()
        ):
            return {
                name: kwargs.get(name, default)
                for name, default in self.by_keyword
                if not name.startswith("_")
            }
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        params: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self.kinds[name]
            if kind is inspect.Parameter.VAR_KEYWORD:
                params.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                params[name] = list(value)
            elif name != self.skip:
                params[name] = value
        return {k: v for k, v in params.items() if not k.startswith("_")}


def track(name: str | None = None, *, capture: Capture | None = None) -> Callable[[F], F]:
    """Make every call of the decorated function a trial.

    Args:
        name: the ``{module}/{function}`` part of trial ids; by default the
            function's module and qualified name.
        capture: overrides ``init(capture=...)`` for this function.

    The call's result is returned unchanged and its exception re-raised unchanged,
    after both are recorded. Works on plain functions, methods and ``async def``,
    on ``classmethod``/``staticmethod`` (above or below the decorator), and on
    generator and async generator functions, whose trial spans the iteration:
    see :func:`_generator_wrapper`.
    """

    def decorate(fn: F) -> F:
        if isinstance(fn, (classmethod, staticmethod)):
            # ``@track()`` above ``@classmethod``: track the function, keep the descriptor.
            inner = decorate_function(fn.__func__, isinstance(fn, classmethod))
            return type(fn)(inner)  # type: ignore[return-value]
        if not callable(fn):
            raise TypeError(
                f"@votakvot.track() decorates functions and methods, not "
                f"{type(fn).__name__} {fn!r}"
            )
        return decorate_function(fn)

    def decorate_function(fn: F, first_is_class: bool = False) -> F:
        prefix = name.strip("/") if name else _default_prefix(fn)
        binder = _Binder(fn, first_is_class)
        function = function_name(fn)
        source = _source.describe(fn)

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActiveTrial | None:
            try:
                params = binder(args, kwargs)
            except TypeError:
                return None  # the call itself is wrong: let the function raise it
            tid_, trial_uuid = new_tid(prefix)
            trial = ActiveTrial(
                tid_,
                params,
                function=function,
                capture=capture,
                trial_id=trial_uuid,
                source=source,
            )
            trial.start()
            return trial

        wrapper: Callable[..., Any]
        if inspect.isasyncgenfunction(fn):
            wrapper = _async_generator_wrapper(fn, begin)
        elif inspect.isgeneratorfunction(fn):
            wrapper = _generator_wrapper(fn, begin)
        elif inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                trial = begin(args, kwargs)
                if trial is None:
                    return await fn(*args, **kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    trial.fail(exc)
                    raise
                trial.succeed(result)
                return result

            wrapper = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                trial = begin(args, kwargs)
                if trial is None:
                    return fn(*args, **kwargs)
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    trial.fail(exc)
                    raise
                trial.succeed(result)
                return result

            wrapper = sync_wrapper

        wrapper.__votakvot_prefix__ = prefix  # type: ignore[attr-defined,union-attr]
        return wrapper  # type: ignore[return-value]

    return decorate


_Begin = Callable[[tuple[Any, ...], dict[str, Any]], "ActiveTrial | None"]


def _generator_wrapper(fn: Callable[..., Any], begin: _Begin) -> Callable[..., Any]:
    """A generator function whose trial spans the whole iteration.

    The trial starts at the first ``next()`` (a generator never iterated makes no
    trial) and ends ``done`` when the generator is exhausted, with its ``return``
    value as ``result`` (``None`` unless it returns one) and the number of items
    it yielded as ``yielded``; ``failed`` if it raises; ``interrupted`` if closed
    (or garbage-collected) before the end. The body runs in a context of its own,
    so ``inform``/``meter`` in the body reach the trial and code of the consumer
    between items does not. ``send`` and ``throw`` reach the generator as usual.
    """

    @functools.wraps(fn)
    def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = contextvars.copy_context()
        trial = ctx.run(begin, args, kwargs)
        if trial is None:
            return (yield from fn(*args, **kwargs))
        yielded = 0
        try:
            gen = ctx.run(fn, *args, **kwargs)
            value = ctx.run(next, gen)
            while True:
                yielded += 1
                try:
                    sent = yield value
                except GeneratorExit:
                    ctx.run(gen.close)
                    raise
                except BaseException as exc:
                    value = ctx.run(gen.throw, exc)
                else:
                    value = ctx.run(gen.send, sent)
        except StopIteration as stop:
            trial.data["yielded"] = yielded
            ctx.run(trial.succeed, stop.value)
            return stop.value
        except BaseException as exc:
            trial.data["yielded"] = yielded
            ctx.run(trial.fail, exc)
            raise

    return generator_wrapper


class _InContext:
    """Awaits ``awaitable`` with each of its steps run in ``ctx``.

    What it waits on passes through untouched, so it works under any event loop;
    only the context differs: the async generator's body sees its trial, the
    task awaiting it does not.
    """

    def __init__(self, ctx: contextvars.Context, awaitable: Any) -> None:
        self.ctx = ctx
        self.steps = awaitable.__await__()

    def __await__(self) -> Any:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    waiting = self.ctx.run(self.steps.send, value)
                else:
                    waiting = self.ctx.run(self.steps.throw, error)
            except StopIteration as stop:
                return stop.value
            try:
                value, error = (yield waiting), None
            except BaseException as exc:  # a cancellation: passed on to the awaitable
                value, error = None, exc


def _async_generator_wrapper(fn: Callable[..., Any], begin: _Begin) -> Callable[..., Any]:
    """An async generator function whose trial spans the whole iteration.

    As :func:`_generator_wrapper`: the trial starts at the first ``__anext__``, ends
    ``done`` when exhausted (``result`` is ``None``: async generators return
    nothing; ``yielded`` counts the items), ``failed`` if it raises,
    ``interrupted`` if closed early or cancelled.
    """

    @functools.wraps(fn)
    async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = contextvars.copy_context()
        trial = ctx.run(begin, args, kwargs)
        agen = ctx.run(fn, *args, **kwargs)
        if trial is None:
            async for item in agen:
                yield item
            return
        yielded = 0
        try:
            value = await _InContext(ctx, agen.__anext__())
            while True:
                yielded += 1
                try:
                    sent = yield value
                except GeneratorExit:
                    await _InContext(ctx, agen.aclose())
                    raise
                except BaseException as exc:
                    value = await _InContext(ctx, agen.athrow(exc))
                else:
                    value = await _InContext(ctx, agen.asend(sent))
        except StopAsyncIteration:
            trial.data["yielded"] = yielded
            ctx.run(trial.succeed, None)
        except BaseException as exc:
            trial.data["yielded"] = yielded
            ctx.run(trial.fail, exc)
            raise

    return async_generator_wrapper


def run(tid: str, fn: Callable[..., Any], /, *, rerun: bool = False, **params: Any) -> Trial:
    """Run ``fn(**params)`` as the trial with the explicit id ``tid``.

    ``tid`` is a relative folder under the root (``"sweep/n=10/seed=3"``). A trial
    that already finished there is returned as recorded, without running again,
    unless ``rerun=True``; so a script of ``run`` calls that was killed picks up
    where it stopped. Subclasses of ``votakvot.resumable_fn`` resume from their
    last snapshot. The function's exception is re-raised after it is recorded.
    """
    from .trial import Trial

    tid = _check_tid(tid)
    from .resumable import resumable_fn, run_resumable

    if isinstance(fn, type) and issubclass(fn, resumable_fn):
        return run_resumable(tid, fn, params, rerun=rerun)
    fn = getattr(fn, "__wrapped__", fn) if hasattr(fn, "__votakvot_prefix__") else fn
    call = _run_to_end(fn)
    config = get_config()
    if not rerun:
        done = _finished_trial(config, tid)
        if done is not None:
            return done
    trial = ActiveTrial(
        tid,
        {k: v for k, v in params.items() if not k.startswith("_")},
        function=function_name(fn),
        config=config,
        source=_source.describe(fn),
    )
    clear_previous_run(trial)
    trial.start()
    try:
        result = call(trial, params)
    except BaseException as exc:
        trial.fail(exc)
        raise
    trial.succeed(result)
    return Trial(trial.url, trial.data)


def _run_to_end(fn: Callable[..., Any]) -> Callable[[ActiveTrial, dict[str, Any]], Any]:
    """How ``run`` calls ``fn`` so the trial spans all of its work.

    ``run`` returns a finished ``Trial``, so a generator is iterated to its end
    (``result`` is its return value, ``yielded`` counts its items) and an ``async
    def`` is run in an event loop of its own; the generator object or coroutine
    itself is never recorded as the result.
    """
    if inspect.isgeneratorfunction(fn):

        def drain(trial: ActiveTrial, params: dict[str, Any]) -> Any:
            gen = fn(**params)
            yielded = 0
            try:
                while True:
                    next(gen)
                    yielded += 1
                    trial.data["yielded"] = yielded
            except StopIteration as stop:
                trial.data["yielded"] = yielded
                return stop.value

        return drain
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise TypeError(
                f"votakvot.run() cannot run the async function {function_name(fn)} inside a "
                "running event loop; decorate it with @votakvot.track() and await it instead"
            )
        if inspect.isasyncgenfunction(fn):

            async def consume(trial: ActiveTrial, params: dict[str, Any]) -> None:
                yielded = 0
                async for _ in fn(**params):
                    yielded += 1
                    trial.data["yielded"] = yielded
                trial.data["yielded"] = yielded

            return lambda trial, params: asyncio.run(consume(trial, params))
        return lambda trial, params: asyncio.run(fn(**params))
    return lambda trial, params: fn(**params)


def _check_tid(tid: str) -> str:
    if not isinstance(tid, str) or not tid.strip("/"):
        raise ValueError(
            f"a trial id must be a non-empty relative path like 'sweep/n=10' (got {tid!r})"
        )
    norm = posixpath.normpath(tid.strip("/"))
    if norm.startswith("..") or "://" in tid:
        raise ValueError(f"trial id {tid!r} must stay below the root given to votakvot.init()")
    return norm


def _finished_trial(config: Config, tid: str) -> Trial | None:
    """The recorded trial at ``tid`` if it finished successfully, else ``None``."""
    from .trial import read_trial

    storage = config.storage
    folder = storage.join(storage.root, *tid.split("/"))
    to_url = getattr(storage, "to_url", None)
    try:
        trial = read_trial(to_url(folder) if to_url else folder)
    except Exception:
        return None
    if trial is not None and trial.data.get("state") == "done":
        return trial
    return None


def _list_folder(storage: Any, folder: str) -> list[str]:
    """Names of the files in a trial folder; empty if it does not exist yet."""
    fs = getattr(storage, "fs", None)
    try:
        if fs is None:
            return os.listdir(folder)
        return [posixpath.basename(p.rstrip("/")) for p in fs.ls(folder, detail=False)]
    except FileNotFoundError:
        return []


def clear_files(
    trial: ActiveTrial,
    names: tuple[str, ...],
    prefixes: tuple[str, ...] = (),
    *,
    temporary: bool = False,
) -> None:
    """Remove files of an earlier run from the trial folder, so a fresh start shows none.

    With ``temporary``, also the temp files of atomic writes a killed process left behind.
    """
    storage = trial.storage
    fs = getattr(storage, "fs", None)
    try:
        for name in _list_folder(storage, trial.path):
            if (
                name in names
                or name.startswith(prefixes)
                or (temporary and name.startswith("votakvot.") and name.endswith(".tmp"))
            ):
                path = storage.join(trial.path, name)
                if fs is None:
                    os.unlink(path)
                else:
                    fs.rm_file(path)
    except OSError as exc:
        logger.warning("votakvot: could not clear old files of trial %r: %s", trial.tid, exc)


PREVIOUS_RUN_FILES = (TRACEBACK_NAME, HEARTBEAT_NAME, OUTPUT_NAME, LOG_NAME)
"""Files of an earlier run at the same id that a fresh start must not carry on."""


def clear_previous_run(trial: ActiveTrial) -> None:
    """A rerun at an explicit id starts fresh metrics, output and traceback."""
    clear_files(trial, PREVIOUS_RUN_FILES, (METRICS_PREFIX,), temporary=True)


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


def inform(**fields: Any) -> None:
    """Record extra fields under ``info`` of the current trial (later calls update them)."""
    trial = _current.get()
    if trial is None:
        outer = _children.outer()  # in a child process started by a trial
        if outer is not None:
            outer.inform(fields)
            return
        _outside("inform")
        return
    trial.inform(fields)


def meter(**fields: Any) -> None:
    """Add one row of metrics (plus an ``at`` timestamp) to the current trial.

    Rows are buffered and written by the background flusher about once a second
    and when the trial ends. This is a hot path: it does no I/O and takes no lock.
    """
    trial = _current.get()
    if trial is None:
        outer = _children.outer()  # in a child process started by a trial
        if outer is not None:
            outer.meter(fields)
            return
        _outside("meter")
        return
    rows = trial._metric_rows.get(tuple(fields))
    if rows is None:
        rows = trial._metric_rows.setdefault(tuple(fields), [])
    rows.append((time.time(), *fields.values()))


def attach(name: str, mode: str = "w") -> IO[Any]:
    """Open a file inside the current trial's folder (subfolders are made as needed).

    Outside any tracked call it logs a warning and returns a file that keeps nothing.
    Raises ValueError for a name that would leave the trial folder.
    """
    _safe_relative(name)
    trial = _current.get()
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
    trial = _current.get()
    if trial is not None:
        if trial.finished and _children.ended_elsewhere(trial):
            return None  # a forked pool worker kept after its trial ended
        return trial.tid
    outer = _children.outer()
    return outer.tid if outer is not None else None
