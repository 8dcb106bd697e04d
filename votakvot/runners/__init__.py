"""Run many trials at once without executor plumbing.

``submit`` runs one call as a trial and returns a ``concurrent.futures.Future``
of its result; ``map`` and ``sweep`` run many and return their results in order.
Where the trials run is chosen once, by ``votakvot.init(runner=...)``:

- ``"inplace"`` (default): in the calling thread, one after another;
- ``"thread"``: a thread pool of this process (``workers=``), for I/O-bound calls;
- ``"process"``: a local process pool (``workers=``, ``mp_context=``), for CPU-bound
  calls the GIL would serialize;
- ``"dask"``: a Dask distributed cluster (``address="tcp://..."`` or ``client=``;
  a local cluster of ``workers=`` processes when neither is given).

Every call becomes exactly one trial written where ``init(path=...)`` points,
by whichever process runs it. The pool or cluster is started at the first
submit and kept until ``init`` is called again, ``shutdown()`` is called, or the
program exits.

``retries=`` runs a failed call again as the same trial (``attempt: 2``, the
earlier attempt kept aside as ``superseded``); ``timeout=`` (process and Dask
runners) stops a call that runs too long and records it ``timeout``; ``imap`` and
``as_completed`` hand results over as they finish; ``map``/``sweep`` show a
progress bar when stderr is a terminal. Both ``retries`` and ``timeout`` may also
be given once to ``votakvot.init``.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import inspect
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .._config import Config, get_config
from ._base import InplaceRunner, Runner, ThreadRunner
from ._call import Call

__all__ = [
    "RUNNERS",
    "as_completed",
    "get_runner",
    "grid",
    "imap",
    "map",
    "shutdown",
    "submit",
    "submit_run",
    "sweep",
]

TidTemplate = str | Callable[[dict[str, Any]], str] | None


def _process_runner(config: Config, **options: Any) -> Runner:
    from .process import ProcessRunner

    return ProcessRunner(config, **options)


def _dask_runner(config: Config, **options: Any) -> Runner:
    from .dask import DaskRunner

    return DaskRunner(config, **options)


RUNNERS: dict[str, Callable[..., Runner]] = {
    "inplace": InplaceRunner,
    "thread": ThreadRunner,
    "process": _process_runner,
    "dask": _dask_runner,
}
"""Runner names accepted by ``votakvot.init(runner=...)``."""

_lock = threading.Lock()
_active: tuple[Config, Runner] | None = None


def _forget_after_fork() -> None:
    # A forked child must not use (or close) its parent's pool.
    global _active, _lock
    _active = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def get_runner() -> Runner:
    """The runner for the current ``votakvot.init`` settings, started on first use."""
    global _active
    config = get_config()
    with _lock:
        if _active is not None and _active[0] is config:
            return _active[1]
        factory = RUNNERS.get(config.runner)
        if factory is None:
            raise ValueError(
                f"unknown runner {config.runner!r} in votakvot.init(runner=...); "
                f"use one of: {', '.join(RUNNERS)}"
            )
        old, _active = _active, None
        if old is not None:
            old[1].close(wait=True)  # init() was called again: the old settings' pool goes
        options = dict(config.runner_options)
        policy = {k: options.pop(k) for k in _POLICY if k in options}
        _check_policy(policy.get("retries"), policy.get("timeout"), "votakvot.init")
        runner = factory(config, **options)
        runner.policy = policy
        _active = (config, runner)
        return runner


_POLICY = ("retries", "timeout")
"""Options of ``init`` that every runner takes: defaults of ``map``'s arguments."""


def _check_policy(retries: Any, timeout: Any, where: str) -> None:
    if retries is not None and (not isinstance(retries, int) or retries < 0):
        raise ValueError(f"{where}: retries must be an int >= 0 (got {retries!r})")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError(f"{where}: timeout must be a number of seconds > 0 (got {timeout!r})")


