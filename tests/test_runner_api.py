"""The runner API of issue 15: ``timeout=``, ``imap``/``as_completed``, ``cancel()``, the
progress line, and provenance: the client's git state and source recorded by workers,
``meta.runner``, built-in meta providers that pickle (spawned workers)."""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import votakvot
from votakvot import _source, layout, meta, runners
from votakvot._config import get_config, set_config

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]


def square(x: int) -> int:
    return x * x


def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def wait_for(path: str, x: int) -> int:
    """Returns once ``path`` exists: the test decides when, not the clock."""
    while not os.path.exists(path):
        time.sleep(0.01)
    return x


def finish_in_reverse(folder: str, x: int, n: int) -> int:
    """Call ``x`` returns only after call ``x + 1`` did: they finish last to first."""
    if x + 1 < n:
        wait_for(os.path.join(folder, f"done-{x + 1}"), x)
    Path(folder, f"done-{x}").write_text("")
    return x


def client_marker() -> str:
    """A custom, top-level meta provider: it must reach spawned workers."""
    return "marked"


def records(root: Path) -> list[dict]:
    return [yaml.unsafe_load(p.read_text()) for p in sorted(root.rglob(layout.YAML_NAME))]


@pytest.fixture
def use(tmp_path: Path):
    previous = get_config()

    def configure(runner: str, **options) -> Path:
        root = tmp_path / "results"
        votakvot.init(str(root), runner=runner, capture="none", **options)
        return root

    yield configure
    runners.shutdown()
    set_config(previous)


def test_a_call_past_its_timeout_is_recorded_and_the_map_goes_on(use) -> None:
    """``timeout=`` kills the worker of a call that runs too long: its trial is recorded
    ``timeout``, its place raises ``TimeoutError``, the other calls finish."""
    root = use("process", workers=2)
    out = votakvot.map(
        sleepy, [{"seconds": 60}, {"seconds": 0}, {"seconds": 0}], timeout=1, return_exceptions=True
    )
    assert isinstance(out[0], TimeoutError) and "timeout=1 s" in str(out[0])
    assert out[1:] == [0, 0]
    states = {r["params"]["seconds"]: r["state"] for r in records(root)}
    assert states == {60: "timeout", 0: "done"}
    (late,) = [r for r in records(root) if r["state"] == "timeout"]
    assert late["error"]["type"] == "TimeoutError"


def test_imap_keeps_the_input_order_and_as_completed_the_finishing_order(use, tmp_path) -> None:
    """Calls that finish last to first come out of ``imap`` in input order and out of
    ``as_completed`` in finishing order, each with its own params."""
    use("thread", workers=4)
    n = 4
    params = [{"folder": str(tmp_path), "x": x, "n": n} for x in range(n)]
    assert list(votakvot.imap(finish_in_reverse, params)) == [0, 1, 2, 3]
    for name in os.listdir(tmp_path):
        if name.startswith("done-"):
            os.unlink(tmp_path / name)
    pairs = list(votakvot.as_completed(finish_in_reverse, params))
    assert [result for _, result in pairs] == [3, 2, 1, 0]
    assert all(p["x"] == result for p, result in pairs)


def test_cancel_stops_a_queued_call(use, tmp_path: Path) -> None:
    """``cancel()`` on the future of a call still queued returns True and the call never
    runs (no trial); the running one finishes."""
    root = use("process", workers=1)
    gate = str(tmp_path / "gate")
    first = votakvot.submit(wait_for, path=gate, x=1)
    second = votakvot.submit(square, x=5)
    assert second.cancel() is True
    Path(gate).write_text("")
    assert first.result() == 1
    assert second.cancelled()
    assert [r["params"].get("x") for r in records(root)] == [1]


def test_progress_line_on_stderr_when_asked(use, capsys) -> None:
    """``progress=True`` draws a line on stderr (tqdm's bar when installed) that ends at
    the total; off by default when stderr is not a terminal."""
    use("thread", workers=2)
    votakvot.map(square, [{"x": x} for x in range(5)])
    assert capsys.readouterr().err == ""
    votakvot.sweep(square, x=range(5), progress=True)
    err = capsys.readouterr().err
    assert "square" in err and "5/5" in err


def test_built_in_meta_providers_pickle() -> None:
    """The built-in providers are objects pickle copies by reference, and they work copied."""
    copied = pickle.loads(pickle.dumps(meta.providers))
    assert meta.collect(copied)["python"]["version"] == meta.collect()["python"]["version"]
    assert copied["system.user"]() == meta.providers["system.user"]()


