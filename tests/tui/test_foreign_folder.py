"""Rerun and resume of a trial folder that is someone else's: the dashboard says whose
it is and shows the exact module and function before anything is imported or run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from launch_helpers import user_module
from textual.widgets import Button, Static
from tui_helpers import loaded, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.core.ownership import foreign_code
from votakvot_tui.screens.confirm_foreign import ConfirmForeignScreen
from votakvot_tui.screens.rerun import RerunScreen
from votakvot_tui.screens.resumable import ResumableScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(120)

PLANTED = """
import pathlib

pathlib.Path({marker!r}).mkdir()  # importing this module is already running its code


def train(a):
    return a


class Task:
    pass
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    (tmp_path / "results").mkdir()
    return tmp_path


def _as_another_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every folder now belongs to someone else (works without root)."""
    me = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: me + 1)


def _planted(workdir: Path, function: str, **fields: object) -> tuple[Path, str, Path]:
    """A trial naming ``<module>.<function>`` of a module that makes a marker on import."""
    marker = workdir / "imported"
    module = user_module(workdir, PLANTED.format(marker=str(marker)), "planted")
    folder = write_trial(workdir / "results", f"{module}.{function}", **fields)  # type: ignore[arg-type]
    return folder, module, marker


def test_foreign_code_names_owner_module_and_function(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Own folders need no notice; another user's names the module, function and folder."""
    folder = write_trial(workdir / "results", "pkg.mod.train")
    record = {"function": "pkg.mod.train"}
    assert foreign_code(str(folder), record) is None
    _as_another_user(monkeypatch)
    found = foreign_code(str(folder), record, cwd="/srv/code")
    assert found is not None
    assert (found.module, found.function, found.cwd) == ("pkg.mod", "pkg.mod.train", "/srv/code")
    text = found.text("rerun")
    assert "not to you" in text and "pkg.mod" in text and "pkg.mod.train" in text
    assert "/srv/code" in text


async def test_rerun_form_of_a_foreign_folder(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`E` on another user's trial: the form says whose it is and what Run would import and
    call; its module is not imported (no check subprocess) until Run is pressed."""
    _folder, module, marker = _planted(workdir, "train", params={"a": 1}, result=1)
    _as_another_user(monkeypatch)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, 1)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("E")
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, RerunScreen) and app.screen.checked and app.screen
        )
        notice = str(screen.query_one("#rerun-owner", Static).render())
        assert "not to you" in notice
        assert f"module {module}" in notice and f"{module}.train" in notice
        run = screen.query_one("#run", Button)
        assert not run.disabled and "as me" in str(run.label)
        assert not marker.exists()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RerunScreen))
    assert app.job_manager.list_jobs() == []
    assert not marker.exists()


async def test_resume_of_a_foreign_folder_asks_first(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`u` on another user's resumable trial: a dialog shows the owner, module and function;
    answering no runs nothing, not even the import check."""
    folder, module, marker = _planted(
        workdir, "Task", state="interrupted", params={"n": 3}, error=("KeyboardInterrupt", "")
    )
    text = (folder / "votakvot.yaml").read_text()
    (folder / "votakvot.yaml").write_text(text + "kind: resumable\nresumable: {loops: 2}\n")
    _as_another_user(monkeypatch)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("R")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ResumableScreen) and app.screen.loaded and app.screen,
        )
        await pilot.press("u")
        dialog = await wait_for(
            pilot, lambda: isinstance(app.screen, ConfirmForeignScreen) and app.screen
        )
        shown = str(dialog.query_one("#foreign-code", Static).render())
        assert module in shown and f"{module}.Task" in shown
        assert not marker.exists()
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmForeignScreen))
    assert app.job_manager.list_jobs() == []
    assert not marker.exists()