def _start(
    runner: Runner,
    calls: list[Call],
    retries: int | None,
    timeout: float | None,
    batch: bool = True,
) -> list[concurrent.futures.Future[Any]]:
    """Prepare the calls for ``runner`` (ids, provenance, retries) and submit them."""
    _check_policy(retries, timeout, "votakvot.map")
    policy = runner.policy
    retries = policy.get("retries", 0) if retries is None else retries
    timeout = policy.get("timeout") if timeout is None else timeout
    if timeout is not None and not runner.can_timeout:
        raise ValueError(
            f"timeout={timeout!r}: the {runner.name!r} runner cannot stop a call that runs "
            "too long (a thread cannot be killed); use runner='process', whose worker "
            "processes can be"
        )
    if runner.name not in ("inplace", "thread") or retries or _explicit(calls):
        # (An explicit id may hold earlier attempts: the attempts path numbers on from them.)
        from ._attempts import prepare

        calls = prepare(calls, runner.name, retries=retries or 0, config=runner.config)
    if timeout is None:
        if not batch:
            return [runner.submit(call) for call in calls]
        return runner.submit_many(calls)
    if not batch:
        return [runner.submit(call, timeout=timeout) for call in calls]  # type: ignore[call-arg]
    return runner.submit_many(calls, timeout=timeout)  # type: ignore[call-arg]


def _explicit(calls: list[Call]) -> bool:
    return any(call.tid is not None for call in calls)


def shutdown(wait: bool = True) -> None:
    """Stop the current runner's pool or cluster connection (the next submit starts anew)."""
    global _active
    with _lock:
        old, _active = _active, None
    if old is not None:
        old[1].close(wait=wait)


atexit.register(shutdown)


def _check_async(fn: Any, tid: str | None) -> None:
    if tid is not None and inspect.iscoroutinefunction(getattr(fn, "__wrapped__", fn)):
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} is async: trials with an explicit id run "
            "plain functions; submit it without tid= to have it run with asyncio.run"
        )


def submit(fn: Callable[..., Any], /, **params: Any) -> concurrent.futures.Future[Any]:
    """Run ``fn(**params)`` as a new trial on the configured runner.

    Returns a ``concurrent.futures.Future`` whose ``result()`` is what ``fn``
    returned, or raises what it raised (after the trial recorded it). A function
    decorated with ``@votakvot.track`` makes its one trial as usual; any other
    function is tracked as ``track()`` would; a ``resumable_fn`` subclass runs as a
    resumable trial with a fresh id.
    """
    return _start(get_runner(), [Call(fn, params)], None, None, batch=False)[0]


def submit_run(
    tid: str,
    fn: Callable[..., Any],
    /,
    *,
    rerun: bool = False,
    trust_snapshot: bool = False,
    **params: Any,
) -> concurrent.futures.Future[Any]:
    """``votakvot.run(tid, fn, **params)`` on the configured runner, as a future of the result.

    A trial that already finished under ``tid`` gives its recorded result without
    running again (unless ``rerun=True``); a resumable one resumes from its snapshot
    once it verifies as this user's (``trust_snapshot=True`` skips that check, as in
    ``votakvot.run``).
    """
    _check_async(fn, tid)
    call = Call(fn, params, tid, rerun, trust_snapshot=trust_snapshot)
    return _start(get_runner(), [call], None, None, batch=False)[0]


def _tid_for(template: TidTemplate, params: dict[str, Any]) -> str | None:
    if template is None:
        return None
    if callable(template):
        return str(template(params))
    try:
        return template.format(**params)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"tid template {template!r} names {exc} which is not among the params "
            f"{sorted(params)}; use only {{name}} fields of the params"
        ) from None


