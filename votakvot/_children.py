"""Trials and the work their calls hand to threads and child processes.

A trial lives in one process, and only that process writes its record. What the
call hands elsewhere is followed as far as it can be done safely:

- **Thread pools.** ``ThreadPoolExecutor.submit`` runs the task in a copy of the
  submitter's context (as ``asyncio`` does for tasks), so ``meter``/``inform``/
  printing in a pool task reach the trial that submitted it, and a tracked call
  on a pool thread names it as ``parent``. A plain ``threading.Thread`` starts
  with an empty context (Python's choice); the warning it gets names the fix.
- **Forked children** (``multiprocessing`` with ``fork``, ``os.fork``) inherit the
  running trial in their memory. In the child it becomes a :class:`ParentView`:
  ``meter`` rows are written straight away to metric files of the child's own
  (``votakvot.metrics.child-PID-...csv``) in the trial folder, which
  ``load_metrics`` merges by time; ``attach`` writes into the trial folder;
  ``inform`` is refused with one warning; the child never rewrites the record.
- **Spawned children** (``spawn``, ``forkserver``, joblib's loky workers): the
  ``Process`` object they are started from carries the parent's settings and
  trial (``_votakvot_parent``, pickled with it), applied in the child the first
  time it needs its settings. No environment variable is set, so unrelated
  ``subprocess`` programs are not affected.

A child links to the trial only while that trial still runs (checked at most once
a second by reading its record): a pool worker reused after the trial ended
records nothing into it. What children print is not captured (``children:`` in
the record says so). See docs/processes.md.
"""

from __future__ import annotations

import contextvars
import functools
import io
import logging
import os
import re
import threading
import time
from typing import IO, Any

from . import _active
from ._active import ActiveTrial, _current, current, metric_csv
from ._config import PROCESS_ATTR, Config, forget_inherited, get_config, inherited
from ._flusher import flusher
from .layout import METRICS_PREFIX, YAML_NAME
from .layout import safe_relative as _safe_relative

__all__ = ["ParentView", "ended_elsewhere", "install", "outer", "settings_for_child"]

logger = logging.getLogger("votakvot")


CHILD_OUTPUT = "not captured"
"""What the record says about children's output: it reaches the terminal only."""

_ALIVE_CHECK_SECONDS = 1.0
_STATE = re.compile(rb"^state: *'?([a-z]+)", re.MULTILINE)

_installed = False
_install_lock = threading.Lock()
_starting = threading.local()
"""``starting.depth`` > 0 while ``Process.start`` runs: its fork is counted there."""


# --- settings a child process inherits ------------------------------------------


def settings_for_child(config: Config) -> dict[str, Any] | None:
    """What a spawned child needs to record like this process, or ``None`` (a
    ``memory://`` root lives in one process: a child cannot write into it)."""
    storage = config.storage
    root = storage.to_url(storage.root)
    if root.startswith("memory://"):
        return None
    return {
        "path": root,
        "strict": config.strict,
        "capture": config.capture,
        "capture_limit": config.capture_limit,
        "flush_interval": config.flush_interval,
        "heartbeat_interval": config.heartbeat_interval,
        "storage_options": config.storage_options,
    }


_outer: ParentView | None = None


def outer() -> ParentView | None:
    """The running trial of another process that started this one, or ``None``.

    Used for the ``parent`` of a top-level tracked call in a child, and by
    ``meter``/``inform``/``attach``/``tid`` called outside any tracked call.
    """
    global _outer
    view = _outer
    if view is None:
        info = inherited()  # cached: cheap on every top-level trial
        if info is None or not info.get("tid"):
            return None

        config = get_config()
        storage = config.storage
        settings = info.get("settings")
        if not settings or settings.get("path") not in (storage.url, storage.root):
            # A memory:// parent (nothing to share), or this process chose another root:
            # the tid means nothing here.
            return None
        tid = str(info["tid"])
        view = _outer = ParentView(tid, storage, storage.join(storage.root, *tid.split("/")))
    return view if view.alive() else None


def ended_elsewhere(trial: ActiveTrial) -> bool:
    """Whether ``trial`` is a parent's trial seen from a forked child, and has ended there
    (a pool worker kept after it): then this process must not name it."""
    view: ParentView | None = getattr(trial, "_view", None)
    return view is not None and not view.alive()


def _forget_outer_after_fork() -> None:
    global _outer
    _outer = None  # its files are named after the pid
    forget_inherited()


# --- the parent trial, seen from a child process --------------------------------


class _ViewRows(dict):  # type: ignore[type-arg]
    """``ActiveTrial._metric_rows`` of a trial in a forked child: rows are written at once."""

    def __init__(self, view: ParentView) -> None:
        super().__init__()
        self.view = view

    def setdefault(self, key: Any, default: Any = None) -> Any:
        rows = self.get(key)
        if rows is None:
            rows = self[key] = _ViewRowList(self.view, key)
        return rows


