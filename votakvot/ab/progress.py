"""The live progress line, drawn on standard error when it is a terminal."""

from __future__ import annotations

import shutil
import sys
from typing import IO, Any

__all__ = ["Progress", "fmt_duration", "fmt_seconds"]


def fmt_seconds(value: float | None, micro: str = "us") -> str:
    """A latency in seconds as a short human string: ``812 ns``, ``3.4 us``, ``12.1 ms``.

    The one latency format of ``votakvot-ab`` and the dashboard's ab monitor;
    ``micro`` is ``us`` on plain terminals and logs, ``µs`` where it can be drawn.
    ``None`` and NaN (no calls measured) are ``-``.
    """
    if value is None or value != value:
        return "-"
    if value < 1e-6:
        return f"{value * 1e9:.0f} ns"
    if value < 1e-3:
        return f"{value * 1e6:.1f} {micro}"
    if value < 1:
        return f"{value * 1e3:.2f} ms"
    return f"{value:.3f} s"


def fmt_duration(seconds: float) -> str:
    """``12.3s`` under a minute, else ``m:ss``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}:{sec:02d}"


class Progress:
    """One line, rewritten in place: done/total (or elapsed/duration), calls/s now,
    errors, p50 and p99 so far."""

    def __init__(self, opts: Any, stream: IO[str] | None = None) -> None:
        self.opts = opts
        self.stream = stream or sys.stderr
        self._shown = False

    def render(self, status: dict[str, Any]) -> str:
        if status.get("total") is not None:
            total = status["total"]
            pct = 100.0 * status["done"] / total if total else 100.0
            head = f"{status['done']:,}/{total:,} ({pct:.0f}%)"
        else:
            head = (
                f"{fmt_duration(status['elapsed'])}/{fmt_duration(status['duration'] or 0)} "
                f"{status['done']:,} calls"
            )
        rate = status.get("rate_now")
        parts = [
            head,
            f"{rate:,.0f} calls/s" if rate is not None else "- calls/s",
            f"errors {status['errors']:,}",
            f"p50 {fmt_seconds(status.get('p50'))}",
            f"p99 {fmt_seconds(status.get('p99'))}",
        ]
        return "  ".join(parts)

    def update(self, status: dict[str, Any]) -> None:
        width = shutil.get_terminal_size((100, 20)).columns - 1
        line = self.render(status)[:width]
        self.stream.write("\r" + line + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