def map(
    fn: Callable[..., Any],
    params: Iterable[Mapping[str, Any]],
    /,
    *,
    tid: TidTemplate = None,
    rerun: bool = False,
    trust_snapshot: bool = False,
    return_exceptions: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    progress: bool | None = None,
) -> list[Any]:
    """Run ``fn(**p)`` for each ``p`` in ``params`` as its own trial; results in order.

    Args:
        fn: the function (plain, ``@track``-ed, or a ``resumable_fn`` subclass).
        params: one mapping of keyword arguments per trial.
        tid: give each trial an explicit id, so a rerun of the same ``map``
            skips the trials that finished (and resumes resumable ones): a
            template filled from the params (``"sweep/n={n}/seed={seed}"``), or a
            function of the params dict returning the id.
        rerun: with ``tid``, run trials again even if they finished.
        trust_snapshot: with ``tid``, resume resumable trials from their snapshots
            without checking where they came from, as ``votakvot.run(...,
            trust_snapshot=True)``: only for snapshots you know are yours.
        return_exceptions: put a failed call's exception in its place in the list
            instead of raising it.
        retries: run a call that raised, or whose worker died, again up to this
            many times, as the same trial (default: ``init(retries=...)``, else 0).
        timeout: seconds a call may run (process and Dask runners); past it the
            worker is stopped, the trial recorded ``timeout`` and its future raises
            ``TimeoutError`` (default: ``init(timeout=...)``, else none).
        progress: show a progress bar on stderr (default: when it is a terminal).

    Raises:
        The first failed call's exception (in input order), once every trial ended,
        unless ``return_exceptions`` is true.
    """
    futures = _map_futures(fn, params, tid, rerun, retries, timeout, trust_snapshot)
    return _gather(futures, return_exceptions, _bar(progress, len(futures), fn))


def _map_futures(
    fn: Callable[..., Any],
    params: Iterable[Mapping[str, Any]],
    tid: TidTemplate,
    rerun: bool,
    retries: int | None,
    timeout: float | None,
    trust_snapshot: bool = False,
) -> list[concurrent.futures.Future[Any]]:
    runner = get_runner()
    calls = []
    for p in params:
        kwargs = dict(p)
        calls.append(Call(fn, kwargs, _tid_for(tid, kwargs), rerun, trust_snapshot=trust_snapshot))
    if tid is not None:
        _check_async(fn, "")
        seen: dict[str | None, int] = {}
        for i, call in enumerate(calls):
            if call.tid in seen:
                raise ValueError(
                    f"params #{seen[call.tid]} and #{i} both get the trial id {call.tid!r}; "
                    "make the tid template name the params that differ"
                )
            seen[call.tid] = i
    return _start(runner, calls, retries, timeout)


def _bar(progress: bool | None, total: int, fn: Any) -> Any:
    from ._progress import Progress, wanted

    if not total or not wanted(progress):
        return None
    return Progress(total, str(getattr(fn, "__name__", "map")))


def _cancel(futures: Iterable[concurrent.futures.Future[Any]], running: bool = False) -> None:
    """Cancel the calls not started; with ``running`` (Ctrl-C), interrupt the running
    ones too where the runner can (process workers), so their trials end ``interrupted``."""
    for future in futures:
        getattr(future, "_votakvot_batch", future).cancel()
        interrupt = getattr(future, "_votakvot_interrupt", None)
        if running and interrupt is not None:
            interrupt()


def _gather(
    futures: list[concurrent.futures.Future[Any]], return_exceptions: bool, bar: Any = None
) -> list[Any]:
    try:
        if bar is None:
            concurrent.futures.wait(futures)
        else:
            for future in concurrent.futures.as_completed(futures):
                bar.update(failed=future.cancelled() or future.exception() is not None)
    except BaseException as stop:
        _cancel(futures, running=isinstance(stop, KeyboardInterrupt))
        raise
    finally:
        if bar is not None:
            bar.close()
    results: list[Any] = []
    for future in futures:
        exc = future.exception()
        if exc is None:
            results.append(future.result())
        elif return_exceptions:
            results.append(exc)
        else:
            raise exc
    return results


