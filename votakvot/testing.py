"""Helpers for running trials inside a user's own test suite.

>>> import votakvot, votakvot.testing
>>> with votakvot.testing.isolated() as root:
...     ...  # tracked calls here write under ``root`` (``memory://...`` by default)
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from ._config import get_config, set_config

__all__ = ["isolated"]


@contextlib.contextmanager
def isolated(path: str | None = None, **init_options: Any) -> Iterator[str]:
    """Send trials to a fresh root for the duration of the block, then restore the settings.

    Args:
        path: the root to use; by default a new ``memory://`` folder, so nothing
            touches the disk and parallel tests never see each other's trials.
        **init_options: anything else ``votakvot.init`` accepts.

    Yields:
        The root, to hand to ``load_report``/``load_trials``.
    """
    import votakvot

    previous = get_config()
    root = path or f"memory://votakvot-test-{uuid.uuid4().hex[:12]}"
    votakvot.init(path=root, **init_options)
    try:
        yield root
    finally:
        set_config(previous)
        if path is None:
            import fsspec

            fs = fsspec.filesystem("memory")
            with contextlib.suppress(FileNotFoundError):
                fs.rm(root.removeprefix("memory://"), recursive=True)
