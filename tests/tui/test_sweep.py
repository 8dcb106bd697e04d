"""Sweeping a trial's function over lists and ranges of params from the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from launch_helpers import user_module
from textual.widgets import Button, Input, Select, Static
from tui_helpers import loaded, wait_for, write_trial

from votakvot.trial import read_trial
from votakvot_tui import make_app
from votakvot_tui.core.runs import LaunchError
from votakvot_tui.core.sweep import (
    MAX_TRIALS,
    count_trials,
    format_choices,
    parse_axes,
    parse_choices,
    sweep_command,
)
from votakvot_tui.screens.sweep import SweepScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(180)

TRACKED = """
import votakvot


@votakvot.track()
def train(lr, seed=0, layers=(64, 32)):
    if seed == 2 and lr == 0.01:
        raise ValueError("diverged")
    return lr * 10 + seed
"""


def test_fields_read_as_values_lists_and_ranges():
    """One literal is one value, a list its items, range() its numbers; nothing is run."""
    assert parse_choices("0.1") == [0.1]
    assert parse_choices("[0.1, 0.01]") == [0.1, 0.01]
    assert parse_choices("(1, 2)") == [1, 2]
    assert parse_choices("range(3)") == [0, 1, 2]
    assert parse_choices(" range(1, 10, 4) ") == [1, 5, 9]
    assert parse_choices("[[64, 32]]") == [[64, 32]]
    assert parse_choices("'adam'") == ["adam"]
    assert format_choices((64, 32)) == "[(64, 32)]"
    assert format_choices(0.1) == "0.1"
    for text, message in [
        ("", "empty"),
        ("[]", "empty list"),
        ("adam", "quote text"),
        ("range(x)", "whole numbers written out"),
        ("range(0.5)", "whole numbers"),
        ("range(1, 2, 0)", "step must not be 0"),
        ("range(10**9)", "whole numbers written out"),
        ("range(5000)", f"at most {MAX_TRIALS}"),
        ("__import__('os').system('x')", "not a value"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_choices(text)
    axes, errors = parse_axes({"lr": "[0.1, 0.01]", "seed": "range(3)", "bad": "nope"})
    assert count_trials(axes) == 6
    assert list(errors) == ["bad"]


def test_the_command_checks_before_starting():
    """The job's command is refused for a bad field, a huge grid or a bad runner."""
    record = {"function": "m.train", "tid": "m/train/t", "params": {}}
    argv = sweep_command("/r/m/train/t", record, {"lr": "[1, 2]"}, "thread", 2)
    assert argv[-5:] == ["--workers", "2", "--", "/r/m/train/t", "lr=[1, 2]"]
    with pytest.raises(LaunchError, match="lr: not a value"):
        sweep_command("/r/m/train/t", record, {"lr": "x y"})
    with pytest.raises(LaunchError, match="at most 1000"):
        sweep_command("/r/m/train/t", record, {"a": "range(100)", "b": "range(100)"})
    with pytest.raises(LaunchError, match="runner must be one of"):
        sweep_command("/r/m/train/t", record, {"a": "1"}, "dask")
    with pytest.raises(LaunchError, match="does not end with its tid"):
        sweep_command("/elsewhere", record, {"a": "1"})


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    (tmp_path / "results").mkdir()
    return tmp_path


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


async def test_sweep_from_a_trial(workdir):
    """``S`` fills the form from the trial; the count follows the fields; Run starts one job
    that makes a trial per combination on the chosen runner, each naming its source."""
    _, folder = tracked_trial(workdir)
    source = read_trial(folder)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 1)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("S")
        screen = await wait_for(
            pilot,
            lambda: isinstance(app.screen, SweepScreen) and app.screen.checked and app.screen,
            timeout=60,
        )
        assert screen.fields() == {"lr": "0.1", "seed": "0", "layers": "[(64, 32)]"}
        count = screen.query_one("#sweep-count", Static)
        assert str(count.render()) == "1 trial"
        field = {f.name: f for f in screen.query("#sweep-grid Input")}
        field["lr"].value = "[0.1, 0.01]"
        field["seed"].value = "range("
        error = screen.query_one("#sweep-error", Static)
        await wait_for(pilot, lambda: "seed: not a value" in str(error.render()))
        assert screen.query_one("#run", Button).disabled
        field["seed"].value = "range(3)"
        await wait_for(pilot, lambda: str(count.render()) == "6 trials: lr × 2 · seed × 3")
        assert not screen.query_one("#run", Button).disabled
        screen.query_one("#sweep-runner", Select).value = "thread"
        await pilot.pause()
        screen.query_one("#sweep-workers", Input).value = "3"
        await pilot.click("#run")
        await wait_for(pilot, lambda: not isinstance(app.screen, SweepScreen))
        jobs = app.job_manager.list_jobs()
        assert [j.kind for j in jobs] == ["sweep"]
        assert "(6 trials)" in jobs[0].title
        job = app.job_manager.wait(jobs[0], timeout=120)
        output = job.tail()
        assert (job.state, job.exit_code) == ("failed", 1), output  # one combination raised
        assert "5 done, 1 failed" in output and "on thread" in output
    trials = [
        read_trial(root)
        for root, _, files in os.walk(workdir / "results")
        if "votakvot.yaml" in files
    ]
    new = [t for t in trials if t.path != folder]
    assert sorted((t.params["lr"], t.params["seed"]) for t in new) == [
        (0.01, 0), (0.01, 1), (0.01, 2), (0.1, 0), (0.1, 1), (0.1, 2)
    ]
    assert {t.info["sweep_of"] for t in new} == {source.tid}
    assert {tuple(t.params["layers"]) for t in new} == {(64, 32)}
    assert sorted(t.state for t in new) == ["done"] * 5 + ["failed"]


async def test_sweep_of_an_unimportable_function(workdir):
    """A function that cannot be imported is said so; Run stays disabled, no job starts."""
    write_trial(workdir / "results", "gone_module_xyz.f", params={"a": 1}, result=2)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 1)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("S")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen)
        error = screen.query_one("#sweep-error", Static)
        await wait_for(pilot, lambda: "not importable" in str(error.render()), timeout=60)
        screen.query_one("#sweep-grid Input", Input).value = "[1, 2]"
        await pilot.pause()
        assert screen.query_one("#run", Button).disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SweepScreen))
        assert app.job_manager.list_jobs() == []