class _ViewRowList(list):  # type: ignore[type-arg]
    """Takes what ``meter`` appends (its time, then ``+=`` its values) and writes the
    row at once; the time waits per thread, so two threads' rows never swap times."""

    __slots__ = ("_at", "key", "view")

    def __init__(self, view: ParentView, key: tuple[str, ...]) -> None:
        super().__init__()
        self.view = view
        self.key = key
        self._at: dict[int, Any] = {}

    def append(self, at: Any) -> None:
        self._at[threading.get_ident()] = at

    def __iadd__(self, values: Any) -> _ViewRowList:  # type: ignore[override,misc]
        at = self._at.pop(threading.get_ident(), None)
        self.view.write_row(self.key, (time.time() if at is None else at, *values))
        return self


class ParentView:
    """A trial of a parent process, as one of its children may add to it.

    Each metered row is written to the child's own metric files in the trial folder
    before ``meter`` returns (a pool worker may be terminated, or leave with
    ``os._exit``, at any time: nothing waits in memory). The record is the parent's
    alone: ``inform`` is refused with one warning.
    """

    def __init__(self, tid: str, storage: Any, path: str) -> None:
        self.tid = tid
        self.storage = storage
        self.path = path
        self.pid = os.getpid()
        self._tag = f"child-{self.pid}-{os.urandom(2).hex()}"
        self._names: dict[tuple[str, ...], str] = {}
        self._fds: dict[str, int] = {}
        self._kept: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._warned: set[str] = set()
        self._alive = True
        self._checked = 0.0
        self._local = getattr(storage, "fs", None) is None
        self._memory = str(getattr(storage, "url", "")).startswith("memory://")

    def file(self, name: str) -> str:
        return self.storage.join(self.path, name)

    def _warn_once(self, what: str, message: str, *args: Any) -> None:
        if what not in self._warned:
            self._warned.add(what)
            logger.warning(message, *args)

    def alive(self) -> bool:
        """Whether the trial still runs (its record says ``running``); re-read once a second."""
        now = time.monotonic()
        if now - self._checked < _ALIVE_CHECK_SECONDS:
            return self._alive
        self._checked = now

        try:
            with self.storage.open(self.file(YAML_NAME), "rb") as f:
                head = f.read(4096)
        except OSError:
            head = b""
        match = _STATE.search(head)
        self._alive = match is None or match.group(1) == b"running"
        return self._alive

    # What the child calls.

    def meter(self, fields: dict[str, Any]) -> None:
        self.write_row(tuple(fields), (time.time(), *fields.values()))

    def write_row(self, key: tuple[str, ...], row: tuple[Any, ...]) -> None:
        if self._memory:
            self._warn_once(
                "memory",
                "votakvot.meter() in child process %d of trial %r: a memory:// root lives "
                "in the parent process only, so this row is not recorded; use a local folder "
                "or a shared fsspec URL in votakvot.init(path=...)",
                self.pid,
                self.tid,
            )
            return
        if not self.alive():
            self._warn_once(
                "ended",
                "votakvot.meter() in child process %d: trial %r that started this process "
                "has ended, so these rows are not recorded (a pool kept its workers after "
                "the trial?)",
                self.pid,
                self.tid,
            )
            return

        with self._lock:
            name = self._names.get(key)
            text = metric_csv(key, [row], header=name is None)
            if name is None:
                name = self._names[key] = (
                    f"{METRICS_PREFIX}{self._tag}-{len(self._names):02d}.csv"
                )
            try:
                self._write(name, text.encode("utf-8"))
            except Exception as exc:
                self._warn_once(
                    "write",
                    "votakvot: child process %d could not write metrics of trial %r: %s: %s",
                    self.pid,
                    self.tid,
                    type(exc).__name__,
                    exc,
                )

    def _write(self, name: str, data: bytes) -> None:
        path = self.file(name)
        if self._local:
            fd = self._fds.get(name)
            if fd is None:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                fd = self._fds[name] = os.open(path, flags, 0o666)
            view = memoryview(data)
            while view:  # in the kernel before meter returns: os._exit loses nothing
                view = view[os.write(fd, view) :]
        elif self.storage.can_append:
            self.storage.append(path, data)
        else:  # object stores: the whole file each time (meter sparingly in children)
            self._kept[name] = self._kept.get(name, b"") + data
            self.storage.write_atomic(path, self._kept[name])

    def inform(self, fields: dict[str, Any]) -> None:
        self._warn_once(
            "inform",
            "votakvot.inform(%s) in child process %d of trial %r is not recorded: only the "
            "process that runs a trial writes its record. Return the values to the parent "
            "and inform there, or meter them (rows of children are kept)",
            ", ".join(fields),
            self.pid,
            self.tid,
        )

    def attach(self, name: str, mode: str = "w") -> IO[Any]:

        rel = _safe_relative(name)
        if self._memory and any(c in mode for c in "wax+"):
            self._warn_once(
                "attach",
                "votakvot.attach(%r) in child process %d of trial %r: a memory:// root lives "
                "in the parent process only, so the file is not kept",
                name,
                self.pid,
                self.tid,
            )
            return io.BytesIO() if "b" in mode else io.StringIO()
        return self.storage.open(self.storage.join(self.path, *rel.split("/")), mode)  # type: ignore[no-any-return]


