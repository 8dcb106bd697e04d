"""Metric files since the ``at_us`` revision: ``meter`` writes integer-microsecond time
stamps, and every reader (``load_metrics``, ``Trial.load_metrics`` that the dashboard
uses, ``read_metrics_rows`` of live monitors) gives the same ``at`` in float seconds
for new files as for files written before."""

from __future__ import annotations

from pathlib import Path

import pandas
import pandas.testing
import pytest

import votakvot
from votakvot import reading
from votakvot._active import metric_csv
from votakvot.trial import read_trial


def _trial_folder(root: Path) -> Path:
    (trial,) = votakvot.load_trials(str(root)).values()
    return Path(trial.path)


def _as_old_format(new: str) -> str:
    """The file ``new`` as votakvot wrote it before: ``at`` in float seconds (repr)."""
    head, *lines = new.splitlines()
    assert head.startswith("at_us,")
    out = ["at" + head[len("at_us") :]]
    for line in lines:
        us, _, rest = line.partition(",")
        out.append(f"{int(us) / 1e6!r},{rest}")
    return "\n".join(out) + "\n"


def test_new_and_old_files_read_back_the_same(root: Path, tmp_path: Path) -> None:
    """A trial's metric files, and the same rows in the old ``at`` format, give equal
    frames through load_metrics, Trial.load_metrics (the dashboard's) and
    read_metrics_rows; ``at`` is the first column, in seconds, in metering order."""

    @votakvot.track()
    def train() -> None:
        for i in range(50):
            votakvot.meter(step=i, loss=1 / (i + 1))
        votakvot.meter(note="text, with a comma", step=50)

    train()
    new = _trial_folder(root)
    old = tmp_path / "old"
    old.mkdir()
    (old / "votakvot.yaml").write_bytes((new / "votakvot.yaml").read_bytes())
    files = sorted(new.glob("votakvot.metrics.*.csv"))
    assert len(files) == 2
    for file in files:
        assert file.read_text().startswith("at_us,")
        (old / file.name).write_text(_as_old_format(file.read_text()))

    frame = votakvot.metrics.load_metrics(str(new))
    assert list(frame.columns[:3]) == ["at", "step", "loss"]
    assert frame["at"].dtype == "float64" and frame["at"].is_monotonic_increasing
    assert frame["step"].tolist() == list(range(51))
    pandas.testing.assert_frame_equal(frame, votakvot.metrics.load_metrics(str(old)))
    pandas.testing.assert_frame_equal(read_trial(str(new)).load_metrics(), frame)
    pandas.testing.assert_frame_equal(read_trial(str(old)).load_metrics(), frame)
    for file in files:
        rows = reading.read_metrics_rows(file.read_bytes(), file.name)
        assert rows == reading.read_metrics_rows((old / file.name).read_bytes(), file.name)
        assert next(iter(rows[0])) == "at"


def test_at_us_is_whole_microseconds_of_the_meter_call(root: Path) -> None:
    """The stamp of a row is the time of its meter call, to the microsecond."""
    import time

    @votakvot.track()
    def train() -> tuple[float, float]:
        before = time.time()
        votakvot.meter(loss=0.5)
        return before, time.time()

    before, after = train()
    text = next(_trial_folder(root).glob("votakvot.metrics.*.csv")).read_text()
    us = int(text.splitlines()[1].split(",")[0])
    assert int(before * 1e6) - 1 <= us <= int(after * 1e6) + 1


def test_a_users_own_at_or_at_us_is_never_taken_for_ours() -> None:
    """A metered ``at`` replaces ours; a metered ``at_us`` makes ours ``at`` in seconds,
    so readers never divide the user's column."""
    rows = [(1_700_000_000_250_000, 5.0, 2)]
    assert metric_csv(("at", "x"), rows, header=True) == "at,x\n5.0,2\n"
    assert metric_csv(("at_us", "x"), rows, header=True) == "at,at_us,x\n1700000000.25,5.0,2\n"
    assert metric_csv(("x", "y"), rows, header=True) == "at_us,x,y\n1700000000250000,5.0,2\n"


def test_a_float_at_of_a_forked_child_is_written_in_seconds() -> None:
    """Rows stamped with a float (a child process's) keep the old ``at`` column; a batch
    that mixes both is written in the format of its first row."""
    assert metric_csv(("x",), [(1.5, 1)], header=True) == "at,x\n1.5,1\n"
    mixed = [(2_000_000, 1), (3.5, 2)]
    assert metric_csv(("x",), mixed, header=True) == "at_us,x\n2000000,1\n3500000,2\n"


@pytest.mark.parametrize("us", ["1700000000250000", "bad"])
def test_read_metrics_rows_converts_at_us(us: str) -> None:
    """A live monitor reads ``at`` in seconds from a new file; an unreadable stamp is left out."""
    raw = f"at_us,calls\n{us},3\n".encode()
    rows = reading.read_metrics_rows(raw, "m.csv")
    expected = {"at": 1700000000.25, "calls": 3.0} if us.isdigit() else {"calls": 3.0}
    assert rows == [expected]


def test_a_frame_of_old_and_new_files_together_is_sorted_by_time(tmp_path: Path) -> None:
    """A trial resumed by a newer votakvot has both kinds of files: one series, in time order."""
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "votakvot.yaml").write_text("state: running\n")
    (folder / "votakvot.metrics.00000.csv").write_text("at,loss\n10.5,1.0\n12.0,0.5\n")
    (folder / "votakvot.metrics.00001.csv").write_text("at_us,loss\n11000000,0.75\n")
    frame = votakvot.metrics.load_metrics(str(folder))
    expected = pandas.DataFrame({"at": [10.5, 11.0, 12.0], "loss": [1.0, 0.75, 0.5]})
    pandas.testing.assert_frame_equal(frame, expected)


def test_a_flush_between_a_rows_time_and_its_values_writes_whole_rows_only(tmp_path) -> None:
    """``meter`` appends a row's time, then its values; the flusher thread may run in
    between, and must leave the half row for the next flush, not write it torn."""
    import votakvot
    from votakvot._active import current
    from votakvot.metrics import load_metrics

    votakvot.init(path=str(tmp_path))

    @votakvot.track()
    def train() -> str:
        votakvot.meter(step=0, loss=0.5)
        trial = current()
        assert trial is not None
        rows = trial._metric_rows[("step", "loss")]
        rows.append(1_700_000_000_000_000)  # what meter did before it was interrupted
        trial.flush_metrics()
        rows += {"step": 1, "loss": 0.25}.values()  # ... and what it did after
        trial.flush_metrics()
        return trial.path

    frame = load_metrics(train())
    assert frame["step"].tolist() == [1, 0]  # sorted by time: the hand-made one is older
    assert frame["loss"].tolist() == [0.25, 0.5]
    assert frame["at"].iloc[0] == 1_700_000_000.0
