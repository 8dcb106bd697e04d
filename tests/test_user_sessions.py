"""Truth under ordinary use: sessions written as an ML or data user writes them.

Each test is one session with real numpy/pandas code, a real Jupyter kernel, a real
process pool or the real ``votakvot-ab`` command, and then checks what the user reads
back: ``load_report``, ``load_trials``, ``load_metrics`` and plain ``yaml.safe_load``.
A test marked ``xfail(strict=True)`` is a bug whose fix belongs to a file of another
part; its reason says which file and what to change.
"""

from __future__ import annotations

import datetime
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from user_sessions import kernel

import votakvot
from votakvot._config import get_config, set_config

HERE = Path(__file__).parent / "user_sessions"


@pytest.fixture
def results(tmp_path: Path):
    previous = get_config()
    votakvot.init(path=str(tmp_path / "results"), capture="none")
    yield tmp_path / "results"
    set_config(previous)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()


def _records(root: Path) -> list[dict]:
    """Every ``votakvot.yaml`` below ``root`` as plain ``yaml.safe_load`` reads it."""
    return [yaml.safe_load(p.read_text()) for p in sorted(root.rglob("votakvot.yaml"))]


# -- a training loop with numpy and pandas ---------------------------------------------


_SEED = np.int64(7)


@votakvot.track()
def _train(lr, epochs, layers, class_weights, start, labels, split, prior, seed=_SEED):
    rng = np.random.default_rng(int(seed))
    best = np.float32(np.inf)
    for epoch in range(int(epochs)):
        loss = np.float32(1.0 / (epoch + 1) + rng.random() * 0.01)
        votakvot.meter(
            epoch=np.int64(epoch),
            loss=loss,
            acc=np.float64(epoch) / epochs,
            grad_norm=np.float64("nan") if epoch == 1 else np.float64(epoch),
            lr=np.array(lr * 0.5**epoch),  # a 0-d array, as schedulers return
        )
        best = min(best, loss)
    votakvot.inform(
        best=best,
        diverged=np.bool_(False),
        worst=np.float64("-inf"),
        per_class=pd.Series([0.9, 0.7], index=["cat", "dog"]),
        confusion=np.array([[5, 1], [2, 4]], dtype=np.int64),
        finished_on=pd.Timestamp("2024-05-01 12:00", tz="UTC"),
        n_params=np.int32(1234),
    )
    return {"best": best, "mean": np.mean([1.0, 2.0, 4.0]), "curve": np.arange(3, dtype=np.float32)}


def test_a_numpy_and_pandas_training_loop_reads_back_as_meant(results: Path) -> None:
    """Params, result, inform fields and metrics of numpy/pandas values come back as the
    numbers, lists, mappings and datetimes the user meant, by load_report, load_trials,
    load_metrics and by plain yaml.safe_load."""
    out = _train(
        np.float32(0.01),
        np.int64(4),
        [64, 32],
        np.array([0.25, 0.75], dtype=np.float32),
        pd.Timestamp("2024-01-01"),
        pd.Categorical(["cat", "dog", "cat"]),
        pd.DataFrame({"train": [0.8, 0.7], "test": [0.2, np.nan]}),
        pd.Series([0.5, 0.5]),
    )
    (record,) = _records(results)  # plain YAML, nothing python-specific
    assert record["state"] == "done"
    assert record["params"]["lr"] == 0.01 and record["params"]["epochs"] == 4
    assert record["params"]["class_weights"] == [0.25, 0.75]
    assert record["params"]["labels"] == ["cat", "dog", "cat"]
    assert record["params"]["start"] == datetime.datetime(2024, 1, 1)
    assert record["params"]["seed"] == 7
    assert record["info"]["per_class"] == {"cat": 0.9, "dog": 0.7}
    assert record["info"]["confusion"] == [[5, 1], [2, 4]]
    assert record["info"]["worst"] == -math.inf

    report = votakvot.load_report(str(results))
    row = report.iloc[0]
    assert row["lr"] == 0.01 and report["lr"].dtype == np.float64
    assert row["epochs"] == 4 and report["epochs"].dtype == np.int64
    assert row["split.train"] == [0.8, 0.7]
    assert row["split.test"][0] == 0.2 and math.isnan(row["split.test"][1])
    assert row["prior"] == [0.5, 0.5]
    assert row["per_class.cat"] == 0.9 and row["per_class.dog"] == 0.7
    assert row["n_params"] == 1234 and row["diverged"] is np.False_
    assert row["finished_on"] == pd.Timestamp("2024-05-01 12:00", tz="UTC")
    assert row["result.mean"] == pytest.approx(7 / 3)
    assert row["result.curve"] == [0.0, 1.0, 2.0]
    assert np.float32(row["best"]) == out["best"]  # float32 written as numpy prints it

    (trial,) = votakvot.load_trials(str(results)).values()
    assert trial.params.class_weights == [0.25, 0.75]
    assert trial.result["best"] == row["best"]

    metrics = votakvot.load_metrics(trial.tid)
    assert list(metrics["epoch"]) == [0, 1, 2, 3] and metrics["epoch"].dtype == np.int64
    assert np.isnan(metrics["grad_norm"][1]) and metrics["grad_norm"][3] == 3.0
    assert list(metrics["lr"]) == pytest.approx([0.01 * 0.5**e for e in range(4)])
    assert metrics["acc"].dtype == np.float64


