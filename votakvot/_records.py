"""Parsing ``votakvot.yaml`` records fast, with exactly the result of the safe loader.

Reading thousands of records is where a report spends its time, and PyYAML builds
every node in Python even with libyaml (about 0.4 ms per record). Records are
written by our own dumper in plain block style, so most lines are ``key: scalar``
(odd strings double-quoted as JSON). This module reads that common shape line by
line and resolves each plain scalar with PyYAML's own resolver table and
constructors, so values are identical to what :func:`votakvot._yaml.load`
returns (a hypothesis test holds it to that). Anything else (single quotes,
escapes JSON does not share, flow style, tags, anchors, multi-line scalars,
comments) makes the top-level section it is in go through
:func:`votakvot._yaml.load` instead; and if splitting into sections is in doubt
the whole document does. Sections that repeat across trials (``meta``,
``function``, ``votakvot``) are parsed once and copied (or shared, for readers
that promise not to change them).

Records made of ``key: value`` lines only (nearly all) take a faster path still:
one regex checks and splits every line, ``meta`` is cut out and taken from the
section cache, and short values (states, small numbers) are resolved once per
process; any other shape goes the way described above.

Nothing here executes code from a file: the fallback is the safe loader, which
keeps tags that would as inert placeholders; :func:`parse_record` warns once per
field about each (:class:`~votakvot.exceptions.UnreadableValueWarning`).
"""

from __future__ import annotations

import datetime
import itertools
import json
import re
import warnings
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import ScalarNode

from . import _yaml
from .exceptions import TrialLoadError, UnreadableValueWarning, UnsafeTagError

__all__ = ["check_record", "copy_tree", "parse_record"]

_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = SafeConstructor()
_BUILD = {
    tag: _CONSTRUCTOR.yaml_constructors[tag]
    for tag in (
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:timestamp",
    )
}
_KEY = re.compile(r"[A-Za-z_][\w.\-/ ]*\Z")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
# Characters that cannot start a plain scalar value (``-?:`` may when not followed by space).
_INDICATORS = frozenset("'\"!&*|>{}[]%@`#, \t")
# Line breaks other than "\n", and what the YAML reader refuses: the safe loader decides.
_BREAKS = re.compile("[\r\x85\u2028\u2029]")
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE  # compiled once by PyYAML already
_ASCII_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?(?:[+-]\d\d:\d\d)?\Z")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?\Z")
# The first line of each top-level key (a sequence item "- " at column 0 is not one).
_TOP = re.compile(r"^(?:[^ \n-]|-[^ \n])", re.M)
_JSON = json.JSONDecoder()
_CACHED_SECTIONS = frozenset({"meta", "votakvot", "function"})
_CACHE_LIMIT = 4096

_section_cache: dict[str, Any] = {}
_key_cache: dict[str, bool] = {}


class _Fallback(Exception):
    """This text is not in the simple shape; let the safe loader read it."""


def _scalar(text: str) -> Any:
    resolvers = _RESOLVERS.get(text[0])
    if resolvers is None:
        return text
    if _DECIMAL.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _TIMESTAMP.match(text):
        # what the writer emits; PyYAML's constructor gives the same aware datetime
        return datetime.datetime.fromisoformat(text)
    for tag, regexp in resolvers:
        if regexp.match(text):
            build = _BUILD.get(tag)
            if build is None:
                raise _Fallback
            return build(_CONSTRUCTOR, ScalarNode(tag, text))
    return text


def _plain_key(key: str) -> bool:
    """Whether ``key`` is a plain scalar that resolves to the same string."""
    known = _key_cache.get(key)
    if known is None:
        known = (
            bool(_KEY.match(key))
            and key[-1] != " "
            and " #" not in key
            and isinstance(_scalar(key), str)
        )
        if len(_key_cache) < _CACHE_LIMIT:
            _key_cache[key] = known
    return known


def _quoted(text: str) -> str:
    """A double-quoted scalar written as JSON (what the writer emits for odd strings).

    JSON string escapes mean the same in YAML; anything JSON does not accept,
    and ``\\u`` escapes (surrogate pairs differ), is left to the safe loader.
    """
    if text[-1] != '"' or "\\u" in text or "\t" in text:
        raise _Fallback
    inner = text[1:-1]
    if "\\" not in inner and '"' not in inner and len(text) > 1:
        return inner  # JSON without escapes: the text itself, as json.loads gives it
    try:
        value = json.loads(text)
    except ValueError:
        raise _Fallback from None
    if not isinstance(value, str):
        raise _Fallback
    return value


