"""Monkey-patching for ``--gevent``, done before the user's module is imported so that
``requests``, ``socket``, ``time.sleep`` and friends yield to other greenlets.
"""

from __future__ import annotations

import threading

from ..extras import require
from .target import UsageError

__all__ = ["patch"]


def patch() -> None:
    """Patch the standard library for gevent, or raise :class:`UsageError` saying why not
    (:class:`~votakvot.exceptions.MissingDependencyError` without gevent)."""
    require("ab", "votakvot-ab --gevent", ("gevent",))
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        return
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        raise UsageError(
            f"--gevent must patch the standard library before any thread starts, but this "
            f"process already runs {len(others)} other thread(s) ({', '.join(others[:3])}); "
            "run votakvot-ab in a process of its own"
        )
    try:
        monkey.patch_all()
    except Exception as exc:
        raise UsageError(f"--gevent could not patch the standard library: {exc}") from None
