"""The git state recorded with each trial follows the code within one process.

A notebook or REPL session runs many trials in one process while the code changes
under it: edits, commits, checkouts, ``os.chdir``. Every trial must record the state
of the code as it ran, without running git when nothing changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import votakvot
from votakvot import meta
from votakvot._config import get_config, set_config

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_repo(path: Path, files: int = 2) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q")
    for i in range(files):
        (path / f"f{i}.py").write_text(f"x = {i}\n")
    git(path, "add", ".")
    git(path, "commit", "-qm", "first")
    return path


SESSION = textwrap.dedent(
    """
    import json, os, subprocess, sys
    import votakvot
    from votakvot import meta

    root, repo, other, outside = sys.argv[1:5]
    votakvot.init(path=root, capture="none")
    GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    git = lambda *a: subprocess.run([*GIT, *a], check=True, capture_output=True)

    @votakvot.track()
    def step(name):
        return name

    seen = {}
    def trial(name):
        step(name)
        (t,) = [t for t in votakvot.load_trials(root).values() if t.result == name]
        seen[name] = t.data["meta"].get("git")

    os.chdir(repo)
    trial("first")
    trial("again")                                    # nothing changed
    with open("f0.py", "a") as f:
        f.write("y = 2\\n")                           # an unstaged edit
    trial("edited")
    git("commit", "-qam", "second")
    trial("committed")
    git("checkout", "-qb", "feature")
    trial("branched")
    git("checkout", "-q", "main")                     # same commit, branch back
    trial("back")
    with open("f1.py", "w") as f:
        f.write("x = 'staged'\\n")
    git("add", "f1.py")                               # staged, not committed
    trial("staged")
    os.chdir(other)
    trial("other repo")
    os.chdir(outside)
    trial("outside")
    os.chdir(repo)
    trial("home")
    watch = getattr(meta, "_watch", None)
    print(json.dumps({"seen": seen, "refreshes": getattr(watch, "refreshes", None)}))
    """
)


def test_one_process_follows_edits_commits_checkouts_and_chdir(tmp_path: Path) -> None:
    """The scenario of the issue, in one process as a notebook session would run it."""
    repo = make_repo(tmp_path / "repo")
    other = make_repo(tmp_path / "other")
    outside = tmp_path / "outside"
    outside.mkdir()
    first_commit = git(repo, "rev-parse", "HEAD")
    first_tree = git(repo, "rev-parse", "HEAD^{tree}")
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", SESSION, *map(str, (tmp_path / "results", repo, other, outside))],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    seen = report["seen"]

    assert seen["first"]["commit"] == first_commit
    assert seen["first"]["dirty"] is False and seen["first"]["tree"] == first_tree
    assert seen["again"] == seen["first"]

    assert seen["edited"]["commit"] == first_commit
    assert seen["edited"]["dirty"] is True
    assert seen["edited"]["describe"].endswith("-dirty")
    assert seen["edited"]["tree"] != first_tree

    assert seen["committed"]["commit"] != first_commit
    assert seen["committed"]["dirty"] is False
    assert seen["committed"]["tree"] == seen["edited"]["tree"]  # the code that ran is the same

    assert seen["branched"]["branch"] == "feature"
    assert seen["branched"]["commit"] == seen["committed"]["commit"]
    assert seen["back"]["branch"] == "main"

    assert seen["staged"]["dirty"] is True
    assert seen["staged"]["tree"] not in (seen["committed"]["tree"], first_tree)

    assert seen["other repo"]["commit"] == git(other, "rev-parse", "HEAD")
    assert seen["outside"] is None  # no git section at all
    assert seen["home"] == seen["staged"]
    # git ran for each change only: not for "again", nor twice for one trial's 5 fields.
    assert report["refreshes"] == 9


@pytest.fixture
def session(tmp_path: Path, monkeypatch):
    """A repo as cwd, and a fresh watcher in place of the process's."""
    repo = make_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    watch = meta.GitWatch()
    monkeypatch.setattr(meta, "_watch", watch)
    return repo, watch


def test_nothing_changed_runs_no_git(session) -> None:
    """Trials of unchanged code cost stat calls, not subprocesses."""
    _repo, watch = session
    first = meta.collect()["git"]
    for _ in range(20):
        assert meta.collect()["git"] == first
    assert watch.refreshes == 1


def test_built_in_git_providers_in_a_custom_set_follow_too(session, tmp_path: Path) -> None:
    """The README recipe: a copy of the providers, plus one; git still follows edits."""
    repo, _watch = session
    previous = get_config()
    providers = dict(votakvot.meta.providers)
    providers["k8s.version"] = lambda: "v1.30"
    try:
        votakvot.init(path=str(tmp_path / "results"), meta_providers=providers, capture="none")

        @votakvot.track()
        def f(i):
            return i

        f(1)
        (repo / "f0.py").write_text("changed\n")
        f(2)
    finally:
        set_config(previous)
    trials = sorted(
        votakvot.load_trials(str(tmp_path / "results")).values(), key=lambda t: t.result
    )
    assert [t.meta.git.dirty for t in trials] == [False, True]
    assert trials[1].meta.k8s.version == "v1.30"


