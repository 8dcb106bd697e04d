"""Files of a trial folder besides its record (heartbeat, output, logs, metrics, ab files)
are read with the one bounded, regular-file-only reader: a FIFO never blocks, a device
never streams forever, and any OSError on one file degrades that one row, never the
report, the CLI or the dashboard. Strict readers fail for anything skipped, scan-time
skips included.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import votakvot
from votakvot import cli
from votakvot import layout as _scan
from votakvot.exceptions import TrialLoadError
from votakvot.report import SkippedTrialWarning
from votakvot.trial import UnreadableFileWarning, read_trial

RECORD = """\
votakvot: 0.2.0
id: {uid}
tid: m/f/20-01-01/00:00:00/{uid}
state: running
function: m.f
at: {{created: 2020-01-01T00:00:00+00:00, started: 2020-01-01T00:00:01+00:00}}
params: {{x: 1}}
"""


def _trial(root: Path, uid: str = "00000000-0000-4000-8000-000000000001") -> Path:
    """A trial recorded as running since 2020: stale unless a heartbeat says otherwise."""
    folder = root / "m" / "f" / "20-01-01" / "00:00:00" / uid
    folder.mkdir(parents=True)
    (folder / "votakvot.yaml").write_text(RECORD.format(uid=uid))
    return folder


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    os.symlink(path.name, path)


def _dev_zero(path: Path) -> None:
    os.symlink("/dev/zero", path)


def _name_too_long(path: Path) -> None:
    os.symlink("x" * 300, path)  # following it fails with ENAMETOOLONG


def _huge(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(1 << 20)  # sparse: a megabyte of NULs is no heartbeat


HOSTILE: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "folder": _folder,
    "symlink loop": _loop,
    "/dev/zero": _dev_zero,
    "ENAMETOOLONG": _name_too_long,
    "huge": _huge,
}


@pytest.fixture(params=sorted(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """``(root, trial folder)`` whose ``votakvot.heartbeat`` is one hostile kind of file."""
    root = tmp_path / "results"
    folder = _trial(root)
    HOSTILE[request.param](folder / "votakvot.heartbeat")
    return root, folder


@pytest.mark.timeout(30)
def test_load_report_keeps_the_row(hostile: tuple[Path, Path]) -> None:
    """The row stays, its liveness falls back to the start time (stale since 2020), and one
    warning names the heartbeat file."""
    root, folder = hostile
    with pytest.warns(UnreadableFileWarning, match="votakvot.heartbeat") as caught:
        frame = votakvot.load_report(str(root))
    assert list(frame["state"]) == ["stale"]
    assert list(frame["x"]) == [1]
    assert any(str(folder) in str(w.message) for w in caught)
    trials = votakvot.load_trials(str(root), safe=False)  # not a skipped trial: no error
    with pytest.warns(UnreadableFileWarning):
        assert [t.state for t in trials.values()] == ["stale"]


@pytest.mark.timeout(30)
def test_trial_heartbeat_and_liveness(hostile: tuple[Path, Path]) -> None:
    """``Trial.heartbeat`` is unknown, the file is listed in ``unreadable``."""
    _, folder = hostile
    trial = read_trial(str(folder))
    assert trial is not None
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert trial.heartbeat is None
        assert trial.is_stale()
    assert set(trial.unreadable) == {"votakvot.heartbeat"}


@pytest.mark.timeout(30)
def test_cli_report_keeps_the_row(hostile: tuple[Path, Path], capsys) -> None:
    """`votakvot report` prints the trial (exit 0) and names the file on stderr."""
    root, _ = hostile
    code = cli.main(["report", str(root), "-f", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "stale" in out and "m/f/20-01-01" in out
    assert "votakvot.heartbeat" in err


@pytest.mark.timeout(30)
def test_cli_show_keeps_going(hostile: tuple[Path, Path], capsys) -> None:
    """`votakvot show` prints the record of such a trial instead of hanging or dying."""
    _, folder = hostile
    code = cli.main(["show", str(folder)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "state now: stale (it never beat)" in out and "state: running" in out


@pytest.mark.timeout(30)
def test_dashboard_model_keeps_the_row(hostile: tuple[Path, Path]) -> None:
    """The dashboard's row is the trial (stale), saying which file it could not read."""
    from votakvot_tui.core.model import read_records

    _, folder = hostile
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        [record] = read_records([str(folder)])
    assert record.state == "stale"
    assert "votakvot.heartbeat" in str(record.values.get("error"))