def adopt_after_fork(trials: list[ActiveTrial]) -> None:
    """In a forked child: the parent's running trials become views that never write
    the record (the parent does), so the child's rows, files and end reach it safely."""
    for trial in trials:
        try:
            _adopt(trial)
        except Exception:
            logger.exception("votakvot: could not follow trial %r into a forked child", trial.tid)
    _forget_outer_after_fork()


def _adopt(trial: ActiveTrial) -> None:
    view = ParentView(trial.tid, trial.storage, trial.path)
    trial._metric_rows = _ViewRows(view)
    t_: Any = trial
    t_._view = view
    # A lock another thread of the parent held at the fork stays held in this copy.
    trial._lock = threading.RLock()
    trial._yaml_lock = threading.RLock()
    trial._info_dirty = False
    # Finished as far as this process goes: nothing here (a SIGTERM from Pool.terminate,
    # an exit) may end it, write its traceback or rewrite its record.
    trial.finished = True
    t: Any = trial  # instance attributes shadow the methods, in this process only

    def end(*_: Any) -> None:
        trial._detach()  # the child leaves the call: the record stays the parent's

    def nothing(*_: Any, **__: Any) -> None:
        return None

    t.inform = view.inform
    t.succeed = end
    t.fail = end
    t.write_yaml = nothing
    t.flush_metrics = nothing
    t.background_flush = nothing
    t.heartbeat = nothing
    if view._memory:
        t.attach = view.attach


# --- the parent side: who starts what -------------------------------------------


def _note_child(trial: ActiveTrial, method: str) -> None:
    """Say in the record that this trial started a child process, and what it keeps."""
    with trial._yaml_lock:
        children = trial.data.get("children")
        if not isinstance(children, dict):
            children = trial.data["children"] = {
                "processes": 0,
                "start": [],
                "output": CHILD_OUTPUT,
            }
        children["processes"] += 1
        if method not in children["start"]:
            children["start"].append(method)
    trial.changed()


def _before_fork() -> None:
    if getattr(_starting, "depth", 0):
        return  # multiprocessing's own fork: counted by the Process.start wrapper

    trial = current()
    if trial is not None and not trial.finished:
        try:
            _note_child(trial, "fork")
        except Exception:
            logger.exception("votakvot: could not note a forked child of trial %r", trial.tid)


def _start_method(process: Any) -> str:
    method = getattr(process, "_start_method", None)
    if method:
        return str(method)
    name = type(process).__name__
    if "Loky" in name:
        return "loky"
    import multiprocessing

    return multiprocessing.get_start_method(allow_none=True) or "default"


def _wrap_start(start: Any) -> Any:
    @functools.wraps(start)
    def start_with_trial(self: Any) -> Any:

        trial = current()
        try:
            config = trial.config if trial is not None else get_config()
            setattr(
                self,
                PROCESS_ATTR,
                {
                    "settings": settings_for_child(config),
                    "tid": trial.tid if trial is not None and not trial.finished else None,
                },
            )
            if trial is not None and not trial.finished:
                _note_child(trial, _start_method(self))
        except Exception:
            logger.exception("votakvot: could not pass the trial on to process %r", self)
        _starting.depth = getattr(_starting, "depth", 0) + 1
        try:
            return start(self)
        finally:
            _starting.depth -= 1

    start_with_trial.__votakvot__ = True  # type: ignore[attr-defined]
    return start_with_trial


def _wrap_submit(submit: Any) -> Any:
    @functools.wraps(submit)
    def submit_in_context(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:

        if _current.get() is None:
            return submit(self, fn, *args, **kwargs)
        # Like asyncio tasks: the task sees the trial that submitted it.
        return submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    submit_in_context.__votakvot__ = True  # type: ignore[attr-defined]
    return submit_in_context


def install() -> None:
    """Follow trials into ``multiprocessing`` processes and thread pools (idempotent).

    Called by ``init``, by ``@track`` and by ``run``: per process, not per call.
    """
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        import concurrent.futures.thread
        import multiprocessing.process

        base = multiprocessing.process.BaseProcess
        if not getattr(base.start, "__votakvot__", False):
            base.start = _wrap_start(base.start)  # type: ignore[method-assign]
        pool = concurrent.futures.thread.ThreadPoolExecutor
        if not getattr(pool.submit, "__votakvot__", False):
            pool.submit = _wrap_submit(pool.submit)  # type: ignore[method-assign]
        _installed = True


def _parent_tid(parent: ActiveTrial | None) -> str | None:
    """The ``parent`` of a new trial, across processes: in a forked copy, not a trial that
    ended in the parent meanwhile; at the top of a child, the trial that started it."""
    if parent is not None:
        return None if ended_elsewhere(parent) else parent.tid
    view = outer()
    return view.tid if view is not None else None


_active.parent_tid = _parent_tid
flusher.fork_handlers.append(adopt_after_fork)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork)