def test_the_informed_best_loss_equals_the_metered_minimum(results: Path) -> None:
    """`inform(best=min(losses))` of float32 losses reads back equal to the minimum of the
    metered `loss` column: the same number recorded twice is one number."""
    _train(np.float32(0.01), 4, [8], [1.0], None, [], {}, [])
    row = votakvot.load_report(str(results)).iloc[0]
    metrics = votakvot.load_metrics(row["tid"])
    assert row["best"] == metrics["loss"].min()


# -- a notebook session: autoreload, edits, commits, Ctrl-C ----------------------------

MODEL_V1 = """import votakvot

@votakvot.track()
def train(lr):
    return lr * 2
"""

NOTEBOOK = [
    "%load_ext autoreload\n%autoreload 2\n"
    "import subprocess, votakvot, model\nfrom model import train\n"
    "votakvot.init(path='results', capture='none')",
    "model.train(1)",
    "src = open('model.py').read().replace('lr * 2', 'lr * 3')\nopen('model.py', 'w').write(src)",
    "model.train(2)",  # autoreloaded before the cell runs
    "train(3)",  # the name imported before the edit
    "import os, signal, time\n"
    "@votakvot.track()\n"
    "def slow(n):\n"
    "    os.kill(os.getpid(), signal.SIGINT)  # what the kernel's interrupt button sends\n"
    "    time.sleep(30)\n"
    "    return n\n"
    "slow(1)",
    "subprocess.run(['git', 'commit', '-qam', 'times three'], check=True)\nmodel.train(4)",
]


