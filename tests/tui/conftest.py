"""Fixtures of the dashboard's tests (helpers live in ``tui_helpers``)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tui_helpers import make_sample


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Path]]]:
    """A results folder with the six sample trials: ``(root, {name: folder})``."""
    root = tmp_path / "results"
    root.mkdir()
    yield root, make_sample(root)


@pytest.fixture
def utc_timezone() -> Iterator[None]:
    """Local time is UTC while the test runs (times on screen are local)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()
