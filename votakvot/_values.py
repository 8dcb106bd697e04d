"""The record of a trial as YAML text: what users record, turned into values a reader can load."""

from __future__ import annotations

import logging
import threading
from typing import Any

from . import _yaml

__all__ = ["dump_record"]

logger = logging.getLogger("votakvot")


class _SectionCache:
    """The YAML text of the last ``meta`` section, reused while its value is unchanged.

    ``meta`` is most of a record and rarely changes within a process; dumping it
    once instead of twice per trial halves the cost of a tracked call.
    """

    __slots__ = ("text", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.text = ""

    def dump(self, value: Any) -> str:
        if self.value is None or value != self.value:
            text = _yaml.dump({"meta": value})
            self.value, self.text = value, text
        return self.text


_meta_cache = threading.local()


def dump_record(data: dict[str, Any], tid: str) -> str:
    try:
        if "meta" not in data:
            return _yaml.dump(data)
        cache = getattr(_meta_cache, "cache", None)
        if cache is None:
            cache = _meta_cache.cache = _SectionCache()
        head: dict[str, Any] = {}
        tail: dict[str, Any] = {}
        part = head
        for key, value in data.items():
            if key == "meta":
                part = tail
            else:
                part[key] = value
        return _yaml.dump(head) + cache.dump(data["meta"]) + (_yaml.dump(tail) if tail else "")
    except Exception:
        clean = _representable(data, tid, "")
        return _yaml.dump(clean)


def _representable(value: Any, tid: str, where: str) -> Any:
    """Replace values YAML cannot hold by their ``repr``, naming each one in a warning."""
    try:
        _yaml.dump(value)
        return value
    except Exception as exc:
        if isinstance(value, dict):
            return {k: _representable(v, tid, f"{where}.{k}".lstrip(".")) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_representable(v, tid, f"{where}[{i}]") for i, v in enumerate(value)]
        logger.warning(
            "votakvot: trial %r: %s (%s) cannot be stored as YAML (%s); its repr is stored",
            tid,
            where or "value",
            type(value).__name__,
            exc,
        )
        return repr(value)
