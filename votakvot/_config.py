"""Process-wide settings made by :func:`votakvot.init`."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any, Literal

from .storage import Storage, open_storage

__all__ = [
    "PROCESS_ATTR",
    "Config",
    "check_root",
    "forget_inherited",
    "get_config",
    "inherited",
    "set_config",
]

Capture = Literal["all", "logging", "none"]


@dataclasses.dataclass
class Config:
    """What ``init`` set; every tracked call reads the current one when it starts."""

    path: str = "."
    """Root under which trial folders are made: a local path or an fsspec URL."""
    meta_providers: dict[str, Callable[[], Any]] | None = None
    """Providers for ``meta``; ``None`` means ``votakvot.meta.providers`` as it is then."""
    strict: bool = False
    """Raise storage errors into user code instead of logging them."""
    flush_interval: float = 1.0
    """Seconds between background flushes of metrics (and of changed ``info``)."""
    heartbeat_interval: float = 5.0
    """Seconds between heartbeats of a running trial."""
    capture: Capture = "all"
    """What output of a tracked call is kept with its trial."""
    capture_limit: int | None = 10 * 1024 * 1024
    """Bytes of captured output kept per trial and file."""
    runner: str = "inplace"
    """How ``submit``/``map`` run trials: ``inplace``, ``process`` or ``dask``."""
    runner_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Extra options of the runner (``address``, ``workers``, ...)."""
    storage_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options of the fsspec filesystem of ``path`` (credentials, endpoints)."""
    info: dict[str, Any] | None = None
    """Fields put under ``info`` of every top-level trial this process starts."""
    _storage: Storage | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.path, self.storage_options)
        return self._storage


def check_root(path: object) -> str:
    """``path`` as the root string ``init`` keeps, or a ValueError/TypeError saying why not.

    ``str(path)`` would take anything: ``init(None)`` wrote into ``./None`` and
    ``init(123)`` into ``./123``. Only text paths, ``os.PathLike`` and URLs are roots.
    """
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, bytes):
        raise TypeError(
            f"init(path={path!r}): the root must be text, not bytes; "
            f"decode it, e.g. init(path={path.decode(errors='replace')!r})"
        )
    if not isinstance(path, str):
        raise TypeError(
            f"init(path={path!r}): the root must be a folder path (str or pathlib.Path) "
            f"or an fsspec URL, not {type(path).__name__}; e.g. init(path='./results')"
        )
    if not path.strip():
        raise ValueError(
            f"init(path={path!r}): the root must not be empty; use init(path='.') for "
            "the current folder"
        )
    if "\x00" in path:
        raise ValueError(f"init(path={path!r}): a path cannot hold a NUL character")
    return path


_config = Config()
_inherit_pending = True
"""Until ``init`` is called or this process is known not to be a child started from a
trial's process, the settings a ``multiprocessing`` parent passed on may still apply."""


def get_config() -> Config:
    if _inherit_pending:
        _inherit()
    return _config


PROCESS_ATTR = "_votakvot_parent"
"""Attribute of a ``multiprocessing`` Process: ``{"settings": {...}, "tid": ... | None}``,
set by :mod:`votakvot._children` when a trial's process starts it."""

_resolved = False
_inherited: dict[str, Any] | None = None


def inherited() -> dict[str, Any] | None:
    """What the ``Process`` this process runs was started with, once it is known.

    ``None`` in a process not started by ``multiprocessing`` (or started outside
    votakvot). While a spawned child is still unpickling its ``Process`` (its
    ``_inheriting`` phase) nothing is known yet and nothing is cached.
    """
    global _resolved, _inherited
    if _resolved:
        return _inherited
    mp_process = sys.modules.get("multiprocessing.process")
    if mp_process is None:
        _resolved = True  # every multiprocessing child imports it before our code runs
        return None
    process = mp_process.current_process()
    if getattr(process, "_inheriting", False):
        return None  # too early: ask again later
    info = getattr(process, PROCESS_ATTR, None)
    _inherited = info if isinstance(info, dict) else None
    _resolved = True
    return _inherited


def forget_inherited() -> None:
    """A forked child reads its own ``Process`` (set up after the fork) when asked."""
    global _resolved, _inherited
    _resolved, _inherited = False, None


def _inherit() -> None:
    """In a child process started by ``multiprocessing`` (spawn, forkserver, joblib's
    loky) from a process that used votakvot: record with the parent's root and settings,
    so its trials land next to the parent's rather than in the working directory."""
    global _config, _inherit_pending
    info = inherited()
    if info is None:
        _inherit_pending = not _resolved  # still unpickling: ask again later
        return
    _inherit_pending = False
    settings = info.get("settings")
    if settings:
        try:
            _config = Config(**settings)
        except TypeError as exc:  # a parent with another votakvot version
            import logging

            logging.getLogger("votakvot").warning(
                "votakvot: the settings passed on by the parent process were not understood "
                "(%s); call votakvot.init() in the child to choose its root",
                exc,
            )


def set_config(config: Config) -> None:
    """Make ``config`` this process's settings (``init``); children started later get them."""
    global _config, _inherit_pending
    _config = config
    _inherit_pending = False
