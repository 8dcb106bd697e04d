"""What ``votakvot-ab`` calls: finding the callable, parsing its ``KEY=VALUE`` arguments,
and making one ready-to-call object per worker.

Every mistake a user can make here raises :class:`UsageError` with one line that
names the value and the fix; the command line prints it and exits with status 2.
"""

from __future__ import annotations

import ast
import difflib
import functools
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from ..exceptions import VotakvotError

__all__ = ["Target", "UsageError", "parse_kwargs", "resolve"]


class UsageError(VotakvotError):
    """A mistake on the command line (a name, an argument, an option value)."""


def parse_kwargs(items: list[str]) -> dict[str, Any]:
    """``["url=http://x", "n=3"]`` -> ``{"url": "http://x", "n": 3}``.

    A value is a Python literal when it parses as one (``3``, ``1.5``, ``None``,
    ``'text'``, ``[1, 2]``), otherwise the plain string; nothing is ever evaluated.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep:
            raise UsageError(
                f"argument {item!r} is not KEY=VALUE; pass the callable's arguments "
                "like url=http://example.com n=10"
            )
        if not key.isidentifier():
            raise UsageError(f"argument {item!r}: {key!r} is not a valid Python argument name")
        if key in out:
            raise UsageError(f"argument {key!r} is given twice ({key}={out[key]!r} and {item})")
        try:
            value: Any = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = text
        out[key] = value
    return out


class Target:
    """The callable named on the command line.

    Args:
        spec: ``module.attr`` or ``path/to/file.py:attr`` as the user wrote it.
        obj: what it resolved to.
    """

    def __init__(self, spec: str, obj: Any) -> None:
        self.spec = spec
        self.obj = obj
        self.is_class = isinstance(obj, type)
        """A class is built once per worker, then its instance is called."""

    @property
    def name(self) -> str:
        """``module.qualname`` of the callable, as recorded in the trial's ``function``."""
        module = getattr(self.obj, "__module__", None) or "__main__"
        qualname = getattr(self.obj, "__qualname__", None) or getattr(
            self.obj, "__name__", type(self.obj).__name__
        )
        return f"{module}.{qualname}"

    @property
    def short(self) -> str:
        """A name safe inside a trial id: ``module.attr``, slashes and colons turned to dots."""
        spec = self.spec
        if ":" in spec:
            path, _, attr = spec.rpartition(":")
            spec = f"{os.path.splitext(os.path.basename(path))[0]}.{attr}"
        return spec.replace("/", ".").replace("\\", ".")

    def check_arguments(self, kwargs: dict[str, Any]) -> None:
        """Fail early, with the signature, if the arguments cannot be passed."""
        try:
            sig = inspect.signature(self.obj)
        except (TypeError, ValueError):
            return  # builtins without a signature: let the call tell
        try:
            sig.bind(**kwargs)
        except TypeError as exc:
            what = "constructor" if self.is_class else "callable"
            raise UsageError(
                f"{self.spec}{sig} cannot take {_fmt(kwargs)}: {exc} (the {what}'s "
                "arguments are given as KEY=VALUE after its name)"
            ) from None
        fn = self.obj.__call__ if self.is_class else self.obj
        if inspect.iscoroutinefunction(fn):
            raise UsageError(
                f"{self.spec} is an async function; votakvot-ab calls plain callables "
                "(wrap it: def f(): return asyncio.run(g()))"
            )

    def make(self, kwargs: dict[str, Any]) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
        """One worker's ``(call, close)``: a no-argument callable and what ends it.

        A class is instantiated with ``kwargs`` (once, here); a function gets them
        bound with ``functools.partial`` so the hot loop calls with no arguments.
        """
        if self.is_class:
            instance = self.obj(**kwargs)
            if not callable(instance):
                raise UsageError(
                    f"{self.spec} makes {type(instance).__name__} objects, which are not "
                    "callable; give the class a __call__ method"
                )
            close = getattr(instance, "close", None) or getattr(instance, "__close__", None)
            return instance, close if callable(close) else None
        if kwargs:
            return functools.partial(self.obj, **kwargs), None
        return self.obj, None


