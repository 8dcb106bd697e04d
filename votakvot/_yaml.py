"""YAML in and out of ``votakvot.yaml``.

Writing is given plain values (``votakvot._values`` turns what users record into
those first) and emits them with a small emitter of ours, or PyYAML's when the
layout is not simple. Reading never runs code: a safe loader maps python tags to
plain values (:class:`Tagged` for objects), and keeps any tag it will not resolve
(``!!python/object/apply:os.system``, numpy's pickled scalars, ``!custom``) as a
:class:`Placeholder`, so one odd value never makes a whole record unreadable.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import itertools
import json
import pathlib
import re
import struct
import uuid
from collections.abc import Callable
from typing import Any

import yaml

from .exceptions import UnsafeTagError

__all__ = ["Fields", "Placeholder", "Tagged", "dump", "load"]

_BaseDumper: type = getattr(yaml, "CDumper", yaml.Dumper)
_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(_BaseDumper):  # type: ignore[misc, valid-type]
    """Never writes anchors: a reader then cannot be handed an alias bomb by us."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_namedtuple(dumper: yaml.Dumper, data: tuple) -> yaml.Node:
    # PyYAML's default drops field names (a bare argument list); ``kwds`` keeps them
    # and still loads back to the same namedtuple with ``yaml.unsafe_load``.
    cls = type(data)
    tag = f"tag:yaml.org,2002:python/object/new:{cls.__module__}.{cls.__qualname__}"
    return dumper.represent_mapping(tag, {"kwds": dict(data._asdict())})  # type: ignore[attr-defined]


class _NamedTupleMultiRepresenter:
    """Dispatches tuples: namedtuples keep their field names, others use PyYAML's way."""

    def __init__(self, fallback: Callable[[Any, Any], yaml.Node]) -> None:
        self.fallback = fallback

    def __call__(self, dumper: Any, data: Any) -> yaml.Node:
        if isinstance(data, tuple) and hasattr(data, "_asdict") and hasattr(data, "_fields"):
            return _represent_namedtuple(dumper, data)
        return self.fallback(dumper, data)


_Dumper.add_multi_representer(
    tuple, _NamedTupleMultiRepresenter(yaml.representer.Representer.represent_object)
)
class Fields:
    """An object's class and normalised fields, written as a python tag the reader
    turns into a :class:`Tagged` (dataclasses, namedtuples, plain objects)."""

    __slots__ = ("fields", "keyword", "tag")

    def __init__(self, tag: str, fields: dict[str, Any], *, keyword: bool = False) -> None:
        self.tag = tag
        self.fields = fields
        self.keyword = keyword
        """Written as ``object/new`` with ``kwds`` (how a namedtuple is built again)."""


def _represent_fields(dumper: yaml.Dumper, data: Fields) -> yaml.Node:
    if data.keyword:
        tag = f"tag:yaml.org,2002:python/object/new:{data.tag}"
        return dumper.represent_mapping(tag, {"kwds": data.fields})
    return dumper.represent_mapping(f"tag:yaml.org,2002:python/object:{data.tag}", data.fields)


_Dumper.add_representer(Fields, _represent_fields)
_Dumper.add_representer(pathlib.PurePosixPath, lambda d, v: d.represent_str(str(v)))
_Dumper.add_representer(pathlib.PosixPath, lambda d, v: d.represent_str(str(v)))


def _dump_full(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True
    )


def dump(data: Any, plain: Callable[[str, Any], Any] | None = None) -> str:
    """Serialize ``data`` as block-style YAML, keys in insertion order.

    A mapping's top-level entries made only of plain values (str, int, float, bool,
    None, datetime, dicts and lists of those) go through a small emitter of ours;
    anything else through PyYAML. PyYAML's representer runs in Python even with
    libyaml, and was most of the cost of a tracked call.

    ``plain(key, value)``, when given, is called only for an entry the small
    emitter rejects, and returns the value to write instead: so values that are
    already plain never pay for normalising.
    """
    if not isinstance(data, dict) or not data:
        return _dump_full(data)
    out: list[str] = []
    for key, value in data.items():
        entry: list[str] = []
        try:
            _emit_entry(entry, key, value, "")
        except _NotPlain:
            if plain is not None:
                value = plain(key, value)
                entry = []
                try:
                    _emit_entry(entry, key, value, "")
                except _NotPlain:
                    entry = [_dump_full({key: value})]
            else:
                entry = [_dump_full({key: value})]
        out.extend(entry)
    return "".join(out)