@pytest.mark.timeout(30)
def test_an_oserror_on_a_heartbeat_degrades_the_row(tmp_path: Path, monkeypatch) -> None:
    """EIO (a failing disk or a stale NFS handle) reading the heartbeat: the row stays."""
    root = tmp_path / "results"
    _trial(root)
    (_trial(root, "00000000-0000-4000-8000-000000000002") / "votakvot.heartbeat").write_text(
        "1.0 5\n"
    )
    real = os.open

    def failing(path, *args, **kwargs):
        if str(path).endswith("votakvot.heartbeat"):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_scan.os, "open", failing)
    with pytest.warns(UnreadableFileWarning, match="Input/output error"):
        frame = votakvot.load_report(str(root))
    assert list(frame["state"]) == ["stale", "stale"]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["output.log", "log.jsonl"])
def test_captured_output_that_is_a_fifo_is_refused(tmp_path: Path, name: str) -> None:
    """Reading captured output or logs of a FIFO raises an error naming it, never hangs."""
    folder = _trial(tmp_path)
    os.mkfifo(folder / name)
    trial = read_trial(str(folder))
    assert trial is not None
    with pytest.raises(TrialLoadError, match=f"{name}: not a regular file"):
        getattr(trial, "output" if name == "output.log" else "logs")


@pytest.mark.timeout(30)
def test_metrics_file_that_is_a_device_is_left_out(tmp_path: Path) -> None:
    """A metrics file symlinked to /dev/zero is left out with a warning; others load."""
    folder = _trial(tmp_path)
    (folder / "votakvot.metrics.00000.csv").write_text("at,loss\n1.0,0.5\n")
    os.symlink("/dev/zero", folder / "votakvot.metrics.00001.csv")
    with pytest.warns(UserWarning, match=r"00001.csv: not a regular file \(a device\)"):
        frame = votakvot.load_metrics(str(folder))
    assert list(frame["loss"]) == [0.5]


@pytest.mark.timeout(30)
def test_ab_reader_with_a_fifo_status(tmp_path: Path) -> None:
    """The dashboard's ab monitor shows a FIFO status file as an error, never blocks."""
    from votakvot_tui.core.ab_data import STATUS_NAME, AbReader

    folder = _trial(tmp_path)
    os.mkfifo(folder / STATUS_NAME)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        snap = AbReader(str(folder)).read()
    assert snap.error is not None and "not a regular file" in snap.error


# --- strict readers fail for scan-time skips --------------------------------------------


def _fifo_record(root: Path) -> Path:
    folder = root / "m" / "f" / "20-01-01" / "00:00:00" / "fifo-record"
    folder.mkdir(parents=True)
    os.mkfifo(folder / "votakvot.yaml")
    return folder


@pytest.mark.timeout(30)
def test_strict_report_fails_for_a_record_that_is_no_file(tmp_path: Path, capsys) -> None:
    """A FIFO record is skipped with a warning; strict readers raise naming it (exit 3)."""
    root = tmp_path / "results"
    _trial(root)
    bad = _fifo_record(root)
    with pytest.warns(SkippedTrialWarning, match="not a regular file"):
        assert len(votakvot.load_report(str(root))) == 1
    with pytest.raises(TrialLoadError, match="fifo-record"):
        votakvot.load_report(str(root), safe=False)
    with pytest.raises(TrialLoadError, match="fifo-record"):
        votakvot.load_trials(str(root), safe=False)
    code = cli.main(["report", str(root), "--strict"])
    _, err = capsys.readouterr()
    assert code == 3 and str(bad / "votakvot.yaml") in err


def _deep(root: Path) -> Path:
    """A folder whose full path is longer than PATH_MAX: listing it fails (ENAMETOOLONG)."""
    fd = os.open(root, os.O_RDONLY)
    path = root
    try:
        for _ in range(20):
            name = "d" * 250
            os.mkdir(name, dir_fd=fd)
            new = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
            path = path / name
    finally:
        os.close(fd)
    return path


@pytest.mark.timeout(60)
def test_a_folder_that_cannot_be_listed(tmp_path: Path, capsys) -> None:
    """ENAMETOOLONG below the root skips that folder with a warning naming it, the other
    trials are read; strict readers fail instead of returning a report with trials missing."""
    root = tmp_path / "results"
    _trial(root)
    _deep(root)
    with pytest.warns(SkippedTrialWarning, match="cannot list this folder"):
        assert len(votakvot.load_report(str(root))) == 1
    with pytest.raises(TrialLoadError, match="cannot list this folder"):
        votakvot.load_report(str(root), safe=False)
    assert cli.main(["report", str(root), "--strict"]) == 3
    assert cli.main(["report", str(root)]) == 0
    _, err = capsys.readouterr()
    assert "cannot list this folder" in err


