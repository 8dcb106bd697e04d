"""YAML in and out of ``votakvot.yaml``.

Writing uses PyYAML's full representer (libyaml's C emitter when present) so any
value a user records round-trips with PyYAML's python tags. Reading never runs
code: a safe loader maps python tags to plain values (:class:`Tagged` for
objects), and refuses tags whose only purpose is calling something.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import pathlib
import uuid
from collections.abc import Callable
from typing import Any

import yaml

from .exceptions import UnsafeTagError

__all__ = ["Tagged", "dump", "load"]

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
    return dumper.represent_mapping(tag, {"kwds": dict(data._asdict())})


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
_Dumper.add_representer(pathlib.PurePosixPath, lambda d, v: d.represent_str(str(v)))
_Dumper.add_representer(pathlib.PosixPath, lambda d, v: d.represent_str(str(v)))


def dump(data: Any) -> str:
    """Serialize ``data`` as block-style YAML, keys in insertion order."""
    return yaml.dump(
        data, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True
    )


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


# Constructors that build plain values from data: safe, so ``object/apply`` of
# these (how PyYAML writes timedelta, Decimal, Path, ...) is accepted.
_SAFE_APPLY: dict[str, Callable[..., Any]] = {
    "datetime.timedelta": datetime.timedelta,
    "datetime.date": datetime.date,
    "datetime.time": datetime.time,
    "decimal.Decimal": decimal.Decimal,
    "fractions.Fraction": fractions.Fraction,
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
        return f"{kind}:{name}"
    if kind in ("object", "object/new", "object/apply"):
        value = _construct_plain(loader, node)
        if kind == "object/apply":
            safe = _SAFE_APPLY.get(name)
            if safe is None:
                raise UnsafeTagError(
                    "<yaml>",
                    f"tag !!python/object/apply:{name} would call {name}(); "
                    "votakvot never runs code from a results file",
                )
            args = value if isinstance(value, list) else (value or {}).get("args", [])
            try:
                return safe(*args)
            except (TypeError, ValueError, ArithmeticError, decimal.InvalidOperation) as exc:
                return Tagged(name, {"args": args, "error": str(exc)})
        return Tagged(name, _object_fields(value))
    raise UnsafeTagError("<yaml>", f"unknown python tag !!python/{suffix}")


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
    """A tag votakvot does not know: kept as a tagged value, never resolved."""
    return Tagged(suffix, {"value": _construct_plain(loader, node)})


_SafeLoader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_python)
_SafeLoader.add_multi_constructor("!", _construct_unknown)


def _construct_set(loader: Any, node: yaml.Node) -> set:
    return set(loader.construct_mapping(node).keys())


_SafeLoader.add_constructor("tag:yaml.org,2002:set", _construct_set)


def load(text: str | bytes) -> Any:
    """Parse one YAML document without ever executing code from it.

    Raises:
        yaml.YAMLError: the text is not YAML.
        UnsafeTagError: it carries a tag that would run code.
    """
    loader = _SafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
