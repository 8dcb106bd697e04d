"""A trial's metric series read back as one DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas
import pytest

import votakvot
from votakvot.metrics import SkippedMetricsWarning, load_metrics
from votakvot.testing import isolated


@pytest.fixture
def metered(tmp_path: Path):
    """A trial that metered two different column sets, interleaved; yields (root, trial)."""
    with isolated(str(tmp_path / "results")) as root:

        @votakvot.track("m/train")
        def train():
            for step in range(5):
                votakvot.meter(step=step, loss=1 / (step + 1))
                if step % 2 == 0:
                    votakvot.meter(val=step * 10)
            return "ok"

        train()
        (trial,) = votakvot.load_trials(root).values()
        yield root, trial


def test_all_rows_of_all_files_in_metering_order(metered) -> None:
    """Rows of every metric file come back as one frame, ordered by `at`."""
    _, trial = metered
    frame = load_metrics(trial)
    assert len(frame) == 8
    assert frame["at"].is_monotonic_increasing
    assert list(frame["step"].dropna()) == [0, 1, 2, 3, 4]
    assert list(frame["val"].dropna()) == [0, 20, 40]
    assert {"at", "step", "loss", "val"} == set(frame.columns)


def test_by_tid_path_trial_and_method(metered) -> None:
    """A tid (under the init root), a folder, a Trial and Trial.load_metrics agree."""
    _, trial = metered
    rep = votakvot.load_report()
    tid = rep.loc[0]["tid"]
    by_tid = votakvot.metrics.load_metrics(tid)
    pandas.testing.assert_frame_equal(by_tid, load_metrics(trial.path))
    pandas.testing.assert_frame_equal(by_tid, load_metrics(trial))
    pandas.testing.assert_frame_equal(by_tid, trial.load_metrics())


def test_torn_last_line_is_dropped_with_a_warning(metered) -> None:
    """A row cut short by a killed writer (no newline at the end) is left out, and said so."""
    _, trial = metered
    first = sorted(Path(trial.path).glob("votakvot.metrics.*.csv"))[0]
    rows = len(load_metrics(trial))
    with open(first, "ab") as f:
        f.write(b"1e12,0.12")
    with pytest.warns(SkippedMetricsWarning, match=f"{first}: the last row is cut short"):
        assert len(load_metrics(trial)) == rows


def test_no_metrics_gives_an_empty_frame_with_at(tmp_path: Path) -> None:
    """A trial that metered nothing has an empty frame with the `at` column."""
    with isolated(str(tmp_path)):
        votakvot.track("m/f")(lambda: 1)()
    (trial,) = votakvot.load_trials(str(tmp_path)).values()
    frame = load_metrics(trial)
    assert frame.empty
    assert list(frame.columns) == ["at"]


def test_unknown_trial_says_where_it_looked(tmp_path: Path) -> None:
    """A tid that is not under the root raises FileNotFoundError naming root and tid."""
    with isolated(str(tmp_path)), pytest.raises(FileNotFoundError, match="no trial 'a/b'"):
        load_metrics("a/b")


def test_garbage_metric_file_is_skipped_naming_it(metered) -> None:
    """A metric file that is not CSV is left out with a warning; the good files still load."""
    _, trial = metered
    rows = len(load_metrics(trial))
    bad = Path(trial.path, "votakvot.metrics.99999.csv")
    bad.write_bytes(b"\x00\x01garbage\xff\xfe\n")
    with pytest.warns(SkippedMetricsWarning, match=r"metrics\.99999\.csv: not a metrics CSV"):
        assert len(load_metrics(trial)) == rows


def test_ragged_rows_and_odd_at_values_are_left_out_or_sorted_last(tmp_path: Path) -> None:
    """Rows with extra fields are dropped and non-numeric `at` sorted last, both warned."""
    (tmp_path / "votakvot.yaml").write_text("tid: t\nstate: running\n")
    (tmp_path / "votakvot.metrics.00000.csv").write_text("at,a\n2,1\n3,2,9\n1,3\n")
    (tmp_path / "votakvot.metrics.00001.csv").write_text("at,b\nsoon,4\n0.5,5\n")
    (tmp_path / "votakvot.metrics.00002.csv").mkdir()
    with pytest.warns(SkippedMetricsWarning) as caught:
        frame = load_metrics(str(tmp_path))
    texts = [str(w.message) for w in caught]
    assert any("00000.csv: 1 row(s) with extra fields left out" in t for t in texts)
    assert any("00001.csv: 1 row(s) whose 'at' is not a number" in t for t in texts)
    assert any("00002.csv: not a regular file" in t for t in texts)
    assert list(frame["at"].iloc[:3]) == [0.5, 1, 2]
    assert pandas.isna(frame["at"].iloc[3])
