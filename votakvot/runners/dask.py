"""``runner="dask"``: trials run on the workers of a Dask distributed cluster.

Each task carries the client's ``votakvot.init`` settings, ``storage_options``
included; a worker applies them once and writes its trials straight to the root,
which must therefore be reachable from every worker under the same name: an object
store URL (``s3://bucket/runs``) or a folder mounted at the same path everywhere.
Before the first task the runner has the workers write a probe file into the root
and reads it back here, so a root the workers cannot reach, or reach as another
place, fails at once with what differs instead of losing every trial. A worker that
joins later reads a file the client wrote into the root before its first task of
ours; when it does not see it, its tasks fail with :class:`SharedRootError` naming it.

Every call gets its trial id here, before it is sent: when a worker dies and Dask
runs the task again elsewhere, the call lands in the same trial folder (a finished
one is not run twice). Functions travel by cloudpickle, so lambdas and functions of
``__main__`` work; functions of other modules are sent by reference and that module
must be importable on the workers.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import ctypes
import dataclasses
import logging
import math
import os
import pickle
import socket
import threading
import time
import uuid
import warnings
from typing import Any

from .. import _active
from .._config import Config, get_config
from .._records import parse_record
from .._values import dump_record
from ..exceptions import MissingDependencyError, StorageError, WorkerCrashedError
from ..layout import MAX_RECORD, YAML_NAME
from ..resumable import owner_gone
from ..storage import open_storage, redact
from ._attempts import prepare, record_ended_elsewhere, set_worker_name
from ._base import Runner, check_options
from ._call import Call, WorkerSettings, _Failure, apply_settings, execute, worker_settings
from .process import check_shareable_root

__all__ = ["BATCH_SECONDS", "MARKER_PREFIX", "PROBE_PREFIX", "DaskRunner", "SharedRootError"]

logger = logging.getLogger("votakvot")

BATCH_SECONDS = 0.05
"""``map`` sends calls shorter than this to a worker in batches taking about this long:
one Dask task (one scheduler round trip) per batch instead of per call."""
PROBE_PREFIX = ".votakvot-probe-"
"""Name start of the file each worker writes into the root before the first task."""
MARKER_PREFIX = ".votakvot-client-"
"""Name start of the file the client keeps in the root while its runner is open: a
worker that joined after the probe reads it before its first task (removed at close)."""


class SharedRootError(StorageError):
    """The Dask workers cannot write the root, or write another place than the client reads."""


class DaskRunner(Runner):
    """Submits calls as Dask tasks (never deduplicated, even with equal params).

    Args:
        config: the settings trials are recorded with.
        address: the scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
        client: an existing ``distributed.Client`` (of any cluster: dask-jobqueue,
            Kubernetes, ...) to use instead; not closed by votakvot.
        workers: worker processes of the local cluster started when neither
            ``address`` nor ``client`` is given.
        threads_per_worker: threads of each local worker (default 1).

    Raises:
        SharedRootError: the workers cannot write the root, or the file they write
            there is not seen by this process (the root is not really shared).
    """

    name = "dask"

    def __init__(
        self,
        config: Config,
        *,
        address: str | None = None,
        client: Any = None,
        workers: int | None = None,
        threads_per_worker: int = 1,
        **options: Any,
    ) -> None:
        check_options(self.name, options, ("address", "client", "workers", "threads_per_worker"))
        super().__init__(config)
        check_shareable_root(self.name, config)
        try:
            import distributed
        except ImportError as exc:
            raise MissingDependencyError(
                f"runner 'dask' needs the distributed package: pip install distributed ({exc})"
            ) from exc
        self.settings = WorkerSettings(worker_settings(config))  # printed without passwords
        try:
            pickle.dumps(self.settings)
        except Exception as exc:
            raise TypeError(
                f"the settings of votakvot.init cannot be sent to the Dask workers: "
                f"{type(exc).__name__}: {exc}. Meta providers must be picklable: top-level "
                "functions of an importable module, not lambdas or nested functions"
            ) from exc
        self.cluster = None
        self.own_client = client is None
        if client is not None:
            self.client = client
        elif address is not None:
            self.client = distributed.Client(address)
        else:
            self.cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
            self.client = distributed.Client(self.cluster)
        self.token = uuid.uuid4().hex
        self.marker: str | None = None
        try:
            check_shared_root(self.client, self.settings, config)
            self.marker = write_marker(config, self.token)
        except BaseException:
            self.close()
            raise

    # --- submitting ------------------------------------------------------------------

    can_timeout = True

    def submit(self, call: Call, *, timeout: float | None = None) -> concurrent.futures.Future[Any]:
        return self.submit_many([call], timeout=timeout, batch=False)[0]

    def submit_many(
        self, calls: list[Call], *, timeout: float | None = None, batch: bool = True
    ) -> list[concurrent.futures.Future[Any]]:
        """Futures of many calls, batching short ones to save a Dask task per call.

        The first ``2 * threads`` calls go one by one; once one of them is back, the
        time it took sizes the batches of the rest (about ``BATCH_SECONDS`` each, and
        at most a quarter of a thread's share, so the cluster stays balanced). Calls
        with a ``timeout`` always go alone.
        """
        calls = _prepared(calls, self.config)
        group = _Group(self.config, len(calls))
        threads = max(1, sum(self.client.nthreads().values()))
        if not batch or timeout is not None or len(calls) <= 4 * threads:
            return [f for c in calls for f in self._submit_batch([c], group, timeout)[1]]
        first = [self._submit_batch([call], group) for call in calls[: 2 * threads]]
        futures: list[concurrent.futures.Future[Any]] = [f for _, b in first for f in b]
        cancel = _MapCancel(self, [handle for handle, _ in first])
        for future in futures:
            future._votakvot_batch = cancel  # type: ignore[attr-defined]
        try:
            concurrent.futures.wait(
                [b[0] for _, b in first], return_when=concurrent.futures.FIRST_COMPLETED
            )
        except BaseException:
            cancel.cancel()
            raise
        seconds = [h.seconds for h, _ in first if h.seconds is not None]
        rest = calls[len(first) :]
        size = 1
        if seconds:
            size = int(BATCH_SECONDS / max(min(seconds), 1e-6))
            size = max(1, min(size, math.ceil(len(rest) / (4 * threads))))
        for i in range(0, len(rest), size):
            handle, more = self._submit_batch(rest[i : i + size], group)
            cancel.handles.append(handle)
            for future in more:
                future._votakvot_batch = cancel  # type: ignore[attr-defined]
            futures.extend(more)
        return futures

    def _submit_batch(
        self, calls: list[Call], group: _Group, timeout: float | None = None
    ) -> tuple[_Task, list[_Future]]:
        futures = [_Future() for _ in calls]
        handle = _Task(self, calls, futures, group, timeout)
        for future in futures:
            future.handle = handle
        handle.send()
        return handle, futures

    def close(self, wait: bool = True) -> None:
        if self.own_client:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        marker, self.marker = self.marker, None
        if marker is not None:
            try:
                self.config.storage.remove(marker)
            except Exception as exc:
                logger.warning(
                    "votakvot: could not remove %s: %s: %s",
                    self.config.storage.shown(marker),
                    type(exc).__name__,
                    redact(str(exc)),
                )


def _prepared(calls: list[Call], config: Config) -> list[Call]:
    """The calls with their trial ids and provenance fixed here, so a rerun of a task on
    another worker lands in the same trial folder (calls the API prepared stay as are)."""
    todo = [i for i, call in enumerate(calls) if call.origin is None]
    if not todo:
        return calls
    done = prepare([calls[i] for i in todo], "dask", config=config)
    out = list(calls)
    for i, call in zip(todo, done, strict=True):
        out[i] = call
    return out


class _Group:
    """The calls of one ``submit``/``map``: counts failed trial writes, warns once at the end."""

    def __init__(self, config: Config, total: int) -> None:
        self.config = config
        self.left = total
        self.total = total
        self.failed: list[str] = []
        self.lock = threading.Lock()

    def settled(self, n: int, failed: list[str]) -> None:
        with self.lock:
            self.left -= n
            self.failed.extend(failed)
            if self.left > 0 or not self.failed or self.config.strict:
                return
        text = (
            f"votakvot: {len(self.failed)} of {self.total} trials run on the Dask workers "
            f"could not be written completely to {redact(self.config.storage.url)}; the "
            f"first: {self.failed[0]}. The results were returned; see the workers' logs, "
            "or pass init(strict=True) to make this an error"
        )
        logger.warning("%s", text)
        warnings.warn(text, RuntimeWarning, stacklevel=2)


class _Future(concurrent.futures.Future[Any]):
    """A call's future; ``cancel()`` cancels its Dask task and interrupts a running trial."""

    handle: _Task

    def cancel(self) -> bool:
        if not super().cancel():
            return False
        self.set_running_or_notify_cancel()  # wake wait()/as_completed()
        self.handle.cancel()
        return True


class _Task:
    """One Dask task running one or more calls, and the futures it settles."""

    def __init__(
        self,
        runner: DaskRunner,
        calls: list[Call],
        futures: list[_Future],
        group: _Group,
        timeout: float | None = None,
    ) -> None:
        self.runner = runner
        self.timeout = timeout
        self.calls = calls
        self.futures = futures
        self.group = group
        self.tag = uuid.uuid4().hex
        self.task: Any = None
        self.seconds: float | None = None
        self.cancelled = False
        self.resent = 0
        """How often this call was sent again after a worker died while it waited there."""
        self._done = threading.Event()

    def send(self) -> None:
        fn = self.calls[0].fn
        name = getattr(fn, "__name__", "call")
        try:
            self.task = self.runner.client.submit(
                run_calls,
                self.runner.token,
                self.runner.settings,
                self.tag,
                self.calls,
                self.timeout,
                pure=False,
                key=f"votakvot-{name}-{self.tag}",
            )
        except Exception as exc:
            cause = _innermost(exc)
            if "serialize" not in str(exc) and not isinstance(
                cause, (TypeError, pickle.PicklingError)
            ):
                raise
            raise TypeError(
                f"{fn!r} or its params cannot be sent to the Dask workers: "
                f"{type(cause).__name__}: {cause}. Everything a call uses must be picklable "
                "by cloudpickle: no locks, open files or connections among its params, "
                "globals or closure variables"
            ) from exc
        # (The Dask future stays referenced by this object until done, or Dask forgets it.)
        self.task.add_done_callback(self._settle)

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def _settle(self, task: Any) -> None:
        """Copy a finished Dask task's outcome into the futures the user holds."""
        try:
            self._settle_from(task)
        except BaseException as exc:  # never leave a future hanging
            logger.exception("votakvot: settling Dask task %s failed", task.key)
            for future in self.futures:
                _set(future, exc=exc)
        finally:
            self.task = None
            self._done.set()

    def _settle_from(self, task: Any) -> None:
        if self.cancelled or task.status == "cancelled":
            for future in self.futures:
                _set(future, exc=concurrent.futures.CancelledError(f"cancelled: {task.key}"))
            self.group.settled(len(self.futures), [])
            return
        try:
            outcomes, failed, self.seconds = task.result()
        except BaseException as exc:
            if "deserialization of the task graph" in str(exc):
                exc = _scheduler_cannot_import(self.calls[0], exc)
            if _is_killed_worker(exc) and len(self.calls) > 1:
                # One call of the batch killed its worker on every try: run each call
                # as its own task, so only that one fails (finished ones are not rerun).
                for call, future in zip(self.calls, self.futures, strict=True):
                    single = _Task(self.runner, [call], [future], self.group, self.timeout)
                    future.handle = single
                    single.send()
                self.group.settled(0, [])
                return
            if _is_killed_worker(exc):
                call = self.calls[0]
                assert call.tid is not None
                record = _record(self.runner.config, call.tid)
                if (record is None or record.get("state") != "running") and self.resent < 2:
                    # Its worker died running another call (Dask blames every task that
                    # was on it): this call never ran, so it gets another go.
                    again = _Task(self.runner, [call], self.futures, self.group, self.timeout)
                    again.resent = self.resent + 1
                    for future in self.futures:
                        future.handle = again
                    again.send()
                    return
                exc = _crashed(call, exc, self.runner.config, record)
            for future in self.futures:
                _set(future, exc=exc)
            self.group.settled(len(self.futures), [])
            return
        # Warn before the results are out: a map returns when its last future is set.
        self.group.settled(len(self.futures), [bad for bad in failed if bad])
        strict = self.runner.config.strict
        for future, (ok, value), bad in zip(self.futures, outcomes, failed, strict=True):
            if not ok:
                _set(future, exc=value)
            elif bad and strict:
                _set(future, exc=StorageError(f"votakvot (on a Dask worker): {bad}"))
            else:
                _set(future, result=value)

    def cancel(self) -> None:
        """Cancel the task: queued, it never runs; running, its trial ends ``interrupted``."""
        if self.cancelled:
            return
        self.cancelled = True
        _cancel_tasks(self.runner, [self])


class _MapCancel:
    """What ``map`` cancels on Ctrl-C: every task of the map, in one go."""

    def __init__(self, runner: DaskRunner, handles: list[_Task]) -> None:
        self.runner = runner
        self.handles = handles
        self.done = False

    def cancel(self) -> bool:
        if not self.done:
            self.done = True
            futures = [f for handle in self.handles for f in handle.futures]
            # A call sent again after its batch's worker died has a task of its own now.
            current = {id(f.handle): f.handle for f in futures}.values()
            live = [h for h in current if not h.cancelled]
            for handle in live:
                handle.cancelled = True
            _cancel_tasks(self.runner, live)
            for future in futures:
                if concurrent.futures.Future.cancel(future):
                    future.set_running_or_notify_cancel()
        return True


def _cancel_tasks(runner: DaskRunner, handles: list[_Task]) -> None:
    tasks = [h.task for h in handles if h.task is not None]
    if not tasks:
        return
    tags = [h.tag for h in handles]
    try:
        runner.client.cancel(tasks, force=True)
        runner.client.run(interrupt, tags)
    except Exception as exc:
        logger.warning(
            "votakvot: could not cancel %d Dask tasks (%s: %s); they may still run",
            len(tasks),
            type(exc).__name__,
            exc,
        )


def _set(
    future: concurrent.futures.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():
        return  # cancelled by the user meanwhile
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass  # cancelled between the check and the set: the cancel stands


def _scheduler_cannot_import(call: Call, exc: BaseException) -> BaseException:
    """Dask's words for a scheduler without the client's modules, made actionable."""
    module = getattr(call.fn, "__module__", None) or "?"
    error = RuntimeError(
        f"the Dask scheduler could not unpickle the task of {call.fn!r}: the scheduler "
        f"process must import what the workers import, votakvot and {module!r} included "
        f"(install them where the scheduler runs; see docs/parallel.md). Dask said: "
        f"{str(exc).splitlines()[0]}"
    )
    error.__cause__ = exc
    return error


def _is_killed_worker(exc: BaseException) -> bool:
    return type(exc).__name__ == "KilledWorker"


def _crashed(
    call: Call, exc: BaseException, config: Config, record: dict[str, Any] | None
) -> BaseException:
    """Record the call ``crashed`` (every worker that ran it died) and say so to the caller."""
    attempt = record.get("attempt", 1) if record else call.attempt
    if not isinstance(attempt, int):
        attempt = call.attempt
    message = (
        f"every Dask worker that ran trial {call.tid!r} died running it (the last was attempt "
        f"{attempt}; Dask gives a task up after distributed.scheduler.allowed-failures "
        f"deaths): {exc}"
    )
    section = ((record or {}).get("meta") or {}).get("runner")
    record_ended_elsewhere(
        dataclasses.replace(call, attempt=attempt),
        "crashed",
        {"type": "KilledWorker", "message": message},
        dict(section) if isinstance(section, dict) else {"kind": "dask"},
        config,
    )
    error = WorkerCrashedError(message)
    error.__cause__ = exc
    return error


def _record(config: Config, tid: str) -> dict[str, Any] | None:
    """The record at ``tid`` as it is now, or ``None`` (none yet, or unreadable)."""
    storage = config.storage
    path = storage.join(storage.root, *tid.split("/"), YAML_NAME)
    try:
        raw = storage.read(path, MAX_RECORD)
        return None if raw is None else parse_record(raw, storage.shown(path))
    except Exception:
        return None


def _innermost(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or id(nxt) in seen:
            return exc
        seen.add(id(nxt))
        exc = nxt


# --- the probe ----------------------------------------------------------------------


def probe(settings: dict[str, Any], name: str) -> dict[str, Any]:
    """On a worker: write ``name`` into the root; what was written where, or why not."""
    here = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        storage = open_storage(settings["path"], settings.get("storage_options"))
        storage.makedirs(storage.root)
        path = storage.join(storage.root, name)
        storage.write_atomic(path, repr(here).encode())
        return {**here, "wrote": storage.shown(path), "text": repr(here)}
    except Exception as exc:
        return {**here, "error": f"{type(exc).__name__}: {redact(str(exc))}"}


def check_shared_root(client: Any, settings: dict[str, Any], config: Config) -> None:
    """Have the workers write a probe into the root and read it back here.

    Raises:
        SharedRootError: naming the worker and what differs: it cannot write the root
            (unreachable, credentials), or what it wrote is not here (not shared).
    """
    storage = config.storage
    where = redact(storage.url)
    name = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    if client.scheduler_info().get("workers"):
        answers = client.run(_probe_as_worker, settings, name)
    else:  # no worker yet (an adaptive cluster): the first one to come answers
        first = client.submit(_probe_as_worker, settings, name, pure=False).result()
        answers = {"(the first to come)": first}
    try:
        for worker, answer in sorted(answers.items()):
            who = f"Dask worker {worker} (host {answer['host']}, pid {answer['pid']})"
            if "error" in answer:
                raise SharedRootError(
                    f"{who} cannot write trials to {where}: {answer['error'].rstrip('.')}. "
                    "The workers get init()'s storage_options: give them there (key/secret, "
                    "client_kwargs={'endpoint_url': ...}) rather than in this process's "
                    "environment or fsspec config, and make the store reachable from the "
                    "workers"
                )
            path = storage.join(storage.root, f"{name}-{answer['pid']}-{answer['host']}")
            try:
                seen = storage.read(path)
            except Exception as exc:
                raise SharedRootError(
                    f"this process cannot read {storage.shown(path)}, the probe {who} wrote "
                    f"to the root {where}: {type(exc).__name__}: {redact(str(exc))}"
                ) from exc
            if seen is None or seen.decode(errors="replace") != answer["text"]:
                saw = "does not see it" if seen is None else "reads another file there"
                raise SharedRootError(
                    f"the root {where} is not shared with {who}: it wrote {answer['wrote']} "
                    f"but this process {saw}. Every worker must reach the same root under "
                    "the same name: use an object store URL (s3://...) or a folder "
                    "mounted at the same path on every host"
                )
    finally:
        for answer in answers.values():
            if "wrote" in answer:
                path = storage.join(storage.root, f"{name}-{answer['pid']}-{answer['host']}")
                try:
                    storage.remove(path)
                except Exception as exc:
                    logger.warning("votakvot: could not remove the probe %s: %s", path, exc)


def _probe_as_worker(settings: dict[str, Any], name: str) -> dict[str, Any]:
    here = f"{name}-{os.getpid()}-{socket.gethostname()}"
    return probe(settings, here)


def _marker_path(storage: Any, token: str) -> str:
    return storage.join(storage.root, f"{MARKER_PREFIX}{token}")


def write_marker(config: Config, token: str) -> str:
    """Write the file a worker reads before its first task of this client (its path).

    The probe at start covers the workers there then; a worker that joins later (an
    adaptive cluster, a restarted node) checks this file instead, once.
    """
    storage = config.storage
    path = _marker_path(storage, token)
    try:
        storage.makedirs(storage.root)
        storage.write_atomic(path, token.encode())
    except Exception as exc:
        raise SharedRootError(
            f"this process cannot write {storage.shown(path)} into the root "
            f"{redact(storage.url)}: {type(exc).__name__}: {redact(str(exc))}"
        ) from exc
    return path


_root_checked: dict[str, str | None] = {}
"""Client tokens this worker process checked the root for -> ``None`` (it sees the
client's root) or why not (every task of that client fails with it)."""


def _check_root_seen(token: str, settings: dict[str, Any]) -> None:
    """Before this worker's first task of a client: does it see the client's root?

    Raises:
        SharedRootError: naming this worker, when the client's marker is not there (the
            root is another place here) or cannot be read.
    """
    if token in _root_checked:
        problem = _root_checked[token]
    else:
        from .._config import get_config

        storage = get_config().storage
        path = _marker_path(storage, token)
        where = redact(str(settings.get("path")))
        who = (
            f"Dask worker {_worker_address() or '?'} (host {socket.gethostname()}, "
            f"pid {os.getpid()})"
        )
        try:
            seen = storage.read(path)
        except Exception as exc:
            problem = (
                f"{who} cannot read the root {where}: {type(exc).__name__}: {redact(str(exc))}"
            )
        else:
            problem = None
            if seen is None or seen.decode(errors="replace") != token:
                problem = (
                    f"the root {where} is not shared with {who}, which joined after the "
                    f"runner checked the workers: it does not see {storage.shown(path)}, the "
                    "file the client wrote there, so the trials it ran would be lost. Every "
                    "worker must reach the same root under the same name: use an object "
                    "store URL (s3://...) or a folder mounted at the same path on every "
                    "host, or keep this worker out of the cluster"
                )
        with _state_lock:
            _root_checked[token] = problem
    if problem is not None:
        raise SharedRootError(problem)


# --- on the workers -----------------------------------------------------------------

_collected: contextvars.ContextVar[list[_active.ActiveTrial] | None] = contextvars.ContextVar(
    "votakvot_dask_trials", default=None
)
_running: dict[str, set[int]] = {}
"""Tags of the tasks running in this worker -> the threads running them."""
_cancelled: set[str] = set()
_state_lock = threading.Lock()


class _Collect:
    """A trial hook noting the trials a task starts, to report their failed writes."""

    def on_start(self, trial: _active.ActiveTrial) -> None:
        trials = _collected.get()
        if trials is not None:
            trials.append(trial)

    def on_end(self, trial: _active.ActiveTrial) -> None:
        pass


class _WriteErrors(logging.Handler):
    """Keeps the last write error logged for each trial id, so the client can be told."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_tid: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if not str(record.msg).startswith("votakvot could not") or not record.args:
            return
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) >= 2 and isinstance(args[1], str):
            if len(self.by_tid) > 10_000:
                self.by_tid.clear()
            self.by_tid[args[1]] = record.getMessage().split(". The call goes on", 1)[0]


_errors: _WriteErrors | None = None


def _install() -> _WriteErrors:
    global _errors
    with _state_lock:
        if _errors is None:
            _active.hooks.append(_Collect())
            _errors = _WriteErrors()
            logger.addHandler(_errors)
        return _errors


def run_calls(
    token: str, settings: dict[str, Any], tag: str, calls: list[Call], timeout: float | None
) -> tuple[list[tuple[bool, Any]], list[str | None], float]:
    """What a Dask task runs on a worker: the calls, one trial each, in a row.

    Returns each call's ``(ok, result or exception)``, for each call the first write
    that failed in its trials (``None`` if all were written), and the seconds taken.
    A cancel from the client (:func:`interrupt`) stops the running call ``interrupted``
    and the rest of the batch; a call past ``timeout`` seconds is stopped and recorded
    ``timeout``. A call whose trial was left ``running`` by a worker that died runs
    as the next attempt of that trial (see :func:`_next_attempt`).
    """
    errors = _install()
    apply_settings(settings, token)
    _check_root_seen(token, settings)
    set_worker_name(_worker_address())
    rerun = _ran_before(calls)
    t0 = time.perf_counter()
    ident = threading.get_ident()
    with _state_lock:
        _running.setdefault(tag, set()).add(ident)
    handoff = owner_gone.set(_owner_gone)
    out: list[tuple[bool, Any]] = []
    failed: list[str | None] = []
    try:
        for call in calls:
            trials: list[_active.ActiveTrial] = []
            reset = _collected.set(trials)
            try:
                if tag in _cancelled:
                    raise concurrent.futures.CancelledError(f"cancelled before {call.tid!r} ran")
                tid = call.tid
                read = rerun and tid is not None and call.origin is not None
                record = _record(get_config(), tid) if read and tid is not None else None
                call, recorded = _next_attempt(call, record) if read else (call, None)
                if recorded is not None:
                    out.append((True, recorded.get("result")))
                elif timeout is None:
                    out.append((True, execute(call, record, read=read)))
                else:
                    out.append((True, _with_timeout(call, timeout, ident, record, read)))
            except Exception as exc:
                out.append((False, _Failure(exc)))
            finally:
                _collected.reset(reset)
            bad = [t for t in trials if getattr(t, "_write_failed", False)]
            failed.append(
                errors.by_tid.pop(bad[0].tid, f"trial {bad[0].tid!r}: a write failed")
                if bad
                else None
            )
    finally:
        owner_gone.reset(handoff)
        with _state_lock:
            _running.pop(tag, None)
            _cancelled.discard(tag)
    return out, failed, time.perf_counter() - t0


def interrupt(tags: list[str]) -> int:
    """On a worker: stop the tasks ``tags`` that run here (their trials end ``interrupted``).

    Dask cannot stop a running task; this raises ``CancelledError`` in its thread at
    the next Python instruction (a call blocked in C code stops when it returns).
    """
    hit = 0
    with _state_lock:
        for tag in tags:
            idents = _running.get(tag)
            if not idents:
                continue
            _cancelled.add(tag)
            for ident in idents:
                hit += ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(concurrent.futures.CancelledError)
                )
    return hit


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except Exception:
        return None  # not in a Dask worker (run_calls called directly)


def _is_new(call: Call) -> bool:
    """A call at a fresh id on its first attempt, as the client sent it first."""
    origin = call.origin or {}
    return origin.get("id") is not None and call.attempt == 1 and not origin.get("again")


def _ran_before(calls: list[Call]) -> bool:
    """Whether this task may have run before (Dask runs a task again when its worker
    died), so each call's trial must be looked up (:func:`_next_attempt`).

    Calls at fresh ids have no trial until they run, and each writes its record as it
    begins, before the next call of the task: when the first has none, neither has
    any, and one read stands for the whole task instead of one per call.
    """
    from .._config import get_config

    if not calls or not all(_is_new(call) for call in calls):
        return True
    tid = calls[0].tid
    return tid is None or _record(get_config(), tid) is not None


def _next_attempt(call: Call, record: dict[str, Any] | None) -> tuple[Call, dict[str, Any] | None]:
    """The call as this run should make it, or the record of its finished trial.

    Dask runs a task again when the worker running it died. Then the trial is there
    already (``record``, read at the call's id), from this very call (the uuid given
    at submit) or at an explicit id left ``running``: a ``done`` one is returned as
    recorded (never run twice), any other is superseded by the next attempt.
    """
    if call.origin is None:
        return call, None
    if record is None:
        return call, None
    own = call.origin.get("id") is not None and record.get("id") == call.origin["id"]
    if not own and record.get("state") != "running":
        return call, None  # an earlier run of an explicit id: run_attempt decides
    if own and record.get("state") == "done":
        return call, record
    attempt = record.get("attempt", 1)
    if not isinstance(attempt, int) or attempt < call.attempt:
        return call, None
    logger.warning(
        "votakvot: trial %r was left %s by attempt %d (its worker died); running attempt %d",
        call.tid,
        record.get("state"),
        attempt,
        attempt + 1,
    )
    return dataclasses.replace(call, attempt=attempt + 1, rerun=True), None


class TrialTimeout(TimeoutError):
    """Raised into a call that ran past ``timeout=``."""


def _with_timeout(
    call: Call, timeout: float, ident: int, record: Any = None, read: bool = False
) -> Any:
    """``execute(call)``, stopped with :class:`TrialTimeout` after ``timeout`` seconds and
    recorded ``timeout`` (not ``failed``)."""
    fired = threading.Event()
    finished = threading.Event()

    def fire() -> None:
        with _state_lock:
            if finished.is_set():
                return
            fired.set()
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(TrialTimeout)
            )

    timer = threading.Timer(timeout, fire)
    timer.daemon = True
    timer.start()
    try:
        try:
            return execute(call, record, read=read)
        finally:
            with _state_lock:
                finished.set()
            timer.cancel()
    except TrialTimeout:
        message = f"trial {call.tid!r} ran longer than timeout={timeout:g} s and was stopped"
        _mark_timeout(call, message)
        raise TrialTimeout(message) from None
    except BaseException:
        if fired.is_set():
            _mark_timeout(call, f"trial {call.tid!r} ran longer than timeout={timeout:g} s")
        raise


def _mark_timeout(call: Call, message: str) -> None:
    """The trial ended by a timeout: ``state: timeout`` rather than ``failed``."""
    from .._config import get_config

    config = get_config()
    assert call.tid is not None
    record = _record(config, call.tid)
    if record is None:
        return
    record["state"] = "timeout"
    record["error"] = {"type": "TimeoutError", "message": message}
    storage = config.storage
    path = storage.join(storage.root, *call.tid.split("/"), YAML_NAME)
    try:
        storage.write_atomic(path, dump_record(record, call.tid).encode("utf-8"))
    except Exception as exc:
        logger.error(
            "votakvot: could not record trial %r as timeout at %s: %s: %s",
            call.tid,
            storage.shown(path),
            type(exc).__name__,
            redact(str(exc)),
        )


def _owner_gone(record: dict[str, Any]) -> bool:
    """Whether the Dask worker that left this record ``running`` has left the cluster
    (killed, stopped, its host lost): the scheduler knows, no need to wait for staleness."""
    runner = (record.get("meta") or {}).get("runner") or {}
    address = runner.get("worker") if isinstance(runner, dict) else None
    if not isinstance(address, str) or runner.get("kind") != "dask":
        return False
    try:
        from distributed import get_client, get_worker

        if address == get_worker().address:
            return False
        live = get_client().scheduler_info(n_workers=-1).get("workers") or {}
    except Exception as exc:
        logger.warning(
            "votakvot: could not ask the Dask scheduler whether worker %s is gone (%s: %s)",
            address,
            type(exc).__name__,
            exc,
        )
        return False
    return address not in live