def test_a_notebook_session_with_autoreload_edits_and_an_interrupted_cell(tmp_path: Path) -> None:
    """One kernel: a tracked function of a module is edited and autoreloaded, a cell is
    interrupted, a commit is made. Each trial records the code it ran (the module's own
    file and line, a new hash after the edit) and the git state it ran with; the
    interrupted one is `interrupted` and the session goes on."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.name", "me")
    _git(repo, "config", "user.email", "me@example.com")
    (repo / "model.py").write_text(MODEL_V1)
    (repo / ".gitignore").write_text("results/\n__pycache__/\n")
    _git(repo, "add", "model.py", ".gitignore")
    _git(repo, "commit", "-qm", "times two")
    first = _git(repo, "rev-parse", "HEAD")

    outputs = kernel.run_cells(NOTEBOOK, cwd=repo, jupyter=tmp_path / "jupyter")

    assert kernel.errors(outputs) == [(5, "KeyboardInterrupt")]
    assert [kernel.shown(outputs[i]) for i in (1, 3, 4, 6)] == ["2", "6", "9", "12"]
    second = _git(repo, "rev-parse", "HEAD")
    trials = votakvot.load_trials(str(repo / "results"))
    runs = sorted(
        (t for t in trials.values() if t.data["function"] == "model.train"),
        key=lambda t: t.params.lr,
    )
    assert [(t.params.lr, t.result) for t in runs] == [(1, 2), (2, 6), (3, 9), (4, 12)]
    assert [(t.source.file, t.source.line) for t in runs] == [("model.py", 3)] * 4
    hashes = [t.source.hash for t in runs]
    assert hashes[0] != hashes[1] == hashes[2] == hashes[3]
    fresh = subprocess.run(  # the edited file imported afresh: the same code, the same hash
        [
            sys.executable,
            "-c",
            "import model, votakvot._source as s\nprint(s.describe(model.train)['hash'])",
        ],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    assert hashes[1] == fresh
    assert [(t.meta.git.commit, t.meta.git.dirty) for t in runs] == [
        (first, False),
        (first, True),
        (first, True),
        (second, False),
    ]
    (stopped,) = (t for t in trials.values() if t.data["function"] == "__main__.slow")
    assert stopped.data["state"] == "interrupted"
    assert stopped.data["error"]["type"] == "KeyboardInterrupt"


# -- a sweep on the process runner, stopped with SIGTERM -------------------------------


def _states(root: Path) -> dict[str, dict]:
    """uuid -> record, of the records that parse now (one may be mid-replace)."""
    found = {}
    for path in root.rglob("votakvot.yaml"):
        try:
            record = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(record, dict):
            found[record["id"]] = record
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "zombie"
    return next((line for line in status.splitlines() if line.startswith("State:")), "").lower()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to find leftover workers")
@pytest.mark.parametrize(
    "stop",
    [
        pytest.param(
            signal.SIGTERM,
            id="SIGTERM",
        ),
        pytest.param(
            signal.SIGINT,
            id="SIGINT-parent-only",
        ),
    ],
)
def test_a_process_sweep_stopped_mid_map_ends_every_trial_truly(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """`votakvot.map` over a generator on the process runner, some calls raising, the
    parent stopped mid-map (SIGTERM; SIGINT as a kernel interrupt sends it): the trials
    that had ended keep their true result or error, the ones running are `interrupted`
    naming the signal, nothing is left `running`, and no worker outlives the script."""
    root = tmp_path / "results"
    script = subprocess.Popen(
        [sys.executable, str(HERE / "sweep.py"), str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            records = _states(root)
            states = [r["state"] for r in records.values()]
            if states.count("done") >= 3 and "running" in states:
                break
            assert script.poll() is None, script.stderr.read() if script.stderr else ""
            assert time.monotonic() < deadline, f"the sweep did not get going: {states}"
            time.sleep(0.05)
        running_at_stop = {i for i, r in records.items() if r["state"] == "running"}
        ended_before_stop = {i for i, r in records.items() if r["state"] != "running"}
        script.send_signal(stop)
        assert script.wait(timeout=60) != 0

        deadline = time.monotonic() + 30  # the slow calls take 5 s
        while True:
            records = _states(root)
            workers = {r["meta"]["process"]["pid"] for r in records.values()}
            busy = [i for i, r in records.items() if r["state"] == "running"]
            if not busy and not any(_alive(pid) for pid in workers):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not busy, "trials left running after the stop"
        assert not [pid for pid in workers if _alive(pid)], "workers outlived the script"
        for uuid, record in records.items():
            seed = record["params"]["seed"]
            stopped = record["state"] == "interrupted"
            if uuid in running_at_stop or (uuid not in ended_before_stop and stopped):
                # (a call may start between the look above and the signal)
                assert record["state"] == "interrupted", (seed, record["state"])
                assert record["error"]["signal"] == stop.name
            elif seed % 3 == 2:
                assert record["state"] == "failed"
                assert record["error"]["message"] == f"diverged at lr=0.1 seed={seed}"
            else:
                assert record["state"] == "done"
                assert record["result"] == pytest.approx(0.9**20)
    finally:
        if script.poll() is None:
            script.kill()
            script.wait()
        for pid in workers:  # this test's own pool workers, by pid
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# -- votakvot-ab on a class, edited between two runs -----------------------------------

SCORER = """import numpy as np


class Scorer:
    def __init__(self, n, scale=1.0):
        self.weights = np.linspace(0, 1, int(n)) * float(scale)

    def __call__(self):
        return float(self.weights.sum())