@pytest.mark.timeout(30)
def test_a_listing_that_breaks_off(tmp_path: Path, monkeypatch) -> None:
    """EIO half-way through a listing skips that folder only, never aborts the report."""
    root = tmp_path / "results"
    _trial(root)
    broken = root / "broken"
    (broken / "sub").mkdir(parents=True)  # not a leaf: the walk lists it
    real = os.scandir

    def scandir(path):
        if str(path) == str(broken):
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path)

    monkeypatch.setattr(_scan.os, "scandir", scandir)
    with pytest.warns(SkippedTrialWarning, match="Input/output error"):
        assert len(votakvot.load_report(str(root))) == 1
    with pytest.raises(TrialLoadError, match="broken"):
        votakvot.load_trials(str(root), safe=False)


def test_remote_record_is_bounded(monkeypatch) -> None:
    """A remote record is read with the same bound as a local one."""
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/side-files/big/votakvot.yaml", b"x" * 2048)
    monkeypatch.setattr(_scan, "MAX_RECORD", 1024)
    try:
        with pytest.raises(TrialLoadError, match="larger than"):
            read_trial("memory://side-files/big")
    finally:
        fs.rm("/side-files", recursive=True)


class _count(votakvot.resumable_fn):
    """A tiny resumable task for the FIFO cases below."""

    def init(self, n: int) -> None:
        self.i = 0
        self.n = n

    def loop(self):
        self.i += 1
        return self.i if self.i >= self.n else None


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", ["votakvot.yaml", "votakvot.snapshot.pkl"])
def test_resuming_from_a_fifo_is_refused(tmp_path: Path, name: str) -> None:
    """A record or snapshot that is a FIFO stops the resume with an error naming it;
    rerun=True starts over."""
    from votakvot.exceptions import ResumeError
    from votakvot.layout import SNAPSHOT_NAME
    from votakvot.testing import isolated

    assert name in ("votakvot.yaml", SNAPSHOT_NAME)
    with isolated(str(tmp_path / "results")) as root:
        folder = Path(root) / "sweep" / "one"
        folder.mkdir(parents=True)
        if name == SNAPSHOT_NAME:
            (folder / "votakvot.yaml").write_text(
                RECORD.format(uid="u").replace("state: running", "state: interrupted")
            )
        os.mkfifo(folder / name)
        with pytest.raises(ResumeError, match=f"{name}: not a regular file.*rerun=True"):
            votakvot.run("sweep/one", _count, n=3)
        if name == SNAPSHOT_NAME:  # starting over removes the FIFO with the old run's files
            assert votakvot.run("sweep/one", _count, n=3, rerun=True).result == 3


@pytest.mark.timeout(60)
def test_heartbeat_without_read_permission(tmp_path: Path) -> None:
    """EACCES on the heartbeat (chmod 000) degrades the row. Run in a child without the
    capabilities that let root read anything (tests/reliability/_limited.py)."""
    import subprocess
    import sys

    root = tmp_path / "results"
    folder = _trial(root)
    beat = folder / "votakvot.heartbeat"
    beat.write_text("1.0 5\n")
    beat.chmod(0)
    limited = Path(__file__).parent / "reliability" / "_limited.py"
    code = (
        "import sys, warnings, votakvot\n"
        "warnings.simplefilter('always')\n"
        "print(list(votakvot.load_report(sys.argv[1])['state']))\n"
    )
    done = subprocess.run(
        [sys.executable, str(limited), str(2 << 30), "60", "-c", code, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['stale']"
    assert "votakvot.heartbeat: cannot be read (Permission denied)" in done.stderr


@pytest.mark.timeout(60)
def test_warnings_of_a_forked_report_child_reach_the_caller(tmp_path: Path, monkeypatch) -> None:
    """Big local reports parse half the trials in a forked child; its unreadable
    heartbeats are still warned about in the caller, one per trial."""
    from votakvot import _fork, report

    if not _fork.can_fork():
        pytest.skip("no fork here: every trial is read in this process")
    monkeypatch.setattr(report, "PARALLEL_MIN", 2)
    root = tmp_path / "results"
    for i in range(4):
        folder = _trial(root, f"00000000-0000-4000-8000-00000000000{i}")
        (folder / "votakvot.heartbeat").mkdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = votakvot.load_report(str(root))
    assert list(frame["state"]) == ["stale"] * 4
    named = sorted(
        str(w.message).split("/votakvot.heartbeat")[0][-1]
        for w in caught
        if issubclass(w.category, UnreadableFileWarning)
    )
    assert named == ["0", "1", "2", "3"]


@pytest.mark.timeout(30)
def test_dashboard_rerun_with_a_fifo_snapshot(tmp_path: Path, capsys) -> None:
    """The dashboard's rerun reads the snapshot's params: a FIFO there is never waited
    on, and left for ``votakvot.run`` to refuse (one message, with the way out)."""
    from votakvot.layout import SNAPSHOT_NAME
    from votakvot_tui.core.runs import _snapshot_params

    folder = _trial(tmp_path)
    os.mkfifo(folder / SNAPSHOT_NAME)
    assert _snapshot_params(str(folder)) is None
    assert capsys.readouterr().err == ""
