"""Writes that fail: a full disk (a tiny tmpfs), a file system turned read-only, permission
denied, and OSErrors raised by an fsspec backend.

In every case the tracked function still returns its result or raises its own
exception, votakvot logs one error naming the trial, ``init(strict=True)`` turns it
into ``votakvot.StorageError``, and what was written before stays intact.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from _support import SUMMARY
from _workload import payload, work
from fsspec.implementations.memory import MemoryFileSystem

import votakvot
from votakvot import _active, _yaml
from votakvot import storage as _storage


@votakvot.track("reliability/fails")
def fails(x: int) -> None:
    """A tracked function that raises its own exception."""
    raise ValueError(f"my own error {x}")


@votakvot.track("reliability/records")
def records(worker: str, i: int, rows: int = 20) -> dict[str, Any]:
    """A tracked call that writes a record, info and metrics (attachments are tested
    on their own: see test_attach_on_denied_storage)."""
    votakvot.inform(key=f"{worker}:{i}")
    for step in range(rows):
        votakvot.meter(step=step, value=i)
    return {"key": f"{worker}:{i}", "rows": rows}


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "votakvot" and r.levelno >= logging.ERROR
    ]


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``; skips the test where mounting is not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root; the injected-fault tests cover this case")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` to the last byte, then free ``leave`` bytes."""
    filler = folder / "filler.bin"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (heartbeats left out: they are rewritten while running)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != "votakvot.heartbeat"
    }


def _all_records_parse(root: Path) -> None:
    for path in root.rglob("votakvot.yaml"):
        data = _yaml.load(path.read_bytes())
        assert isinstance(data, dict) and data["tid"], path


def _good_trials(n: int) -> list[dict[str, Any]]:
    return [work(worker="before", i=i, rows=5) for i in range(n)]


def test_disk_full(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, isolated_config: None
) -> None:
    """On a full disk a tracked call returns its result and a failing one raises its own
    exception, each with one error logged; strict mode raises StorageError; the trials
    written before are byte for byte intact and readable once space is back."""
    mnt = tmp_path / "mnt"
    with _tmpfs(mnt, "4m"):
        root = mnt / "root"
        votakvot.init(path=str(root))
        _good_trials(3)
        before = _snapshot(root)
        filler = _fill(mnt)
        caplog.set_level(logging.WARNING, logger="votakvot")
        caplog.clear()
        assert records(worker="full", i=1, rows=50) == {"key": "full:1", "rows": 50}
        errors = _errors(caplog)
        assert len(errors) == 1 and "No space left" in errors[0], errors
        assert "reliability/records" in errors[0] and "strict=True" in errors[0]
        caplog.clear()
        with pytest.raises(ValueError, match="my own error 7"):
            fails(7)
        assert len(_errors(caplog)) == 1, _errors(caplog)
        votakvot.init(path=str(root), strict=True)
        with pytest.raises(votakvot.StorageError, match="No space left"):
            records(worker="strict", i=1)
        SUMMARY["storage_faults"] += 3
        filler.unlink()
        after = _snapshot(root)
        assert {k: after[k] for k in before} == before
        _all_records_parse(root)
        votakvot.init(path=str(root))
        work(worker="after", i=1, rows=5)
        trials = votakvot.load_trials(str(root))
        done = [t for t in trials.values() if t.state == "done"]
        assert {t.params["worker"] for t in done} == {"before", "after"}, trials
        assert len(done) == 4


@votakvot.track("reliability/fills_up")
def fills_up(mnt: str, rows: int) -> str:
    """Meters a batch, fills the disk but for a few KB, meters a batch bigger than
    that, frees the disk, meters a last batch: the middle batch cannot be kept."""
    trial = _active.current()
    assert trial is not None
    wide = "w" * 300

    def batch(start: int) -> None:
        for step in range(start, start + rows):
            votakvot.meter(step=step, wide=wide)
        trial.flush_metrics()

    batch(0)
    filler = _fill(Path(mnt), leave=8192)
    votakvot.inform(stage="full")
    batch(rows)
    filler.unlink()
    batch(2 * rows)
    return "finished"


def test_disk_fills_up_during_a_trial(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, isolated_config: None
) -> None:
    """A metrics batch that hits a full disk half-way is cut back: the file has no torn
    row in its middle, and the rows written before and after load in order."""
    mnt = tmp_path / "mnt"
    with _tmpfs(mnt, "2m"):
        root = mnt / "root"
        votakvot.init(path=str(root), capture="none")
        caplog.set_level(logging.WARNING, logger="votakvot")
        assert fills_up(str(mnt), 60) == "finished"
        SUMMARY["storage_faults"] += 1
        assert len(_errors(caplog)) == 1, _errors(caplog)
        (trial,) = votakvot.load_trials(str(root)).values()
        assert trial.state == "done" and trial.result == "finished"
        for path in Path(trial.path).glob("votakvot.metrics.*.csv"):
            lines = path.read_bytes().split(b"\n")
            assert lines[-1] == b"", "the metric file ends in a torn row"
            widths = {line.count(b",") for line in lines[:-1]}
            assert len(widths) == 1, f"rows of different widths in {path.name}"
        steps = list(votakvot.load_metrics(trial)["step"])
        assert steps == [*range(60), *range(120, 180)], steps