def _fmt(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no arguments"


def resolve(spec: str) -> Target:
    """Find the callable ``spec`` names: ``module.attr`` (the current directory is
    searched before ``sys.path``) or ``path/to/file.py:attr``.
    """
    if not spec or spec.startswith("-"):
        raise UsageError(f"expected a callable like my_module.func, got {spec!r}")
    if ":" in spec and (spec.split(":", 1)[0].endswith(".py") or os.sep in spec):
        obj = _from_file(spec)
    else:
        obj = _from_module(spec)
    if not callable(obj):
        shown = repr(obj)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise UsageError(
            f"{spec} is not callable (it is the {type(obj).__name__} {shown}); "
            "name a function or a class"
        )
    return Target(spec, obj)


def _ensure_cwd_on_path() -> None:
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in ("", cwd):
        sys.path.insert(0, cwd)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        raise
    except UsageError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise UsageError(
            f"importing module {name!r} failed: {type(exc).__name__}: {exc}{_where(exc)}"
        ) from None


def _where(exc: BaseException) -> str:
    tb = exc.__traceback__
    frame = None
    while tb is not None:
        frame = tb
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" ({exc.filename}, line {exc.lineno})"
    if frame is None:
        return ""
    return f" ({frame.tb_frame.f_code.co_filename}, line {frame.tb_lineno})"


def _from_module(spec: str) -> Any:
    _ensure_cwd_on_path()
    parts = spec.split(".")
    if not all(p.isidentifier() for p in parts):
        raise UsageError(
            f"{spec!r} is not a callable name; write module.attr (e.g. my_module.get_example) "
            "or path/to/file.py:attr"
        )
    if len(parts) < 2:
        raise UsageError(
            f"{spec!r} names no attribute; write module.attr (e.g. my_module.{spec}) "
            "or path/to/file.py:attr"
        )
    module = None
    split = len(parts)
    for split in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:split])
        try:
            module = _import(name)
            break
        except ModuleNotFoundError as exc:
            missing = exc.name or ""
            if missing != name and not name.startswith(missing + "."):
                # The module exists but imports something that does not.
                raise UsageError(
                    f"importing module {name!r} failed: {exc} (install it or fix the import)"
                ) from None
    if module is None:
        raise UsageError(
            f"no module named {parts[0]!r} for {spec!r} (looked in {os.getcwd()} and "
            "sys.path); run from the folder holding it or pass path/to/file.py:attr"
        )
    return _getattrs(module, parts[split:], ".".join(parts[:split]))


def _from_file(spec: str) -> Any:
    path, _, attr = spec.rpartition(":")
    if not path or not attr:
        raise UsageError(f"{spec!r}: write path/to/file.py:attr")
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise UsageError(f"no file {path!r} (from {spec!r}); check the path")
    name = os.path.splitext(os.path.basename(full))[0]
    folder = os.path.dirname(full)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # so the file's siblings import as usual
    existing = sys.modules.get(name)
    if existing is not None and os.path.abspath(getattr(existing, "__file__", "") or "") == full:
        module = existing
    else:
        module_spec = importlib.util.spec_from_file_location(name, full)
        if module_spec is None or module_spec.loader is None:
            raise UsageError(f"{path!r} cannot be imported as Python; name a .py file")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise UsageError(
                f"importing {path!r} failed: {type(exc).__name__}: {exc}{_where(exc)}"
            ) from None
    parts = attr.split(".")
    if not all(p.isidentifier() for p in parts):
        raise UsageError(f"{attr!r} (from {spec!r}) is not an attribute name")
    return _getattrs(module, parts, path)


def _getattrs(obj: Any, parts: list[str], where: str) -> Any:
    for part in parts:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UsageError(f"{where!r} has no attribute {part!r}{hint}") from None
        where = f"{where}.{part}"
    return obj
