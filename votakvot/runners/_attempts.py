"""Attempts: a call retried, or rerun after its worker died, stays one trial.

The client gives every call its trial id before it leaves (:func:`prepare`), so
each attempt of the call runs at the same id. Attempt ``N`` lives in the trial's
folder; when attempt ``N + 1`` starts there, the files of attempt ``N`` move into
the subfolder ``votakvot.attempt-N/`` and its record becomes ``state: superseded``
with ``ended_as`` (what it ended as) and ``superseded_by`` (the attempt after it).
A call run again at an explicit id (a ``map`` with ``tid=`` rerun over a ``failed``
or ``crashed`` trial) counts on from the attempts recorded there (:func:`next_attempt`).
Reports show one row per call (:func:`votakvot.load_report`; ``attempts=True``
shows them all).

A worker process that dies (a segfault, ``os._exit``, the OOM killer) cannot record
its trial: the runner records it for it (:func:`record_ended_elsewhere`), as
``crashed`` with the exit code or signal, or as ``timeout`` when the runner stopped
it for running past ``timeout=``.
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import logging
import os
import platform
import signal
import threading
from collections.abc import Callable
from typing import Any

from .. import _source, meta
from .._active import ActiveTrial
from .._config import Config, get_config
from .._naming import default_prefix, function_name
from .._previous_run import clear_previous_run
from .._values import dump_record
from .._version import __version__
from ..exceptions import ResumeError
from ..layout import YAML_NAME, new_tid
from ..storage import redact
from ._callspec import Call

__all__ = [
    "ATTEMPT_PREFIX",
    "SUPERSEDED",
    "archive_attempt",
    "archived_attempts",
    "exit_description",
    "next_attempt",
    "prepare",
    "read_record",
    "record_ended_elsewhere",
    "run_attempts",
]

logger = logging.getLogger("votakvot")

ATTEMPT_PREFIX = "votakvot.attempt-"
"""Earlier attempt ``N`` of a trial is kept in its subfolder ``votakvot.attempt-N``."""
SUPERSEDED = "superseded"
"""The state of an earlier attempt of a call that was run again."""


def _target(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The user's function under ``@track`` (the runner makes the trial itself)."""
    return getattr(fn, "__wrapped__", fn) if hasattr(fn, "__votakvot_prefix__") else fn


def _is_resumable(fn: Any) -> bool:
    from ..resumable import resumable_fn

    return isinstance(fn, type) and issubclass(fn, resumable_fn)


def prepare(
    calls: list[Call], kind: str, *, retries: int = 0, config: Config | None = None
) -> list[Call]:
    """The calls as they leave the client: each with its trial id and provenance.

    A call without an explicit id gets a fresh ``{module}/{function}/{date}/{time}/{uuid}``
    now, so every attempt of it, and a record the client writes for a dead worker,
    land at the same id. The client's ``git`` state (read once for all calls) and
    each function's source are captured here, so workers record the code that was
    submitted, not whatever their own folder holds.
    """
    config = config or get_config()
    pins = meta.submitted(config.meta_providers)
    sources: dict[int, tuple[Any, dict[str, Any] | None]] = {}
    out = []
    for call in calls:
        fn = call.fn
        kept = sources.get(id(fn))
        if kept is None or kept[0] is not fn:
            kept = sources[id(fn)] = (fn, _source.describe(_target(fn)))
        tid, fresh, uuid = call.tid, call.rerun, None
        if tid is None:
            prefix = getattr(fn, "__votakvot_prefix__", None) or default_prefix(_target(fn))
            tid, uuid = new_tid(prefix)
            fresh = True
        origin = {"meta": pins, "source": kept[1], "kind": kind, "id": uuid}
        out.append(dataclasses.replace(call, tid=tid, rerun=fresh, retries=retries, origin=origin))
    return out


def runner_section(call: Call, worker: str | None = None) -> dict[str, Any]:
    """``meta.runner``: which runner ran this attempt, where."""
    origin = call.origin or {}
    section: dict[str, Any] = {
        "kind": origin.get("kind"),
        "host": platform.node(),
        "pid": os.getpid(),
        "attempt": call.attempt,
    }
    if worker is None and section["kind"] == "dask":
        worker = _dask_worker()
    if worker:
        section["worker"] = worker
    return section


def _dask_worker() -> str | None:
    """The address (and name, when it has one) of the Dask worker running this task."""
    import sys

    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not in a worker
        return None
    name = str(worker.name)
    return worker.address if name == worker.address else f"{name} ({worker.address})"


_worker_name = threading.local()


def set_worker_name(name: str | None) -> None:
    """What ``meta.runner.worker`` says for calls run by this thread (a Dask worker's address)."""
    _worker_name.value = name


