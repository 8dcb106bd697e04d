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


def gated(x: int, gate: str = "") -> int:
    """Returns once the file ``gate`` exists (at once without one)."""
    while gate and not os.path.exists(gate):
        time.sleep(0.01)
    return x


def test_leaving_imap_early_lets_running_calls_finish(use, tmp_path: Path) -> None:
    """Only Ctrl-C interrupts a process map's running calls: leaving an `imap` loop
    early cancels the calls not started, and the running one still ends `done`."""
    root = use("process", workers=2)
    gate = str(tmp_path / "gate")
    params = [{"x": 0}, {"x": 1, "gate": gate}, {"x": 2, "gate": gate}, {"x": 3, "gate": gate}]
    results = votakvot.imap(gated, params)
    assert next(results) == 0
    while not any(r["params"]["x"] == 1 for r in _states(root).values()):
        time.sleep(0.01)
    results.close()
    Path(gate).write_text("")
    runners.shutdown(wait=True)
    states = {r["params"]["x"]: r["state"] for r in _states(root).values()}
    assert states[0] == states[1] == "done"
    assert 3 not in states


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


# --- a process-runner map whose parent is stopped -------------------------------------

SWEEP = """
import sys
import time

import votakvot


def train(lr, seed):
    if seed % 3 == 2:
        raise ValueError(f"diverged at lr={lr} seed={seed}")
    loss = 1.0
    for step in range(20):
        loss *= 1 - lr
        votakvot.meter(step=step, loss=loss)
        time.sleep(0.02 if seed < 4 else 0.25)
    return loss


def params():
    for seed in range(12):
        yield {"lr": 0.1, "seed": seed}


if __name__ == "__main__":
    votakvot.init(path=sys.argv[1], runner="process", workers=2, capture="none")
    print(votakvot.map(train, params(), return_exceptions=True), flush=True)
"""


def _states(root: Path) -> dict[str, dict]:
    """uuid -> record, of the records that parse now (one may be mid-replace)."""
    found = {}
    for path in root.rglob("votakvot.yaml"):
        try:
            record = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(record, dict) and "attempt-" not in str(path):
            found[record["id"]] = record
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not reaped by its parent, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "zombie" not in state.lower()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover workers")
@pytest.mark.parametrize(
    ("stop", "recorded"),
    [
        (signal.SIGTERM, "SIGTERM"),
        (signal.SIGHUP, "SIGHUP"),
        (signal.SIGINT, "SIGINT"),  # to the parent alone: a notebook kernel's interrupt
        (signal.SIGKILL, "SIGTERM"),  # the kernel sends the workers SIGTERM as it dies
    ],
    ids=["SIGTERM", "SIGHUP", "SIGINT-parent-only", "SIGKILL"],
)
def test_a_process_map_stopped_mid_way_ends_every_trial_truly(
    tmp_path: Path, stop: signal.Signals, recorded: str
) -> None:
    """A `map` on the process runner, its parent alone stopped mid-map: the trials that
    had ended keep their result or error, the ones running end `interrupted` naming the
    signal, queued calls never start, and no worker outlives the parent."""
    root = tmp_path / "results"
    script = tmp_path / "sweep.py"
    script.write_text(SWEEP)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a stop the test sends reaches the parent only
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            records = _states(root)
            states = [r["state"] for r in records.values()]
            if states.count("done") >= 3 and "running" in states:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"the sweep did not get going: {states}"
            time.sleep(0.05)
        running_at_stop = {i for i, r in records.items() if r["state"] == "running"}
        ended_at_stop = set(records) - running_at_stop
        workers = {r["meta"]["process"]["pid"] for r in records.values()}
        proc.send_signal(stop)
        assert proc.wait(timeout=60) != 0
        deadline = time.monotonic() + 30  # a slow call takes 5 s
        while True:
            records = _states(root)
            workers |= {r["meta"]["process"]["pid"] for r in records.values()}
            busy = [i for i, r in records.items() if r["state"] == "running"]
            if not busy and not any(_alive(pid) for pid in workers):
                break
            assert time.monotonic() < deadline, (busy, [p for p in workers if _alive(p)])
            time.sleep(0.1)
        assert len(records) < 12, "queued calls ran after the stop"
        for uuid, record in records.items():
            seed = record["params"]["seed"]
            if uuid in running_at_stop:
                assert record["state"] == "interrupted", (seed, record)
            if record["state"] == "interrupted":  # running at the stop, or starting then
                assert uuid not in ended_at_stop, (seed, record)
                assert record["error"]["signal"] == recorded
            elif seed % 3 == 2:
                assert record["state"] == "failed"
                assert record["error"]["message"] == f"diverged at lr=0.1 seed={seed}"
            else:
                assert record["state"] == "done", (seed, record)
                assert record["result"] == pytest.approx(0.9**20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in workers:  # this test's own pool workers, by pid
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


ORPHAN = """
import multiprocessing
import os
import sys

import votakvot
from votakvot._config import get_config
from votakvot.runners import process
from votakvot.runners._call import worker_settings

votakvot.init(sys.argv[1], capture="none")
process._die_with_parent = lambda parent: None  # as where the kernel has no prctl
context = multiprocessing.get_context("fork")
mine, theirs = context.Pipe()
worker = context.Process(
    target=process._worker_main, args=(theirs, worker_settings(get_config()), os.getpid())
)
worker.start()
print(worker.pid, flush=True)
os._exit(0)  # the parent dies without telling its worker
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find the worker")
def test_an_idle_worker_exits_when_its_parent_dies_without_prctl(tmp_path: Path) -> None:
    """Where no PR_SET_PDEATHSIG exists, an idle worker sees its parent gone and exits,
    though the pipe to its parent never closes (it holds a copy of the parent's end)."""
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "results")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())  # the worker holds the pipe open: one line only
    assert parent.wait(timeout=60) == 0
    try:
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline, f"worker {pid} outlived its parent"
            time.sleep(0.05)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        parent.stdout.close()