def test_spawned_workers_take_the_readme_provider_recipe(use) -> None:
    """Built-in providers plus a custom one reach ``spawn`` workers (they used to be
    closures that could not be pickled) and every trial records them."""
    providers = dict(votakvot.meta.providers)
    providers["client.marker"] = client_marker
    root = use("process", workers=1, mp_context="spawn", meta_providers=providers)
    assert votakvot.map(square, [{"x": 2}]) == [4]
    (data,) = records(root)
    assert data["meta"]["client"]["marker"] == "marked"
    assert data["meta"]["python"]["version"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_workers_record_the_submitted_code_and_where_they_ran(
    use, tmp_path: Path, monkeypatch
) -> None:
    """A spawned worker started outside any repository records the git state of the
    client at submit, the function's source as the client sees it, and ``meta.runner``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "first"]):
        subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True)
    commit = subprocess.run(
        [*GIT, "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.chdir(elsewhere)
    root = use("process", workers=1, mp_context="spawn")
    votakvot.map(square, [{"x": 1}])  # the worker starts here, in no repository
    monkeypatch.chdir(repo)
    votakvot.map(square, [{"x": 2}])  # same worker, still outside: the client is in repo
    by_x = {r["params"]["x"]: r for r in records(root)}
    assert "git" not in by_x[1]["meta"]
    second = by_x[2]
    assert second["meta"]["git"]["commit"] == commit
    assert second["meta"]["system"]["cwd"] == str(elsewhere)  # the worker's own folder
    assert second["source"]["hash"] == _source.describe(square)["hash"]
    run = second["meta"]["runner"]
    assert run["kind"] == "process" and run["attempt"] == 1
    assert run["pid"] != os.getpid() and run["host"]
    assert by_x[1]["meta"]["runner"]["pid"] == run["pid"]


def test_report_one_row_per_call_from_the_cli(use, tmp_path: Path) -> None:
    """``votakvot report`` shows the latest attempt only, like ``load_report``."""
    root = use("thread", workers=1, retries=1)
    with pytest.raises(ZeroDivisionError):
        votakvot.map(divide, [{"x": 1}])
    cli = [str(Path(sys.executable).parent / "votakvot"), "report", str(root), "--format", "csv"]
    out = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
    assert out.count("failed") == 1 and "superseded" not in out
    every = subprocess.run([*cli, "--attempts"], capture_output=True, text=True, check=True)
    assert every.stdout.count("failed") == 1 and every.stdout.count("superseded") == 1


def divide(x: int) -> float:
    return x / 0


SCRIPT_WITH_CHILDREN = """
import multiprocessing

import votakvot


def inner(q):
    q.put(5)


def outer(x):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=inner, args=(q,))
    p.start()
    value = q.get()
    p.join()
    return value + x


if __name__ == "__main__":
    votakvot.init("results", runner="process", workers=1, capture="none")
    print(votakvot.map(outer, [{"x": 1}]))
"""


def test_a_trial_in_a_process_worker_may_start_processes(tmp_path: Path) -> None:
    """Workers are not daemons (as ``ProcessPoolExecutor``'s), so a trial can start a
    process of its own; the script then exits without ``shutdown()``."""
    script = tmp_path / "with_children.py"
    script.write_text(SCRIPT_WITH_CHILDREN)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[6]"


SCRIPT_CTRL_C = """
import time

import votakvot


def slow(x):
    time.sleep(600)
    return x


if __name__ == "__main__":
    votakvot.init("results", runner="process", workers=1, capture="none")
    try:
        votakvot.map(slow, [{"x": i} for i in range(4)])
    except KeyboardInterrupt:
        print("interrupted")
"""


def test_ctrl_c_on_the_process_runner(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) records the
    running trial ``interrupted``, cancels the queued calls (no trials) and the
    script ends at once instead of waiting for them."""
    script = tmp_path / "ctrl_c.py"
    script.write_text(SCRIPT_CTRL_C)
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        while not list((tmp_path / "results").rglob(layout.YAML_NAME)):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        time.sleep(0.2)  # into the call
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert out.strip() == "interrupted"
    found = records(tmp_path / "results")
    assert [(r["params"], r["state"]) for r in found] == [({"x": 0}, "interrupted")]
