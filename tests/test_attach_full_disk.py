"""A full disk under ``with votakvot.attach(...) as f: f.write(...)`` never reaches the
user's code: the call returns its result, one error names the trial and the file, and
the record lists the file under ``incomplete``. ``init(strict=True)`` raises instead.

The full disk is real where it can be without root: a child process whose file size
limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes writes past 1 MB fail with EFBIG, as a
full disk fails them with ENOSPC. A fake fsspec store covers remote ones.
"""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fsspec.implementations.memory import MemoryFile, MemoryFileSystem

import votakvot
from votakvot.testing import isolated

CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    import votakvot

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    votakvot.init(path=sys.argv[1], strict=sys.argv[2] == "strict", capture="none")

    @votakvot.track("disk/full")
    def experiment(n):
        with votakvot.attach("x.txt") as f:  # the README's snippet
            for _ in range(n):
                f.write("y" * 65536)
        with votakvot.attach("data/y.bin", "wb") as f:
            f.write(b"small")
        return 42

    try:
        print("result", experiment(40))
    except votakvot.StorageError as exc:
        print("raised", exc)
    """
)


def _child(root: Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics are Linux's")
def test_full_disk_in_attach_keeps_the_result(tmp_path: Path) -> None:
    """The call returns 42; one error names trial and file; the record says x.txt is
    incomplete, y.bin (written after) is whole; the trial reads back as done."""
    root = tmp_path / "results"
    done = _child(root, "lenient")
    assert done.returncode == 0, done.stderr
    assert "result 42" in done.stdout, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if "votakvot could not" in line]
    assert len(errors) == 1, done.stderr
    assert "'x.txt'" in errors[0] and "disk/full/" in errors[0] and "File too large" in errors[0]
    (trial,) = votakvot.load_trials(str(root)).values()
    assert trial.state == "done" and trial.result == 42
    assert trial.data["incomplete"] == ["x.txt"]
    assert (Path(trial.path) / "data" / "y.bin").read_bytes() == b"small"


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE semantics are Linux's")
def test_full_disk_in_attach_strict_raises(tmp_path: Path) -> None:
    """With init(strict=True) the same write raises StorageError naming the file."""
    done = _child(tmp_path / "results", "strict")
    assert done.returncode == 0, done.stderr
    assert "raised" in done.stdout and "'x.txt'" in done.stdout, done.stdout


class _FullFile(MemoryFile):
    def write(self, data: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class _FullStore(MemoryFileSystem):
    """``memory://`` whose opened files cannot be written (records still can)."""

    protocol = ("fullstore",)
    store: dict[str, Any] = {}
    pseudo_dirs = [""]

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.removeprefix("fullstore://")))

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "w" in mode and "/votakvot." not in path:
            return _FullFile(self, self._strip_protocol(path))
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def full_store() -> Any:
    import fsspec

    fsspec.register_implementation("fullstore", _FullStore, clobber=True)
    yield "fullstore://runs"
    _FullStore.store.clear()


def test_full_remote_store_in_attach(full_store: str, caplog: pytest.LogCaptureFixture) -> None:
    """An fsspec store failing writes with ENOSPC: same promise as a local disk."""
    with isolated(full_store):

        @votakvot.track("disk/remote")
        def experiment() -> str:
            with votakvot.attach("x.txt") as f:
                f.write("anything worth keeping")
                f.write("more")
            return "kept"

        with caplog.at_level(logging.ERROR, logger="votakvot"):
            assert experiment() == "kept"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "'x.txt'" in errors[0] and "No space left" in errors[0], errors
    (trial,) = votakvot.load_trials(full_store).values()
    assert trial.state == "done" and trial.data["incomplete"] == ["x.txt"]


def test_caller_errors_still_reach_the_caller(tmp_path: Path) -> None:
    """Writing text to a binary attachment is the caller's bug: it raises as usual."""
    with isolated(str(tmp_path / "results")):

        @votakvot.track("disk/caller")
        def experiment() -> None:
            with votakvot.attach("x.bin", "wb") as f:
                f.write("text")  # type: ignore[arg-type]

        with pytest.raises(TypeError):
            experiment()


def test_attached_file_works_like_a_file(tmp_path: Path) -> None:
    """The wrapper is transparent: writelines, tell, name, fileno, iteration of w+."""
    with isolated(str(tmp_path / "results")):

        @votakvot.track("disk/plain")
        def experiment() -> list[str]:
            with votakvot.attach("a.txt", "w+") as f:
                f.writelines(["a\n", "b\n"])
                assert f.tell() == 4 and f.name.endswith("a.txt") and f.fileno() > 2
                f.seek(0)
                lines = [next(f), *f]
            assert f.closed
            print("x", file=votakvot.attach("b.txt"))
            return lines

        assert experiment() == ["a\n", "b\n"]
    (trial,) = votakvot.load_trials(str(tmp_path / "results")).values()
    assert "incomplete" not in trial.data
    assert (Path(trial.path) / "a.txt").read_text() == "a\nb\n"
