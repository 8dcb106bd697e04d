"""Writing to remote stores from several threads and workers, and what messages show of URLs."""

from __future__ import annotations

import logging
import pickle
import threading
import uuid
import warnings
from pathlib import Path

import fsspec
import pytest
from servers import PASSWORD, Server

import votakvot
from votakvot.report import load_report
from votakvot.storage import FsspecStorage, redact
from votakvot.testing import isolated

ROWS = 60


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ftp://user:pw@host:21/a/b", "ftp://user@host:21/a/b"),
        ("sftp://u:p@ss@h/x: 550 and ftp://v:w@h2/y", "sftp://u@h/x: 550 and ftp://v@h2/y"),
        ("ftp://user@host/a", "ftp://user@host/a"),
        ("/local/a:b@c/votakvot.yaml", "/local/a:b@c/votakvot.yaml"),
        ("s3://bucket/a@b:c", "s3://bucket/a@b:c"),
    ],
)
def test_redact_drops_passwords_only(text: str, shown: str) -> None:
    """redact() leaves out the password of every URL in a text and nothing else."""
    assert redact(text) == shown


def test_ftp_writes_from_trial_and_flusher_threads(
    ftp_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """A trial on FTP that attaches files while the flusher writes its metrics every
    millisecond loses nothing and logs no error: the two threads never share one
    FTP connection (their replies would get mixed up)."""
    root = ftp_server.url(f"threads-{uuid.uuid4().hex[:8]}")

    @votakvot.track("remote/threads")
    def work(n: int) -> int:
        for i in range(n):
            votakvot.meter(i=i)
            with votakvot.attach(f"a{i % 3}.txt") as f:
                f.write("x" * 100)
        return n

    with (
        caplog.at_level(logging.ERROR, logger="votakvot"),
        isolated(root, flush_interval=0.001, heartbeat_interval=0.01, capture="none"),
    ):
        for _ in range(3):
            work(ROWS)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    trials = votakvot.load_trials(root)
    assert len(trials) == 3
    for trial in trials.values():
        assert trial.state == "done" and trial.result == ROWS
        assert list(trial.load_metrics()["i"]) == list(range(ROWS))


def test_ftp_workers_make_the_same_folders(ftp_server: Server) -> None:
    """Threads with their own storage making the same new folders at once all
    succeed: 'File exists' from a listing cached before another worker made the
    folder is accepted once the folder is there."""
    base = f"mkdirs-{uuid.uuid4().hex[:8]}"
    storages = [FsspecStorage(ftp_server.url(base)) for _ in range(4)]
    for storage in storages:
        storage.fs.ls("/")  # every listing cached before any folder exists
    barrier = threading.Barrier(len(storages))
    failures: list[BaseException] = []

    def make(storage: FsspecStorage) -> None:
        barrier.wait()
        try:
            for n in range(5):
                storage.makedirs(storage.join(storage.root, "mod", "fn", f"day{n}", "t"))
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=make, args=(s,)) for s in storages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert sorted(p.name for p in Path(ftp_server.root, base, "mod", "fn").iterdir()) == [
        f"day{n}" for n in range(5)
    ]


def test_makedirs_accepts_a_folder_made_since_the_listing(ftp_server: Server) -> None:
    """A folder another process made after this storage cached its listing: makedirs
    on it (and below it) succeeds instead of failing with 550 File exists."""
    base = f"stale-{uuid.uuid4().hex[:8]}"
    storage = FsspecStorage(ftp_server.url(base))
    storage.makedirs(storage.root)
    storage.fs.ls(storage.root)  # cached: empty
    Path(ftp_server.root, base, "made").mkdir()
    storage.makedirs(storage.join(storage.root, "made", "below"))
    storage.makedirs(storage.join(storage.root, "made", "below", "more"))
    assert Path(ftp_server.root, base, "made", "below", "more").is_dir()


def test_each_thread_has_its_own_ftp_connection(ftp_server: Server) -> None:
    """FTP storages hand each thread its own filesystem; memory:// stays shared; the
    storage still pickles (runners send the config to other processes)."""
    ftp = FsspecStorage(ftp_server.url("own"))
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(ftp.fs))
    thread.start()
    thread.join()
    assert ftp.fs is ftp.fs and seen[0] is not ftp.fs
    memory = FsspecStorage(f"memory://own-{uuid.uuid4().hex[:8]}")
    thread = threading.Thread(target=lambda: seen.append(memory.fs))
    thread.start()
    thread.join()
    assert seen[1] is memory.fs
    copy = pickle.loads(pickle.dumps(ftp))
    assert copy.url == ftp.url and copy.fs.ls("/") is not None


