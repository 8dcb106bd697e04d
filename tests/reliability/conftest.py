"""Fixtures of the reliability suite, and the summary table that ``make stress`` prints
at the end (the counters live in ``_support.SUMMARY``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _support import ROWS, SUMMARY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARY:
        return
    write = terminalreporter.write_line
    terminalreporter.section("votakvot reliability summary")
    width = max(len(label) for _, label in ROWS)
    for key, label in ROWS:
        if key in SUMMARY or key in ("lost", "corrupt_files"):
            write(f"{label:<{width}}  {SUMMARY[key]:>10}")


@pytest.fixture
def isolated_config() -> Iterator[None]:
    """Restore votakvot's global settings after a test that calls ``init``."""
    from votakvot import _config

    saved = _config.get_config()
    try:
        yield
    finally:
        _config.set_config(saved)
