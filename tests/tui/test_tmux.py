"""The dashboard in a real terminal (tmux), as a person would see it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None,
    reason="tmux is not installed (apt-get install tmux) so no real terminal to test in",
)


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=20)


def _wait_screen(socket: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "tui").stdout
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never showed up; the terminal shows:\n{screen}")


def test_starts_lists_trials_and_quits_with_q(sample, tmp_path: Path):
    """In tmux the app starts, lists the trials and `q` ends the process."""
    root, _ = sample
    socket = f"votakvot-tui-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-code"
    command = f"{sys.executable} -m votakvot_tui {root}; echo $? > {done}; sleep 30"
    env = {**os.environ, "TERM": "xterm-256color"}
    started = subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "tui", "-x", "100", "-y", "30", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert started.returncode == 0, started.stderr
    try:
        # Rows stream in as the walk finds them: wait for the whole table, not the first row.
        screen = _wait_screen(socket, "6/6 shown")
        assert "interrupted" in screen and "6/6 shown" in screen
        _tmux(socket, "send-keys", "-t", "tui", "q")
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.exists(), "the app did not quit on q"
        assert done.read_text().strip() == "0"
    finally:
        _tmux(socket, "kill-server")
