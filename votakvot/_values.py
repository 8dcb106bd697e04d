"""The record of a trial as YAML text: what users record, turned into values a reader can load.

Experiment code records numpy scalars, arrays, tensors, ``OrderedDict``, Enum
members, pandas timestamps, dataclasses holding any of those... PyYAML would
write them as pickles (``!!python/object/apply:numpy...``) that no safe reader
resolves. :func:`to_plain` turns each into what the user meant (see
docs/values.md): plain YAML values, plus python tags the reader turns into plain
values (``tuple``, ``complex``) or a :class:`~votakvot._yaml.Tagged` mapping of
fields (dataclasses, namedtuples, plain objects). Only an entry the fast emitter
rejects is normalised, so a record of plain values costs nothing more.

Writing never raises into the user's call: a value nothing can represent is
stored as its ``repr`` (or a description when ``repr`` raises too), a value too
big for readers as a short summary, a value that contains itself as a marker;
each with one warning naming the trial and the field.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import fractions
import itertools
import logging
import os
import pathlib
import threading
import types
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from . import _yaml
from .layout import MAX_RECORD

__all__ = ["MAX_DEPTH", "MAX_ITEMS", "dump_record", "to_plain"]

logger = logging.getLogger("votakvot")

MAX_ITEMS = 100_000
"""Array-likes, ranges, deques and sets with more items are stored as a summary:
written out they would make records slow to read, and soon too big to read at all."""

MAX_DEPTH = 50
"""Values nested deeper are stored as a summary (PyYAML and readers recurse per level)."""

_SHRINK_LIMITS = (1_000, 20)
"""Item limits tried in turn when a whole record is still bigger than readers accept."""

_ATOMS = frozenset(
    {str, int, float, bool, type(None), datetime.datetime, datetime.date, complex, bytes}
)
_CALLABLES = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
)


class _Walk:
    """One pass of normalising a value: the trial it belongs to, for warnings, and
    the ids of the containers being walked, to cut cycles."""

    __slots__ = ("ancestors", "limit", "shrink", "tid")

    def __init__(self, tid: str, limit: int = MAX_ITEMS, shrink: bool = False) -> None:
        self.tid = tid
        self.limit = limit
        self.shrink = shrink
        """Also summarise plain lists, dicts and strings past ``limit`` (a record too big)."""
        self.ancestors: set[int] = set()

    def warn(self, where: str, what: str) -> None:
        _warn_once(self.tid, where, what)

    def plain(self, value: Any, where: str, depth: int = 0) -> Any:
        cls = type(value)
        if cls in _ATOMS:
            if self.shrink and cls in (str, bytes) and len(value) > self.limit * 100:
                return self.summary(value, where, f"{len(value)} characters")
            return value
        if depth > MAX_DEPTH:
            self.warn(where, f"is nested deeper than {MAX_DEPTH} levels; a summary is stored")
            return f"<{_type_name(value)} nested deeper than {MAX_DEPTH} levels>"
        if cls is dict or cls is list or cls is tuple:
            return self.container(value, where, depth)
        try:
            return self.other(value, where, depth)
        except RecursionError:
            self.warn(where, "is nested too deeply to store; a summary is stored")
            return f"<{_type_name(value)} nested too deeply>"
        except Exception:  # its own attributes raise: this value only, not its siblings
            return self.fallback(value, where)

    def container(self, value: Any, where: str, depth: int) -> Any:
        key = id(value)
        if key in self.ancestors:
            self.warn(where, "contains itself; a marker is stored where it does")
            return f"<{_type_name(value)} that contains itself>"
        if self.shrink and len(value) > self.limit:
            return self.summary(value, where, f"{len(value)} items")
        self.ancestors.add(key)
        try:
            if isinstance(value, Mapping):
                return self.mapping(value.items(), where, depth)
            items = [self.plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
            return tuple(items) if type(value) is tuple else items
        finally:
            self.ancestors.discard(key)

    def mapping(self, items: Any, where: str, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for k, v in items:
            if type(k) is not str:
                k = self.key(k, where, depth)
            out[k] = self.plain(v, f"{where}.{k}" if where else str(k), depth + 1)
        return out

    def key(self, key: Any, where: str, depth: int) -> Any:
        plain = self.plain(key, f"{where}.<key>", depth + 1)
        try:
            hash(plain)
        except TypeError:
            return repr(plain)
        return plain

    def sequence(self, value: Any, where: str, depth: int) -> Any:
        """deque, range, array.array, any Sequence: a list (a summary past the limit)."""
        try:
            size = len(value)
        except Exception:
            size = None
        if size is not None and size > self.limit:
            return self.summary(value, where, f"{size} items")
        return self.container(list(value), where, depth)

    def other(self, value: Any, where: str, depth: int) -> Any:
        """Everything but plain scalars, dicts, lists and tuples."""
        # Enum first: IntEnum and StrEnum members are also ints and strs.
        if isinstance(value, enum.Enum):
            name = value.name
            return name if name is not None else str(value)
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):  # numpy ints are not; IntFlag-like subclasses are
            return int(value)
        if isinstance(value, float):  # numpy.float64 is one
            return float(value)
        if isinstance(value, str):
            return self.plain(str(value), where, depth)
        if isinstance(value, complex):
            return complex(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            if isinstance(value, memoryview) and value.nbytes > MAX_RECORD:
                return self.summary(value, where, f"{value.nbytes} bytes")
            return self.plain(bytes(value), where, depth)
        if isinstance(value, (datetime.datetime, datetime.date, datetime.timedelta, datetime.time)):
            return _time_value(value)
        if isinstance(value, decimal.Decimal):
            return _decimal(value)
        if isinstance(value, fractions.Fraction):
            return value.numerator if value.denominator == 1 else float(value)
        if isinstance(value, uuid.UUID):
            return str(value)
        if isinstance(value, pathlib.PurePath):
            return str(value)
        module = type(value).__module__ or ""
        if module.startswith("pandas"):
            done, plain = self.pandas(value, where, depth)
            if done:
                return plain
        if getattr(getattr(value, "dtype", None), "kind", None) in ("M", "m"):
            return self.numpy_time(value, where, depth)
        if callable(getattr(value, "tolist", None)) and not isinstance(value, _CALLABLES):
            return self.array(value, where, depth)
        if isinstance(value, Mapping):
            return self.container(value, where, depth)
        if isinstance(value, tuple) and hasattr(value, "_fields") and hasattr(value, "_asdict"):
            named = dict(zip(value._fields, value, strict=False))
            return self.fields(value, named, where, depth, keyword=True)
        if isinstance(value, tuple):
            return tuple(self.container(list(value), where, depth))
        if isinstance(value, (set, frozenset)):
            return self.set(value, where, depth)
        if isinstance(value, (Sequence, collections.deque)):
            return self.sequence(value, where, depth)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
            return self.fields(value, fields, where, depth)
        if isinstance(value, BaseException):
            return f"{_type_name(value)}: {value}"
        if isinstance(value, _CALLABLES):
            return _qualified_name(value)
        item = getattr(value, "item", None)
        if callable(item):
            try:
                return self.plain(item(), where, depth + 1)
            except Exception:
                pass  # not a scalar after all: as any other object
        state = _object_state(value)
        if state is not None:
            return self.fields(value, state, where, depth)
        return self.fallback(value, where)

    def fields(
        self, value: Any, state: dict[str, Any], where: str, depth: int, keyword: bool = False
    ) -> Any:
        key = id(value)
        if key in self.ancestors:
            self.warn(where, "contains itself; a marker is stored where it does")
            return f"<{_type_name(value)} that contains itself>"
        self.ancestors.add(key)
        try:
            fields = self.mapping(state.items(), where, depth)
        finally:
            self.ancestors.discard(key)
        cls = type(value)
        return _yaml.Fields(f"{cls.__module__}.{cls.__qualname__}", fields, keyword=keyword)

    def set(self, value: Any, where: str, depth: int) -> Any:
        if len(value) > self.limit:
            return self.summary(value, where, f"{len(value)} items")
        items = self.container(list(value), where, depth)
        try:
            return set(items)
        except TypeError:
            return items  # items that became lists or dicts: a set cannot hold them

    def array(self, value: Any, where: str, depth: int) -> Any:
        """numpy scalars and arrays, tensors of any library: ``.tolist()``, duck-typed."""
        size = _array_size(value)
        if size is not None and size > self.limit:
            return self.summary(value, where, f"{size} items")
        try:
            plain = _short_floats(value)
            if plain is None:
                plain = value.tolist()
        except Exception as exc:
            self.warn(where, f"cannot be turned into a list ({type(exc).__name__}: {exc})")
            return _safe_repr(value)
        return self.plain(plain, where, depth + 1)

    def numpy_time(self, value: Any, where: str, depth: int) -> Any:
        """numpy datetime64/timedelta64 (scalars or arrays): datetimes and seconds.

        ``.tolist()`` of nanosecond units gives bare ints, so cast to microseconds first.
        """
        size = _array_size(value)
        if size is not None and size > self.limit:
            return self.summary(value, where, f"{size} items")
        kind = value.dtype.kind
        try:
            plain = value.astype("datetime64[us]" if kind == "M" else "timedelta64[us]").tolist()
        except Exception:
            return self.plain(str(value), where, depth)  # years or months: no fixed length
        return self.plain(plain, where, depth + 1)

    def pandas(self, value: Any, where: str, depth: int) -> tuple[bool, Any]:
        """Series, DataFrame, Index, NA: what they hold, as plain values."""
        if type(value).__name__ == "NAType":
            return True, None
        size = getattr(value, "size", None)
        if isinstance(size, int) and size > self.limit:
            return True, self.summary(value, where, f"{size} items")
        if hasattr(value, "columns") and hasattr(value, "to_dict"):  # DataFrame
            # Row labels are kept as a Series' are: describe()'s mean, std, max...
            orient = "list" if _positional(value.index) else "dict"
            return True, self.plain(value.to_dict(orient=orient), where, depth)
        if hasattr(value, "index") and hasattr(value, "to_dict"):  # Series
            if _positional(value.index):
                return True, self.plain(value.tolist(), where, depth)
            pairs = dict(zip(value.index.tolist(), value.tolist(), strict=True))
            return True, self.plain(pairs, where, depth)
        return False, None

    def summary(self, value: Any, where: str, size: str) -> str:
        text = _summary(value)
        self.warn(
            where,
            f"is too big to record as it is ({size}; the limit is {self.limit}); "
            f"a summary is stored: {text[:200]}. Save it with votakvot.attach() instead",
        )
        return text

    def fallback(self, value: Any, where: str) -> str:
        text = _safe_repr(value)
        self.warn(where, f"({_type_name(value)}) cannot be stored as YAML; its repr is stored")
        return text


def _positional(index: Any) -> bool:
    """Whether a pandas index says nothing but positions (``0..n-1``), or cannot be a
    mapping's keys: labels that repeat would keep one value per label and drop the rest."""
    if type(index).__name__ == "RangeIndex" and index.start == 0 and index.step == 1:
        return True
    return not index.is_unique


