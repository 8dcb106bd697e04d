"""Running many trials at once: submit/map/sweep on the inplace, thread, process and Dask
runners; each call one trial written by whichever process ran it, results in order."""

from __future__ import annotations

import concurrent.futures
import csv
import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import _active, runners
from votakvot import layout as _layout
from votakvot._config import get_config, set_config


def square(x: int) -> int:
    """Informs and meters what it was given, so a mix-up between trials shows."""
    votakvot.inform(x=x)
    with votakvot.attach("x.txt") as f:
        f.write(f"x={x}")
    for step in range(3):
        votakvot.meter(x=x, step=step)
        time.sleep(0.002)
    return x * x


@votakvot.track()
def negate(x: int) -> int:
    """Already tracked: a runner must not wrap it in a second trial."""
    return -x


def fails(x: int) -> int:
    raise ValueError(f"no good: {x}")


def worker_pid() -> int:
    return os.getpid()


async def async_double(x: int) -> int:
    return 2 * x


def provider_marker() -> str:
    """A custom meta provider; workers must record it too."""
    return "from-the-client-settings"


class countdown(votakvot.resumable_fn):
    """A small resumable task, to run through runners."""

    snapshot_each = 2

    def init(self, n: int) -> None:
        self.n = n

    def loop(self):
        self.n -= 1
        votakvot.meter(n=self.n)
        return "liftoff" if self.n <= 0 else None


def records(root: Path) -> list[dict]:
    return [yaml.unsafe_load(p.read_text()) for p in sorted(root.rglob(_layout.YAML_NAME))]


def metric_rows(folder: Path) -> list[dict]:
    rows: list[dict] = []
    for path in sorted(folder.glob(f"{_layout.METRICS_PREFIX}*")):
        with open(path) as f:
            rows.extend(csv.DictReader(f))
    return rows


def assert_no_mixup(root: Path, n: int) -> None:
    """Each trial of ``square`` holds its own params, result, info and metrics."""
    found = [r for r in records(root) if r["function"].endswith(".square")]
    assert sorted(r["params"]["x"] for r in found) == list(range(n))
    for data in found:
        x = data["params"]["x"]
        assert data["state"] == "done"
        assert data["result"] == x * x
        assert data["info"] == {"x": x}
        folder = root / data["tid"]
        rows = metric_rows(folder)
        assert [int(r["step"]) for r in rows] == [0, 1, 2]
        assert {int(r["x"]) for r in rows} == {x}
        assert (folder / "x.txt").read_text() == f"x={x}"


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


# --- the API, on the default in-place runner ---------------------------------------


def test_submit_returns_a_done_future_inplace(use) -> None:
    """In place, ``submit`` runs the call at once; its future holds the result."""
    root = use("inplace")
    future = votakvot.submit(square, x=3)
    assert isinstance(future, concurrent.futures.Future)
    assert future.done() and future.result() == 9
    (data,) = records(root)
    assert data["params"] == {"x": 3} and data["result"] == 9


def test_map_keeps_order_and_makes_one_trial_per_call(use) -> None:
    """``map`` returns results in input order, one trial each with its own info and metrics."""
    root = use("inplace")
    assert votakvot.map(square, [{"x": i} for i in range(5)]) == [0, 1, 4, 9, 16]
    assert_no_mixup(root, 5)


def test_tracked_function_makes_exactly_one_trial(use) -> None:
    """A ``@track`` function submitted to a runner records one trial per call, not two."""
    root = use("inplace")
    assert votakvot.map(negate, [{"x": 1}, {"x": 2}]) == [-1, -2]
    found = records(root)
    assert len(found) == 2
    assert {r["function"] for r in found} == {f"{__name__}.negate"}


def test_failures_raise_after_all_trials_ran(use) -> None:
    """The first failure is raised once every trial ran; each failure is recorded."""
    root = use("inplace")
    with pytest.raises(ValueError, match="no good: 1"):
        votakvot.map(fails, [{"x": 1}, {"x": 2}])
    assert sorted(r["state"] for r in records(root)) == ["failed", "failed"]
    out = votakvot.map(fails, [{"x": 3}], return_exceptions=True)
    assert isinstance(out[0], ValueError) and str(out[0]) == "no good: 3"