def test_many_files_are_scanned_then_throttled(tmp_path: Path, monkeypatch) -> None:
    """Above ``scan_every_trial_files`` the work-tree scan is rate-limited, not dropped."""
    repo = make_repo(tmp_path / "big", files=40)
    monkeypatch.chdir(repo)
    watch = meta.GitWatch()
    watch.scan_every_trial_files = 10
    watch.scan_cost_factor = 0.0  # due at every trial: an edit is seen right away
    assert watch.state()["dirty"] is False
    (repo / "f33.py").write_text("edited\n")
    assert watch.state()["dirty"] is True
    assert watch.refreshes == 2 and watch.scans == 1

    watch.scan_cost_factor = 1e12  # not due for ages: the scan is skipped
    (repo / "f34.py").write_text("edited too\n")
    tree = watch.state()["tree"]
    assert watch.scans == 1 and watch.refreshes == 2
    watch.scan_cost_factor = 0.0
    assert watch.state()["tree"] != tree


def test_worktree_and_removed_cwd(tmp_path: Path, monkeypatch) -> None:
    """A linked worktree (``.git`` is a file) records its own branch; a removed cwd, none."""
    repo = make_repo(tmp_path / "repo")
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    watch = meta.GitWatch()
    monkeypatch.chdir(repo)
    assert watch.state()["branch"] == "main"
    monkeypatch.chdir(tmp_path / "side")
    assert watch.state()["branch"] == "side"
    (tmp_path / "side" / "f0.py").write_text("edited in the worktree\n")
    assert watch.state()["dirty"] is True
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert watch.state() == {}


def test_changing_facts_are_not_frozen(tmp_path: Path, monkeypatch) -> None:
    """Facts that can change in a process are read per trial: the cwd, the host name,
    and git's own variables (``GIT_DIR`` names another repository)."""
    repo = make_repo(tmp_path / "repo")
    other = make_repo(tmp_path / "other")
    (other / "f0.py").write_text("other's edit\n")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(meta, "_watch", meta.GitWatch())
    first = meta.collect()
    assert first["system"]["cwd"] == str(repo) and first["git"]["dirty"] is False
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    second = meta.collect()
    assert second["git"]["commit"] == git(other, "rev-parse", "HEAD")
    assert second["git"]["dirty"] is True
    # The host name is one uname() call: read each time, not cached for the process.
    assert not getattr(meta.providers["system.node"], "per_process", False)


def test_a_repository_made_under_a_running_process(tmp_path: Path, monkeypatch) -> None:
    """``git init`` in the cwd, then the first commit: both are seen by the next trial."""
    folder = tmp_path / "later"
    folder.mkdir()
    (folder / "a.py").write_text("A = 1\n")
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    watch = meta.GitWatch()
    assert watch.state() == {}
    assert watch.state() == {} and watch.refreshes == 1  # outside: git is not run again
    git(folder, "init", "-q")
    assert watch.state().get("commit") is None  # a repository, no commit yet
    git(folder, "add", "a.py")
    git(folder, "commit", "-qm", "first")
    assert watch.state()["commit"] == git(folder, "rev-parse", "HEAD")
    assert watch.refreshes == 3


def test_a_new_tag_changes_describe(session) -> None:
    """``describe`` names the newest tag: a tag made between two trials is seen."""
    repo, watch = session
    assert watch.state()["describe"] == git(repo, "rev-parse", "--short", "HEAD")
    git(repo, "tag", "v1.0")
    assert watch.state()["describe"] == "v1.0"


def test_a_failed_read_is_not_kept(session, monkeypatch) -> None:
    """git failing halfway (here: raising) is read again at the next trial, not frozen."""
    _repo, watch = session
    calls = []

    def flaky() -> dict:
        calls.append(1)
        if len(calls) == 1:
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "odd file name")
        return meta._git_state_uncached()

    watch._compute = flaky
    with pytest.raises(UnicodeDecodeError):
        watch.state()
    assert watch.state()["dirty"] is False
    assert len(calls) == 2


def test_tracked_file_names_that_are_not_utf8(session) -> None:
    """A tracked file whose name is not UTF-8 is watched like any other."""
    repo, watch = session
    odd = os.fsdecode(b"caf\xe9.py")
    (repo / odd).write_text("A = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "odd name")
    assert watch.state()["dirty"] is False
    (repo / odd).write_text("A = 2\n")
    assert watch.state()["dirty"] is True


def test_a_same_size_edit_in_the_second_of_the_commit(session) -> None:
    """git trusts a file's stat unless the index was written in the same second as the
    file ("racily clean"). The tree is computed on a copy of the index that keeps the
    index's mtime, so what git status sees as changed is in the tree too. Made
    deterministic: the commit's second is put in the past, the edit keeps the size and
    the mtime, and ctime is ignored."""
    repo, _watch = session
    git(repo, "config", "core.trustctime", "false")
    path, index = repo / "g.py", repo / ".git" / "index"
    path.write_text("x = 0\n")
    past = path.stat().st_mtime_ns - 100 * 10**9
    os.utime(path, ns=(past, past))
    git(repo, "add", "g.py")
    git(repo, "commit", "-qm", "g")
    path.write_text("x = 9\n")  # same size
    os.utime(path, ns=(past, past))
    os.utime(index, ns=(past, past))  # as if the commit had been made in that second
    state = meta._git_state_uncached()
    assert state["dirty"] is True  # git status re-reads the racily clean entry
    assert state["tree"] != git(repo, "rev-parse", "HEAD^{tree}")