"""


def test_votakvot_ab_on_a_class_records_which_code_it_measured(tmp_path: Path) -> None:
    """Two `votakvot-ab` runs of a class built with arguments, its code edited between
    them: each trial reads back with its arguments and results, and its `source`
    names the class's file and tells the two versions of the code apart, as a tracked
    function's trial does (what else would `compare` of the two runs mean?)."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "scorer.py").write_text(SCORER)
    ab = Path(sys.executable).with_name("votakvot-ab")
    command = [str(ab), "-n", "50", "-c", "2", "-p", "results", "scorer.Scorer", "n=5", "scale=2"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    (tmp_path / "scorer.py").write_text(SCORER.replace(".sum()", ".max()"))
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, timeout=120)

    trials = votakvot.load_trials(str(tmp_path / "results"))
    runs = sorted(trials.values(), key=lambda t: t.data["at"]["created"])
    assert len(runs) == 2
    for trial in runs:
        assert trial.data["function"] == "scorer.Scorer"
        assert trial.params.args == {"n": 5, "scale": 2}
        assert (trial.result["count"], trial.result["errors"]) == (50, 0)
    assert [t.result["results"] for t in runs] == [
        [{"value": 5.0, "count": 50}],
        [{"value": 2.0, "count": 50}],
    ]
    assert [(t.data["source"]["file"], t.data["source"]["line"]) for t in runs] == [
        ("scorer.py", 4)
    ] * 2
    assert runs[0].data["source"]["hash"] != runs[1].data["source"]["hash"]


# -- a notebook that changes folder (%cd) after init -----------------------------------


@votakvot.track()
def _evaluate(split: str) -> float:
    votakvot.meter(batch=0, acc=0.5)
    return 0.5


def test_reading_back_after_the_session_changed_folder(tmp_path: Path, monkeypatch) -> None:
    """`init(path="results")`, a trial, then `%cd data` (os.chdir), another trial: both
    are written under the results folder given to init, and `load_report()`,
    `load_trials()` and `load_metrics(tid)` (the root given to init) find both."""
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    previous = get_config()
    try:
        votakvot.init(path="results", capture="none")
        _evaluate("train")
        os.chdir("data")  # what %cd does in a notebook
        _evaluate("test")
        assert len(list((tmp_path / "results").rglob("votakvot.yaml"))) == 2
        report = votakvot.load_report()
        assert sorted(report["split"]) == ["test", "train"]
        assert len(votakvot.load_trials()) == 2
        assert list(votakvot.load_metrics(report["tid"][0])["acc"]) == [0.5]
    finally:
        set_config(previous)


# -- votakvot.run in a notebook: the same id asked again --------------------------------


def test_run_of_a_finished_id_with_other_params_is_refused_not_answered(results: Path) -> None:
    """A notebook cell `votakvot.run("eval/fold=0", evaluate, fold=0, lr=...)` run again
    after the user changed `lr`: returning the old trial would answer a question that
    was not asked. As for resumable tasks, a `ResumeError` shows both sets of params;
    the same params (numpy values as recorded) still return the finished trial."""

    def evaluate(fold, lr):
        return float(lr) * 10

    first = votakvot.run("eval/fold=0", evaluate, fold=0, lr=np.float32(0.01))
    again = votakvot.run("eval/fold=0", evaluate, fold=0, lr=np.float32(0.01))
    assert again.result == first.result == pytest.approx(0.1)
    with pytest.raises(votakvot.ResumeError, match=r"other params(.|\n)*'lr': 0\.02"):
        votakvot.run("eval/fold=0", evaluate, fold=0, lr=0.02)
    assert votakvot.run("eval/fold=0", evaluate, rerun=True, fold=0, lr=0.02).result == 0.2


