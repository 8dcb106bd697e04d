"""Rerunning a trial's function with edited params from the dashboard."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys

import pytest
from launch_helpers import user_module
from textual.widgets import Button, Input, Static
from tui_helpers import loaded, wait_for, write_trial

from votakvot.trial import read_trial
from votakvot_tui import make_app
from votakvot_tui.core.runs import LaunchError, format_value, rerun_command
from votakvot_tui.screens.rerun import RerunScreen, param_items
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(120)

TRACKED = """
import votakvot


@votakvot.track()
def train(lr, epochs=2, tags=("a",)):
    return lr * epochs
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    (tmp_path / "results").mkdir()
    return tmp_path


def test_format_value_and_items():
    """Params show as Python literals when they read back; the form's items are checked."""
    assert format_value(0.1) == "0.1"
    assert format_value("text") == "'text'"
    assert format_value([1, {"a": None}]) == "[1, {'a': None}]"
    when = datetime.datetime(2026, 1, 1)
    assert format_value(when) == str(when)
    assert param_items({"lr": "0.5"}, "seed=3 'name=a b'") == ["lr=0.5", "seed=3", "name=a b"]
    with pytest.raises(LaunchError, match="is not KEY=VALUE"):
        param_items({}, "oops")
    with pytest.raises(LaunchError, match="records no function"):
        rerun_command("/r/t", "", [])


def tracked_trial(workdir) -> tuple[str, str]:
    """One trial of a tracked function, run in a subprocess; ``(module, folder)``."""
    module = user_module(workdir, TRACKED, "train")
    code = (
        f"import votakvot, {module}\n"
        f"votakvot.init(path={str(workdir / 'results')!r})\n"
        f"{module}.train(lr=0.1)\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=workdir, check=True, timeout=60)
    found = [root for root, _, files in os.walk(workdir / "results") if "votakvot.yaml" in files]
    assert len(found) == 1
    return module, found[0]


async def test_rerun_with_an_edited_param(workdir):
    """`E` opens the params; Run starts a new trial with the edited value that records
    ``info.rerun_of``; the source trial is untouched."""
    module, folder = tracked_trial(workdir)
    source = read_trial(folder)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("E")
        screen = await wait_for(
            pilot,
            lambda: isinstance(app.screen, RerunScreen) and app.screen.checked and app.screen,
            timeout=60,
        )
        assert screen.values() == {"lr": "0.1", "epochs": "2", "tags": "('a',)"}
        field = next(f for f in screen.query("#rerun-grid Input") if f.name == "lr")
        assert isinstance(field, Input)
        field.value = "0.5"
        await pilot.click("#run")
        await wait_for(pilot, lambda: not isinstance(app.screen, RerunScreen))
        jobs = app.job_manager.list_jobs()
        assert [j.kind for j in jobs] == ["rerun"]
        job = app.job_manager.wait(jobs[0], timeout=60)
        assert (job.state, job.exit_code) == ("done", 0), job.tail()
    trials = [
        read_trial(root)
        for root, _, files in os.walk(workdir / "results")
        if "votakvot.yaml" in files
    ]
    new = next(t for t in trials if t.path != folder)
    assert new.data["function"] == f"{module}.train"
    assert new.params["lr"] == 0.5
    assert new.result == 1.0
    assert new.info["rerun_of"] == source.tid
    assert read_trial(folder).data == source.data


async def test_rerun_of_an_unimportable_function(workdir):
    """A function that cannot be imported is said so; Run stays disabled."""
    write_trial(workdir / "results", "gone_module_xyz.f", params={"a": 1}, result=2)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 1)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("E")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, RerunScreen) and app.screen)
        error = screen.query_one("#rerun-error", Static)
        await wait_for(pilot, lambda: "not importable" in str(error.render()), timeout=60)
        assert "gone_module_xyz" in str(error.render())
        assert screen.query_one("#run", Button).disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RerunScreen))
        assert app.job_manager.list_jobs() == []