class _NotPlain(Exception):
    """A value the fast emitter leaves to PyYAML."""


_PLAIN_STR = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/ ]*\Z")
# Words YAML 1.1 reads as booleans or null when unquoted.
_RESERVED = frozenset(["y", "yes", "n", "no", "true", "false", "on", "off", "null"])


def _scalar(value: Any) -> str:
    cls = type(value)
    if cls is str:
        if (
            _PLAIN_STR.match(value)
            and not value.endswith(" ")
            and value.lower() not in _RESERVED
            and ": " not in value
            and " #" not in value
        ):
            return value
        if len(value) > 200 or not value.isprintable():
            raise _NotPlain  # line breaks, control or odd characters: PyYAML's styles
        # A JSON string of printable characters is a valid YAML double-quoted scalar
        # (json.dumps(value, ensure_ascii=False) without its 0.7 us of set-up).
        return _json_string(value)
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    if cls is float:
        if value != value:
            return ".nan"
        if value in (_INF, -_INF):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text and "e" in text:
            text = text.replace("e", ".0e", 1)  # YAML 1.1 floats need a dot
        return text
    if value is None:
        return "null"
    if cls is datetime.datetime:
        return value.isoformat(" ")
    if cls is datetime.date:
        return value.isoformat()
    raise _NotPlain


_INF = float("inf")
_json_string: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


_key_text: dict[str, str] = {}
"""Keys as written: the same few dozen names fill every record."""

_MAX_INDENT = 2 * 50  # deeper nesting (or a dict that contains itself) is not plain


def _emit_entry(out: list[str], key: Any, value: Any, indent: str) -> None:
    if type(key) is not str or len(indent) > _MAX_INDENT:
        raise _NotPlain
    k = _key_text.get(key)
    if k is None:
        k = _scalar(key)
        if len(_key_text) < 4096:
            _key_text[key] = k
    cls = type(value)
    if cls is dict:
        if not value:
            out.append(f"{indent}{k}: {{}}\n")
            return
        out.append(f"{indent}{k}:\n")
        inner = indent + "  "
        for k2, v2 in value.items():
            _emit_entry(out, k2, v2, inner)
    elif cls is list:
        if not value:
            out.append(f"{indent}{k}: []\n")
            return
        out.append(f"{indent}{k}:\n")
        for item in value:
            _emit_item(out, item, indent)
    else:
        out.append(f"{indent}{k}: {_scalar(value)}\n")


def _emit_item(out: list[str], item: Any, indent: str) -> None:
    """One ``- item`` of a block sequence (indentless, as PyYAML writes them)."""
    cls = type(item)
    if cls is dict or cls is list:
        if not item:
            out.append(f"{indent}- {{}}\n" if cls is dict else f"{indent}- []\n")
            return
        if cls is list:
            raise _NotPlain  # nested sequences: leave the layout to PyYAML
        first = True
        for k, v in item.items():
            sub: list[str] = []
            _emit_entry(sub, k, v, indent + "  ")
            text = "".join(sub)
            if first:
                text = f"{indent}- " + text[len(indent) + 2 :]
                first = False
            out.append(text)
    else:
        out.append(f"{indent}- {_scalar(item)}\n")