UNREAD: Any = object()
"""``record=`` of :func:`run_attempt` when the caller has not read the call's record."""


def run_attempts(call: Call, record: dict[str, Any] | None = UNREAD) -> Any:
    """Run a prepared call here, retrying a failure up to ``call.retries`` times.

    Each attempt is the same trial (same id) with ``attempt`` counted up; a
    ``KeyboardInterrupt`` or ``SystemExit`` is never retried. ``call.attempt`` counts
    the runs of this submission (the retry budget); the number recorded follows the
    attempts already recorded at the id (see :func:`run_attempt`). ``record`` is the
    record at the id when the caller has just read it (a Dask worker does).
    """
    tries = call.attempt  # runs this submission has had (a record may count more)
    while True:
        try:
            return run_attempt(call, record)
        except ResumeError:
            raise  # the call was refused, not run: running it again changes nothing
        except Exception:
            record = UNREAD  # the failed attempt wrote a new one
            if tries > call.retries:
                raise
            logger.warning(
                "votakvot: trial %r failed (run %d of at most %d); running it again",
                call.tid,
                tries,
                call.retries + 1,
            )
            tries += 1
            call = dataclasses.replace(call, attempt=call.attempt + 1, rerun=True)


def run_attempt(call: Call, record: dict[str, Any] | None = UNREAD) -> Any:
    """One attempt of a prepared call as its trial, in this process.

    ``record`` is what the id holds, when the caller read it already (saves a read).
    """
    from .._run import _run_to_end
    from ..resumable import run_resumable

    assert call.tid is not None
    tid = call.tid
    origin = call.origin or {}
    config = get_config()
    pins = dict(origin.get("meta") or {})
    pins["runner"] = runner_section(call, getattr(_worker_name, "value", None))
    uuid = origin.get("id")
    if _is_resumable(call.fn):
        # A later attempt resumes from the snapshot the earlier one left.
        rerun = call.rerun and call.attempt == 1 and uuid is None
        with meta.pinned(pins):
            done = run_resumable(
                call.tid,
                call.fn,  # type: ignore[arg-type]
                call.params,
                rerun=rerun,
                trial_id=uuid,
                trust_snapshot=call.trust_snapshot,
            )
        return done.data.get("result")
    fn = _target(call.fn)
    params = _recorded_params(fn, call.params)
    earlier = None  # a fresh id: nothing recorded there before (no read needed)
    if uuid is None or call.attempt > 1:
        earlier = _read(config, _folder(config, tid)) if record is UNREAD else record
        if earlier is not None and _done_result(call, earlier):
            _check_done_params(tid, earlier, params, call.params)
            return earlier.get("result")
    if earlier is not None:
        # Run again at its id (a rerun, a retry, after a crash): the earlier attempt
        # is kept aside and this one counts on from it.
        call = dataclasses.replace(call, attempt=next_attempt(call, earlier))
        pins["runner"]["attempt"] = call.attempt
        archive_attempt(config, tid, call.attempt, data=earlier)
    trial = ActiveTrial(
        tid,
        params,
        function=function_name(fn),
        config=config,
        trial_id=uuid,
        source=origin.get("source") if "source" in origin else _source.describe(fn),
        extra={"attempt": call.attempt},
        capture=getattr(call.fn, "__votakvot_capture__", None),  # @track(capture=...)
    )
    if uuid is None or call.attempt > 1 or origin.get("again"):
        clear_previous_run(trial)  # a fresh id has no earlier run to clear
    run = _run_to_end(fn)
    with meta.pinned(pins):
        trial.start()
    try:
        result = run(trial, call.params)
        if inspect.iscoroutine(result):
            import asyncio

            result = asyncio.run(result)
    except BaseException as exc:
        trial.fail(exc)
        raise
    trial.succeed(result)
    return result


def _check_done_params(
    tid: str, recorded: dict[str, Any], bound: dict[str, Any], given: dict[str, Any]
) -> None:
    """A finished trial asked for again with other params raises ``ResumeError``, as
    ``votakvot.run`` and resumable tasks do: its result answers its own params only.

    ``bound`` are the params as this runner records them (defaults filled); a record
    written by ``votakvot.run`` holds the given ones only, so either may match.
    """
    from ..resumable import _check_recorded_params

    try:
        _check_recorded_params(tid, recorded, bound)
    except ResumeError:
        _check_recorded_params(tid, recorded, {k: v for k, v in given.items() if k[:1] != "_"})


def _done_result(call: Call, recorded: dict[str, Any]) -> bool:
    """Whether the call is answered by its trial's finished record instead of running."""
    return not call.rerun and call.attempt == 1 and recorded.get("state") == "done"


