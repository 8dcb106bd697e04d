"""What code a trial ran: the tracked function's file, line and source hash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["describe"]


def describe(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """The ``source`` section of a record for ``fn``, or ``None`` when nothing is known."""
    return None