class Tagged(dict):
    """A python-tagged object read back as a mapping of its fields.

    ``tag`` keeps the class the writer recorded (``__main__.Point``), so a reader
    can tell what it was without importing or running that class.
    """

    __slots__ = ("tag",)

    def __init__(self, tag: str, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.tag = tag

    def __repr__(self) -> str:
        return f"Tagged({self.tag!r}, {dict.__repr__(self)})"


class Placeholder(Tagged):
    """A value whose tag the reader would not resolve (it would call or import
    something, or is unknown), kept inert: ``tag`` is the tag as written and the
    mapping holds its fields. Readers warn once per trial and field about it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Placeholder({self.tag!r}, {dict.__repr__(self)})"


# Constructors that build plain values from data: safe, so ``object/apply`` of
# these (how PyYAML writes timedelta, Decimal, Path, ...) is accepted.
def _fraction(*args: Any) -> fractions.Fraction:
    """``Fraction`` from what PyYAML writes (``'1/3'`` or two ints), but never from a
    string with an exponent: ``Fraction('1e999999999')`` would compute a billion-digit
    integer, hanging the reader."""
    if len(args) == 1 and isinstance(args[0], str) and not _FRACTION_TEXT.match(args[0]):
        raise ValueError(f"not a fraction written by votakvot: {args[0][:40]!r}")
    return fractions.Fraction(*args)


_FRACTION_TEXT = re.compile(r"\A\s*[-+]?\d{1,4000}(?:\s*/\s*\d{1,4000})?\s*\Z")

_MAX_LEGACY_RANGE = 100_000
"""A ``range`` written by an earlier version becomes a list only up to this length."""


def _legacy_range(*args: int) -> list[int] | Placeholder:
    values = range(*args)
    if len(values) > _MAX_LEGACY_RANGE:
        return Placeholder("python/object/apply:builtins.range", {"args": list(args)})
    return list(values)


def _legacy_sequence(items: Any = ()) -> list[Any]:
    return list(items) if isinstance(items, (list, tuple)) else [items]


def _legacy_set(items: Any = ()) -> set[Any] | list[Any]:
    items = _legacy_sequence(items)
    try:
        return set(items)
    except TypeError:
        return items


def _legacy_bytes(data: Any = b"", encoding: str = "latin-1", *rest: Any) -> bytes:
    """``bytearray`` as PyYAML wrote it: ``['text', 'latin-1']``."""
    if isinstance(data, str):
        return data.encode(encoding if encoding in ("latin-1", "utf-8", "ascii") else "latin-1")
    return bytes(data)


def _legacy_mapping(items: Any = ()) -> dict[Any, Any]:
    """``OrderedDict([[k, v], ...])`` as PyYAML wrote it."""
    if isinstance(items, dict):
        return dict(items)
    return {pair[0]: pair[1] for pair in items}


_SAFE_APPLY: dict[str, Callable[..., Any]] = {
    # how earlier versions (PyYAML's full dumper) wrote these; rebuilt from data only
    "builtins.frozenset": _legacy_set,
    "builtins.set": _legacy_set,
    "builtins.bytearray": _legacy_bytes,
    "builtins.range": _legacy_range,
    "collections.deque": _legacy_sequence,
    "collections.OrderedDict": _legacy_mapping,
    "collections.Counter": _legacy_mapping,
    "datetime.timedelta": datetime.timedelta,
    "datetime.date": datetime.date,
    "datetime.time": datetime.time,
    "decimal.Decimal": decimal.Decimal,
    "fractions.Fraction": _fraction,
    "uuid.UUID": uuid.UUID,
    "pathlib.PosixPath": lambda *parts: str(pathlib.PurePosixPath(*parts)),
    "pathlib.PurePosixPath": lambda *parts: str(pathlib.PurePosixPath(*parts)),
    "pathlib.WindowsPath": lambda *parts: str(pathlib.PureWindowsPath(*parts)),
    "pathlib.PureWindowsPath": lambda *parts: str(pathlib.PureWindowsPath(*parts)),
}


class _SafeLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


def _construct_plain(loader: Any, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


def _placeholder(loader: Any, tag: str, fields: dict[str, Any]) -> Placeholder:
    value = Placeholder(tag, fields)
    found = getattr(loader, "placeholders", None)
    if found is not None:
        found.append(value)
    return value


_ITEMS_APPLY = frozenset(
    {"collections.defaultdict", "collections.Counter", "collections.OrderedDict"}
    | {"collections.deque"}
)


def _construct_python(loader: Any, suffix: str, node: yaml.Node) -> Any:
    """Handles every ``tag:yaml.org,2002:python/...`` tag without importing anything."""
    kind, _, name = suffix.partition(":")
    if kind == "tuple":
        return tuple(loader.construct_sequence(node, deep=True))
    if kind == "complex":
        return complex(str(loader.construct_scalar(node)).replace(" ", ""))
    if kind in ("str", "unicode", "bytes", "int", "long", "float", "bool", "none", "dict", "list"):
        return _construct_plain(loader, node)
    if kind in ("name", "module"):
        return f"{kind}:{name}"  # inert already: the name as text, nothing imported
    if kind in ("object", "object/new", "object/apply"):
        value = _construct_plain(loader, node)
        if kind == "object/apply":
            return _construct_apply(loader, name, value)
        return Tagged(name, _object_fields(value))
    return _placeholder(loader, f"python/{suffix}", _object_fields(_construct_plain(loader, node)))


def _construct_apply(loader: Any, name: str, value: Any) -> Any:
    """``object/apply``: rebuilt when the callable only makes a value from data
    (timedelta, Decimal, numpy's pickled scalars and arrays, ...), else a placeholder."""
    if name in _ITEMS_APPLY and isinstance(value, dict):
        # the long form earlier versions wrote for defaultdict, Counter, deque
        items = value.get("dictitems")
        if isinstance(items, dict):
            return dict(items)
        listed = value.get("listitems")
        if isinstance(listed, list):
            return list(listed)
    args = value if isinstance(value, list) else (value or {}).get("args", [])
    safe = _SAFE_APPLY.get(name)
    if safe is None:
        numpy_value = _legacy_numpy(name, value, args)
        if numpy_value is not _NOT_NUMPY:
            return numpy_value
        return _placeholder(loader, f"python/object/apply:{name}", _object_fields(value))
    try:
        return safe(*args)
    except (TypeError, ValueError, ArithmeticError, decimal.InvalidOperation) as exc:
        return Tagged(name, {"args": args, "error": str(exc)})


# --- numpy values pickled by earlier versions, decoded from their bytes ---------------

_NOT_NUMPY = object()
_NUMPY_MODULES = ("numpy.core.multiarray.", "numpy._core.multiarray.")
# dtype code -> struct format of one item
_NUMPY_FORMATS = {
    "b1": "?", "i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I",
    "i8": "q", "u8": "Q", "f2": "e", "f4": "f", "f8": "d", "c8": "ff", "c16": "dd",
}  # fmt: skip


def _numpy_format(dtype: Any) -> str | None:
    """The struct format of a dtype placeholder earlier versions wrote, if it is a
    plain number type; its byte order is the second item of its state."""
    if not isinstance(dtype, Placeholder) or dtype.tag != "python/object/apply:numpy.dtype":
        return None
    code = dtype.get("_0")
    fmt = _NUMPY_FORMATS.get(code) if isinstance(code, str) else None
    state = dtype.get("state")
    order = state[1] if isinstance(state, (list, tuple)) and len(state) > 1 else "|"
    if fmt is None or order not in ("<", ">", "|", "="):
        return None
    return ("<" if order in ("|", "=") else order) + fmt


def _numpy_items(fmt: str, raw: bytes, count: int) -> list[Any] | None:
    size = struct.calcsize(fmt)
    if not isinstance(raw, bytes) or len(raw) != size * count:
        return None
    items = list(struct.iter_unpack(fmt, raw)) if count else []
    if len(fmt) == 3:  # complex: two floats each
        return [complex(re_, im) for re_, im in items]
    return [item[0] for item in items]


def _nest(items: list[Any], shape: list[int]) -> Any:
    """Row-major ``items`` as nested lists of ``shape`` (what ``ndarray.tolist`` gives)."""
    if len(shape) == 1:
        return items
    step = 1
    for n in shape[1:]:
        step *= n
    return [_nest(items[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def _row_major(items: list[Any], shape: list[int]) -> list[Any]:
    """Column-major (Fortran-order) ``items`` reordered row-major."""
    strides = []
    step = 1
    for n in shape:
        strides.append(step)
        step *= n
    return [
        items[sum(i * s for i, s in zip(index, strides, strict=True))]
        for index in itertools.product(*(range(n) for n in shape))
    ]


def _legacy_numpy(name: str, value: Any, args: Any) -> Any:
    """A numpy scalar or array PyYAML's full dumper wrote, as the plain value votakvot
    now writes (``.item()`` / ``.tolist()``), or ``_NOT_NUMPY``. Nothing is imported."""
    if not name.startswith(_NUMPY_MODULES):
        return _NOT_NUMPY
    func = name.rpartition(".")[2]
    if func == "scalar" and isinstance(args, list) and len(args) == 2:
        fmt = _numpy_format(args[0])
        items = _numpy_items(fmt, args[1], 1) if fmt else None
        return items[0] if items else _NOT_NUMPY
    if func == "_reconstruct" and isinstance(value, dict):
        state = value.get("state")
        if not isinstance(state, (list, tuple)) or len(state) != 5:
            return _NOT_NUMPY
        _, shape, dtype, fortran, raw = state
        fmt = _numpy_format(dtype)
        if not fmt or not isinstance(shape, (list, tuple)):
            return _NOT_NUMPY
        if not all(isinstance(n, int) and n >= 0 for n in shape):
            return _NOT_NUMPY
        count = 1
        for n in shape:
            count *= n
        items = _numpy_items(fmt, raw, count)
        if items is None:
            return _NOT_NUMPY
        if not shape:
            return items[0]
        if fortran:
            items = _row_major(items, list(shape))
        return _nest(items, list(shape))
    return _NOT_NUMPY


def _object_fields(value: Any) -> dict[str, Any]:
    """Fields of an object node: its state, or the args/kwds/state of the long form."""
    if isinstance(value, list):
        return {f"_{i}": v for i, v in enumerate(value)}
    if not isinstance(value, dict):
        return {"value": value}
    long_form = set(value) and set(value) <= {"args", "kwds", "state", "listitems", "dictitems"}
    if not long_form:
        return dict(value)
    fields: dict[str, Any] = {}
    for i, arg in enumerate(value.get("args") or []):
        fields[f"_{i}"] = arg
    for key in ("kwds", "state"):
        part = value.get(key)
        if isinstance(part, dict):
            fields.update(part)
        elif part is not None:
            fields[key] = part
    for key in ("listitems", "dictitems"):
        if value.get(key) is not None:
            fields[key] = value[key]
    return fields


def _construct_unknown(loader: Any, suffix: str, node: yaml.Node) -> Any:
    """A tag votakvot does not know: kept as a placeholder, never resolved."""
    return _placeholder(loader, suffix, {"value": _construct_plain(loader, node)})


_SafeLoader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_python)
_SafeLoader.add_multi_constructor("!", _construct_unknown)


def _construct_undefined(loader: Any, node: yaml.Node) -> Any:
    """Any other tag (``!<tag:example.com,2024:x>``, ``!!unknown``): kept, never resolved,
    so one odd value does not make a whole trial unreadable."""
    return _placeholder(loader, str(node.tag), {"value": _construct_plain(loader, node)})


_SafeLoader.add_constructor(None, _construct_undefined)


def _construct_set(loader: Any, node: yaml.Node) -> set:
    return set(loader.construct_mapping(node).keys())


_SafeLoader.add_constructor("tag:yaml.org,2002:set", _construct_set)


MAX_ALIAS_NODES = 1_000_000
"""How many values aliases (``*name``) may add to a document once expanded.

votakvot never writes anchors, so aliases only come from hand-edited or hostile
files; the limit stops a "billion laughs" document, which parses into a few
shared nodes but expands to billions of values in any reader that walks it."""


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_aliases(node: yaml.Node) -> None:
    """Refuse a node graph that is cyclic or expands to far more nodes than it holds.

    Walks the composed graph (not the values) without recursion, counting each
    node's expanded size once.
    """
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, finished = stack.pop()
        key = id(current)
        if finished:
            ancestors.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(current))
            continue
        if key in sizes:
            continue
        if key in ancestors:
            raise UnsafeTagError(
                "<yaml>",
                f"an alias refers to a value that contains it ({current.start_mark}); "
                "votakvot does not load self-referencing documents",
            )
        ancestors.add(key)
        stack.append((current, True))
        stack.extend((child, False) for child in _children(current) if id(child) not in sizes)
    expanded = sizes[id(node)]
    if expanded > len(sizes) + MAX_ALIAS_NODES:
        raise UnsafeTagError(
            "<yaml>",
            f"aliases expand {len(sizes)} values to {expanded} (an alias bomb); "
            f"votakvot loads at most {MAX_ALIAS_NODES} values added by aliases",
        )


def load(text: str | bytes, placeholders: list[Placeholder] | None = None) -> Any:
    """Parse one YAML document without ever executing code from it.

    A tag that would call or import something, or that votakvot does not know,
    becomes a :class:`Placeholder`; each one made is appended to ``placeholders``
    when that list is given (so a caller can warn about it).

    Raises:
        yaml.YAMLError: the text is not YAML.
        UnsafeTagError: aliases that refer to themselves or expand to millions of values.
    """
    loader = _SafeLoader(text)
    loader.placeholders = placeholders
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # Aliases need an anchor ("&name"): a document without "&" skips the walk.
        has_anchor = b"&" in text if isinstance(text, bytes) else "&" in text
        if has_anchor:
            _check_aliases(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
