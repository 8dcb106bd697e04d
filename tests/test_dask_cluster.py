"""The Dask runner on a real cluster: ``dask scheduler`` and ``dask worker`` processes on
loopback, moto's S3 server as the store; workers killed, stopped and crashed mid-map.

No call may be lost or recorded ``done`` twice, and nothing that goes wrong on a worker
may stay silent in the client.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cluster import REPO, can_unshare, dask_procs, namespaced, s3_server, start_cluster

import votakvot
from votakvot import _active, runners
from votakvot import layout as _layout
from votakvot._config import get_config, set_config
from votakvot.exceptions import StorageError, WorkerCrashedError
from votakvot.runners.dask import SharedRootError

pytest.importorskip("distributed")

__all__ = ["dask_procs", "s3_server"]  # fixtures, used by name

pytestmark = pytest.mark.slow


# --- what the workers run (importable by them: tests/ is on their PYTHONPATH) -------


def square(x: int, pause: float = 0.0) -> int:
    """Pauses in short sleeps: a cancel or timeout lands between two of them."""
    votakvot.inform(x=x)
    votakvot.meter(x=x)
    end = time.monotonic() + pause
    while time.monotonic() < end:
        time.sleep(0.02)
    return x * x


def dies_at(x: int, bad: int) -> int:
    if x == bad:
        os._exit(3)
    return x


def spoils_own_record(x: int, bad: int) -> int:
    """For ``x == bad``, turns its own trial folder into a file: later writes must fail."""
    if x == bad:
        trial = _active.current()
        assert trial is not None
        folder = Path(trial.path)
        for _ in range(100):  # the flusher may write the running record meanwhile
            try:
                shutil.rmtree(folder)
                break
            except OSError:
                time.sleep(0.01)
        folder.write_text("not a folder any more")
    return x


def fails_once(x: int, marks: str) -> int:
    """Raises the first time it is called for ``x`` (a file in ``marks`` remembers)."""
    mark = Path(marks) / f"{x}"
    if not mark.exists():
        mark.write_text("failed once")
        raise RuntimeError(f"first try of {x}")
    return x


class countdown(votakvot.resumable_fn):
    """A slow resumable task that snapshots every loop."""

    snapshot_each = 1

    def init(self, n: int, pause: float) -> None:
        self.n = n
        self.pause = pause
        self.hosts: list[str] = []

    def loop(self) -> Any:
        import platform

        if platform.node() not in self.hosts:
            self.hosts.append(platform.node())
        time.sleep(self.pause)
        self.n -= 1
        return self.hosts if self.n <= 0 else None


# --- helpers -------------------------------------------------------------------------


def records(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(root.rglob(_layout.YAML_NAME)):
        try:
            out.append(yaml.safe_load(path.read_text()))
        except (OSError, yaml.YAMLError):
            continue  # being replaced right now
    return out


def current(root: Path) -> list[dict[str, Any]]:
    """One record per call: the trials' own, not their superseded earlier attempts."""
    return [r for r in records(root) if r and r.get("state") != "superseded"]


def wait_for(what: Callable[[], Any], timeout: float = 60, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message or what}")


@pytest.fixture
def settings() -> Iterator[None]:
    """The settings and runner before the test come back after it."""
    previous = get_config()
    yield
    runners.shutdown()
    set_config(previous)


@pytest.fixture
def cluster(dask_procs, settings):
    """The session's cluster, with both workers back (an earlier test may have killed one)."""
    dask_procs.wait_for_workers(2)
    return dask_procs


