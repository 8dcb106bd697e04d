"""What the reliability tests share: paths, the run's summary counters, the hostile
corpus generator, and how bounded child processes are started.

A module of its own (not ``conftest``) so that test modules can import it by a
name no other test folder uses.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS_DIR = REPO / "tests" / "data" / "bad_trials"

SUMMARY: collections.Counter[str] = collections.Counter()
"""Figures of this run, printed as a table at the end (see ``pytest_terminal_summary``)."""

ROWS = [
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


def limited(args: list[str], memory_bytes: int = 4 << 30, cpu_seconds: int = 600) -> list[str]:
    """The command running ``python ARGS`` with bounded address space and CPU time.

    As root the child also loses the capabilities that let root read any file, so
    a folder with mode 000 is as unreadable to it as to a normal user (see
    ``_limited.py``).
    """
    return [sys.executable, str(HERE / "_limited.py"), str(memory_bytes), str(cpu_seconds), *args]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python: this repository importable, output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), str(HERE), env.get("PYTHONPATH", "")) if p
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env