def test_sweep_runs_the_grid_in_order(use) -> None:
    """``sweep`` runs every combination, the last name varying fastest."""
    use("inplace")
    assert runners.grid(a=[1, 2], b=["x", "y"]) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert votakvot.sweep(square, x=range(4)) == [0, 1, 4, 9]
    with pytest.raises(TypeError, match=r"for one fixed value write x=\['abc'\]"):
        votakvot.sweep(square, x="abc")


def test_explicit_ids_skip_finished_trials(use) -> None:
    """With a ``tid`` template a second ``map`` returns recorded results without rerunning."""
    root = use("inplace")
    params = [{"x": i} for i in range(3)]
    assert votakvot.map(square, params, tid="sq/x={x}") == [0, 1, 4]
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob(_layout.YAML_NAME)}
    assert votakvot.map(square, params, tid=lambda p: f"sq/x={p['x']}") == [0, 1, 4]
    assert {p: p.stat().st_mtime_ns for p in root.rglob(_layout.YAML_NAME)} == stamps
    assert sorted(p.parent.name for p in stamps) == ["x=0", "x=1", "x=2"]
    with pytest.raises(ValueError, match="both get the trial id 'same'"):
        votakvot.map(square, params, tid="same")
    with pytest.raises(ValueError, match=r"names 'y' which is not among the params"):
        votakvot.map(square, params, tid="sq/{y}")


def test_async_functions_run_to_completion(use) -> None:
    """An ``async def`` submitted without an id is run with asyncio.run where it lands."""
    root = use("inplace")
    assert votakvot.submit(async_double, x=4).result() == 8
    (data,) = records(root)
    assert data["result"] == 8


def test_resumable_task_through_map(use) -> None:
    """A ``resumable_fn`` subclass runs as a resumable trial, with or without an id."""
    root = use("inplace")
    assert votakvot.map(countdown, [{"n": 3}], tid="cd/{n}") == ["liftoff"]
    assert votakvot.submit(countdown, n=2).result() == "liftoff"
    kinds = [r.get("kind") for r in records(root)]
    assert kinds == ["resumable", "resumable"]


def test_bad_runner_settings_are_named(use) -> None:
    """An unknown runner or option is an error naming it and what is accepted."""
    use("warp")
    with pytest.raises(ValueError, match=r"unknown runner 'warp'.*inplace, thread, process, dask"):
        votakvot.submit(square, x=1)
    use("process", wrokers=2)
    with pytest.raises(ValueError, match=r"no option 'wrokers'.*workers"):
        votakvot.submit(square, x=1)


# --- threads ---------------------------------------------------------------------


def test_thread_runner_keeps_concurrent_trials_apart(use) -> None:
    """Trials running at once in threads each keep their own info and metrics."""
    root = use("thread", workers=4)
    assert votakvot.map(square, [{"x": i} for i in range(12)]) == [i * i for i in range(12)]
    assert_no_mixup(root, 12)


# --- processes -------------------------------------------------------------------


def test_process_runner_writes_trials_from_workers(use) -> None:
    """N calls on 2 worker processes give N trial folders, written by the workers, with the
    client's settings (custom meta providers included) and nothing mixed up."""
    providers = dict(votakvot.meta.providers)
    providers["client.marker"] = provider_marker
    root = use("process", workers=2)
    votakvot.init(str(root), runner="process", workers=2, capture="none", meta_providers=providers)
    n = 16
    assert votakvot.map(square, [{"x": i} for i in range(n)]) == [i * i for i in range(n)]
    assert_no_mixup(root, n)
    pids = {r["meta"]["process"]["pid"] for r in records(root)}
    assert os.getpid() not in pids
    assert {r["meta"]["client"]["marker"] for r in records(root)} == {provider_marker()}


