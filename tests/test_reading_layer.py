"""The public reading layer: one walker, one bounded reader, one record parser."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

import votakvot
from votakvot import SkippedMetricsWarning, TrialLoadError, reading
from votakvot.layout import HEARTBEAT_NAME, YAML_NAME
from votakvot.trial import Trial


def _record(folder: Path, tid: str, state: str = "done") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / YAML_NAME).write_text(f"tid: {tid}\nstate: {state}\nresult: 1\n")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _record(tmp_path / "f" / "24-05-01" / "10:00:00" / "u1", "f/24-05-01/10:00:00/u1")
    _record(tmp_path / "f" / "24-05-02" / "09:00:00" / "u2", "f/24-05-02/09:00:00/u2")
    _record(tmp_path / "outer", "outer")
    _record(tmp_path / "outer" / "inner", "outer/inner")
    return tmp_path


def test_walker_globs_and_order(root: Path) -> None:
    found = reading.find_trial_dirs(str(root))
    assert found == sorted(found) and len(found) == 4
    assert str(root / "outer" / "inner") in found  # a trial inside a trial
    newest = list(reading.iter_trial_dirs(str(root / "f")))
    assert [os.path.basename(p) for p in newest] == ["u2", "u1"]
    assert reading.find_trial_dirs(f"{root}/f/24-05-02/*") == [
        str(root / "f" / "24-05-02" / "09:00:00" / "u2")
    ]
    assert reading.find_trial_dirs(f"{root}/**/inner") == [str(root / "outer" / "inner")]
    base, pattern = reading.split_glob("s3://b/x/**/y")
    assert base == "s3://b/x" and pattern is not None and pattern.match("a/b/y")


def test_read_trial_and_records(root: Path) -> None:
    trial = reading.read_trial(str(root / "outer"))
    assert isinstance(trial, Trial) and trial.tid == "outer" and trial.result == 1
    assert reading.read_trial(str(root / "nothing")) is None
    (root / "bad").mkdir()
    (root / "bad" / YAML_NAME).write_text("tid: [\n")
    folders = [str(root / "outer"), str(root / "bad")]
    good, bad = reading.read_records(folders)
    assert isinstance(good, Trial)
    assert isinstance(bad, TrialLoadError) and bad.path == str(root / "bad" / YAML_NAME)
    items = list(reading.iter_trials(str(root)))
    assert sum(isinstance(i, Trial) for i in items) == 4


def test_record_parser_and_checker() -> None:
    assert reading.parse_record(b"tid: a\nstate: running\n", "x") == {
        "tid": "a",
        "state": "running",
    }
    with pytest.raises(TrialLoadError, match="x: the file is empty"):
        reading.parse_record(b"", "x")
    with pytest.raises(TrialLoadError):
        reading.check_record({"state": "done"}, "x")


def test_side_file_reader_is_bounded(root: Path) -> None:
    folder = str(root / "outer")
    (root / "outer" / HEARTBEAT_NAME).write_text("1 5")
    assert reading.read_side_file(folder, HEARTBEAT_NAME) == b"1 5"
    assert reading.read_side_file(folder, "none") is None
    with pytest.raises(TrialLoadError, match="larger than"):
        reading.read_side_file(folder, HEARTBEAT_NAME, limit=2)
    assert reading.side_file_name(folder, "a/b") == os.path.join(folder, "a", "b")
    assert reading.side_file_name("ftp://u:pw@h/x", "y") == "ftp://u@h/x/y"


def test_metrics_files_drop_a_torn_last_row(root: Path) -> None:
    folder = root / "outer"
    (folder / "votakvot.metrics.00000.csv").write_text("at,loss\n1.0,0.5\n2.0,0.")
    with pytest.warns(SkippedMetricsWarning, match="cut short"):
        [(name, raw)] = reading.read_metrics_files(str(folder))
    assert name.endswith("votakvot.metrics.00000.csv") and raw == b"at,loss\n1.0,0.5\n"
    with pytest.raises(FileNotFoundError):
        reading.read_metrics_files(str(root / "nothing"))


def test_resolve_trial_path(root: Path) -> None:
    assert reading.resolve_trial_path(str(root / "outer")) == str(root / "outer")
    assert reading.resolve_trial_path("outer/inner", root=str(root)) == str(
        root / "outer" / "inner"
    )
    assert reading.resolve_trial_path("memory://x/t/") == "memory://x/t"
    with pytest.raises(FileNotFoundError):
        reading.resolve_trial_path("no/such", root=str(root))


def test_warning_classes_are_public_and_named_once() -> None:
    from votakvot import metrics, report, trial

    assert report.SkippedTrialWarning is votakvot.SkippedTrialWarning
    assert trial.UnreadableFileWarning is votakvot.UnreadableFileWarning
    assert metrics.SkippedMetricsWarning is votakvot.SkippedMetricsWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert issubclass(votakvot.SkippedTrialWarning, UserWarning)
