"""Optional parts of votakvot and the extra that installs each.

``pip install votakvot`` gives the library and the ``votakvot`` command (pyyaml,
fsspec, pandas). The dashboard needs ``votakvot[tui]``, the benchmark tool
``votakvot[ab]``; ``votakvot[all]`` installs both. An entry point whose extra is
missing says so in one line instead of failing deep inside an import.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from .exceptions import MissingDependencyError

__all__ = ["EXTRAS", "MissingDependencyError", "missing", "require"]

EXTRAS: dict[str, tuple[str, ...]] = {
    "tui": ("textual", "textual_plotext", "plotext", "watchdog"),
    "ab": ("numpy", "gevent"),
}
"""The modules each extra provides (import names, not package names)."""


def missing(modules: Sequence[str]) -> list[str]:
    """The ``modules`` that cannot be imported here (found without importing them)."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a finder that refuses it, a broken parent
            found = False
        if not found:
            out.append(name)
    return out


def require(extra: str, what: str, modules: Sequence[str] | None = None) -> None:
    """Raise :class:`MissingDependencyError` unless ``modules`` (default: every module
    of ``extra``) are installed; the message says what to install, in one line.

    ``what`` names what needs them: ``"votakvot-tui"``, ``"votakvot-ab --gevent"``.
    """
    if missing(EXTRAS[extra] if modules is None else modules):
        raise MissingDependencyError(
            f"{what} needs the {extra} extra: pip install 'votakvot[{extra}]'"
        )