def test_process_runner_reraises_and_tracks_once(use) -> None:
    """Exceptions come back with their type; tracked functions still make one trial."""
    root = use("process", workers=2)
    with pytest.raises(ValueError, match="no good: 7"):
        votakvot.submit(fails, x=7).result()
    assert votakvot.map(negate, [{"x": 1}, {"x": 2}, {"x": 3}]) == [-1, -2, -3]
    assert votakvot.map(countdown, [{"n": 4}], tid="cd") == ["liftoff"]
    found = records(root)
    assert sorted(r["function"].rsplit(".", 1)[-1] for r in found) == [
        "countdown",
        "fails",
        "negate",
        "negate",
        "negate",
    ]


def odd_fails(x: int) -> int:
    if x % 2:
        raise ValueError(f"odd: {x}")
    return x


def test_process_runner_batches_keep_each_outcome(use) -> None:
    """Many short calls travel in batches, yet each keeps its own result or exception
    (with the worker's traceback), in input order, and each is one trial."""
    root = use("process", workers=2)
    out = votakvot.map(odd_fails, [{"x": i} for i in range(40)], return_exceptions=True)
    for i, value in enumerate(out):
        if i % 2:
            assert isinstance(value, ValueError) and str(value) == f"odd: {i}"
            assert "odd_fails" in str(value.__cause__)
        else:
            assert value == i
    states = [r["state"] for r in records(root)]
    assert sorted(states) == ["done"] * 20 + ["failed"] * 20
    with pytest.raises(ValueError, match="odd: 1"):
        votakvot.map(odd_fails, [{"x": i} for i in range(20)])


def test_process_runner_refuses_what_it_cannot_send(use, tmp_path: Path) -> None:
    """A lambda, or a memory:// root, cannot reach worker processes: said at once."""
    use("process", workers=1)
    with pytest.raises(TypeError, match=r"top level of an importable module"):
        votakvot.submit(lambda x: x, x=1)
    with pytest.raises(TypeError, match=r"params 'x' of .*square.* cannot be sent"):
        votakvot.submit(square, x=threading.Lock())
    votakvot.init("memory://runners-test", runner="process", workers=1)
    with pytest.raises(ValueError, match=r"memory:// lives inside one process"):
        votakvot.submit(square, x=1)


def test_process_runner_on_a_remote_root(use, sftp_server, tmp_path: Path) -> None:
    """Workers write their trials (metrics, attachments, snapshots) straight to an fsspec
    root, here a real SFTP server on loopback."""
    use("inplace")
    root = sftp_server.root / tmp_path.name / "runs"
    url = sftp_server.url(f"{tmp_path.name}/runs")
    votakvot.init(url, runner="process", workers=2, capture="none")
    assert votakvot.map(square, [{"x": i} for i in range(4)], tid="sq/{x}") == [0, 1, 4, 9]
    assert votakvot.map(countdown, [{"n": 3}], tid="cd") == ["liftoff"]
    assert_no_mixup(root, 4)
    (cd,) = [r for r in records(root) if r.get("kind") == "resumable"]
    assert cd["state"] == "done" and cd["resumable"]["snapshots"] >= 2


def dies(x: int) -> int:
    # Dies once its running record is written: a call killed sooner leaves none
    # (see RECORD_AFTER in votakvot/_decorator.py).
    record = Path(_active.current().url) / "votakvot.yaml"
    deadline = time.monotonic() + 30
    while not record.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os._exit(3)


def test_process_runner_recovers_from_a_dead_worker(use) -> None:
    """A worker that dies fails its call with WorkerCrashedError and its trial is recorded
    ``crashed`` (issue 15: no longer a BrokenProcessPool left ``running``); later calls
    get a new worker."""
    root = use("process", workers=1)
    with pytest.raises(votakvot.exceptions.WorkerCrashedError, match="exited with code 3"):
        votakvot.submit(dies, x=1).result()
    assert votakvot.map(square, [{"x": 2}, {"x": 3}]) == [4, 9]
    states = sorted(r["state"] for r in records(root))
    assert states == ["crashed", "done", "done"]


