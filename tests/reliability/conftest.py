"""Shared pieces of the reliability suite: resource-limited subprocesses, the hostile
corpus, and the summary table that ``make stress`` prints at the end."""

from __future__ import annotations

import collections
import ctypes
import importlib.util
import os
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS_DIR = REPO / "tests" / "data" / "bad_trials"

SUMMARY: collections.Counter[str] = collections.Counter()
"""Figures of this run, printed as a table at the end (see ``pytest_terminal_summary``)."""

_ROWS = [
    ("processes_killed", "processes killed (SIGKILL)"),
    ("trials_written", "trials written"),
    ("trials_read_back", "trials read back"),
    ("lost", "lost (must be 0)"),
    ("corrupt_files", "corrupt files (must be 0)"),
    ("torn_lines_dropped", "torn metric lines dropped with a warning"),
    ("resumed", "resumable tasks resumed after a kill"),
    ("storage_faults", "storage faults injected"),
    ("bad_inputs_tried", "bad inputs tried"),
    ("bad_inputs_survived", "bad inputs survived"),
    ("fuzz_examples", "fuzzed trial files read"),
]


@pytest.fixture
def summary() -> collections.Counter[str]:
    """The run's counters; tests add what they did and found."""
    return SUMMARY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SUMMARY:
        return
    write = terminalreporter.write_line
    terminalreporter.section("votakvot reliability summary")
    width = max(len(label) for _, label in _ROWS)
    for key, label in _ROWS:
        if key in SUMMARY or key in ("lost", "corrupt_files"):
            write(f"{label:<{width}}  {SUMMARY[key]:>10}")


def load_corpus_module() -> ModuleType:
    """``tests/data/bad_trials/generate.py``, which is not on any import path."""
    name = "votakvot_bad_trials_generate"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, CORPUS_DIR / "generate.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def limits(memory_bytes: int = 4 << 30, cpu_seconds: int = 600) -> Callable[[], None]:
    """A ``preexec_fn`` that bounds a child's address space and CPU time.

    As root it also drops the capabilities that let root read any file, so a folder
    with mode 000 is as unreadable to the child as it is to a normal user.
    """

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        if os.geteuid() == 0:
            libc = ctypes.CDLL(None, use_errno=True)
            for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
                if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                    raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return apply


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this repository importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), str(HERE), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@pytest.fixture
def isolated_config() -> Iterator[None]:
    """Restore votakvot's global settings after a test that calls ``init``."""
    from votakvot import _config

    saved = _config.get_config()
    try:
        yield
    finally:
        _config.set_config(saved)
