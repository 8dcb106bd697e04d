"""One call as a runner ships it: the function, its params, its trial id and attempt."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = ["Call"]


@dataclasses.dataclass(frozen=True, slots=True)
class Call:
    """One trial to run: ``fn(**params)``, as a fresh trial or as the explicit ``tid``."""

    fn: Callable[..., Any]
    params: dict[str, Any]
    tid: str | None = None
    rerun: bool = False
    attempt: int = 1
    """Which run of this call this is (1 = the first); every attempt is the same trial."""
    retries: int = 0
    """Runs after the first that a failure or a dead worker may cost."""
    trust_snapshot: bool = False
    """Resume a resumable call from its snapshot without checking where it came from
    (as ``votakvot.run(..., trust_snapshot=True)``)."""
    origin: dict[str, Any] | None = None
    """Set by :func:`~votakvot.runners._attempts.prepare` at submit: the client's ``git``
    state, the function's source, the runner kind and the fresh trial's uuid."""
