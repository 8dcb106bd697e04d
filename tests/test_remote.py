"""Reading trials back from remote stores: memory://, a real FTP and a real SFTP server."""

from __future__ import annotations

import uuid
import warnings

import fsspec
import pytest
from servers import PASSWORD

import votakvot
from votakvot import _flusher
from votakvot.report import SkippedTrialWarning, find_trial_dirs, load_report, load_trials
from votakvot.storage import redact
from votakvot.testing import isolated
from votakvot.trial import read_trial


@pytest.fixture(params=["memory", "ftp", "ssh", "sftp"])
def remote_root(request: pytest.FixtureRequest) -> str:
    """A fresh remote root URL on each kind of store (servers on 127.0.0.1)."""
    name = f"trials-{uuid.uuid4().hex[:8]}"
    if request.param == "memory":
        return f"memory://{name}"
    if request.param == "ftp":
        return request.getfixturevalue("ftp_server").url(name)
    server = request.getfixturevalue("sftp_server")
    return server.url(name, protocol=request.param)


def write_trials(root: str) -> None:
    """Two days of a metering function and a failing one, written to ``root``."""
    with isolated(root):

        @votakvot.track("mod/fit")
        def fit(n):
            votakvot.meter(step=0, loss=1.0)
            _flusher.flusher.flush_now()  # a second metric file on remote stores
            votakvot.meter(step=1, loss=0.5)
            with votakvot.attach("model.txt") as f:
                f.write(f"model {n}")
            return {"score": n / 10}

        @votakvot.track("mod/boom")
        def boom():
            raise ValueError("remote failure")

        for n in range(3):
            fit(n)
        with pytest.raises(ValueError):
            boom()


def test_write_then_read_back(remote_root: str) -> None:
    """Trials written to a remote root load as a report, as Trials, and their metrics."""
    write_trials(remote_root)
    rep = load_report(remote_root, full=True)
    assert len(rep) == 4
    assert sorted(rep["state"]) == ["done", "done", "done", "failed"]
    assert sorted(rep["result.score"].dropna()) == [0.0, 0.1, 0.2]
    assert all(p.startswith(remote_root) for p in rep["path"])

    trials = load_trials(remote_root)
    fit = [t for t in trials.values() if t.tid.startswith("mod/fit")]
    assert len(fit) == 3
    trial = fit[0]
    assert trial.attached == ["model.txt"]
    with trial.attach("model.txt", "r") as f:
        assert f.read().startswith("model ")
    metrics = trial.load_metrics()
    assert list(metrics["step"]) == [0, 1]
    assert metrics["at"].is_monotonic_increasing

    again = read_trial(trial.path)
    assert again is not None and again.data == trial.data


def test_globs_and_tids_on_remote(remote_root: str) -> None:
    """Globs select below a remote root; a tid resolves against a remote init root."""
    write_trials(remote_root)
    assert len(load_report(f"{remote_root}/mod/fit")) == 3
    assert len(load_report(f"{remote_root}/**/boom")) == 1
    assert len(load_report(f"{remote_root}/*/fit/*/*")) == 3
    dirs = find_trial_dirs(remote_root)
    assert len(dirs) == 4 and dirs == sorted(dirs)
    with isolated(remote_root):
        tid = load_report().loc[0]["tid"]
        assert len(votakvot.metrics.load_metrics(tid)) in (0, 2)


def test_bad_remote_trial_is_skipped_with_a_warning(remote_root: str) -> None:
    """An unreadable record on a remote store is named in one warning (its URL without
    the password); others load."""
    write_trials(remote_root)
    fs, path = fsspec.core.url_to_fs(remote_root)
    fs.makedirs(f"{path}/broken", exist_ok=True)
    fs.pipe_file(f"{path}/broken/votakvot.yaml", b"tid: [\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = load_report(remote_root)
    skipped = [w for w in caught if issubclass(w.category, SkippedTrialWarning)]
    assert len(skipped) == 1
    message = str(skipped[0].message)
    assert f"{redact(remote_root)}/broken/votakvot.yaml" in message
    assert PASSWORD not in message
    assert len(rep) == 4


def test_empty_remote_root_gives_empty_report() -> None:
    """A remote root with nothing in it gives an empty frame with the base columns."""
    rep = load_report(f"memory://empty-{uuid.uuid4().hex}")
    assert rep.empty and list(rep.columns) == ["tid", "state", "created", "duration"]
