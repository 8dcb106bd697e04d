"""``votakvot.run(tid, fn, **params)``: one trial at an explicit id, run at most once."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _children, _source
from ._active import ActiveTrial
from ._config import get_config
from ._naming import function_name
from ._previous_run import clear_previous_run, finished_trial
from .layout import check_tid

if TYPE_CHECKING:
    from .trial import Trial

__all__ = ["run"]


def run(
    tid: str,
    fn: Callable[..., Any],
    /,
    *,
    rerun: bool = False,
    trust_snapshot: bool = False,
    **params: Any,
) -> Trial:
    """Run ``fn(**params)`` as the trial with the explicit id ``tid``.

    ``tid`` is a relative folder under the root (``"sweep/n=10/seed=3"``). A trial
    that already finished there is returned as recorded, without running again,
    unless ``rerun=True``; so a script of ``run`` calls that was killed picks up
    where it stopped; asked with other params than it recorded, it raises
    ``ResumeError`` showing both. Subclasses of ``votakvot.resumable_fn`` resume from their
    last snapshot, once it verifies as written by this user (see ``docs/resumable.md``);
    ``trust_snapshot=True`` skips that check, for a snapshot you know is yours (one of
    an older votakvot). The function's exception is re-raised after it is recorded.
    """
    from .trial import Trial

    tid = check_tid(tid)
    from .resumable import _check_recorded_params, resumable_fn, run_resumable

    if isinstance(fn, type) and issubclass(fn, resumable_fn):
        return run_resumable(tid, fn, params, rerun=rerun, trust_snapshot=trust_snapshot)
    fn = getattr(fn, "__wrapped__", fn) if hasattr(fn, "__votakvot_prefix__") else fn
    call = _run_to_end(fn)
    _children.install()  # once per process: trials followed into pools and children
    config = get_config()
    recorded = {k: v for k, v in params.items() if not k.startswith("_")}
    if not rerun:
        done = finished_trial(config, tid)
        if done is not None:
            # Its result answers these params only: other ones are refused, as a
            # resumable task's are, not answered with the old result.
            _check_recorded_params(tid, done.data, recorded)
            return done
    trial = ActiveTrial(
        tid,
        recorded,
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