def test_process_runner_with_spawned_workers(use) -> None:
    """With ``mp_context="spawn"`` workers import the function and record with the settings."""
    root = use("process", workers=1, mp_context="spawn")
    assert votakvot.map(square, [{"x": 4}]) == [16]
    (data,) = records(root)
    assert data["result"] == 16 and data["meta"]["process"]["pid"] != os.getpid()


def test_new_settings_start_a_new_pool(use, tmp_path: Path) -> None:
    """Calling ``init`` again sends later trials to the new root through a new pool."""
    first = use("process", workers=1)
    votakvot.submit(square, x=1).result()
    second = tmp_path / "second"
    votakvot.init(str(second), runner="process", workers=1, capture="none")
    votakvot.submit(square, x=2).result()
    assert [r["params"]["x"] for r in records(first)] == [1]
    assert [r["params"]["x"] for r in records(second)] == [2]


# --- Dask ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster(sftp_server):
    """One real local Dask cluster (2 worker processes, loopback) for this module; started
    after the SFTP server, so its workers trust that server's host key (``$HOME``)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
    )
    yield cluster
    cluster.close()


def test_dask_runner_writes_trials_from_workers(use, dask_cluster) -> None:
    """N calls on a Dask cluster give N folders with the right results, info and metrics;
    exceptions and tracked functions behave as in process."""
    root = use("dask", address=dask_cluster.scheduler_address)
    n = 10
    assert votakvot.map(square, [{"x": i} for i in range(n)]) == [i * i for i in range(n)]
    assert_no_mixup(root, n)
    with pytest.raises(ValueError, match="no good: 5"):
        votakvot.submit(fails, x=5).result()
    assert votakvot.map(negate, [{"x": 1}, {"x": 1}]) == [-1, -1]  # equal params: two trials
    assert votakvot.submit(lambda x: x + 1, x=1).result() == 2  # sent by cloudpickle
    with pytest.raises(TypeError, match=r"cannot be sent to the Dask workers.*_thread.lock"):
        votakvot.submit(square, x=threading.Lock())
    pids = {r["meta"]["process"]["pid"] for r in records(root)}
    assert os.getpid() not in pids
    assert len(records(root)) == n + 1 + 2 + 1


def test_dask_runner_on_a_remote_root(use, dask_cluster, sftp_server, tmp_path: Path) -> None:
    """Dask workers write trials straight to a shared fsspec root (SFTP on loopback)."""
    use("inplace")
    root = sftp_server.root / tmp_path.name / "runs"
    url = sftp_server.url(f"{tmp_path.name}/runs")
    votakvot.init(url, runner="dask", address=dask_cluster.scheduler_address, capture="none")
    assert votakvot.map(square, [{"x": i} for i in range(4)], tid="sq/{x}") == [0, 1, 4, 9]
    assert_no_mixup(root, 4)


def test_dask_runner_resumable_and_ids(use, dask_cluster) -> None:
    """Resumable tasks and explicit ids work on workers; finished ids are not rerun."""
    root = use("dask", address=dask_cluster.scheduler_address)
    assert votakvot.map(countdown, [{"n": 5}, {"n": 6}], tid="cd/n={n}") == ["liftoff"] * 2
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob(_layout.YAML_NAME)}
    assert votakvot.map(countdown, [{"n": 5}, {"n": 6}], tid="cd/n={n}") == ["liftoff"] * 2
    assert {p: p.stat().st_mtime_ns for p in root.rglob(_layout.YAML_NAME)} == stamps
    for data in records(root):
        assert data["kind"] == "resumable" and data["state"] == "done"
        assert data["resumable"]["loops"] == data["params"]["n"]


# --- the documentation's examples ----------------------------------------------------


def doc_blocks(name: str) -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / name).read_text()
    parts = text.split("```python")
    # A block marked <!-- snippet: skip=... --> needs what a test cannot start (a cluster).
    return [
        block.split("\n", 1)[1]
        for before, block in itertools.pairwise(parts)
        if "snippet: skip=" not in before.rstrip().rsplit("\n", 1)[-1]
    ]


def run_script(code: str, cwd: Path, name: str) -> str:
    script = cwd / name
    script.write_text(code.split("```", 1)[0])
    out = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"{name}:\n{out.stderr}"
    return out.stdout


def test_parallel_docs_examples_run(tmp_path: Path) -> None:
    """Every example of docs/parallel.md runs as written and records trials."""
    blocks = doc_blocks("parallel.md")
    assert len(blocks) >= 4
    for i, code in enumerate(blocks):
        run_script(code, tmp_path, f"example_{i}.py")
    assert len(list((tmp_path / "my-results").rglob(_layout.YAML_NAME))) >= 14


def test_resumable_docs_examples_run(tmp_path: Path) -> None:
    """The examples of docs/resumable.md run as written; the second run of the sweep reads
    the recorded trials back."""
    quick, many = doc_blocks("resumable.md")
    out = run_script(quick, tmp_path, "pi_task.py")
    estimate, loops = out.split()
    assert abs(float(estimate) - 3.14) < 0.1 and int(loops) == 20
    first = run_script(many, tmp_path, "pi_sweep.py")
    assert run_script(many, tmp_path, "pi_sweep.py") == first
    # n=200000/seed=1 is the quick start's trial, found finished by the sweep.
    assert len(list((tmp_path / "my-results").rglob(_layout.YAML_NAME))) == 6


_ran: list[int] = []


def counted(x: int) -> int:
    """Notes each run in this process, so a call run twice shows."""
    _ran.append(x)
    return x + 100


def test_a_dask_task_reads_one_record_when_new_and_each_on_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a Dask worker runs (``run_calls``), called here: a batch of calls at fresh
    ids reads one record to tell it never ran (one GET on S3, not one per call); the
    same task run again, as Dask does when its worker died, reads each call's record
    and returns the recorded results without running any call twice."""
    from votakvot.runners._attempts import prepare
    from votakvot.runners._call import Call, worker_settings
    from votakvot.runners.dask import run_calls, write_marker

    previous = get_config()
    votakvot.init(str(tmp_path / "runs"), capture="none")
    try:
        config = get_config()
        settings = worker_settings(config)
        write_marker(config, "client-token")
        calls = prepare([Call(counted, {"x": x}) for x in range(5)], "dask", config=config)
        reads: list[str] = []
        storage_class = type(config.storage)
        real_read = storage_class.read

        def counting_read(self, path, *args, **kwargs):
            if str(path).endswith(_layout.YAML_NAME):
                reads.append(str(path))
            return real_read(self, path, *args, **kwargs)

        monkeypatch.setattr(storage_class, "read", counting_read)
        _ran.clear()
        out, failed, _ = run_calls("client-token", settings, "task-1", calls, None)
        assert [value for _, value in out] == [x + 100 for x in range(5)]
        assert failed == [None] * 5 and _ran == list(range(5))
        assert len(reads) == 1, reads
        reads.clear()
        out, failed, _ = run_calls("client-token", settings, "task-1", calls, None)
        assert [value for _, value in out] == [x + 100 for x in range(5)]
        assert _ran == list(range(5)), "no call ran twice"
        assert len(reads) >= 5
        found = records(tmp_path / "runs")
        assert sorted((r["params"]["x"], r["state"]) for r in found) == [
            (x, "done") for x in range(5)
        ]
        # Explicit ids may hold earlier runs: each record is read, once per call.
        explicit = prepare(
            [Call(counted, {"x": x}, f"e/{x}") for x in range(3)], "dask", config=config
        )
        reads.clear()
        out, _, _ = run_calls("client-token", settings, "task-2", explicit, None)
        assert [value for _, value in out] == [100, 101, 102]
        assert len(reads) == 3, reads
    finally:
        set_config(previous)
