"""Launching an ab run from the dashboard in a real terminal (tmux) and seeing it finish."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from launch_helpers import user_module

from votakvot_tui.core.jobs import JobManager

pytestmark = [
    pytest.mark.skipif(
        shutil.which("tmux") is None,
        reason="tmux is not installed (apt-get install tmux) so no real terminal to test in",
    ),
    pytest.mark.timeout(120),
]

MODULE = """
import time

def ping(n=1):
    time.sleep(0.002)
    return n
"""


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True, timeout=20)


def _wait_screen(socket: str, *texts: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _tmux(socket, "capture-pane", "-p", "-t", "tui").stdout
        if all(t in screen for t in texts):
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{texts!r} never showed up; the terminal shows:\n{screen}")


def _type(socket: str, text: str) -> None:
    _tmux(socket, "send-keys", "-t", "tui", "-l", text)


def _key(socket: str, *keys: str) -> None:
    _tmux(socket, "send-keys", "-t", "tui", *keys)


def test_launch_ab_run_and_watch_it_finish(tmp_path: Path):
    """b opens the form; the run starts as a job, the monitor shows it to ``done`` with
    its results; q leaves the app (no job left running, so no notice)."""
    results = tmp_path / "results"
    results.mkdir()
    jobs = tmp_path / "jobs"
    module = user_module(tmp_path, MODULE, "pingmod")
    socket = f"votakvot-launch-{uuid.uuid4().hex[:8]}"
    done = tmp_path / "exit-code"
    app = shlex.join([sys.executable, "-m", "votakvot_tui", str(results)])
    command = f"cd {shlex.quote(str(tmp_path))} && {app}; echo $? > {done}; sleep 30"
    env = {**os.environ, "TERM": "xterm-256color", "VOTAKVOT_JOBS_DIR": str(jobs)}
    started = subprocess.run(
        ["tmux", "-L", socket, "new-session", "-d", "-s", "tui", "-x", "140", "-y", "45", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert started.returncode == 0, started.stderr
    try:
        _wait_screen(socket, "No trials here yet")
        _key(socket, "b")
        _wait_screen(socket, "Benchmark a callable")
        # Each step waits for the terminal to show the last one: keys sent in one burst
        # may reach the app before the field they are meant for has the focus.
        _type(socket, f"{module}.ping")
        _wait_screen(socket, f"{module}.ping")
        _key(socket, "Tab")
        time.sleep(0.3)
        _type(socket, "n=7")
        _wait_screen(socket, "n=7")
        _key(socket, "Tab")
        time.sleep(0.3)
        _key(socket, "C-u")
        time.sleep(0.3)
        _type(socket, "300")
        _wait_screen(socket, "calls -n          300")
        _key(socket, "Enter")
        screen = _wait_screen(socket, f"ab {module}.ping", "done", "300 / 300 (100%)")
        assert "histogram" in screen
        _wait_screen(socket, "100.0%  7")  # every call returned 7
        _key(socket, "Escape")
        _wait_screen(socket, f"{module}.ping done")  # the new trial is in the table
        _key(socket, "q")
        deadline = time.monotonic() + 20
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.exists(), "the app did not quit on q"
        assert done.read_text().strip() == "0"
        (job,) = JobManager(str(jobs)).list_jobs()
        assert (job.kind, job.state, job.exit_code) == ("ab", "done", 0)
    finally:
        _tmux(socket, "kill-server")
        for job in JobManager(str(jobs)).running():
            if job.child_pid:
                try:
                    os.killpg(job.child_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