def next_attempt(call: Call, earlier: dict[str, Any] | None, archived: int = 0) -> int:
    """The number of the attempt that replaces ``earlier`` (the record at the call's id).

    One more than the attempts recorded there, so rerunning a map over a ``crashed``
    or ``failed`` trial records attempt ``N + 1``, not 1 again. A fresh id's first
    run ignores a record left by the same call in a batch that died (``again``).
    """
    number = call.attempt
    if earlier is None:
        return max(number, archived + 1)
    if (call.origin or {}).get("id") is not None and call.attempt == 1:
        return number  # this very call, run again after its batch's worker died
    recorded = earlier.get("attempt", 1)
    if not isinstance(recorded, int) or isinstance(recorded, bool):
        recorded = 1
    return max(number, recorded + 1, archived + 1)


def archived_attempts(config: Config, tid: str) -> int:
    """The highest ``N`` of the ``votakvot.attempt-N/`` folders kept at ``tid`` (0: none)."""
    storage = config.storage
    try:
        names = [name for name, is_folder in storage.listdir(_folder(config, tid)) if is_folder]
    except FileNotFoundError:
        return 0
    except Exception as exc:
        logger.warning("votakvot: could not list the attempts of trial %r: %s", tid, exc)
        return 0
    numbers = [name[len(ATTEMPT_PREFIX) :] for name in names if name.startswith(ATTEMPT_PREFIX)]
    return max((int(n) for n in numbers if n.isdigit()), default=0)


_binders: dict[int, tuple[Any, Any]] = {}
_BINDERS_KEPT = 256


def _recorded_params(fn: Callable[..., Any], params: dict[str, Any]) -> dict[str, Any]:
    """The params as ``@track`` records them (defaults filled, signature order).

    The binder reads the signature, which costs more than recording a trivial
    trial, so it is made once per function.
    """
    from .._decorator import _Binder

    kept = _binders.get(id(fn))
    if kept is None or kept[0] is not fn:
        try:
            binder: Any = _Binder(fn)
        except (TypeError, ValueError):  # no signature to read (some builtins)
            binder = None
        if len(_binders) >= _BINDERS_KEPT:
            _binders.clear()  # functions sent by value are new objects each time
        kept = _binders[id(fn)] = (fn, binder)
    if kept[1] is not None:
        try:
            return dict(kept[1]((), params))
        except TypeError:
            pass  # the call itself is wrong: the function raises it when called
    return {k: v for k, v in params.items() if not k.startswith("_")}


def _folder(config: Config, tid: str) -> str:
    storage = config.storage
    return storage.join(storage.root, *tid.split("/"))


def _read(config: Config, folder: str) -> dict[str, Any] | None:
    """The checked record in ``folder``, read through the configured storage (no new
    file system per read); ``None`` when there is none or it cannot be read (logged)."""
    from .._records import check_record, parse_record
    from ..layout import MAX_RECORD

    storage = config.storage
    path = storage.join(folder, YAML_NAME)
    try:
        raw = storage.read(path, MAX_RECORD)
        if raw is None:
            return None
        shown = storage.shown(path)
        return dict(check_record(parse_record(raw, shown), shown))
    except Exception as exc:
        logger.warning("votakvot: could not read %s: %s", storage.shown(path), exc)
        return None


def read_record(config: Config, tid: str) -> dict[str, Any] | None:
    """The record at ``tid`` as it is now; ``None`` when there is none (or it cannot be
    read, which is logged)."""
    return _read(config, _folder(config, tid))


def archive_attempt(
    config: Config, tid: str, next_attempt: int, *, data: dict[str, Any] | None = None
) -> None:
    """Move the attempt recorded at ``tid`` into ``votakvot.attempt-N/``, marked superseded.

    ``data`` is that record when the caller has read it already (saves a read).
    Nested trials (folders below holding their own record) and earlier archived
    attempts stay where they are. A failure is logged, never raised: the new
    attempt runs either way.
    """
    storage = config.storage
    folder = _folder(config, tid)
    if data is None:
        data = _read(config, folder)
    if data is None:
        return
    data = dict(data)
    attempt = data.get("attempt") if isinstance(data.get("attempt"), int) else 1
    dest = storage.join(folder, f"{ATTEMPT_PREFIX}{attempt}")
    try:
        moving: list[str] = []
        for name, is_folder in storage.listdir(folder):
            if name.startswith(ATTEMPT_PREFIX) or name == YAML_NAME:
                continue
            if is_folder:
                inside = storage.find_files(storage.join(folder, name))
                if any(p.rsplit("/", 1)[-1] == YAML_NAME for p in inside):
                    continue  # a nested trial, not this attempt's attachment
                moving.extend(f"{name}/{p}" for p in inside)
            else:
                moving.append(name)
        storage.makedirs(dest)
        for rel in moving:
            _move(
                storage, storage.join(folder, *rel.split("/")), storage.join(dest, *rel.split("/"))
            )
        data["ended_as"] = data.get("state")
        data["state"] = SUPERSEDED
        data["superseded_by"] = next_attempt
        data.setdefault("attempt", attempt)
        text = dump_record(data, tid).encode("utf-8")
        storage.write_atomic(storage.join(dest, YAML_NAME), text)
        # The record itself stays until the new attempt's replaces it: a worker that
        # dies in between leaves it to say which attempt comes next (archiving it
        # again writes the same copy), instead of an id with no record that would
        # start over at attempt 1 over the kept ones.
    except Exception as exc:
        logger.error(
            "votakvot: could not keep attempt %s of trial %r aside (%s: %s); attempt %d "
            "replaces it",
            attempt,
            tid,
            type(exc).__name__,
            redact(str(exc)),
            next_attempt,
        )


