"""Helpers for the votakvot-ab tests: a module of callables in a temporary folder,
a way to run the command in a subprocess, and a small HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import serve_http_200

ROOT = Path(__file__).resolve().parents[2]

MODULE = """
import os
import random
import time

calls = 0


def noop():
    return None


def slow(ms=1):
    time.sleep(ms / 1000)
    return "slept"


def add(a, b=1):
    return a + b


def boom():
    raise ValueError("boom")


def sometimes(every=3):
    global calls
    calls += 1
    if calls % every == 0:
        raise KeyError("third")
    return calls % 2


def hello():
    print("hello from the callable")
    return 1


class Counter:
    made = 0

    def __init__(self, start=0, log=None):
        Counter.made += 1
        self.n = start
        self.log = log

    def __call__(self):
        self.n += 1
        return "tick"

    def close(self):
        if self.log:
            with open(self.log, "a") as f:
                f.write(f"closed {self.n}\\n")


class BadInit:
    def __init__(self):
        raise RuntimeError("cannot connect")

    def __call__(self):
        return 1


NOT_CALLABLE = 42
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding ``mods.py`` (callables for the tests), made the current directory."""
    (tmp_path / "mods.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("mods", None)


def run_ab(
    *args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``votakvot-ab ARGS`` in a subprocess (stdout and stderr captured)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "votakvot.ab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def ab() -> object:
    """:func:`run_ab`, for tests that run the command in a subprocess."""
    return run_ab


@pytest.fixture
def http_url() -> Iterator[str]:
    """The URL of a tiny HTTP server on 127.0.0.1 answering every GET with 200."""
    with serve_http_200() as url:
        yield url + "/"