def to_plain(value: Any, where: str = "value", tid: str = "") -> Any:
    """``value`` as plain values the YAML writer stores and any reader loads back.

    ``where`` names the value in warnings (``result``, ``params.lr``), ``tid`` the trial.
    Never raises.
    """
    try:
        return _Walk(tid).plain(value, where)
    except Exception as exc:
        _warn_once(tid, where, f"cannot be stored ({type(exc).__name__}); its repr is stored")
        return _safe_repr(value)


# --- helpers ------------------------------------------------------------------------

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _after_fork() -> None:
    global _warned_lock
    _warned_lock = threading.Lock()  # a thread of the parent may have held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _warn_once(tid: str, where: str, what: str) -> None:
    """A record is dumped several times per trial (start, flushes, end): warn once."""
    with _warned_lock:
        if (tid, where) in _warned:
            return
        if len(_warned) > 10_000:
            _warned.clear()
        _warned.add((tid, where))
    logger.warning("votakvot: trial %r: %s %s", tid, where, what)


def _type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _qualified_name(value: Any) -> str:
    if isinstance(value, types.ModuleType):
        return value.__name__
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    module = getattr(value, "__module__", None)
    if not isinstance(name, str):
        return _safe_repr(value)
    return f"{module}.{name}" if isinstance(module, str) and module != "builtins" else name