def _move(storage: Any, src: str, dst: str) -> None:
    parent = dst.rsplit(storage.sep, 1)[0]
    storage.makedirs(parent)
    if "://" not in storage.to_url(src):
        os.replace(src, dst)
        return
    data = storage.read(src)
    if data is not None:
        storage.write_atomic(dst, data)
        storage.remove(src)


def exit_description(exitcode: int | None) -> tuple[str, str]:
    """``(error type, words)`` for how a worker process ended: a signal or an exit code."""
    if exitcode is None:
        return "WorkerLost", "the worker process was lost"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return name, f"the worker process was killed by {name}"
    return "WorkerExit", f"the worker process exited with code {exitcode}"


def record_ended_elsewhere(
    call: Call,
    state: str,
    error: dict[str, Any],
    runner: dict[str, Any],
    config: Config | None = None,
) -> str | None:
    """Record a trial whose worker is gone, from the client: ``crashed`` or ``timeout``.

    The record the worker left (``running``) is kept and ended; when the worker died
    before writing one, a record is made from the call. Written atomically; a
    failure is logged with the trial's id, since the caller gets the error anyway.

    Returns:
        ``None`` once recorded; the state the worker recorded itself when it ended
        the attempt before it went (``interrupted`` by Ctrl-C, say): that one stays.
    """
    assert call.tid is not None
    tid = call.tid
    config = config or get_config()
    storage = config.storage
    folder = _folder(config, call.tid)
    data = _read(config, folder)
    now = datetime.datetime.now().astimezone()
    runner_meta = (data or {}).get("meta") or {}
    recorded = (data or {}).get("attempt", 1)
    ours = (
        data is not None
        and isinstance(recorded, int)
        and recorded >= call.attempt  # the worker numbers on from earlier attempts
        and isinstance(runner_meta, dict)
        and (runner_meta.get("runner") or {}).get("pid") == runner.get("pid")
    )
    if data is not None and ours and data.get("state") != "running":
        return str(data.get("state"))  # the worker recorded its end before it went
    if data is None or not ours:
        # The worker died before it wrote this attempt's record: one is made from the
        # call, numbered on from what the id holds (a record, or attempts kept aside).
        explicit = (call.origin or {}).get("id") is None
        archived = archived_attempts(config, call.tid) if data is None and explicit else 0
        number = next_attempt(call, data, archived)
        if data is not None and (explicit or call.attempt > 1):
            archive_attempt(config, call.tid, number, data=data)
        call = dataclasses.replace(call, attempt=number)
        data = {
            "votakvot": __version__,
            "id": (call.origin or {}).get("id") or tid.rsplit("/", 1)[-1],
            "tid": tid,
            "state": "running",
            "function": function_name(_target(call.fn)),
            "at": {"created": now},
            "params": {k: v for k, v in call.params.items() if not k.startswith("_")},
            "info": {},
            "attempt": call.attempt,
        }
        source = (call.origin or {}).get("source")
        if source:
            data["source"] = source
        data["meta"] = {**((call.origin or {}).get("meta") or {})}
    at = data.setdefault("at", {})
    at["finished"] = now
    data["state"] = state
    data["error"] = error
    section = data.setdefault("meta", {}).setdefault("runner", {})
    section.update(runner)
    section["attempt"] = data.get("attempt", call.attempt)  # the recorded number, not the client's
    try:
        storage.makedirs(folder)
        storage.write_atomic(storage.join(folder, YAML_NAME), dump_record(data, tid).encode())
    except Exception as exc:
        logger.error(
            "votakvot: could not record trial %r as %s at %s: %s: %s",
            call.tid,
            state,
            redact(storage.to_url(folder)),
            type(exc).__name__,
            redact(str(exc)),
        )
    return None