def test_file_system_turns_read_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, isolated_config: None
) -> None:
    """A file system remounted read-only under running trials: the calls still return,
    one error each, and every record already there still parses."""
    mnt = tmp_path / "mnt"
    with _tmpfs(mnt, "8m"):
        root = mnt / "root"
        votakvot.init(path=str(root))
        _good_trials(2)
        before = _snapshot(root)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        try:
            caplog.set_level(logging.WARNING, logger="votakvot")
            caplog.clear()
            assert records(worker="ro", i=1)["key"] == "ro:1"
            errors = _errors(caplog)
            assert len(errors) == 1 and "Read-only file system" in errors[0], errors
            with pytest.raises(ValueError, match="my own error 3"):
                fails(3)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)
        SUMMARY["storage_faults"] += 2
        assert _snapshot(root) == before
        _all_records_parse(root)


def _deny(*args: Any, **kwargs: Any) -> Any:
    raise PermissionError(errno.EACCES, "Permission denied (injected)")


@pytest.fixture
def denied(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Call it to make every write of the local storage fail with EACCES."""

    def deny() -> None:
        for name in ("write_atomic", "append", "makedirs", "open"):
            monkeypatch.setattr(_storage.LocalStorage, name, _deny)

    return deny


def test_permission_denied(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    denied: Callable[[], None],
    isolated_config: None,
) -> None:
    """Every write refused with EACCES (works without root): results and the user's own
    exceptions come through, one error per trial, strict mode raises StorageError,
    and the trials written before are untouched."""
    root = tmp_path / "root"
    votakvot.init(path=str(root))
    _good_trials(2)
    before = _snapshot(root)
    denied()
    caplog.set_level(logging.WARNING, logger="votakvot")
    caplog.clear()
    for i in range(3):
        assert records(worker="denied", i=i, rows=3)["key"] == f"denied:{i}"
    errors = _errors(caplog)
    assert len(errors) == 3 and all("Permission denied" in e for e in errors), errors
    with pytest.raises(ValueError, match="my own error 1"):
        fails(1)
    votakvot.init(path=str(root), strict=True)
    with pytest.raises(votakvot.StorageError, match="Permission denied") as info:
        records(worker="strict", i=0)
    assert "reliability/records" in str(info.value)
    SUMMARY["storage_faults"] += 5
    assert _snapshot(root) == before


def test_attach_on_denied_storage(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    denied: Callable[[], None],
    isolated_config: None,
) -> None:
    """``votakvot.attach`` inside a trial whose folder cannot be written logs the error
    and hands back a file that keeps nothing, instead of raising into the call."""

    @votakvot.track("reliability/attaches")
    def attaches() -> str:
        with votakvot.attach("notes.txt") as f:
            f.write("text")
        return "returned"

    votakvot.init(path=str(tmp_path))
    denied()
    assert attaches() == "returned"


class FaultyFileSystem(MemoryFileSystem):
    """An in-memory fsspec store whose writes fail with ENOSPC while ``failing`` is set."""

    protocol = "faulty"
    failing = False
    store: dict[str, Any] = {}
    pseudo_dirs = [""]

    def _check(self) -> None:
        if FaultyFileSystem.failing:
            raise OSError(errno.ENOSPC, "No space left on device (injected)")

    def pipe_file(self, path: str, value: bytes, *args: Any, **kwargs: Any) -> None:
        self._check()
        super().pipe_file(path, value, *args, **kwargs)

    def _open(self, path: str, mode: str = "rb", *args: Any, **kwargs: Any) -> Any:
        if "r" not in mode:
            self._check()
        return super()._open(path, mode, *args, **kwargs)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        self._check()
        super().makedirs(path, exist_ok=exist_ok)

    def mv(self, *args: Any, **kwargs: Any) -> None:
        self._check()
        super().mv(*args, **kwargs)


@pytest.fixture
def faulty() -> Iterator[type[FaultyFileSystem]]:
    fsspec.register_implementation("faulty", FaultyFileSystem, clobber=True)
    FaultyFileSystem.failing = False
    try:
        yield FaultyFileSystem
    finally:
        FaultyFileSystem.failing = False
        FaultyFileSystem.store.clear()


def test_fsspec_backend_raising(
    faulty: type[FaultyFileSystem], caplog: pytest.LogCaptureFixture, isolated_config: None
) -> None:
    """A remote store (through fsspec) whose writes raise OSError: same promises as on
    a local disk, and the records written before read back unchanged."""
    root = f"faulty://run-{uuid.uuid4().hex[:8]}"
    votakvot.init(path=root)
    _good_trials(2)
    fs = fsspec.filesystem("faulty")
    before = {p: fs.cat_file(p) for p in fs.find(root.split("://")[1])}
    faulty.failing = True
    caplog.set_level(logging.WARNING, logger="votakvot")
    caplog.clear()
    assert records(worker="remote", i=1, rows=5)["key"] == "remote:1"
    errors = _errors(caplog)
    assert len(errors) == 1 and "No space left" in errors[0], errors
    with pytest.raises(ValueError, match="my own error 2"):
        fails(2)
    votakvot.init(path=root, strict=True)
    with pytest.raises(votakvot.StorageError):
        records(worker="strict", i=1)
    faulty.failing = False
    SUMMARY["storage_faults"] += 3
    after = {p: fs.cat_file(p) for p in fs.find(root.split("://")[1])}
    assert {p: after[p] for p in before} == before
    trials = votakvot.load_trials(root)
    assert sorted(t.params["worker"] for t in trials.values()) == ["before", "before"]
    for t in trials.values():
        assert t.attach("payload.txt").read().decode() == payload(f"before:{t.params['i']}")