def _value(text: str) -> Any:
    first = text[0]
    if first in _INDICATORS:
        if first == '"':
            return _quoted(text)
        if text == "{}":
            return {}
        if text == "[]":
            return []
        raise _Fallback
    if first in "-?:" and (len(text) == 1 or text[1] == " "):
        raise _Fallback
    if " #" in text or ": " in text or text[-1] in " :\t" or "\t" in text:
        raise _Fallback
    return _scalar(text)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _quoted_key(content: str) -> tuple[str, str]:
    """``'"a b": 1'`` -> ``("a b", ": 1")``."""
    try:
        key, end = _JSON.raw_decode(content)
    except ValueError:
        raise _Fallback from None
    if not isinstance(key, str) or "\\u" in content[:end]:
        raise _Fallback
    return key, content[end:]


def _mapping(lines: list[str], i: int, indent: int) -> tuple[dict[str, Any], int]:
    """The block mapping whose keys sit at column ``indent``, from line ``i`` on."""
    result: dict[str, Any] = {}
    n = len(lines)
    pad = " " * indent
    keys = _key_cache
    while i < n:
        line = lines[i]
        if indent:
            if not line.startswith(pad):
                break  # less indented (or blank): the caller's
            content = line[indent:]
        else:
            content = line
        first = content[:1]
        if first == " " or not first:
            raise _Fallback  # more indented than a key here, or a blank line
        if first == "-" and content[1:2] in ("", " "):
            break  # a sequence item at this level belongs to the caller's key
        if first == '"':
            key, rest = _quoted_key(content)
        else:
            colon = content.find(": ")
            if colon > 0:
                key, rest = content[:colon], content[colon:]
            elif content[-1] == ":":
                key, rest = content[:-1], ":"
            else:
                raise _Fallback
            plain = keys.get(key)
            if plain is None:
                plain = _plain_key(key)
            if not plain:
                raise _Fallback
        i += 1
        if rest != ":":
            if len(rest) < 3 or rest[1] != " ":
                raise _Fallback
            result[key] = _value(rest[2:])
            continue
        if i < n:
            nxt = lines[i]
            nind = len(nxt) - len(nxt.lstrip(" "))
            item = nxt[nind : nind + 1] == "-" and nxt[nind + 1 : nind + 2] in ("", " ")
            if item and nind >= indent:
                result[key], i = _sequence(lines, i, nind)
                continue
            if nind > indent:
                result[key], i = _mapping(lines, i, nind)
                continue
        result[key] = None
    return result, i


