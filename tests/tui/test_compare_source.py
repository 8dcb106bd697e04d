"""Compare tells two trials of different code apart at a glance.

The trials are made by running tracked code (not written by hand), in a git repository,
so the ``source`` and ``meta.git`` sections are the ones votakvot really records.
"""

from __future__ import annotations

import linecache
import shutil
import subprocess
from pathlib import Path

import pytest
from textual.widgets import DataTable
from tui_helpers import loaded, wait_for

import votakvot
from votakvot import meta
from votakvot._config import get_config, set_config
from votakvot_tui import make_app
from votakvot_tui.screens import CompareScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]

CELL = """
@votakvot.track(name="nb/train")
def train(lr):
    return lr * 2
"""


def _run_cell(name: str, text: str, lr: float) -> None:
    """Define and call ``train`` as a notebook cell would (source known to linecache)."""
    linecache.cache[name] = (len(text), None, text.splitlines(keepends=True), name)
    namespace: dict = {"votakvot": votakvot}
    exec(compile(text, name, "exec"), namespace)
    namespace["train"](lr)


@pytest.fixture
def trials(tmp_path: Path, monkeypatch) -> tuple[Path, list[str]]:
    """Three trials of one session: v1, v1 again after a tracked file was edited, v2."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    (repo / "lib.py").write_text("A = 1\n")
    subprocess.run([*GIT, "add", "."], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "one"], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(meta, "_watch", meta.GitWatch())
    root = tmp_path / "results"
    previous = get_config()
    votakvot.init(path=str(root), capture="none")
    try:
        _run_cell("<ipython-input-1-a>", CELL, 0.1)
        _run_cell("<ipython-input-2-b>", CELL, 0.2)
        (repo / "lib.py").write_text("A = 2\n")  # uncommitted edit
        _run_cell("<ipython-input-3-c>", CELL, 0.3)
        _run_cell("<ipython-input-4-d>", CELL.replace("lr * 2", "lr * 3"), 0.4)
    finally:
        set_config(previous)
    by_lr = {t.params["lr"]: t.path for t in votakvot.load_trials(str(root)).values()}
    return root, [by_lr[lr] for lr in (0.1, 0.2, 0.3, 0.4)]


async def _compare(pilot, app, paths: list[str]) -> CompareScreen:
    app.screen.query_one(TrialTable).selected = set(paths)
    await pilot.press("c")
    screen = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen)
    await wait_for(pilot, lambda: screen.fields)
    return screen


async def test_code_version_rows_come_first_and_stand_out(trials) -> None:
    """Source hash, commit, dirty flag: rows right after the function, highlighted when
    they differ, and the title says the code differs; same code: no such claim."""
    root, paths = trials
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 4)
        same = await _compare(pilot, app, paths[:2])
        # Same code, differences only: the code version is still shown, as one row.
        keys = [str(k.value) for k in same.query_one(DataTable).rows]
        assert keys[0] == "code" and "source.hash" not in keys
        commit = same.fields["meta.git.commit"][0]
        assert same.fields["code"][0].startswith(commit[:8])
        assert "src " + same.fields["source.hash"][0][:8] in same.fields["code"][0]
        await pilot.press("d")  # all rows
        keys = [str(k.value) for k in same.query_one(DataTable).rows]
        code_rows = ["code", "source.hash", "meta.git.commit", "meta.git.dirty", "meta.git.tree"]
        assert all(f in keys for f in code_rows)
        assert max(keys.index(f) for f in code_rows) < keys.index("params.lr")
        assert keys.index("function") < keys.index("code") < keys.index("source.hash")
        assert not same.code_differs()
        assert "code" not in str(same.query_one("#compare-title").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))

        dirty = await _compare(pilot, app, paths[1:3])  # same function, a tracked file edited
        assert dirty.differs("meta.git.dirty") and dirty.differs("meta.git.tree")
        assert not dirty.differs("source.hash")
        assert dirty.code_differs()
        assert "the code among them" in str(dirty.query_one("#compare-title").render())
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, CompareScreen))

        edited = await _compare(pilot, app, paths[2:4])  # the cell redefined: same git state
        assert edited.differs("source.hash") and not edited.differs("meta.git.tree")
        assert edited.code_differs()
        # Only differences (the view it opens on): the code version still comes first.
        keys = [str(k.value) for k in edited.query_one(DataTable).rows]
        assert keys[:3] == ["code", "source.file", "source.hash"]
