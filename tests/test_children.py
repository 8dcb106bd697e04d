"""Work a tracked call hands to child processes (issue 17): fork, spawn, joblib.

Each case runs a small script in a fresh interpreter (a pool inside pytest's own
process would fork its threads), with a timeout; the script's pools are closed by
the script itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from votakvot.metrics import load_metrics
from votakvot.trial import read_trial

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork and /proc are Linux's")


def run_script(
    tmp_path: Path, body: str, *, cwd: Path | None = None, args: list[str] | None = None
) -> subprocess.CompletedProcess:
    script = tmp_path / "experiment.py"
    script.write_text(textwrap.dedent(body))
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "results"), *(args or [])],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or tmp_path,
    )
    assert out.returncode == 0, out.stderr
    return out


def trials(root: Path) -> dict[str, dict]:
    """``{function: record}`` of every trial below ``root`` (one per function here)."""
    found: dict[str, dict] = {}
    for yaml in sorted(root.rglob("votakvot.yaml")):
        trial = read_trial(str(yaml.parent))
        assert trial is not None
        found.setdefault(trial.data["function"], []).append(trial)  # type: ignore[attr-defined]
    return found  # type: ignore[return-value]


HEADER = """
import multiprocessing, os, sys, json, warnings
import votakvot

votakvot.init(path=sys.argv[1])


def work(i):
    votakvot.meter(i=i, square=i * i)
    return votakvot.tid()


@votakvot.track()
def inner(i):
    return i


def tracked_in_child(i):
    return inner(i)
"""


def test_fork_pool_rows_reach_the_trial_and_the_record_stays_the_parents(tmp_path: Path) -> None:
    """meter() in forked Pool workers is kept (their own files, merged by load_metrics);
    tid() there names the trial; Pool.terminate's SIGTERM does not touch the record."""
    run_script(
        tmp_path,
        HEADER
        + """
@votakvot.track()
def outer():
    with multiprocessing.get_context("fork").Pool(2) as pool:
        tids = pool.map(work, range(20), chunksize=1)
        pool.map(tracked_in_child, range(2))
    votakvot.meter(i=-1, square=1)
    return sorted(set(tids))

outer()
""",
    )
    found = trials(tmp_path / "results")
    (parent,) = found["experiment.outer"]
    assert parent.data["state"] == "done"
    assert parent.data["result"] == [parent.tid]  # tid() in the child was the parent's
    assert "error" not in parent.data and not (Path(parent.path) / "traceback.txt").exists()
    assert parent.data["children"] == {"processes": 2, "start": ["fork"], "output": "not captured"}
    rows = load_metrics(parent)
    assert sorted(rows["i"]) == [-1, *range(20)]
    assert (rows["square"] == rows["i"] ** 2).all() or set(rows[rows.i == -1].square) == {1}
    children = list(Path(parent.path).glob("votakvot.metrics.child-*.csv"))
    assert children, "the children's rows are in files of their own"
    for child in found["experiment.inner"]:
        assert child.data["parent"] == parent.tid


def test_fork_process_that_leaves_with_os_exit_keeps_its_rows_and_files(tmp_path: Path) -> None:
    """Rows are written before meter() returns, so os._exit (no cleanup) loses none;
    attach() writes into the trial folder; inform() is refused with a warning."""
    out = run_script(
        tmp_path,
        HEADER
        + """
def child():
    for i in range(3):
        votakvot.meter(step=i)
    with votakvot.attach("from_child.txt") as f:
        f.write("written by the child")
    votakvot.inform(lost=True)
    sys.stderr.flush()
    os._exit(0)


@votakvot.track()
def outer():
    p = multiprocessing.get_context("fork").Process(target=child)
    p.start()
    p.join()
    votakvot.inform(kept=True)
    return p.exitcode

outer()
""",
    )
    (parent,) = trials(tmp_path / "results")["experiment.outer"]
    assert parent.data["result"] == 0
    assert list(load_metrics(parent)["step"]) == [0, 1, 2]
    assert (Path(parent.path) / "from_child.txt").read_text() == "written by the child"
    assert parent.data["info"] == {"kept": True}
    assert "inform(lost) in child process" in out.stderr
    assert "Return the values to the parent" in out.stderr


def test_plain_os_fork_child_leaving_the_call_never_rewrites_the_record(tmp_path: Path) -> None:
    """A child of os.fork() that raises out of the tracked call (sys.exit) must not
    record the parent's trial as interrupted: only the parent writes the record."""
    run_script(
        tmp_path,
        HEADER
        + """
import time

@votakvot.track()
def outer():
    pid = os.fork()
    if pid == 0:
        votakvot.meter(who=1)
        sys.exit(0)  # SystemExit through the tracked call, in the child
    os.waitpid(pid, 0)
    time.sleep(0.05)
    return "parent"

try:
    outer()
except SystemExit:
    pass
""",
    )
    (parent,) = trials(tmp_path / "results")["experiment.outer"]
    assert parent.data["state"] == "done" and parent.data["result"] == "parent"
    assert parent.data["children"]["start"] == ["fork"]
    assert list(load_metrics(parent)["who"]) == [1]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_spawned_children_inherit_root_settings_and_parent(tmp_path: Path, method: str) -> None:
    """With spawn, tracked calls in children land under the root given to init (not the
    working directory), named after the real module (not __mp_main__), linked to the
    trial that started them; their untracked meter() rows reach that trial."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run_script(
        tmp_path,
        HEADER
        + """
