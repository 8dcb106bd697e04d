"""Resuming from a snapshot that votakvot did not write: garbage is refused with an
error that says how to start over, and a pickle that would run code is never run."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from _support import SUMMARY
from _workload import Counter, expected_total

import votakvot
from votakvot._active import ActiveTrial
from votakvot._naming import function_name
from votakvot.layout import SNAPSHOT_NAME


class _Evil:
    """Unpickles to a call of os.system."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple:
        return (os.system, (self.command,))


def _running_trial_with_snapshot(root: Path, tid: str, snapshot: bytes) -> None:
    """A trial left ``running`` (as by a kill) whose snapshot file holds ``snapshot``."""
    trial = ActiveTrial(tid, {"n": 5, "pause": 0.0}, function=function_name(Counter))
    trial.data["resumable"] = {"loops": 2, "resumes": []}
    trial.start()
    trial._detach()  # the process "died": nothing refreshes or finishes it
    (root.joinpath(*tid.split("/")) / SNAPSHOT_NAME).write_bytes(snapshot)


def test_garbage_snapshot_is_refused(tmp_path: Path, isolated_config: None) -> None:
    """A snapshot that is not a pickle: ResumeError naming the file and rerun=True; with
    rerun=True the trial starts over and finishes."""
    votakvot.init(path=str(tmp_path))
    _running_trial_with_snapshot(tmp_path, "resume/garbage", b"\x80\x05not a pickle")
    with pytest.raises(votakvot.ResumeError, match="rerun=True") as info:
        votakvot.run("resume/garbage", Counter, n=5, pause=0.0)
    assert SNAPSHOT_NAME in str(info.value)
    trial = votakvot.run("resume/garbage", Counter, rerun=True, n=5, pause=0.0)
    assert trial.result == expected_total(5)
    SUMMARY["bad_inputs_tried"] += 1
    SUMMARY["bad_inputs_survived"] += 1


def test_foreign_pickle_snapshot_never_runs(tmp_path: Path, isolated_config: None) -> None:
    """A snapshot whose pickle would call os.system: refused with ResumeError, and the
    command never ran."""
    marker = tmp_path / "pwned"
    votakvot.init(path=str(tmp_path / "root"))
    evil = pickle.dumps(_Evil(f"touch {marker}"), protocol=2)
    _running_trial_with_snapshot(tmp_path / "root", "resume/evil", evil)
    SUMMARY["bad_inputs_tried"] += 1
    with pytest.raises(votakvot.ResumeError):
        votakvot.run("resume/evil", Counter, n=5, pause=0.0)
    assert not marker.exists(), "resuming ran code from a snapshot votakvot did not write"
    SUMMARY["bad_inputs_survived"] += 1
