"""The progress line of ``map``/``sweep``: tqdm when it is installed, else one stderr line.

On by default only when stderr is a terminal (a log file gets no carriage returns);
``progress=True`` forces it, ``progress=False`` turns it off. tqdm is not a
dependency: it is imported when a bar is shown, if it is there.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress", "wanted"]

_MIN_INTERVAL = 0.2
"""Seconds between redraws of the plain line."""


def wanted(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` if given, else whether stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Progress:
    """Counts finished trials of ``total`` and shows them on stderr."""

    def __init__(self, total: int, desc: str) -> None:
        self.total = total
        self.desc = desc
        self.done = 0
        self.failed = 0
        self._t0 = time.monotonic()
        self._drawn = 0.0
        self._bar: Any = None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._draw(force=True)
        else:
            self._bar = tqdm(total=total, desc=desc, unit="trial", file=sys.stderr)

    def update(self, failed: bool = False) -> None:
        """One more trial ended (``failed``: it raised)."""
        self.done += 1
        self.failed += failed
        if self._bar is not None:
            self._bar.update(1)
            if failed:
                self._bar.set_postfix(failed=self.failed, refresh=False)
        else:
            self._draw(force=self.done == self.total)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < _MIN_INTERVAL:
            return
        self._drawn = now
        failed = f", {self.failed} failed" if self.failed else ""
        line = f"\r{self.desc}: {self.done}/{self.total} trials{failed} [{now - self._t0:.1f} s]"
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._draw(force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()
