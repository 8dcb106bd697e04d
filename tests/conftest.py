"""Fixtures shared by the test suite.

* ``root``: a fresh local results root given to ``votakvot.init``; the settings
  before the test come back after it.
* ``ftp_server``, ``sftp_server``: real remote stores on 127.0.0.1 (see ``tests/servers.py``).

The whole session (and every process it starts) signs snapshots with a key in a
config folder of its own, never the developer's ``~/.config/votakvot``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import ftp_server, sftp_server

import votakvot
from votakvot._config import get_config, set_config

__all__ = ["ftp_server", "root", "sftp_server"]

# Under `nohup` (or a CI runner started so) SIGHUP is ignored, and every process a test
# starts inherits that: a test that stops one with SIGHUP would see it go on. The tests
# expect what a terminal gives, so the default disposition comes back for the session.
if hasattr(signal, "SIGHUP") and signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)

# Reports keep a warm index in the user's cache folder: never the tester's own
# (this process's and every subprocess's), one fresh folder per test session.
os.environ["VOTAKVOT_CACHE_DIR"] = tempfile.mkdtemp(prefix="votakvot-test-cache-")
atexit.register(shutil.rmtree, os.environ["VOTAKVOT_CACHE_DIR"], ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="votakvot-test-config-")
    os.environ.pop("VOTAKVOT_SNAPSHOT_KEY", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ["XDG_CONFIG_HOME"], ignore_errors=True)


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A fresh local root; the previous settings come back after the test."""
    previous = get_config()
    votakvot.init(path=str(tmp_path / "results"))
    yield tmp_path / "results"
    set_config(previous)