def _sequence(lines: list[str], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    n = len(lines)
    while i < n:
        line = lines[i]
        ind = _indent(line)
        if ind < indent:
            break
        if ind > indent:
            raise _Fallback
        content = line[ind:]
        if content[:2] != "- ":
            break
        item = content[2:]
        if not item or item[0] == "-" or ": " in item or item[-1] == ":":
            raise _Fallback
        items.append(_value(item))
        i += 1
    return items, i


def copy_tree(value: Any) -> Any:
    """A copy of parsed YAML deep enough that changing it never changes a cached section."""
    if isinstance(value, _yaml.Tagged):
        return _yaml.Tagged(value.tag, {k: copy_tree(v) for k, v in value.items()})
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def _split_sections(text: str) -> list[tuple[str, str]] | None:
    """Top-level ``(key, text)`` sections, or ``None`` when the split would be a guess."""
    starts = [m.start() for m in _TOP.finditer(text)]
    if not starts or text[: starts[0]].strip():
        return None
    starts.append(len(text))
    sections: list[tuple[str, str]] = []
    for a, b in itertools.pairwise(starts):
        chunk = text[a:b]
        if chunk[0] in "#%" or chunk.startswith(("---", "...")):
            return None
        head = chunk.partition("\n")[0]
        colon = head.find(":")
        sections.append((head[:colon] if colon > 0 else head, chunk))
    return sections


def _full_load(text: str, found: list[_yaml.Placeholder]) -> Any:
    try:
        return _yaml.load(text, found)
    except yaml.YAMLError as exc:
        raise _FullError(exc) from None


class _FullError(Exception):
    def __init__(self, exc: yaml.YAMLError) -> None:
        super().__init__(str(exc))
        self.exc = exc


def _parse_section(
    key: str, chunk: str, shared: bool, found: list[_yaml.Placeholder]
) -> dict[str, Any]:
    cacheable = key in _CACHED_SECTIONS
    if cacheable:
        hit = _section_cache.get(chunk)
        if hit is not None:
            return {key: hit if shared else copy_tree(hit)}
    try:
        lines = chunk.rstrip("\n").split("\n")
        value, end = _mapping(lines, 0, 0)
        if end != len(lines):
            raise _Fallback
    except _Fallback:
        before = len(found)
        value = _full_load(chunk, found)
        if len(found) > before:
            cacheable = False  # a cache hit would skip the warning for the next record
        # Only a plain mapping of this very key is a section; anything else (a tagged
        # object, a key the split guessed wrong) leaves the whole document to the loader.
        if type(value) is not dict or key not in value:
            raise _FullError(yaml.YAMLError("not a mapping of its key")) from None
    if cacheable and len(value) == 1 and key in value:
        if len(_section_cache) >= _CACHE_LIMIT:
            _section_cache.clear()
        _section_cache[chunk] = value[key]
        return {key: value[key] if shared else copy_tree(value[key])}
    return value


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."


def parse_record(raw: bytes, name: str, *, shared: bool = False) -> dict[str, Any]:
    """The mapping in a ``votakvot.yaml`` file's bytes.

    Args:
        raw: the file's content.
        name: the file's path or URL, for error messages.
        shared: the caller only reads the result, so sections repeated across
            records (``meta``) may be the same objects instead of copies.

    Raises:
        TrialLoadError: the file is empty, not UTF-8, not YAML, not a mapping,
            or carries a tag that would run code (:class:`UnsafeTagError`).
    """
    if not raw.strip():
        raise TrialLoadError(name, "the file is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrialLoadError(
            name, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    found: list[_yaml.Placeholder] = []
    try:
        data = _parse_text(text, shared, found)
    except UnsafeTagError as exc:
        raise UnsafeTagError(name, exc.reason) from None
    except TrialLoadError as exc:
        raise TrialLoadError(name, exc.reason) from None
    except yaml.YAMLError as exc:
        raise TrialLoadError(name, f"not valid YAML: {_describe(exc)}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise TrialLoadError(name, f"a value cannot be read: {_describe(exc)}") from None
    except RecursionError:
        raise TrialLoadError(name, "nested too deeply to be a trial record") from None
    if not isinstance(data, dict):
        raise TrialLoadError(name, f"expected a mapping of fields, found {type(data).__name__}")
    if found:
        _warn_placeholders(data, name)
    return data


def _placeholders(value: Any, path: str, out: list[tuple[str, _yaml.Placeholder]]) -> None:
    """Each outermost placeholder in ``value`` with its field path (``result.w[3]``)."""
    if isinstance(value, _yaml.Placeholder):
        out.append((path or "(the record)", value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _placeholders(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _placeholders(item, f"{path}[{i}]", out)


def _tag_text(tag: str) -> str:
    """A placeholder's tag as it was written in the file."""
    if tag.startswith("python/"):
        return f"!!{tag}"
    if tag.startswith("tag:yaml.org,2002:"):
        return "!!" + tag.removeprefix("tag:yaml.org,2002:")
    if ":" in tag or tag.startswith("!"):
        return f"!<{tag}>"
    return f"!{tag}"


def _warn_placeholders(data: dict[str, Any], name: str) -> None:
    found: list[tuple[str, _yaml.Placeholder]] = []
    _placeholders(data, "", found)
    for path, value in found:
        tag = _tag_text(value.tag)
        kind, _, target = value.tag.partition(":")
        why = (
            f"reading it would call {target}()"
            if kind == "python/object/apply"
            else "votakvot does not resolve this tag"
        )
        warnings.warn(
            f"{name}: field {path!r} has the tag {tag} ({why}); it is read as a "
            "votakvot placeholder holding the tag and its fields, the rest of the trial "
            "as usual",
            UnreadableValueWarning,
            stacklevel=3,
        )


# A record made only of ``key: value`` and ``key:`` lines (no sequences, no quoted
# keys, no comments): what the writer emits for nearly every trial.
_KEY_LINES = re.compile(r"(?: *[^ \n\"#\-:][^:\n]*:(?: [^\n]+)?\n)*\Z")
_KEY_LINE = re.compile(r"( *)([^ \n\"#\-:][^:\n]*):(?: ([^\n]+))?\n")
_value_cache: dict[str, Any] = {}
_VALUE_CACHED = 24
"""Values up to this long (states, small numbers, repeated words) are resolved once."""


_DEEPEST = 64
"""Nesting beyond which the fast path leaves a text to the other readers."""
_MISSING = object()
_MUTABLE = (dict, list)


def _key_lines(text: str) -> dict[str, Any] | None:
    """The mapping of a text of key lines only, ``None`` if it is not one.

    One regex checks every line and one splits them (both in C); the loop only
    nests and converts. Values go through :func:`_value` (raising ``_Fallback``
    for anything it does not resolve exactly like the safe loader).
    """
    if not _KEY_LINES.match(text):
        return None
    items = _KEY_LINE.findall(text)
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(0, root)]
    depth, current = 0, root
    keys = _key_cache
    values = _value_cache
    n = len(items)
    for k in range(n):
        pad, key, value = items[k]
        indent = len(pad)
        if indent != depth:
            if indent > depth:
                return None  # deeper without a "key:" line above
            while stack[-1][0] > indent:
                stack.pop()
            if stack[-1][0] != indent:
                return None
            depth, current = stack[-1]
        plain = keys.get(key)
        if plain is None:
            plain = _plain_key(key)
        if not plain:
            return None
        if value:
            if len(value) <= _VALUE_CACHED:
                known = values.get(value, _MISSING)
                if known is _MISSING:
                    known = _value(value)
                    if type(known) not in _MUTABLE:
                        if len(values) >= _CACHE_LIMIT:
                            values.clear()
                        values[value] = known
                current[key] = known
            else:
                current[key] = _value(value)
        elif k + 1 < n and len(items[k + 1][0]) > indent:
            child: dict[str, Any] = {}
            current[key] = child
            depth, current = len(items[k + 1][0]), child
            stack.append((depth, child))
            if len(stack) > _DEEPEST:
                return None  # the loaders decide what is too deep
        else:
            current[key] = None
    return root


def _fast(text: str, shared: bool, found: list[_yaml.Placeholder]) -> dict[str, Any] | None:
    """A record of key lines with its ``meta`` section cut out and taken from the
    section cache; ``None`` when the text is in any other shape."""
    start = text.find("\nmeta:\n")
    try:
        if start < 0:
            return _key_lines(text)
        after = _TOP.search(text, start + 7)
        end = after.start() if after else len(text)
        before = _key_lines(text[: start + 1])
        rest = _key_lines(text[end:]) if after else {}
        if before is None or rest is None or "meta" in before or "meta" in rest:
            return None
        meta = _parse_section("meta", text[start + 1 : end], shared, found)
    except (_Fallback, _FullError):
        return None
    if len(meta) != 1 or "meta" not in meta:
        return None
    if not rest:
        before.update(meta)
        return before
    return {**before, **meta, **rest}


def _parse_text(text: str, shared: bool, found: list[_yaml.Placeholder]) -> Any:
    if text.isascii():
        simple = not _ASCII_SPECIAL.search(text)
    else:
        simple = not (_BREAKS.search(text) or _NON_PRINTABLE.search(text) or "\ufeff" in text)
    if simple and text[:1] not in ("", " ", "\n"):
        data = _fast(text, shared, found)
        if data:
            return data
    sections = _split_sections(text) if simple else None
    if sections:
        try:
            return _parse_sections(sections, shared, found)
        except _FullError:
            pass  # the split was wrong or the text is bad: the whole document decides
    return _yaml.load(text, found)


def _parse_sections(
    sections: list[tuple[str, str]], shared: bool, found: list[_yaml.Placeholder]
) -> dict[str, Any]:
    """All sections not cached in one pass of the line parser; section by section if not."""
    keys = [key for key, _ in sections]
    if len(set(keys)) == len(keys):
        rest = "".join(chunk for key, chunk in sections if key not in _CACHED_SECTIONS)
        try:
            lines = rest.rstrip("\n").split("\n") if rest else []
            parsed, end = _mapping(lines, 0, 0)
            if end == len(lines):
                data: dict[str, Any] = {}
                for key, chunk in sections:
                    if key in _CACHED_SECTIONS:
                        data.update(_parse_section(key, chunk, shared, found))
                    else:
                        data[key] = parsed.pop(key)
                if not parsed:
                    return data
        except (_Fallback, KeyError):
            pass
    data = {}
    for key, chunk in sections:
        data.update(_parse_section(key, chunk, shared, found))
    return data


_ENDING_KEY = {"done": "result", "failed": "error", "interrupted": "error"}


def check_record(data: dict[str, Any], name: str) -> dict[str, Any]:
    """``data`` if it is a whole trial record; a :class:`TrialLoadError` saying what is missing.

    The writer replaces the file atomically, so a record without the key its
    state ends with was cut short by something else (a copy, a full disk).
    """
    tid = data.get("tid")
    if not isinstance(tid, str) or not tid:
        raise TrialLoadError(name, "no 'tid' field: not a votakvot trial record, or cut short")
    state = data.get("state")
    if not isinstance(state, str):
        raise TrialLoadError(name, "no 'state' field: not a votakvot trial record, or cut short")
    ending = _ENDING_KEY.get(state)
    if ending is not None and ending not in data:
        raise TrialLoadError(
            name, f"state is {state!r} but there is no {ending!r}: the file was cut short"
        )
    return data
