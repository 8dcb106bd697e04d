"""The runners' truth under stops and reruns.

A process-runner map whose parent is stopped (SIGTERM, SIGHUP, SIGINT to the parent
alone, SIGKILL) ends every trial truly and leaves no worker behind; a batch rerun at
explicit ids with other params is refused on every runner, not answered with the old
results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import runners
from votakvot._config import get_config, set_config


def score(lr: float, seed: int) -> float:
    """A cheap call for batches with explicit ids."""
    return lr * 100 + seed


def scaled(lr: float, seed: int, scale: float = 1.0) -> float:
    return (lr * 100 + seed) * scale


@pytest.fixture
def use(tmp_path: Path):
    """``use(runner, **options)`` points votakvot at a fresh root with that runner."""
    previous = get_config()

    def configure(runner: str, **options) -> Path:
        root = tmp_path / "results"
        votakvot.init(str(root), runner=runner, capture="none", **options)
        return root

    yield configure
    runners.shutdown()
    set_config(previous)


# --- a rerun at explicit ids with other params ---------------------------------------


@pytest.fixture(scope="module")
def dask_address():
    """A small in-process Dask cluster (threads on loopback): the Dask runner's path."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    )
    yield cluster.scheduler_address
    cluster.close()


@pytest.mark.parametrize("runner", ["inplace", "thread", "process", "dask"])
def test_a_batch_rerun_at_its_ids_with_other_params_is_refused(use, runner, request) -> None:
    """`map(..., tid="exp/seed={seed}")` run again after `lr` changed (the id does not
    hold it) raises `ResumeError` naming both params on every runner, instead of
    returning the old results; the same params still return the recorded results
    without running, and `rerun=True` runs the new ones."""
    options = {"workers": 2}
    if runner == "dask":
        options = {"address": request.getfixturevalue("dask_address")}
    root = use(runner, **options)
    first = votakvot.map(score, [{"lr": 0.1, "seed": s} for s in range(2)], tid="exp/seed={seed}")
    assert first == [10.0, 11.0]
    with pytest.raises(votakvot.ResumeError, match=r"other params(.|\n)*'lr': 0\.5"):
        votakvot.map(score, [{"lr": 0.5, "seed": s} for s in range(2)], tid="exp/seed={seed}")
    again = votakvot.map(score, [{"lr": 0.1, "seed": s} for s in range(2)], tid="exp/seed={seed}")
    assert again == [10.0, 11.0]
    records = [yaml.safe_load(p.read_text()) for p in sorted(root.rglob("votakvot.yaml"))]
    assert [(r["attempt"], r["params"]["lr"]) for r in records] == [(1, 0.1), (1, 0.1)]
    with pytest.raises(votakvot.ResumeError, match="other params"):
        runners.submit_run("exp/seed=0", score, lr=0.5, seed=0).result()
    new = votakvot.map(
        score, [{"lr": 0.5, "seed": s} for s in range(2)], tid="exp/seed={seed}", rerun=True
    )
    assert new == [50.0, 51.0]


def test_a_refused_rerun_is_not_retried(use) -> None:
    """With `retries=`, a refused call is not run again as a retry (which would rerun it
    with the new params over the finished trial)."""
    root = use("inplace")
    votakvot.map(score, [{"lr": 0.1, "seed": 0}], tid="r/{seed}")
    with pytest.raises(votakvot.ResumeError):
        votakvot.map(score, [{"lr": 0.5, "seed": 0}], tid="r/{seed}", retries=2)
    (record,) = [yaml.safe_load(p.read_text()) for p in root.rglob("votakvot.yaml")]
    assert (record["state"], record["params"]["lr"], record["result"]) == ("done", 0.1, 10.0)


def test_defaults_recorded_or_not_match_the_same_call(use) -> None:
    """A trial made by `votakvot.run` (params as given) answers the same call through
    `map` (which records defaults too), and the other way round."""
    use("inplace")
    votakvot.run("d/0", scaled, lr=0.1, seed=0)
    assert votakvot.map(scaled, [{"lr": 0.1, "seed": 0}], tid="d/{seed}") == [10.0]
    votakvot.map(scaled, [{"lr": 0.1, "seed": 1}], tid="d/{seed}")
    assert runners.submit_run("d/1", scaled, lr=0.1, seed=1).result() == 11.0
    with pytest.raises(votakvot.ResumeError):
        runners.submit_run("d/1", scaled, lr=0.1, seed=1, scale=2.0).result()