def _safe_repr(value: Any) -> str:
    """``repr(value)``, or a description when its ``repr`` raises (it must never stop a call)."""
    try:
        text = repr(value)
        if type(text) is str:
            return text if len(text) <= 10_000 else text[:10_000] + "..."
        raise TypeError("__repr__ returned a non-string")
    except Exception as exc:
        return f"<{_type_name(value)} object; repr failed: {type(exc).__name__}>"


def _array_size(value: Any) -> int | None:
    size = getattr(value, "size", None)
    if isinstance(size, int):
        return size
    numel = getattr(value, "numel", None)  # torch: .size is a method
    if callable(numel):
        try:
            n = numel()
        except Exception:
            return None
        return n if isinstance(n, int) else None
    return None


def _short_floats(value: Any) -> Any:
    """numpy float16/float32 values as the shortest decimal that is the same number
    to numpy (``np.float32(0.01)`` -> ``0.01``, not ``0.009999999776482582``), what
    the user typed; ``None`` for anything else."""
    dtype = getattr(value, "dtype", None)
    if getattr(dtype, "kind", None) != "f" or getattr(dtype, "itemsize", 8) >= 8:
        return None
    if not type(value).__module__.startswith("numpy"):
        return None
    return _floats(value.astype(str).tolist())


def _floats(texts: Any) -> Any:
    if isinstance(texts, list):
        return [_floats(t) for t in texts]
    return float(texts)


