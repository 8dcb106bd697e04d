"""A tracked call writes its ``running`` record only once it has lasted
``RECORD_AFTER``: a short call writes its record once, at its end, and a long one is
still seen running from another process (and after a SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import _flusher
from votakvot.storage import LocalStorage

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

LONG_CALL = r"""
import sys, time
import votakvot

root, marker = sys.argv[1], sys.argv[2]
votakvot.init(path=root)


@votakvot.track()
def long_call():
    votakvot.inform(phase="sleeping")
    with open(marker, "w") as f:
        f.write(votakvot.tid())
    time.sleep(120)


long_call()
"""


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {seconds} s")
        time.sleep(0.02)


def _count_record_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    written: list[str] = []
    original = LocalStorage.write_atomic

    def counting(self: LocalStorage, path: str, data: bytes) -> None:
        if path.endswith("votakvot.yaml"):
            written.append(yaml.safe_load(data)["state"])
        original(self, path, data)

    monkeypatch.setattr(LocalStorage, "write_atomic", counting)
    return written


def test_a_short_call_writes_its_record_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A call far shorter than RECORD_AFTER writes votakvot.yaml once, with its end state."""
    written = _count_record_writes(monkeypatch)

    @votakvot.track()
    def short(x: int) -> int:
        votakvot.inform(note="x")
        return x + 1

    assert short(1) == 2
    assert written == ["done"]


def test_a_short_call_that_raises_records_its_error(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sub-threshold call that raises still records ``failed`` with its error and traceback."""
    written = _count_record_writes(monkeypatch)

    @votakvot.track()
    def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        broken()
    assert written == ["failed"]
    (trial,) = votakvot.load_trials(str(root)).values()
    assert trial.state == "failed"
    assert trial.data["error"]["type"] == "KeyError"
    assert "KeyError" in trial.data["traceback"]


def test_flush_now_writes_a_deferred_record(root: Path) -> None:
    """``flush_now`` (tests, process exit) writes the running record before it is due."""
    seen: list[dict] = []

    @votakvot.track()
    def call() -> None:
        votakvot.inform(step=1)
        _flusher.flusher.flush_now()
        seen.append(yaml.safe_load((root / votakvot.tid() / "votakvot.yaml").read_text()))

    call()
    assert seen[0]["state"] == "running"
    assert seen[0]["info"] == {"step": 1}


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_long_call_is_seen_running_from_another_process(tmp_path: Path) -> None:
    """A call that outlasts RECORD_AFTER is listed as running by another process, with
    the info it had, and still listed after a SIGKILL."""
    root, marker = tmp_path / "results", tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", LONG_CALL, str(root), str(marker)], env=ENV)
    try:
        _wait_for(marker)
        record = root / marker.read_text() / "votakvot.yaml"
        _wait_for(record)
        data = yaml.safe_load(record.read_text())
        assert data["state"] == "running"
        assert data["info"] == {"phase": "sleeping"}
        assert "finished" not in data["at"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    report = votakvot.load_report(str(root))
    assert list(report["tid"]) == [marker.read_text()]
    assert report.loc[0, "state"] in ("running", "stale")
