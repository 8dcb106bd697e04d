"""What a runner ships to where trials run: one call, the settings to run it with,
and the function a worker executes.
"""

from __future__ import annotations

import asyncio
import inspect
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .._config import Config, get_config
from .._decorator import track
from .._init import init
from .._naming import default_prefix as _default_prefix
from .._run import run
from ..layout import new_tid
from ..resumable import resumable_fn, run_resumable
from ..storage import redact
from ._callspec import Call

__all__ = [
    "Call",
    "RemoteTraceback",
    "WorkerSettings",
    "apply_settings",
    "execute",
    "execute_many",
    "execute_with",
    "worker_settings",
]


def execute(call: Call, record: Any = None, *, read: bool = False) -> Any:
    """Run one call as exactly one trial in this process and return the function's result.

    A function already wrapped by ``@votakvot.track`` makes its own trial; any
    other callable is tracked as ``track()`` would. The function's exception is
    re-raised after the trial recorded it. With ``read``, ``record`` is the record at
    the call's id as the caller just read it (``None``: none), so it is not read again.
    """
    if call.origin is not None:
        from ._attempts import UNREAD, run_attempts

        return run_attempts(call, record if read else UNREAD)
    fn, params = call.fn, call.params
    if isinstance(fn, type) and issubclass(fn, resumable_fn):
        if call.tid is None:
            tid, trial_uuid = new_tid(_default_prefix(fn))
            trial = run_resumable(tid, fn, params, trial_id=trial_uuid)
        else:
            trial = run_resumable(
                call.tid, fn, params, rerun=call.rerun, trust_snapshot=call.trust_snapshot
            )
        return trial.data.get("result")
    if call.tid is not None:
        return run(call.tid, fn, rerun=call.rerun, **params).data.get("result")
    wrapper = fn if hasattr(fn, "__votakvot_prefix__") else _tracked(fn)
    result = wrapper(**params)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return result


class RemoteTraceback(Exception):
    """Set as ``__cause__`` of an exception raised in a worker: the worker's traceback."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _rebuild(exc: BaseException, text: str) -> BaseException:
    exc.__cause__ = RemoteTraceback(text)
    return exc


class _Failure:
    """An exception with its traceback text, that unpickles as the exception itself."""

    def __init__(self, exc: BaseException) -> None:
        self.text = '\n"""\n' + "".join(traceback.format_exception(exc)) + '"""'
        try:
            pickle.dumps(exc)
            self.exc = exc
        except Exception:
            self.exc = RuntimeError(f"{type(exc).__qualname__}: {exc} (not picklable)")

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self.exc, self.text)


def execute_many(calls: list[Call]) -> tuple[list[tuple[bool, Any]], float]:
    """Run several calls in a row (one task, one round trip): ``[(ok, result or exception)]``
    and the seconds they took, so the client can size the next batches."""
    t0 = time.perf_counter()
    out: list[tuple[bool, Any]] = []
    for call in calls:
        try:
            out.append((True, execute(call)))
        except Exception as exc:
            out.append((False, _Failure(exc)))
    return out, time.perf_counter() - t0


_wrappers: dict[int, tuple[Callable[..., Any], Callable[..., Any]]] = {}
_WRAPPERS_KEPT = 256


def _tracked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``track()(fn)``, made once per function: building it reads the signature, which
    costs more than the rest of submitting a trivial call."""
    kept = _wrappers.get(id(fn))
    if kept is not None and kept[0] is fn:
        return kept[1]
    wrapper = track()(fn)
    if len(_wrappers) >= _WRAPPERS_KEPT:
        _wrappers.clear()  # functions sent by value are new objects each time
    _wrappers[id(fn)] = (fn, wrapper)
    return wrapper


class WorkerSettings(dict[str, Any]):
    """The settings sent to workers: a dict whose repr leaves out URL passwords.

    Dask prints a failed task's arguments into its worker logs ("Compute Failed ...
    args: ..."); the root URL among them must not carry its password there, while the
    worker still gets the whole URL to write to.
    """

    def __repr__(self) -> str:
        return redact(dict.__repr__(self))

    __str__ = __repr__


def worker_settings(config: Config) -> dict[str, Any]:
    """The arguments of ``votakvot.init`` that make another process record trials like this one.

    The root goes as an absolute path or a full URL, so a worker with another working
    directory still writes to the same place.
    """
    return {
        "path": config.storage.url,
        "meta_providers": config.meta_providers,
        "strict": config.strict,
        "capture": config.capture,
        "capture_limit": config.capture_limit,
        "flush_interval": config.flush_interval,
        "heartbeat_interval": config.heartbeat_interval,
        "storage_options": config.storage_options,  # credentials, endpoints of the root
    }


_applied: str | None = None
_apply_lock = threading.Lock()


def apply_settings(settings: dict[str, Any], token: str | None = None) -> None:
    """``votakvot.init(**settings)`` in a worker, once per ``token`` (a client's settings)."""
    global _applied
    if token is not None and _applied == token and get_config().path == settings["path"]:
        return
    with _apply_lock:
        if token is not None and _applied == token and get_config().path == settings["path"]:
            return
        init(**settings)
        _applied = token


def execute_with(token: str, settings: dict[str, Any], call: Call) -> Any:
    """What a Dask worker runs: apply the client's settings (once), then the call."""
    apply_settings(settings, token)
    return execute(call)