def in_background(fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(fn)
    pool.shutdown(wait=False)
    return future


# --- the object store ----------------------------------------------------------------


def test_sweep_into_s3_with_storage_options(cluster, s3_server, tmp_path: Path) -> None:
    """A sweep on the cluster lands in S3 (moto): the endpoint and key given to init()
    reach the workers, whose own environment holds other credentials."""
    url = s3_server.url(f"{tmp_path.name}/runs")
    votakvot.init(
        url,
        runner="dask",
        address=cluster.address,
        storage_options=s3_server.storage_options,
        capture="none",
    )
    assert votakvot.sweep(square, x=range(6)) == [x * x for x in range(6)]
    fs = s3_server.fs()
    found = [yaml.safe_load(fs.cat(p)) for p in fs.glob(f"{url[5:]}/**/{_layout.YAML_NAME}")]
    assert sorted(r["params"]["x"] for r in found) == list(range(6))
    assert all(r["state"] == "done" and r["result"] == r["params"]["x"] ** 2 for r in found)
    workers = cluster.worker_pids()
    assert {r["meta"]["process"]["pid"] for r in found} <= set(workers.values())
    for r in found:
        runner = r["meta"]["runner"]
        assert runner["kind"] == "dask" and runner["attempt"] == 1
        assert workers[runner["worker"]] == r["meta"]["process"]["pid"], "the worker's address"
    assert not fs.glob(f"{url[5:]}/.votakvot-probe-*"), "the probe is cleaned up"
    assert len(fs.glob(f"{url[5:]}/.votakvot-client-*")) == 1, "kept for late workers"
    runners.shutdown()
    assert not s3_server.fs().glob(f"{url[5:]}/.votakvot-client-*"), "removed at shutdown"


def test_workers_with_other_credentials_fail_at_once(
    cluster, s3_server, tmp_path: Path, monkeypatch
) -> None:
    """Credentials only in the client's environment do not reach the workers: the probe
    fails before any task runs, naming the worker and what S3 said; no trial is lost."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret)
    url = s3_server.url(f"{tmp_path.name}/runs")
    endpoint = {"client_kwargs": {"endpoint_url": s3_server.endpoint}}
    votakvot.init(url, runner="dask", address=cluster.address, storage_options=endpoint)
    with pytest.raises(SharedRootError) as err:
        votakvot.map(square, [{"x": 1}])
    text = str(err.value)
    assert "Dask worker tcp://127.0.0.1:" in text and f"cannot write trials to {url}" in text
    assert "InvalidAccessKeyId" in text or "does not exist" in text
    assert "storage_options" in text


def test_wrong_secret_fails_at_once(cluster, s3_server, tmp_path: Path) -> None:
    """A wrong secret in storage_options: the first map fails, naming the store, not later."""
    url = s3_server.url(f"{tmp_path.name}/runs")
    options = {**s3_server.storage_options, "secret": "not-the-secret"}
    votakvot.init(url, runner="dask", address=cluster.address, storage_options=options)
    with pytest.raises(SharedRootError, match=r"cannot write trials to s3://runs/.*(?i:signature)"):
        votakvot.submit(square, x=1)


@pytest.mark.skipif(not can_unshare(), reason="needs unprivileged user namespaces (unshare)")
def test_a_root_the_workers_see_elsewhere_is_refused(settings, tmp_path: Path) -> None:
    """A worker that sees the root's path as another folder (its own mount of it, as on
    another host) is found by the probe, strict or not; nothing is run."""
    root = tmp_path / "shared" / "runs"
    root.mkdir(parents=True)
    wrap = namespaced(f"mount -t tmpfs none {tmp_path / 'shared'}")
    with start_cluster(1, wrap=wrap) as other:
        votakvot.init(str(root), runner="dask", address=other.address, strict=True)
        with pytest.raises(
            SharedRootError, match=r"is not shared with Dask worker .* does not see"
        ):
            votakvot.map(square, [{"x": 1}])
        runners.shutdown()
    assert list(root.iterdir()) == []


@pytest.mark.skipif(not can_unshare(), reason="needs unprivileged user namespaces (unshare)")
def test_a_worker_that_joins_later_and_sees_another_root_fails_loudly(
    settings, tmp_path: Path
) -> None:
    """A worker that joins after the runner probed the cluster, and sees the root's path
    as another folder, is found before it runs a task of ours: the map raises
    SharedRootError naming that worker, instead of its trials landing where nobody looks."""
    import subprocess
    import sys

    from cluster import HERE, WORKER_ENV, _terminate

    root = tmp_path / "shared" / "runs"
    root.mkdir(parents=True)
    with start_cluster(1) as one:
        votakvot.init(str(root), runner="dask", address=one.address, capture="none")
        assert votakvot.map(square, [{"x": 1}]) == [1]  # probed: the first worker shares it
        first = one.worker_pids()
        line = subprocess.list2cmdline([
            sys.executable, "-m", "distributed.cli.dask_worker", one.address,
            "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard", "--name", "late",
        ])  # fmt: skip
        wrap = namespaced(f"mount -t tmpfs none {tmp_path / 'shared'}")
        late = subprocess.Popen(
            [part.replace("{cmd}", line) for part in wrap],
            env={**os.environ, **WORKER_ENV},
            cwd=HERE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            one.wait_for_workers(2)
            for pid in first.values():  # the first worker and its nanny go: "late" is left
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            wait_for(
                lambda: set(one.client.scheduler_info()["workers"]).isdisjoint(first),
                message="the scheduler to drop the first worker",
            )
            with pytest.raises(SharedRootError) as err:
                votakvot.map(square, [{"x": x} for x in range(2, 5)])
            text = str(err.value)
            assert "is not shared with Dask worker tcp://127.0.0.1:" in text
            assert "joined after" in text and ".votakvot-client-" in text
            runners.shutdown()
        finally:
            _terminate([late])
    assert sorted(r["params"]["x"] for r in records(root)) == [1]
    assert not list(root.glob(".votakvot-*")), "nothing of the runner's left in the root"


def test_a_failed_write_on_a_worker_is_not_silent(cluster, tmp_path: Path) -> None:
    """A trial write that fails on a worker reaches the client: a warning with counts
    naming the trial (results still returned), an exception with strict=True."""
    root = tmp_path / "runs"
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    with pytest.warns(RuntimeWarning, match=r"1 of 4 trials run on the Dask workers could not "
                      r"be written completely.*the first: .*spoils_own_record"):  # fmt: skip
        assert votakvot.map(spoils_own_record, [{"x": x, "bad": 2} for x in range(4)]) == [
            0, 1, 2, 3,
        ]  # fmt: skip
    votakvot.init(str(root), runner="dask", address=cluster.address, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(StorageError, match="spoils_own_record"):
            votakvot.map(spoils_own_record, [{"x": x, "bad": 1} for x in range(3)])


# --- workers that die -------------------------------------------------------------------


def kill_a_running_worker(root: Path, cluster, sig: int) -> int:
    """Wait until a worker runs a trial, then send it ``sig``; the pid it had."""
    pids = set(cluster.worker_pids().values())

    def running_pid() -> int | None:
        for r in records(root):
            pid = ((r.get("meta") or {}).get("process") or {}).get("pid")
            if r.get("state") == "running" and pid in pids:
                return int(pid)
        return None

    pid = wait_for(running_pid, message="a trial running on a worker")
    os.kill(pid, sig)
    return int(pid)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_worker_stopped_mid_sweep_loses_and_doubles_nothing(
    cluster, tmp_path: Path, sig: int
) -> None:
    """A worker killed (or stopped) while running a trial: Dask runs the task again on
    another worker, in the same trial folder; every call ends ``done`` exactly once."""
    root = tmp_path / "runs"
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    n = 6
    running = in_background(
        lambda: votakvot.map(square, [{"x": x, "pause": 0.6} for x in range(n)])
    )
    killed = kill_a_running_worker(root, cluster, sig)
    assert running.result(timeout=120) == [x * x for x in range(n)]
    calls = current(root)
    assert sorted(r["params"]["x"] for r in calls) == list(range(n)), "one trial per call"
    assert all(r["state"] == "done" for r in calls)
    rerun = [r for r in calls if r.get("attempt", 1) > 1]
    earlier = [r for r in records(root) if r.get("state") == "superseded"]
    if sig == signal.SIGKILL:
        assert len(rerun) == 1 and rerun[0]["meta"]["process"]["pid"] != killed
        assert [e["tid"] for e in earlier] == [rerun[0]["tid"]]
        assert earlier[0]["meta"]["process"]["pid"] == killed
    for r in rerun:
        assert r["meta"]["runner"]["attempt"] == r["attempt"]


def test_a_trial_that_kills_its_worker_is_recorded_crashed(cluster, tmp_path: Path) -> None:
    """``os._exit`` in one call: Dask gives that task up after its allowed failures, the
    trial is recorded ``crashed`` and the other calls of the map go on."""
    root = tmp_path / "runs"
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    out = votakvot.map(dies_at, [{"x": x, "bad": 2} for x in range(5)], return_exceptions=True)
    assert out[:2] == [0, 1] and out[3:] == [3, 4]
    assert isinstance(out[2], WorkerCrashedError) and "died running it" in str(out[2])
    calls = current(root)
    assert sorted(r["params"]["x"] for r in calls) == list(range(5))
    (crashed,) = [r for r in calls if r["state"] != "done"]
    assert crashed["state"] == "crashed" and crashed["params"]["x"] == 2
    assert crashed["error"]["type"] == "KilledWorker"
    assert crashed["attempt"] == 2 and "process" in crashed["meta"], "the last attempt's record"
    (earlier,) = [r for r in records(root) if r["state"] == "superseded"]
    assert earlier["attempt"] == 1 and earlier["tid"] == crashed["tid"]


@pytest.mark.skipif(not can_unshare(), reason="needs unprivileged user namespaces (unshare)")
def test_resumable_task_moves_to_another_host_at_once(settings, tmp_path: Path) -> None:
    """A resumable task whose worker is gone resumes from its snapshot on the other worker,
    on another host, right away, not after its heartbeat went stale."""
    root = tmp_path / "runs"
    with start_cluster(2, wrap=namespaced("hostname elsewhere"), wrapped=[0]) as two:
        votakvot.init(
            str(root), runner="dask", address=two.address, capture="none", heartbeat_interval=30
        )
        future = votakvot.submit(countdown, n=6, pause=0.3)

        def after_snapshots() -> int | None:
            for r in records(root):
                if (r.get("resumable") or {}).get("snapshots", 0) >= 2 and r["state"] == "running":
                    return int(r["meta"]["process"]["pid"])
            return None

        pid = wait_for(after_snapshots, timeout=20, message="the task's second snapshot")
        t0 = time.monotonic()
        os.killpg(os.getpgid(pid), signal.SIGKILL)  # the nanny too: that worker stays gone
        hosts = future.result(timeout=60)
        assert time.monotonic() - t0 < 12, "resumed at once, not after the heartbeat went stale"
        runners.shutdown()
    (data,) = current(root)
    assert data["state"] == "done" and len(set(hosts)) == 2 and "elsewhere" in hosts
    assert len(data["resumable"]["resumes"]) == 1
    assert data["resumable"]["loops"] == 6


# --- control -----------------------------------------------------------------------------


def test_ctrl_c_cancels_queued_and_running_work(cluster, tmp_path: Path) -> None:
    """KeyboardInterrupt in the client during map: running trials end ``interrupted``,
    queued calls never start, nothing keeps running on the workers."""
    root = tmp_path / "runs"
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    timer = threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        votakvot.map(square, [{"x": x, "pause": 2.0} for x in range(20)])
    timer.join()

    def settled() -> list[dict[str, Any]] | None:
        found = current(root)
        return None if any(r["state"] == "running" for r in found) else found

    found = wait_for(settled, timeout=20, message="no trial left running")
    assert 1 <= len(found) <= 4, [r["state"] for r in found]
    assert {r["state"] for r in found} == {"interrupted"}
    time.sleep(2.5)
    assert len(current(root)) == len(found), "no queued call started after Ctrl-C"


def test_future_cancel_and_timeout(cluster, tmp_path: Path) -> None:
    """``cancel()`` of a running call's future returns True and its trial ends
    ``interrupted``; a call past its timeout is stopped and recorded ``timeout``."""
    root = tmp_path / "runs"
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    future = votakvot.submit(square, x=1, pause=30)
    wait_for(lambda: [r for r in records(root) if r["state"] == "running"], message="running")
    assert future.cancel() is True and future.cancelled()
    wait_for(lambda: [r for r in records(root) if r["state"] == "interrupted"], timeout=20,
             message="the cancelled trial interrupted")  # fmt: skip
    out = votakvot.map(
        square, [{"x": 2, "pause": 30}, {"x": 3}], timeout=1.0, return_exceptions=True
    )
    assert isinstance(out[0], TimeoutError) and "ran longer than timeout=1 s" in str(out[0])
    assert out[1] == 9
    (timed,) = [r for r in current(root) if r["params"]["x"] == 2]
    assert timed["state"] == "timeout" and timed["error"]["type"] == "TimeoutError"


def test_retries_and_results_as_they_finish(cluster, tmp_path: Path) -> None:
    """``retries=`` reaches the workers (a failed call runs again as attempt 2 of the same
    trial); ``as_completed`` hands results over in the order calls finish."""
    root = tmp_path / "runs"
    marks = tmp_path / "marks"
    marks.mkdir()
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    assert votakvot.map(fails_once, [{"x": 1, "marks": str(marks)}], retries=1) == [1]
    (data,) = current(root)
    assert data["state"] == "done" and data["attempt"] == 2
    (earlier,) = [r for r in records(root) if r["state"] == "superseded"]
    assert earlier["ended_as"] == "failed" and earlier["error"]["message"] == "first try of 1"
    params = [{"x": 1, "pause": 1.5}, {"x": 2, "pause": 0.0}]
    order = [p["x"] for p, _ in votakvot.as_completed(square, params)]
    assert order == [2, 1]


def test_rerunning_a_map_with_tids_counts_attempts_on(cluster, tmp_path: Path) -> None:
    """A map at explicit ids run again over a call that failed: on the workers too the
    call is attempt 2 of its trial, attempt 1 kept aside; the done call is not rerun."""
    root = tmp_path / "runs"
    marks = tmp_path / "marks"
    marks.mkdir()
    (marks / "2").write_text("never fails")
    votakvot.init(str(root), runner="dask", address=cluster.address, capture="none")
    params = [{"x": 1, "marks": str(marks)}, {"x": 2, "marks": str(marks)}]
    out = votakvot.map(fails_once, params, tid="f/{x}", return_exceptions=True)
    assert isinstance(out[0], RuntimeError) and out[1] == 2
    assert votakvot.map(fails_once, params, tid="f/{x}") == [1, 2]
    assert sorted((r["tid"], r["state"], r.get("attempt", 1)) for r in records(root)) == [
        ("f/1", "done", 2),
        ("f/1", "superseded", 1),
        ("f/2", "done", 1),
    ]
    (latest,) = [r for r in current(root) if r["tid"] == "f/1"]
    assert latest["meta"]["runner"]["attempt"] == 2


def test_a_scheduler_without_the_modules_is_named(settings, tmp_path: Path) -> None:
    """The scheduler unpickles each task: one that cannot import the function's module
    fails the call with a message saying the scheduler needs it, not Dask's riddle."""
    with start_cluster(1, scheduler_path=str(REPO)) as other:
        votakvot.init(str(tmp_path / "runs"), runner="dask", address=other.address)
        with pytest.raises(
            RuntimeError, match=r"scheduler process must import .*test_dask_cluster"
        ):
            votakvot.submit(square, x=1).result(timeout=60)
        runners.shutdown()