def test_refused_remote_record_is_named(ftp_server: Server) -> None:
    """A record the FTP server will not send (550, which fsspec makes a
    FileNotFoundError whatever the cause) is named in a warning, without the
    password, instead of vanishing from the report."""
    from votakvot import report as report_module

    name = f"refused-{uuid.uuid4().hex[:8]}"
    root = ftp_server.url(name)
    with isolated(root, capture="none"):
        votakvot.run("kept", lambda: 1)
        votakvot.run("refused", lambda: 2)
    folders = report_module.find_trial_dirs(root)
    Path(ftp_server.root, name, "refused", "votakvot.yaml").unlink()  # RETR now gets 550
    items = list(report_module.read_records(folders, shared=True))
    assert [t.tid for t in items if not isinstance(t, Exception)] == ["kept"]
    errors = [str(e) for e in items if isinstance(e, Exception)]
    assert len(errors) == 1 and "refused/votakvot.yaml" in errors[0], errors
    assert "refused by the server" in errors[0] and PASSWORD not in errors[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = load_report(root)
    assert list(report["tid"]) == ["kept"]
    assert not caught  # a fresh scan no longer lists the folder without its record


def test_local_folder_deleted_after_the_scan_is_left_out_quietly(tmp_path: Path) -> None:
    """A local trial folder deleted between listing and reading is simply not in the
    report (deleting trials while reading is ordinary); no warning is given."""
    from votakvot import report as report_module

    with isolated(str(tmp_path), capture="none"):
        votakvot.run("stays", lambda: 1)
        votakvot.run("goes", lambda: 2)
    folders = report_module.find_trial_dirs(str(tmp_path))
    for file in Path(tmp_path, "goes").iterdir():
        file.unlink()
    Path(tmp_path, "goes").rmdir()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = list(report_module.read_records(folders, shared=True))
    assert [t.tid for t in loaded] == ["stays"]  # type: ignore[union-attr]
    assert not caught


def test_memory_store_still_written_from_threads() -> None:
    """memory:// keeps one shared filesystem and every threaded trial lands there."""
    root = f"memory://threads-{uuid.uuid4().hex[:8]}"

    @votakvot.track("remote/mem")
    def one(i: int) -> int:
        votakvot.meter(i=i)
        return i

    with isolated(root, flush_interval=0.001, capture="none"):
        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(t.result for t in votakvot.load_trials(root).values()) == list(range(8))
    fsspec.filesystem("memory").rm(root, recursive=True)


def test_ftp_storage_reconnects_after_the_server_hung_up(ftp_server: Server) -> None:
    """A thread whose FTP connection the server closed (idle timeout) writes on a new
    connection instead of failing: a runner's pool thread may idle for minutes."""
    base = f"hangup-{uuid.uuid4().hex[:8]}"
    storage = FsspecStorage(ftp_server.url(base))
    storage.makedirs(storage.join(storage.root, "a"))
    first = storage.fs
    first.ftp.sendcmd("QUIT")  # the server says goodbye and closes the connection
    storage.write_atomic(storage.join(storage.root, "a", "x.txt"), b"written")
    assert storage.fs is not first
    storage.fs.ftp.sendcmd("QUIT")
    storage.makedirs(storage.join(storage.root, "b"))
    storage.fs.ftp.sendcmd("QUIT")
    with storage.open(storage.join(storage.root, "b", "y.txt"), "wb") as f:
        f.write(b"also")
    assert Path(ftp_server.root, base, "a", "x.txt").read_bytes() == b"written"
    assert Path(ftp_server.root, base, "b", "y.txt").read_bytes() == b"also"


class _FlakyListings:
    """A blocking fsspec-like store whose one folder cannot be listed (a dropped connection)."""

    protocol = "flaky"
    storage_args: tuple[object, ...] = ()
    storage_options: dict[str, object] = {}
    tree = {
        "/r": ["/r/good", "/r/bad", "/r/other"],
        "/r/good": ["/r/good/votakvot.yaml"],
        "/r/other": ["/r/other/votakvot.yaml"],
    }

    def __init__(self, *args: object, **options: object) -> None:
        pass

    def ls(self, path: str, detail: bool = True) -> list[dict[str, str]]:
        if path == "/r/bad":
            raise EOFError
        return [
            {"name": name, "type": "file" if name.endswith(".yaml") else "directory"}
            for name in self.tree.get(path, [])
        ]


def test_folder_that_cannot_be_listed_is_named_and_skipped() -> None:
    """A remote folder whose listing fails (connection lost) is skipped with a warning
    naming it; the trials in the other folders are still found."""
    from votakvot import storage as _scan

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = _scan._walk_threaded(_FlakyListings(), "/r")
    assert sorted(found) == ["/r/good", "/r/other"]
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "/r/bad" in messages[0] and "EOFError" in messages[0]


class _Unanswering:
    """A blocking fsspec-like store whose every new connection times out."""

    protocol = "unanswering"
    storage_args: tuple[object, ...] = ()
    storage_options: dict[str, object] = {}
    tries = 0
    lock = threading.Lock()

    def __init__(self, *args: object, main: bool = False, **options: object) -> None:
        if main:
            return
        with _Unanswering.lock:
            _Unanswering.tries += 1
        raise TimeoutError("timed out")


def test_connections_that_time_out_are_not_retried_per_file() -> None:
    """When connecting times out, the remaining files fail at once with that reason
    instead of each waiting out the timeout again (a server that stopped answering)."""
    from votakvot import storage as _scan

    def cat(connect: object, path: str) -> object:
        try:
            return connect()  # type: ignore[operator]
        except Exception as exc:
            return exc

    results = _scan._pool_map(_Unanswering(main=True), cat, [f"/f{i}" for i in range(40)])
    assert all(isinstance(r, TimeoutError) for r in results)
    assert _Unanswering.tries <= _scan._REMOTE_THREADS