@votakvot.track()
def outer():
    with multiprocessing.get_context(sys.argv[2]).Pool(2) as pool:
        tids = pool.map(work, range(6), chunksize=1)
        pool.map(tracked_in_child, range(2))
    return sorted(set(tids))

if __name__ == "__main__":
    outer()
""",
        cwd=cwd,
        args=[method],
    )
    assert list(cwd.iterdir()) == [], "nothing is written into the working directory"
    found = trials(tmp_path / "results")
    (parent,) = found["experiment.outer"]
    assert parent.data["result"] == [parent.tid]
    assert parent.data["children"] == {"processes": 2, "start": [method], "output": "not captured"}
    assert sorted(load_metrics(parent)["i"]) == list(range(6))
    inner = found["experiment.inner"]
    assert len(inner) == 2
    for child in inner:
        assert child.data["parent"] == parent.tid
        assert child.tid.startswith("experiment/inner/")
        assert child.data["meta"]["process"]["pid"] != parent.data["meta"]["process"]["pid"]


def test_spawned_children_follow_init_switching_roots(tmp_path: Path) -> None:
    """The settings travel with each Process: a root switched by a later init() is the
    one children of later processes use; a process started outside a trial has no parent."""
    run_script(
        tmp_path,
        # No init at the top of the script: a spawned child runs the top again, and an
        # init() of its own is the child's choice, which wins over what it inherited.
        HEADER.replace("votakvot.init(path=sys.argv[1])", "")
        + """
if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    votakvot.init(path=sys.argv[1] + "/first", capture_limit=1234)
    with ctx.Pool(1) as pool:
        pool.map(tracked_in_child, [1])
    votakvot.init(path=sys.argv[1] + "/second")
    with ctx.Pool(1) as pool:
        pool.map(tracked_in_child, [2])
""",
    )
    (first,) = trials(tmp_path / "results" / "first")["experiment.inner"]
    (second,) = trials(tmp_path / "results" / "second")["experiment.inner"]
    assert (first.data["result"], second.data["result"]) == (1, 2)
    assert "parent" not in first.data and "parent" not in second.data


def test_unrelated_subprocesses_do_not_inherit_the_root(tmp_path: Path) -> None:
    """No environment variable is set: a program started with subprocess records
    where it would have without votakvot in its parent."""
    out = run_script(
        tmp_path,
        """
import os, subprocess, sys
import votakvot
votakvot.init(path=sys.argv[1])

@votakvot.track()
def outer():
    code = "import votakvot._config as c; print(c.get_config().path)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout

print(outer().strip())
print(sorted(k for k in os.environ if "VOTAKVOT" in k))
""",
    )
    inherited = sorted(k for k in os.environ if "VOTAKVOT" in k)  # the test session's own
    assert out.stdout.splitlines() == [".", str(inherited)]


def test_worker_reused_after_its_trial_ended_records_nothing_into_it(tmp_path: Path) -> None:
    """A pool made in one trial and used after it ended: rows are not added to the
    finished trial (a warning says why), tid() is None there."""
    out = run_script(
        tmp_path,
        HEADER
        + """
@votakvot.track()
def make_pool():
    return multiprocessing.get_context("fork").Pool(1)

pool = make_pool()
print(json.dumps(pool.map(work, [7])))
pool.close()
pool.join()
""",
    )
    (parent,) = trials(tmp_path / "results")["experiment.make_pool"]
    assert json.loads(out.stdout.splitlines()[-1]) == [None]
    assert len(load_metrics(parent)) == 0
    assert "has ended, so these rows are not recorded" in out.stderr


def test_joblib_workers_rows_are_kept_and_the_record_says_output_is_not(tmp_path: Path) -> None:
    """joblib.Parallel(n_jobs=2) (loky): workers' meter() rows reach the trial; what
    they print is not captured, and the record says so rather than staying silent."""
    pytest.importorskip("joblib")
    run_script(
        tmp_path,
        HEADER
        + """
import joblib

def chatty(i):
    print("worker says", i)
    return work(i)

@votakvot.track()
def outer():
    print("parent says hi")
    return sorted(set(joblib.Parallel(n_jobs=2)(joblib.delayed(chatty)(i) for i in range(6))))

if __name__ == "__main__":
    outer()
""",
    )
    (parent,) = trials(tmp_path / "results")["experiment.outer"]
    assert parent.data["result"] == [parent.tid]
    assert sorted(load_metrics(parent)["i"]) == list(range(6))
    assert parent.data["children"]["output"] == "not captured"
    assert parent.data["children"]["start"] == ["loky"]
    assert "worker says" not in parent.output


def test_a_memory_root_is_not_passed_on_to_spawned_children(tmp_path: Path) -> None:
    """memory:// lives in the parent only: a spawned child must not turn the trial's id
    into a folder of its working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = run_script(
        tmp_path,
        HEADER.replace("votakvot.init(path=sys.argv[1])", "")
        + """
@votakvot.track()
def outer():
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.map(work, [1])

if __name__ == "__main__":
    votakvot.init(path="memory://kept-here")
    print(json.dumps(outer()))
""",
        cwd=cwd,
    )
    assert json.loads(out.stdout.splitlines()[-1]) == [None]
    assert list(cwd.iterdir()) == []