def _summary(value: Any) -> str:
    """``<numpy.ndarray shape=(1000, 1000) dtype=float64 first=[0.0, 1.0, ...]>``."""
    parts = [_type_name(value)]
    shape = getattr(value, "shape", None)
    if shape is not None and not callable(shape):
        try:
            parts.append(f"shape={tuple(shape)}")
        except TypeError:
            pass
    else:
        try:
            parts.append(f"len={len(value)}")
        except Exception:
            pass
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        parts.append(f"dtype={dtype}")
    first = _first_items(value, 5)
    if first is not None:
        parts.append(f"first={first}")
    return f"<{' '.join(parts)}>"


def _first_items(value: Any, n: int) -> str | None:
    try:
        if isinstance(value, (str, bytes)):
            return repr(value[:80])
        flat = value
        for name in ("ravel", "flatten"):
            method = getattr(value, name, None)
            if callable(method) and hasattr(value, "tolist"):
                flat = method()
                break
        if hasattr(flat, "tolist") and hasattr(flat, "__getitem__"):
            items = flat[:n].tolist()
        elif isinstance(value, Mapping):
            items = list(itertools.islice(value.items(), n))
        else:
            items = list(itertools.islice(iter(flat), n))
        return _safe_repr(items)[:300]
    except Exception:
        return None


def _time_value(value: Any) -> Any:
    """datetime/date as plain datetime/date (pandas Timestamp too), timedelta as
    seconds, time as ``HH:MM:SS`` text; NaT as null."""
    if value != value:  # pandas NaT
        return None
    if isinstance(value, datetime.datetime):
        if type(value) is datetime.datetime:
            return value
        return datetime.datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
    if isinstance(value, datetime.date):
        return datetime.date(value.year, value.month, value.day)
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value.isoformat()


def _decimal(value: decimal.Decimal) -> Any:
    if value.is_finite() and value == value.to_integral_value() and value.adjusted() < 18:
        return int(value)
    try:
        return float(value)
    except (ValueError, OverflowError):
        return str(value)  # signalling NaN