@pytest.mark.parametrize(
    "runner",
    [
        "inplace",
        "thread",
        pytest.param(
            "process",
        ),
    ],
)
def test_a_batch_with_explicit_ids_rerun_with_other_params_is_refused(
    results: Path, runner: str
) -> None:
    """A restartable batch (`map(..., tid="exp/seed={seed}")`) run again after the
    user changed `lr`, which the id does not hold: every runner refuses it with a
    `ResumeError` rather than returning the results of the old `lr`."""
    from user_sessions.sweep import score

    import votakvot.runners

    votakvot.init(path=str(results), runner=runner, workers=2, capture="none")
    try:
        first = votakvot.map(
            score, [{"lr": 0.1, "seed": s} for s in range(2)], tid="exp/seed={seed}"
        )
        assert first == [10.0, 11.0]
        with pytest.raises(votakvot.ResumeError, match="other params"):
            votakvot.map(score, [{"lr": 0.5, "seed": s} for s in range(2)], tid="exp/seed={seed}")
    finally:
        votakvot.runners.shutdown()


# -- pandas summaries informed as they are ---------------------------------------------


@votakvot.track()
def _analyse(frame: pd.DataFrame) -> None:
    votakvot.inform(
        stats=frame.describe(),  # rows count, mean, std, min, 25%, ...
        per_label=frame.groupby("label")["loss"].mean(),
        loss_by_label=frame.set_index("label")["loss"],  # labels repeat
    )


def test_pandas_summaries_keep_their_row_labels_and_every_value(results: Path) -> None:
    """`inform(stats=df.describe())` keeps which row is the mean and which the max (as a
    Series with labels keeps its labels), and a Series whose labels repeat keeps all its
    values rather than one per label."""
    frame = pd.DataFrame({"label": ["cat", "dog", "cat"], "loss": [0.5, 0.25, 1.5]})
    _analyse(frame)
    (record,) = _records(results)
    info = record["info"]
    assert info["stats"]["loss"]["mean"] == pytest.approx(0.75)
    assert info["stats"]["loss"]["max"] == 1.5
    assert info["per_label"] == {"cat": 1.0, "dog": 0.25}
    assert sorted(info["loss_by_label"]) == [0.25, 0.5, 1.5]
    row = votakvot.load_report(str(results)).iloc[0]
    assert row["stats.loss.mean"] == pytest.approx(0.75)


# -- a command-line main that ends with sys.exit ---------------------------------------


def test_a_cli_main_ending_with_sys_exit_records_its_exit_status_truly(tmp_path: Path) -> None:
    """`sys.exit(0)` at the end of a tracked `main` is a run that went well: `done`, as
    the shell's exit status 0 says; an argparse usage error (status 2) is `failed`.
    Nothing interrupted either of them."""
    root = tmp_path / "results"
    script = str(HERE / "cli_main.py")
    ok = subprocess.run([sys.executable, script, str(root), "--epochs", "3"], timeout=60)
    bad = subprocess.run(
        [sys.executable, script, str(root), "--epocs", "3"], capture_output=True, timeout=60
    )
    assert (ok.returncode, bad.returncode) == (0, 2)
    records = sorted(_records(root), key=lambda r: r["params"]["argv"][0])
    assert [(r["params"]["argv"][0], r["state"]) for r in records] == [
        ("--epochs", "done"),
        ("--epocs", "failed"),
    ]


def test_votakvot_ab_counts_numpy_results_as_their_numbers(tmp_path: Path) -> None:
    """A benchmarked function that returns `np.mean(...)` as float32 or a numpy integer
    count: the run's `results` hold the numbers (`1.5`, `3`), as a tracked call's result
    does, not the text `"np.float32(1.5)"`."""
    (tmp_path / "metric.py").write_text(
        "import numpy as np\n\n"
        "def mean32():\n    return np.mean(np.array([1.0, 2.0], dtype=np.float32))\n\n"
        "def count():\n    return np.count_nonzero(np.arange(4))\n"
    )
    ab = Path(sys.executable).with_name("votakvot-ab")
    for name in ("mean32", "count"):
        subprocess.run(
            [str(ab), "-n", "20", "-p", "results", f"metric.{name}"],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            timeout=120,
        )
    trials = votakvot.load_trials(str(tmp_path / "results")).values()
    found = {t.data["function"]: t.result["results"] for t in trials}
    assert found == {
        "metric.mean32": [{"value": 1.5, "count": 20}],
        "metric.count": [{"value": 3, "count": 20}],
    }
