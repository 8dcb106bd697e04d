"""votakvot-tui: a live terminal dashboard over votakvot trial folders.

Run ``votakvot-tui [PATH ...]``; from Python, ``make_app(paths).run()``.
The library (``votakvot``) never imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import VotakvotApp, make_app

__all__ = ["VotakvotApp", "make_app"]


def __getattr__(name: str) -> Any:
    # Textual is imported only when the app is actually wanted.
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'votakvot_tui' has no attribute {name!r}")
