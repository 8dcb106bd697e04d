"""Resumable tasks (being built; see issue 4)."""

from __future__ import annotations

from typing import Any

__all__ = ["resumable_fn", "run_resumable"]


class resumable_fn:
    """Base of resumable tasks: subclass it with ``init(self, **params)`` and ``loop(self)``."""

    snapshot_period: float = 60.0
    snapshot_each: int | None = None

    def init(self, **params: Any) -> None:
        raise NotImplementedError

    def loop(self) -> Any:
        raise NotImplementedError


def run_resumable(
    tid: str, cls: type[resumable_fn], params: dict[str, Any], *, rerun: bool = False
) -> Any:
    raise NotImplementedError("resumable tasks land with issue 4")
