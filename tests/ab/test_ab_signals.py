"""``votakvot-ab`` stopped by SIGTERM/SIGHUP (docker stop, Kubernetes, ``timeout``)
keeps its results like a Ctrl-C does, and ``-d`` ends the run even when calls hang.
Each runs the command in a real process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from votakvot.trial import read_trial

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

HANGS = """
import time

calls = 0


def hang(after=3):
    # After a few calls every call hangs (time.sleep is cooperative under --gevent).
    global calls
    calls += 1
    if calls > after:
        time.sleep(3600)
    return "ok"
"""

ENGINES = {
    "threads": [],
    "gevent": ["--gevent"],
    "processes": ["--processes", "2"],
}


def _popen(workdir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "votakvot.ab", *args],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_running(proc: subprocess.Popen[str], status_file: Path) -> dict:
    """Until the status file says calls were made (no blind sleep)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"votakvot-ab ended early: {proc.communicate()}")
        if status_file.exists():
            try:
                status = json.loads(status_file.read_text())
            except ValueError:
                status = {}  # pragma: no cover - replaced atomically, but be lenient
            if status.get("done", 0) > 0:
                return status
        time.sleep(0.05)
    proc.kill()
    pytest.fail("votakvot-ab never reported calls")


def _communicate(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_keeps_partial_results(workdir: Path, engine: str, sig: signal.Signals) -> None:
    """SIGTERM (or SIGHUP) does what the first Ctrl-C does: the summary so far is printed
    and saved, the trial is interrupted naming the signal; the exit status is 128+N."""
    c = "2" if engine != "processes" else "4"
    proc = _popen(workdir, "-d", "120", "-c", c, "-p", "res", "-t", "term", *ENGINES[engine],
                  "mods.slow", "ms=2")  # fmt: skip
    status_file = workdir / "res" / "term" / "ab.status.json"
    running = _wait_running(proc, status_file)
    assert running["state"] == "running" and running["pid"] == proc.pid
    proc.send_signal(sig)
    out, err = _communicate(proc)
    assert proc.returncode == 128 + sig, err
    assert "Summary:" in out and "(interrupted)" in out
    trial = read_trial(str(workdir / "res" / "term"))
    assert trial is not None and trial.state == "interrupted"
    assert trial.data["error"]["type"] == sig.name
    assert trial.data["error"]["signal"] == sig.name
    assert trial.data["result"]["count"] > 0
    assert trial.data["result"]["stopped"] == "interrupted"
    assert json.loads(status_file.read_text())["state"] == "interrupted"


def test_ctrl_c_names_sigint(workdir: Path) -> None:
    """A Ctrl-C keeps its KeyboardInterrupt record and exit status 130, naming SIGINT."""
    proc = _popen(workdir, "-d", "120", "-p", "res", "-t", "int", "mods.slow", "ms=2")
    _wait_running(proc, workdir / "res" / "int" / "ab.status.json")
    proc.send_signal(signal.SIGINT)
    _out, err = _communicate(proc)
    assert proc.returncode == 130, err
    trial = read_trial(str(workdir / "res" / "int"))
    assert trial is not None and trial.state == "interrupted"
    assert trial.data["error"]["type"] == "KeyboardInterrupt"
    assert trial.data["error"]["signal"] == "SIGINT"


@pytest.mark.parametrize("engine", ENGINES)
def test_duration_is_honoured_when_calls_hang(workdir: Path, engine: str) -> None:
    """-d 1 with calls that never return: the run ends, the summary is saved, and the
    calls left running are counted as unfinished (today it waits for them forever)."""
    (workdir / "hangs.py").write_text(HANGS)
    args = ["-d", "1", "-c", "2", *ENGINES[engine], "-p", "res", "-t", "hang", "--json"]
    proc = _popen(workdir, *args, "hangs.hang")
    out, err = _communicate(proc)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    processes = 2 if engine == "processes" else 1
    # Each process made 3 calls, then each of its 2 workers hung in one.
    assert summary["count"] == 3 * processes
    assert summary["results"] == [{"value": "ok", "count": 3 * processes}]
    assert summary["unfinished"] == 2
    assert any("unfinished" in w for w in summary["warnings"])
    trial = read_trial(summary["trial"])
    assert trial is not None and trial.state == "done"
    assert trial.data["result"]["unfinished"] == 2


def test_sigterm_while_calls_hang(workdir: Path) -> None:
    """A stop does not wait forever for hung calls either: the record is saved in time
    for the SIGKILL that docker and Kubernetes send after their grace period."""
    (workdir / "hangs.py").write_text(HANGS)
    proc = _popen(workdir, "-d", "600", "-c", "2", "-p", "res", "-t", "hangterm",
                  "hangs.hang", "after=40")  # fmt: skip
    status_file = workdir / "res" / "hangterm" / "ab.status.json"
    _wait_running(proc, status_file)
    proc.send_signal(signal.SIGTERM)
    out, err = _communicate(proc)
    assert proc.returncode == 143, err
    assert "unfinished" in out
    trial = read_trial(str(workdir / "res" / "hangterm"))
    assert trial is not None and trial.state == "interrupted"
    result = trial.data["result"]
    assert result["unfinished"] == 2 and result["count"] == 40
