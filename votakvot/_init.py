"""``votakvot.init``: where trials go and how they are recorded, for this process."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from . import _children, _signals
from ._config import Capture, Config, check_root, set_config
from .storage import split_protocol

__all__ = ["init"]


def init(
    path: str | os.PathLike[str] = ".",
    meta_providers: dict[str, Callable[[], Any]] | None = None,
    *,
    strict: bool = False,
    capture: Capture = "all",
    capture_limit: int | None = 10 * 1024 * 1024,
    runner: str = "inplace",
    flush_interval: float = 1.0,
    heartbeat_interval: float = 5.0,
    info: dict[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    **runner_options: Any,
) -> None:
    """Set where trials go and how they are recorded; call again to switch.

    Args:
        path: root folder of the trials, a local path (``str`` or ``pathlib.Path``)
            or any fsspec URL (``memory://x``, ``s3://bucket/prefix``,
            ``sftp://host/dir``). A relative folder is made absolute now, so an
            ``os.chdir`` later moves neither writing nor reading. Before ``init``
            is called, tracked calls write under ``.``. ``None``, numbers, bytes
            and ``""`` are refused (TypeError/ValueError) rather than made into a
            folder ``./None``.
        meta_providers: ``{dotted key: callable}`` for ``meta``; by default
            ``votakvot.meta.providers``.
        strict: raise storage errors into the tracked call instead of logging them.
        capture: keep a trial's output: ``"all"`` (stdout/stderr and logging),
            ``"logging"`` (logging records only) or ``"none"``.
        capture_limit: bytes of captured output kept per trial and file (``None``: no cap).
        runner: how ``submit``/``map``/``sweep`` run trials: ``"inplace"``, ``"thread"``,
            ``"process"`` (a local process pool) or ``"dask"`` (a Dask cluster).
        flush_interval: seconds between background flushes of metrics.
        heartbeat_interval: seconds between heartbeats of a running trial.
        info: fields recorded under ``info`` of every top-level trial this process
            starts (a tag for a batch of runs, what launched them); a trial's own
            ``inform`` calls add to them.
        storage_options: options of the fsspec filesystem of ``path``
            (credentials, endpoints: ``{"key": ..., "secret": ...,
            "endpoint_url": ...}`` for ``s3://``); see docs/reading.md.
        **runner_options: options of the runner: ``workers``, ``mp_context`` and
            ``max_tasks_per_child`` (process); ``address``, ``client`` and
            ``threads_per_worker`` (dask). See docs/parallel.md.
    """
    root = check_root(path)
    if split_protocol(root)[0] is None:
        # A relative folder means the one it names now: the trials are written there
        # (the storage is opened now), so reading back with ``load_report()`` after an
        # ``os.chdir`` (a notebook's ``%cd``) must look there too, not in the new cwd.
        root = os.path.abspath(os.path.expanduser(root))
    if capture not in ("all", "logging", "none"):
        raise ValueError(f"capture must be 'all', 'logging' or 'none' (got {capture!r})")
    if capture_limit is not None and capture_limit < 0:
        raise ValueError(f"capture_limit must be >= 0 bytes or None (got {capture_limit!r})")
    if flush_interval <= 0 or heartbeat_interval <= 0:
        raise ValueError(
            f"flush_interval and heartbeat_interval must be > 0 "
            f"(got {flush_interval!r}, {heartbeat_interval!r})"
        )
    config = Config(
        path=root,
        meta_providers=dict(meta_providers) if meta_providers is not None else None,
        strict=strict,
        capture=capture,
        capture_limit=capture_limit,
        runner=runner,
        runner_options=runner_options,
        flush_interval=flush_interval,
        heartbeat_interval=heartbeat_interval,
        info=dict(info) if info else None,
        storage_options=dict(storage_options or {}),
    )
    config.storage  # noqa: B018 - fail now on a bad path or a missing fsspec backend
    set_config(config)
    _children.install()  # children started later get these settings
    _signals.install()  # on the main thread: trials later started in threads are covered too
