"""``@votakvot.track()``: every call of a function becomes a trial.

Plain functions, methods, ``async def``, class and static methods, generators and
async generators (whose trial spans the iteration) each get a wrapper that binds
the call's arguments to ``params``, starts an :class:`ActiveTrial`, and records the
result or the exception before handing it back unchanged.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import itertools
from collections.abc import Callable
from typing import Any, TypeVar

from . import _children, _source
from ._active import ActiveTrial
from ._config import Capture
from ._naming import default_prefix, function_name
from .layout import new_tid

__all__ = ["track"]

F = TypeVar("F", bound=Callable[..., Any])

RECORD_AFTER = 0.1
"""Seconds a tracked call runs before its ``running`` record is written (by the
flusher thread, which looks every ``_flusher.CHECK_EVERY``: a viewer sees it running
within ~0.15 s). A shorter call writes its record once, when it ends: half the
writes, and nobody could have seen the first one anyway. A call killed (SIGKILL,
``os._exit``, a crash) before then leaves no record; SIGTERM still records it."""


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
        self.recorded = tuple(
            (name, default) for name, default in self.by_keyword or () if not name.startswith("_")
        )
        """``by_keyword`` without the ``_private`` parameters, which are not recorded."""
        positional = itertools.takewhile(
            lambda p: p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, params
        )
        self.positional = tuple(p.name for p in positional)
        """Names the call may give by position, in order (with ``by_keyword`` only)."""

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        # Plain parameters given by position and/or keyword: Signature.bind's answer
        # without its cost (it was the largest Python part of a short tracked call).
        if self.by_keyword is not None and len(args) <= len(self.positional):
            given = dict(zip(self.positional, args)) if args else kwargs
            if args and kwargs:
                if given.keys() & kwargs.keys():
                    given = {}  # a parameter given twice: bind raises the TypeError
                else:
                    given.update(kwargs)
            if given.keys() <= self.names and self.required <= given.keys():
                return {name: given.get(name, default) for name, default in self.recorded}
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
        _children.install()  # once per process: trials followed into pools and children
        prefix = name.strip("/") if name else default_prefix(fn)
        binder = _Binder(fn, first_is_class)
        function = function_name(fn)
        source = _source.describe(fn)

        # A generator's trial spans an iteration the consumer drives, item by item:
        # it is shown running from its first item on, not after RECORD_AFTER.
        generator = inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn)
        record_after = 0.0 if generator else RECORD_AFTER

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
            trial.start(record_after=record_after)
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
        # Runners make the trial of a tracked function themselves, with its settings.
        wrapper.__votakvot_capture__ = capture  # type: ignore[attr-defined,union-attr]
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
