"""docs/tui.md tells the truth about the dashboard's keys."""

from __future__ import annotations

import pathlib

from textual.binding import Binding

from votakvot_tui.launch import LaunchActions

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "tui.md"


def test_launch_keys_are_documented():
    """Every key of ``LaunchActions`` has a row in the "Launching runs" table, and the
    section links docs/launch.md."""
    text = DOC.read_text()
    section = text.split("## Launching runs", 1)[1].split("\n## ", 1)[0]
    assert "(launch.md)" in section
    keys = [b.key for b in LaunchActions.BINDINGS if isinstance(b, Binding)]
    assert keys
    for key in keys:
        assert f"| `{key}` |" in section, key
