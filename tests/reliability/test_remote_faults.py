"""A remote store that breaks while a report reads it: an FTP server that dies, hangs
or refuses downloads part-way. The report returns what it could read and names
every trial it could not, within the FTP client's timeout (30 s by default)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from _support import HERE, SUMMARY, child_env
from _workload import work

import votakvot

TRIALS = 30
AFTER = 10
PASSWORD = "fault-tests"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, set[str]]]:
    """A local root of 30 trials for the FTP servers to serve, and their tids."""
    from votakvot import _config

    root = tmp_path_factory.mktemp("served")
    saved = _config.get_config()
    votakvot.init(path=str(root))
    try:
        for i in range(TRIALS):
            work(worker="ftp", i=i, rows=3)
    finally:
        _config.set_config(saved)
    yield root, set(votakvot.load_trials(str(root)))


@pytest.fixture
def server(served: tuple[Path, set[str]], request: pytest.FixtureRequest) -> Iterator[str]:
    """Starts the faulty server in the mode the test names; yields its URL."""
    mode = request.param
    after = 0 if mode == "die" else AFTER
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_ftp_fault_server.py"), str(served[0]), mode, str(after)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"ftp://votakvot:{PASSWORD}@127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _read(url: str) -> tuple[list[str], list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = votakvot.load_report(url)
    return list(report["tid"]), [str(w.message) for w in caught]


def _check(served: tuple[Path, set[str]], listed: list[str], messages: list[str]) -> None:
    _, tids = served
    assert set(listed) <= tids and len(listed) < TRIALS
    unread = tids - set(listed)
    not_named = [t for t in unread if not any(t in m for m in messages)]
    assert not not_named, f"trials neither listed nor named: {not_named[:5]}; {messages[:3]}"
    SUMMARY["storage_faults"] += 1


@pytest.mark.timeout(150)
@pytest.mark.parametrize("server", ["hang"], indirect=True)
def test_ftp_server_hangs_mid_read(server: str, served: tuple[Path, set[str]]) -> None:
    """The server stops answering after 10 downloads: the report comes back once the
    client times out, with the 10 trials, naming each of the 20 it could not read."""
    listed, messages = _read(server)
    _check(served, listed, messages)
    assert len(listed) == AFTER


@pytest.mark.timeout(150)
@pytest.mark.parametrize("server", ["garbage"], indirect=True)
def test_ftp_sends_garbage_mid_read(server: str, served: tuple[Path, set[str]]) -> None:
    """Every download after the 10th returns random bytes: the report lists the 10 and
    names each of the other 20 as unreadable."""
    listed, messages = _read(server)
    _check(served, listed, messages)
    assert len(listed) == AFTER


@pytest.mark.timeout(150)
@pytest.mark.parametrize("server", ["fail"], indirect=True)
def test_ftp_downloads_fail_mid_read(server: str, served: tuple[Path, set[str]]) -> None:
    """Every download after the 10th is refused (550): the report lists the 10 and
    names each of the other 20."""
    listed, messages = _read(server)
    _check(served, listed, messages)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("server", ["die"], indirect=True)
def test_ftp_server_dies_mid_read(server: str, served: tuple[Path, set[str]]) -> None:
    """The server process exits at its first download, while other connections are
    still logging in: the report still returns and names every trial it could not read."""
    listed, messages = _read(server)
    _check(served, listed, messages)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("server", ["garbage"], indirect=True)
def test_skip_messages_hide_passwords(server: str, served: tuple[Path, set[str]]) -> None:
    """Messages naming what could not be read never show the password of the URL."""
    _, messages = _read(server)
    assert messages and not [m for m in messages if PASSWORD in m]