def imap(
    fn: Callable[..., Any],
    params: Iterable[Mapping[str, Any]],
    /,
    *,
    tid: TidTemplate = None,
    rerun: bool = False,
    trust_snapshot: bool = False,
    return_exceptions: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
) -> Iterator[Any]:
    """:func:`map`, with each result handed over as soon as it and those before it are done.

    All calls are submitted at once, before the first result. A failed call's
    exception is raised when its turn comes (or yielded, with
    ``return_exceptions``); leaving the loop early cancels the calls not started.
    """
    futures = _map_futures(fn, params, tid, rerun, retries, timeout, trust_snapshot)
    return _in_order(futures, return_exceptions)


def _in_order(
    futures: list[concurrent.futures.Future[Any]], return_exceptions: bool
) -> Iterator[Any]:
    try:
        for future in futures:
            exc = future.exception()  # waits for this one
            if exc is None:
                yield future.result()
            elif return_exceptions:
                yield exc
            else:
                raise exc
    except KeyboardInterrupt:
        _cancel(futures, running=True)
        raise
    finally:
        _cancel(futures)  # the loop was left: what has not started never will


def as_completed(
    fn: Callable[..., Any],
    params: Iterable[Mapping[str, Any]],
    /,
    *,
    tid: TidTemplate = None,
    rerun: bool = False,
    trust_snapshot: bool = False,
    return_exceptions: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
) -> Iterator[tuple[dict[str, Any], Any]]:
    """``(params, result)`` of each call of :func:`map` in the order the calls finish.

    A failed call's exception is raised when it finishes (or is the result,
    with ``return_exceptions``); leaving the loop early cancels the calls not started.
    """
    given = [dict(p) for p in params]
    futures = _map_futures(fn, given, tid, rerun, retries, timeout, trust_snapshot)
    return _as_they_finish(futures, given, return_exceptions)


def _as_they_finish(
    futures: list[concurrent.futures.Future[Any]],
    params: list[dict[str, Any]],
    return_exceptions: bool,
) -> Iterator[tuple[dict[str, Any], Any]]:
    index = {id(f): i for i, f in enumerate(futures)}
    try:
        for future in concurrent.futures.as_completed(futures):
            p = params[index[id(future)]]
            exc = future.exception()
            if exc is None:
                yield p, future.result()
            elif return_exceptions:
                yield p, exc
            else:
                raise exc
    except KeyboardInterrupt:
        _cancel(futures, running=True)
        raise
    finally:
        _cancel(futures)


def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Every combination of the given choices, the last name varying fastest.

    ``grid(n=[10, 100], seed=range(2))`` gives
    ``[{n: 10, seed: 0}, {n: 10, seed: 1}, {n: 100, seed: 0}, {n: 100, seed: 1}]``.
    """
    choices = []
    for name, values in axes.items():
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
            raise TypeError(
                f"{name}={values!r}: each grid value is a list of choices; "
                f"for one fixed value write {name}=[{values!r}]"
            )
        choices.append(list(values))
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*choices)]


def sweep(
    fn: Callable[..., Any],
    /,
    *,
    tid: TidTemplate = None,
    rerun: bool = False,
    trust_snapshot: bool = False,
    return_exceptions: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    progress: bool | None = None,
    **axes: Iterable[Any],
) -> list[Any]:
    """``map`` over every combination of the choices given per param (see :func:`grid`).

    ``votakvot.sweep(train, lr=[0.1, 0.01], seed=range(3))`` runs six trials and
    returns their results in the order of ``grid(lr=..., seed=...)``. ``tid``,
    ``rerun``, ``trust_snapshot``, ``return_exceptions``, ``retries``, ``timeout``
    and ``progress`` are as for :func:`map`, so params cannot be named like them.
    """
    return map(
        fn,
        grid(**axes),
        tid=tid,
        rerun=rerun,
        trust_snapshot=trust_snapshot,
        return_exceptions=return_exceptions,
        retries=retries,
        timeout=timeout,
        progress=progress,
    )
