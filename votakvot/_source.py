"""What code a trial ran: the tracked function's file, line and a hash of its code.

Git cannot tell two trials apart when the function was defined in a notebook cell,
redefined in the same process, or run from a file with uncommitted edits; this
section can. ``describe`` runs once per decoration (and once per ``votakvot.run``),
so it may read the source, but it never raises: a callable it cannot describe gets
less information, or none.
"""

from __future__ import annotations

import functools
import linecache
import logging
import os
import re
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

from . import _notebook

__all__ = ["describe"]

try:  # CPython's own sha256, not hashlib's: that loads OpenSSL, ~4 MB for one hash
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found]  # 3.12+
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found, no-redef]
    except ImportError:  # pragma: no cover - other interpreters
        from hashlib import sha256 as _sha256  # type: ignore[assignment]

logger = logging.getLogger("votakvot")

_MAX_DEPTH = 8
"""How many wrappers (decorators, partials, bound methods) are unwrapped at most."""


def describe(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """The ``source`` section of a record for ``fn``, or ``None`` when nothing is known.

    ``{file, line, hash, hash_of}``: ``file`` is relative to the git top-level
    when the file is in a work tree, else as Python knows it (absolute, or a
    notebook's ``<ipython-input-...>``); ``hash`` is 16 hex digits of a sha256 of
    the source text *and* of the compiled code (constants, names, bytecode; not
    line numbers), so editing the file after importing it can never make two
    different codes look the same; ``hash_of`` is ``text-and-code``, or ``code``
    when no source text is available (``exec`` of a string).
    """
    try:
        return _describe(fn)
    except Exception as exc:  # a describer bug must never stop the user's call
        logger.warning(
            "votakvot: could not describe the source of %r (%s: %s); its trials have no "
            "'source' section",
            fn,
            type(exc).__name__,
            exc,
        )
        return None


def _target(fn: Any) -> Any:
    """The function or class whose code actually runs when ``fn`` is called."""
    for _ in range(_MAX_DEPTH):
        if isinstance(fn, functools.partial):
            fn = fn.func
        elif isinstance(fn, (staticmethod, classmethod, types.MethodType)):
            fn = fn.__func__
        elif isinstance(fn, (types.FunctionType, type)) and "__wrapped__" in vars(fn):
            fn = vars(fn)["__wrapped__"]
        elif not isinstance(fn, (types.FunctionType, type)) and isinstance(
            getattr(type(fn), "__call__", None),  # noqa: B004 - the class's, not the object's
            types.FunctionType,
        ):
            fn = type(fn)  # a callable object: its class holds the code
        else:
            break
    return fn


def _describe(fn: Callable[..., Any]) -> dict[str, Any] | None:
    target = _target(fn)
    key = target if isinstance(target, type) else getattr(target, "__code__", None)
    if key is None or not isinstance(key, (type, types.CodeType)):
        return None  # a builtin, a C extension: `function` already names it
    cached = _cache.get(id(key))
    if cached is not None and cached[0]() is key:
        return dict(cached[1]) if cached[1] is not None else None
    found = _describe_class(target) if isinstance(target, type) else _describe_function(target)
    try:
        ref = weakref.ref(key, functools.partial(_forget, id(key)))
    except TypeError:
        return found  # cannot be watched for its end: not cached
    _cache[id(key)] = (ref, found)
    return dict(found) if found is not None else None


def _forget(key: int, _: Any) -> None:
    _cache.pop(key, None)


_cache: dict[int, tuple[weakref.ref[Any], dict[str, Any] | None]] = {}
"""id(code or class) -> what it was described as the first time: the text as it was
when the code was defined (or first run), even if the file is edited afterwards."""


def _describe_function(fn: Any) -> dict[str, Any]:
    code: types.CodeType = fn.__code__
    if os.path.abspath(code.co_filename).startswith(_OWN_FOLDER):
        return _describe_recompiled(fn, code)
    text = _text(
        code.co_filename, getattr(fn, "__globals__", None), code.co_firstlineno, _last_line([code])
    )
    return _section(code.co_filename, code.co_firstlineno, text, [code])


_OWN_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep
"""votakvot's own folder: no user's tracked function is compiled from a file in it."""


def _describe_recompiled(fn: Any, code: types.CodeType) -> dict[str, Any]:
    """A function compiled under the file name of votakvot's wrapper, not its own.

    IPython 9's ``%autoreload`` (deduperreload) recompiles an edited function from
    its unparsed text under the file name of the object it patches: for a tracked
    function, votakvot's wrapper, so the code claims ``votakvot/_decorator.py``
    line 1. The truth is in the function's module file: the ``def`` of that name
    there (with its decorators), which is what the kernel just reloaded.
    """
    module_globals = getattr(fn, "__globals__", None)
    filename = module_globals.get("__file__") if isinstance(module_globals, dict) else None
    found = _find_def(filename, module_globals, code.co_name) if filename else None
    if found is None:
        return _section(filename or f"<{fn.__module__}>", 0, None, [code])
    first, text = found
    return _section(filename, first, text, [code])  # type: ignore[arg-type]


def _find_def(filename: str, module_globals: Any, name: str) -> tuple[int, str] | None:
    """``(first line, text)`` of the first ``def name`` in the file, decorators included."""
    import inspect

    lines = _lines(filename, module_globals if isinstance(module_globals, dict) else None)
    pattern = re.compile(rf"\s*(async\s+)?def\s+{re.escape(name)}\s*\(")
    for index, line in enumerate(lines):
        if pattern.match(line):
            start = index
            while start > 0 and lines[start - 1].lstrip().startswith("@"):
                start -= 1
            try:
                block = inspect.getblock(lines[index:])
            except Exception:  # a file the tokenizer rejects: the def line alone
                block = lines[index : index + 1]
            return start + 1, "".join(lines[start:index]) + "".join(block)
    return None


def _describe_class(cls: type) -> dict[str, Any] | None:
    codes = _class_codes(cls)
    if not codes:
        return None
    filename = codes[0].co_filename
    here = [c for c in codes if c.co_filename == filename]  # not methods borrowed from elsewhere
    first = min(c.co_firstlineno for c in here)
    module = sys.modules.get(cls.__module__)
    lines = _lines(filename, vars(module) if module else None)
    # The `class` statement above the first method: its attributes are code too.
    pattern = re.compile(rf"\s*class\s+{re.escape(cls.__name__)}\b")
    for number in range(min(first, len(lines)), 0, -1):
        if pattern.match(lines[number - 1]):
            first = number
            break
    text = "".join(lines[first - 1 : _last_line(here)]) or None
    # Plain class attributes are code too, even when no source text is found.
    constants = sorted(
        (name, _const_repr(value))
        for name, value in vars(cls).items()
        if not name.startswith("__")
        and isinstance(value, (int, float, str, bytes, tuple, type(None)))
    )
    return _section(filename, first, text, codes, repr(constants))


def _section(
    filename: str, line: int, text: str | None, codes: list[types.CodeType], extra: str = ""
) -> dict[str, Any]:
    digest = _sha256()
    digest.update((text or "").encode("utf-8", "surrogatepass"))
    digest.update(extra.encode("utf-8", "surrogatepass"))
    for code in codes:
        _hash_code(code, digest)
    section: dict[str, Any] = {
        "file": _relative(filename),
        "line": line,
        "hash": digest.hexdigest()[:16],
        "hash_of": "text-and-code" if text is not None else "code",
    }
    if "IPython" in sys.modules:  # only a kernel or IPython shell compiles cells
        cell = _notebook.cell_info(filename)
        if "notebook" in cell and os.path.isabs(cell["notebook"]):
            cell["notebook"] = _relative(cell["notebook"])
        section.update(cell)
    return section


def _lines(filename: str, module_globals: dict[str, Any] | None) -> list[str]:
    """The file's lines through linecache, which also holds notebook cells."""
    if not filename.startswith("<"):
        linecache.checkcache(filename)
    return linecache.getlines(filename, module_globals)


def _text(filename: str, module_globals: Any, first: int, last: int) -> str | None:
    lines = _lines(filename, module_globals if isinstance(module_globals, dict) else None)
    return "".join(lines[first - 1 : last]) or None


def _last_line(codes: list[types.CodeType]) -> int:
    """The last line the code spans, nested functions and a multi-line last statement included."""
    last = 0
    stack = list(codes)
    while stack:
        code = stack.pop()
        last = max(last, code.co_firstlineno)
        for _, end, *_ in code.co_positions():  # (line, end_line, column, end_column)
            if end is not None and end > last:
                last = end
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return last


def _class_codes(cls: type) -> list[types.CodeType]:
    """The code of the class's own methods and properties, in definition order."""
    codes = []
    for value in vars(cls).values():
        for item in (
            (value.fget, value.fset, value.fdel) if isinstance(value, property) else (value,)
        ):
            if isinstance(item, (staticmethod, classmethod)):
                item = item.__func__
            code = getattr(item, "__code__", None)
            if isinstance(code, types.CodeType):
                codes.append(code)
    return codes


def _hash_code(code: types.CodeType, digest: Any) -> None:
    """Feed what the code does into ``digest``: not where it is (file, line numbers)."""
    digest.update(code.co_code)
    for part in (code.co_name, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars):
        digest.update(repr(part).encode())
    digest.update(
        repr(
            (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags)
        ).encode()
    )
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _hash_code(const, digest)
        else:
            digest.update(_const_repr(const).encode("utf-8", "surrogatepass"))


def _const_repr(const: Any) -> str:
    # frozenset order depends on the hash seed: sort, so the same code hashes the same
    # in every process.
    if isinstance(const, frozenset):
        return "frozenset(" + repr(sorted(_const_repr(c) for c in const)) + ")"
    if isinstance(const, tuple):
        return "(" + ",".join(_const_repr(c) for c in const) + ")"
    return f"{type(const).__name__}:{const!r}"


_tops: dict[str, str | None] = {}
"""Folder -> the git top-level above it (None: not in a work tree), found without git."""


def _relative(filename: str) -> str:
    """``filename`` relative to its git top-level, when it is a file in a work tree."""
    if not filename or filename.startswith("<"):
        return filename
    path = os.path.abspath(filename)
    folder = os.path.dirname(path)
    if folder not in _tops:
        _tops[folder] = _git_top(folder)
    top = _tops[folder]
    try:
        return os.path.relpath(path, top) if top else path
    except ValueError:  # another drive (Windows)
        return path


def _git_top(folder: str) -> str | None:
    while True:
        if os.path.lexists(os.path.join(folder, ".git")):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