def _object_state(value: Any) -> dict[str, Any] | None:
    """The fields pickle would save for a plain object (its ``__dict__`` and slots),
    or ``None`` when it pickles some other way (a file, a lock, a compiled regex)."""
    try:
        reduced = value.__reduce_ex__(2)
    except Exception:
        return None
    if not isinstance(reduced, tuple) or len(reduced) < 3:
        return None
    if getattr(reduced[0], "__name__", None) != "__newobj__":
        return None
    state = reduced[2]
    if state is None:
        return {}
    if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
        merged: dict[str, Any] = {}
        for part in state:
            if isinstance(part, dict):
                merged.update(part)
        return merged
    if isinstance(state, dict):
        return dict(state)
    return None


# --- the record ---------------------------------------------------------------------


class _SectionCache:
    """The YAML text of the last value of one section, reused while the value is unchanged.

    ``meta`` is most of a record and ``source`` is fixed per function; both rarely
    change within a process, and each record is written twice per trial, so dumping
    them once instead of twice per trial halves the cost of a tracked call.
    """

    __slots__ = ("text", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.text = ""

    def dump(self, key: str, value: Any, plain: Any) -> str:
        try:
            same = self.value is not None and bool(value == self.value)
        except Exception:  # a provider returned something == cannot answer (an array)
            same = False
        if not same:
            text = _yaml.dump({key: value}, plain)
            self.value, self.text = value, text
        return self.text


_CACHED_SECTIONS = ("meta", "source")
_section_caches = threading.local()


def dump_record(data: dict[str, Any], tid: str) -> str:
    """The YAML text of a trial's record; never raises, never bigger than readers accept."""

    def plain(key: str, value: Any) -> Any:
        return to_plain(value, key, tid)

    try:
        text = _dump(data, plain)
    except Exception as exc:
        logger.error("votakvot: trial %r: the record could not be written as is (%s)", tid, exc)
        text = _dump_each(data, tid)
    # A char is 1 to 4 bytes: only a text that may be too big is measured.
    if len(text) * 4 > MAX_RECORD and len(text.encode("utf-8", "replace")) > MAX_RECORD:
        text = _shrunk(data, tid)
    return text


def _dump(data: dict[str, Any], plain: Any) -> str:
    caches = getattr(_section_caches, "caches", None)
    if caches is None:
        caches = _section_caches.caches = {key: _SectionCache() for key in _CACHED_SECTIONS}
    out: list[str] = []
    part: dict[str, Any] = {}
    for key, value in data.items():
        cache = caches.get(key)
        if cache is None:
            part[key] = value
            continue
        if part:
            out.append(_yaml.dump(part, plain))
            part = {}
        out.append(cache.dump(key, value, plain))
    if part:
        out.append(_yaml.dump(part, plain))
    return "".join(out)


def _dump_each(data: dict[str, Any], tid: str) -> str:
    """Last resort: each top-level entry on its own, its ``repr`` when it still fails."""
    out = []
    for key, value in data.items():
        try:
            out.append(_yaml.dump({key: to_plain(value, key, tid)}))
        except Exception as exc:
            _warn_once(tid, key, f"cannot be stored ({type(exc).__name__}); its repr is stored")
            out.append(_yaml.dump({key: _safe_repr(value)}))
    return "".join(out)


def _shrunk(data: dict[str, Any], tid: str) -> str:
    """A record too big for readers (many medium values, a huge string): its values
    summarised past ever smaller limits until it fits; at worst each big section."""
    for limit in _SHRINK_LIMITS:
        walk = _Walk(tid, limit, shrink=True)
        text = _yaml.dump({k: walk.plain(v, k) for k, v in data.items()})
        if len(text.encode("utf-8", "replace")) <= MAX_RECORD:
            return text
    small: dict[str, Any] = {}
    for key, value in data.items():
        entry = _yaml.dump({key: to_plain(value, key, tid)})
        if len(entry) > 64 * 1024:
            _warn_once(tid, f"{key} (whole)", "is too big to record; a summary is stored")
            small[key] = _summary(value)
        else:
            small[key] = value
    return _yaml.dump(small, lambda k, v: to_plain(v, k, tid))
