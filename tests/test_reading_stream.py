"""The one walker streams newest first, the one metrics reader reads live files quietly.

The dashboard relies on both: it shows the newest rows of a big folder before the
walk ends, and polls the metric files of a run that is still appending to them.
"""

from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import fsspec
import pytest

from votakvot import reading
from votakvot.ab.progress import fmt_seconds
from votakvot.exceptions import SkippedMetricsWarning, SkippedTrialWarning, TrialLoadError
from votakvot.layout import YAML_NAME
from votakvot.storage import open_storage


def _trial(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / YAML_NAME).write_text(f"tid: {folder.name}\nstate: done\n")
    return folder


@pytest.fixture
def days(tmp_path: Path) -> Path:
    for day in range(1, 31):
        for hour in (9, 10):
            _trial(
                tmp_path / "m" / "f" / f"24-05-{day:02d}" / f"{hour:02d}:00:00" / f"u{day}-{hour}"
            )
    return tmp_path


def test_the_walk_streams_newest_first(days: Path, monkeypatch) -> None:
    """The newest trial comes after a handful of listings, not after the whole tree."""
    real = os.scandir
    listed: list[str] = []

    def scandir(path):  # type: ignore[no-untyped-def]
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    walk = reading.iter_trial_dirs(str(days))
    first = next(walk)
    assert first.endswith("24-05-30/10:00:00/u30-10")
    assert len(listed) < 10  # root, m, f, the newest day: 30 days are not all listed yet
    rest = [first, *walk]
    assert rest == sorted(rest, reverse=True)
    assert sorted(rest) == reading.find_trial_dirs(str(days))


def test_a_folder_comes_before_the_trials_inside_it(tmp_path: Path) -> None:
    outer = _trial(tmp_path / "outer")
    inner = _trial(outer / "b")
    _trial(outer / "a")
    walked = list(reading.iter_trial_dirs(str(tmp_path)))
    assert walked == [str(outer), str(inner), str(outer / "a")]
    assert list(reading.iter_trial_dirs(f"{tmp_path}/**/b")) == [str(inner)]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_on_skip_is_told_instead_of_a_warning(tmp_path: Path) -> None:
    good = _trial(tmp_path / "good")
    (tmp_path / "odd").mkdir()
    os.mkfifo(tmp_path / "odd" / YAML_NAME)
    skipped: list[tuple[str, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        walked = list(
            reading.iter_trial_dirs(str(tmp_path), on_skip=lambda p, r: skipped.append((p, r)))
        )
    assert walked == [str(good)]
    assert [p for p, _ in skipped] == [str(tmp_path / "odd" / YAML_NAME)]
    with pytest.warns(SkippedTrialWarning, match="not a regular file"):
        assert list(reading.iter_trial_dirs(str(tmp_path))) == [str(good)]
    with pytest.raises(TrialLoadError, match="not a regular file"):
        list(reading.iter_trial_dirs(str(tmp_path), strict=True))


def test_remote_walk_is_newest_first() -> None:
    base = f"memory://stream-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    for day in ("24-05-01", "24-05-03", "24-05-02"):
        fs.pipe(f"{base[9:]}/f/{day}/10:00:00/u/{YAML_NAME}", b"tid: u\n")
    try:
        walked = list(reading.iter_trial_dirs(base))
        assert [w.split("/")[-3] for w in walked] == ["24-05-03", "24-05-02", "24-05-01"]
        assert walked[0].startswith(base + "/")
    finally:
        fs.rm(base[9:], recursive=True)


def test_stat_files_lists_sizes_and_times(tmp_path: Path) -> None:
    """The poller's listing: only the files it asks for, hidden folders left out."""
    trial = _trial(tmp_path / "t")
    (trial / "votakvot.metrics.00000.csv").write_text("at,x\n1,2\n")
    (trial / "other.txt").write_text("x")
    _trial(tmp_path / ".hidden")
    storage = open_storage(str(tmp_path))
    stats = storage.stat_files(storage.root, lambda n: n.endswith((".yaml", ".csv")))
    assert sorted(stats) == [str(trial / "votakvot.metrics.00000.csv"), str(trial / YAML_NAME)]
    assert stats[str(trial / "votakvot.metrics.00000.csv")][0] == 9
    with pytest.raises(FileNotFoundError):
        storage.stat_files(str(tmp_path / "none"), lambda n: True)


def test_live_metric_rows_leave_the_unfinished_row_out_quietly() -> None:
    raw = b"at,calls,p50\n1.0,10,0.5\n2.0,12,\n3.0,bad,0.1\n4.0,1\n5.0,20,0.4"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = reading.read_metrics_rows(raw, "m.csv")
    assert rows == [
        {"at": 1.0, "calls": 10.0, "p50": 0.5},
        {"at": 2.0, "calls": 12.0},
        {"at": 3.0, "p50": 0.1},
    ]
    with pytest.warns(SkippedMetricsWarning, match="m.csv: the last row is cut short"):
        assert reading.read_metrics_rows(raw, "m.csv", live=False) == rows
    assert reading.read_metrics_rows(b"at,x", "m.csv") == []


def test_one_latency_format() -> None:
    from votakvot_tui.core.ab_data import fmt_latency

    for value in (None, float("nan"), 812e-9, 3.4e-6, 0.0121, 1.2041):
        assert fmt_latency(value) == fmt_seconds(value).replace(" us", " µs")
    assert fmt_seconds(float("nan")) == "-"
