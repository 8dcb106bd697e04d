"""Many writers onto one root at once: threads in several processes, and the workers
of a Dask LocalCluster. Every call is read back exactly once, with its own params,
info, metrics, result and attachment (no mix-ups between concurrent trials)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _support import HERE, SUMMARY, child_env
from _verify import check_root
from _workload import WORK_NAME, work


def _hammer(root: Path, processes: int, threads: int, calls: int) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "_loadgen.py"), str(root), str(p), str(threads),
             str(calls)],
            env=child_env(),
            stderr=subprocess.PIPE,
        )
        for p in range(processes)
    ]
    errors = []
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        if proc.returncode:
            errors.append(err.decode(errors="replace")[-3000:])
    assert not errors, "\n".join(errors)
    written = processes * threads * calls
    findings = check_root(str(root), final_only=True)
    SUMMARY["trials_written"] += written
    SUMMARY["trials_read_back"] += findings.trials_read
    SUMMARY["lost"] += max(0, written - findings.trials_read)
    SUMMARY["corrupt_files"] += len(findings.corrupt_yaml) + len(findings.corrupt_metrics)
    assert not findings.problems(), findings.problems()
    assert findings.trials_read == findings.report_rows == findings.yaml_files == written
    assert findings.states == {"done": written}


def test_threads_and_processes_onto_one_root(tmp_path: Path) -> None:
    """2 processes x 4 threads x 25 tracked calls at once: 200 trials, all read back,
    each with its own data."""
    _hammer(tmp_path, processes=2, threads=4, calls=25)


@pytest.mark.stress
def test_threads_and_processes_onto_one_root_stress(tmp_path: Path) -> None:
    """4 processes x 8 threads x 250 tracked calls at once: 8000 trials."""
    _hammer(tmp_path, processes=4, threads=8, calls=250)


def _dask(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: int) -> None:
    pytest.importorskip("distributed")
    import votakvot
    from votakvot import runners

    # Dask workers import _workload by name: give them this folder.
    monkeypatch.setenv("PYTHONPATH", child_env()["PYTHONPATH"])
    votakvot.init(path=str(tmp_path), runner="dask", workers=2, flush_interval=0.05)
    try:
        params = [{"worker": f"dask{n % 7}", "i": n, "rows": 5} for n in range(calls)]
        results = votakvot.map(work, params)
    finally:
        runners.shutdown()
    assert [r["key"] for r in results] == [f"dask{n % 7}:{n}" for n in range(calls)]
    findings = check_root(str(tmp_path), final_only=True)
    SUMMARY["trials_written"] += calls
    SUMMARY["trials_read_back"] += findings.trials_read
    SUMMARY["lost"] += max(0, calls - findings.trials_read)
    SUMMARY["corrupt_files"] += len(findings.corrupt_yaml) + len(findings.corrupt_metrics)
    assert not findings.problems(), findings.problems()
    assert findings.trials_read == calls
    pids = {t.meta.process.pid for t in votakvot.load_trials(str(tmp_path)).values()}
    assert pids and os.getpid() not in pids, "the trials did not run on the workers"
    assert all(t.startswith(WORK_NAME) for t in votakvot.load_trials(str(tmp_path)))


def test_dask_local_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_config: None
) -> None:
    """100 trials through runner="dask" on a 2-worker LocalCluster: each written once by
    a worker process, read back with its own data."""
    _dask(tmp_path, monkeypatch, calls=100)


@pytest.mark.stress
def test_dask_local_cluster_stress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_config: None
) -> None:
    """2000 trials through the Dask runner."""
    _dask(tmp_path, monkeypatch, calls=2000)
