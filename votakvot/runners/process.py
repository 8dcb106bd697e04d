"""``runner="process"``: a pool of local worker processes, for CPU-bound trials.

Each worker calls ``votakvot.init`` once with the client's settings, then writes
its trials straight to the root. Functions and params travel by pickle: the
function must be importable (defined at the top level of a module), not a lambda
or a function nested in another.
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import multiprocessing
import os
import pickle
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from .._config import Config
from ._base import Runner, check_options
from ._call import Call, apply_settings, execute, execute_many, worker_settings

BATCH_SECONDS = 0.02
"""``map`` sends calls shorter than this to a worker in batches taking about this long:
one round trip per batch instead of per call. Longer calls go one by one."""

__all__ = ["ProcessRunner", "check_shareable_root", "not_picklable"]


def check_shareable_root(runner: str, config: Config) -> None:
    if config.storage.url.startswith("memory://"):
        raise ValueError(
            f"runner {runner!r} cannot write trials to {config.storage.url!r}: memory:// "
            "lives inside one process, so the workers' trials would be lost. Use a local "
            "folder or a shared fsspec URL (s3://..., sftp://...) in votakvot.init(path=...)"
        )


def not_picklable(what: str, value: Any, runner: str, exc: BaseException) -> TypeError:
    return TypeError(
        f"{what} cannot be sent to the {runner!r} runner's workers: "
        f"{type(exc).__name__}: {exc}. Workers receive functions by reference, so define "
        "the function at the top level of an importable module (not a lambda, nor a "
        "function inside another function), or use runner='inplace' or 'thread'"
    )


class ProcessRunner(Runner):
    """A ``ProcessPoolExecutor`` whose workers record trials with the client's settings.

    Args:
        config: the settings trials are recorded with.
        workers: worker processes (default: the number of CPUs).
        mp_context: ``"fork"``, ``"spawn"`` or ``"forkserver"`` (default: the
            platform's default start method).
        max_tasks_per_child: replace a worker after this many trials.
    """

    name = "process"

    def __init__(
        self,
        config: Config,
        *,
        workers: int | None = None,
        mp_context: str | None = None,
        max_tasks_per_child: int | None = None,
        **options: Any,
    ) -> None:
        check_options(self.name, options, ("workers", "mp_context", "max_tasks_per_child"))
        super().__init__(config)
        check_shareable_root(self.name, config)
        if workers is not None and workers < 1:
            raise ValueError(f"runner 'process': workers must be >= 1 (got {workers!r})")
        self.context = multiprocessing.get_context(mp_context)
        self.settings = worker_settings(config)
        if self.context.get_start_method() != "fork":
            try:
                pickle.dumps(self.settings)
            except Exception as exc:
                raise TypeError(
                    f"the settings of votakvot.init cannot be sent to {mp_context or 'spawned'} "
                    f"worker processes: {type(exc).__name__}: {exc}. Meta providers must be "
                    "top-level functions (not lambdas) for this start method; or pass "
                    "mp_context='fork'"
                ) from exc
        self.workers = workers or os.cpu_count() or 1
        self.max_tasks_per_child = max_tasks_per_child
        self._lock = threading.Lock()
        self._checked: dict[int, Any] = {}
        self.pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        kwargs: dict[str, Any] = {}
        if self.max_tasks_per_child is not None:
            kwargs["max_tasks_per_child"] = self.max_tasks_per_child
        return concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self.context,
            initializer=apply_settings,
            initargs=(self.settings,),
            **kwargs,
        )

    def _check_function(self, fn: Any) -> None:
        """Fail at submit, naming the function, rather than later in a feeder thread."""
        if self._checked.get(id(fn)) is fn:
            return
        try:
            pickle.dumps(fn)
        except Exception as exc:
            raise not_picklable(f"function {fn!r}", fn, self.name, exc) from exc
        self._checked[id(fn)] = fn

    def _pool_submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        with self._lock:
            try:
                return self.pool.submit(fn, *args)
            except BrokenProcessPool:
                # A worker died (killed, out of memory): its trials failed; start a new pool.
                self.pool.shutdown(wait=False, cancel_futures=False)
                self.pool = self._new_pool()
                return self.pool.submit(fn, *args)

    def _check_params(self, call: Call) -> None:
        try:
            pickle.dumps(call.params)
        except Exception as exc:
            bad = [k for k, v in call.params.items() if not _picklable(v)]
            raise TypeError(
                f"params {', '.join(map(repr, bad)) or '?'} of {call.fn!r} cannot be sent to "
                f"the 'process' runner's workers: {type(exc).__name__}: {exc}. Pass values "
                "pickle can copy (no locks, open files or connections), or use runner='thread'"
            ) from exc

    def submit(self, call: Call) -> concurrent.futures.Future[Any]:
        self._check_function(call.fn)
        self._check_params(call)
        return self._pool_submit(execute, call)

    def submit_many(self, calls: list[Call]) -> list[concurrent.futures.Future[Any]]:
        """Futures of many calls, batching short ones to save a round trip per call.

        The first ``2 * workers`` calls go one by one; once one of them is back, the
        time it took sizes the batches of the rest (about ``BATCH_SECONDS`` each, and
        at most a quarter of a worker's share, so the pool stays balanced).
        """
        if len(calls) <= 4 * self.workers:
            return [self.submit(call) for call in calls]
        for fn in {id(call.fn): call.fn for call in calls}.values():
            self._check_function(fn)
        for call in calls:
            self._check_params(call)
        probes = [self._submit_batch(calls[i : i + 1]) for i in range(2 * self.workers)]
        futures = [f for _, batch in probes for f in batch]
        done, _ = concurrent.futures.wait(
            [chunk for chunk, _ in probes], return_when=concurrent.futures.FIRST_COMPLETED
        )
        timings = [c.result()[1] for c in done if not c.cancelled() and c.exception() is None]
        rest = calls[len(probes) :]
        size = 1
        if timings:
            per_call = max(min(timings), 1e-6)
            size = int(BATCH_SECONDS / per_call)
            size = max(1, min(size, math.ceil(len(rest) / (4 * self.workers))))
        for i in range(0, len(rest), size):
            futures.extend(self._submit_batch(rest[i : i + size])[1])
        return futures

    def _submit_batch(
        self, calls: list[Call]
    ) -> tuple[concurrent.futures.Future[Any], list[concurrent.futures.Future[Any]]]:
        chunk = self._pool_submit(execute_many, calls)
        futures: list[concurrent.futures.Future[Any]] = []
        for _ in calls:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_running_or_notify_cancel()
            future._votakvot_batch = chunk  # type: ignore[attr-defined] # to cancel it
            futures.append(future)
        chunk.add_done_callback(functools.partial(_settle_batch, futures))
        return chunk, futures

    def close(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


def _picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _settle_batch(futures: list[concurrent.futures.Future[Any]], chunk: Any) -> None:
    """Hand each call of a finished batch its own result or exception."""
    if chunk.cancelled():
        for future in futures:
            future.set_exception(concurrent.futures.CancelledError("the batch was cancelled"))
        return
    exc = chunk.exception()
    if exc is not None:
        for future in futures:
            future.set_exception(exc)
        return
    outcomes, _ = chunk.result()
    for future, (ok, value) in zip(futures, outcomes, strict=True):
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
