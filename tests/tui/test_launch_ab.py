"""Launching a votakvot-ab run from the dashboard: the form, its checks, the real run."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from launch_helpers import user_module
from textual.widgets import Input, Select, Static
from tui_helpers import wait_for

from votakvot_tui import make_app
from votakvot_tui.core.jobs import JobManager
from votakvot_tui.core.runs import AbRequest, LaunchError, ab_base_command
from votakvot_tui.screens.ab_monitor import AbMonitorScreen
from votakvot_tui.screens.launch_ab import LaunchAbScreen

pytestmark = pytest.mark.timeout(120)

FAST = """
def f(x=1):
    return x * 2
"""

SLOW = """
import time

def f():
    time.sleep(0.01)
    return "ok"
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The app runs in a folder holding the user's module; jobs go to a temporary folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    (tmp_path / "results").mkdir()
    yield tmp_path
    for job in JobManager(str(tmp_path / "jobs")).running():
        if job.child_pid:
            try:
                os.killpg(job.child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- the request, without the app -----------------------------------------------------


def test_request_builds_the_command():
    """Form values become votakvot-ab options, run by this very interpreter."""
    request = AbRequest(
        callable="m.f",
        args="x=1 'name=a b'",
        number="500",
        concurrency="100",
        engine="gevent",
        rate="50",
        warmup="2s",
        path="/r",
    )
    argv = request.argv(tid="ab/m.f/t")
    assert argv[:3] == ab_base_command()
    assert argv[:3] in (
        [sys.executable, "-m", "votakvot.ab"],
        [sys.executable, "-m", "votakvot.ab.cli"],
    )
    assert argv[3:] == [
        "-n",
        "500",
        "-c",
        "100",
        "--gevent",
        "-q",
        "50",
        "-w",
        "2s",
        "-p",
        "/r",
        "-t",
        "ab/m.f/t",
        "m.f",
        "x=1",
        "name=a b",
    ]


def test_request_duration_and_processes():
    """-d wins over -n; processes add --processes; a bare warmup number is calls."""
    argv = AbRequest(
        callable="m.f",
        duration="1.5",
        concurrency="4",
        engine="processes",
        processes="2",
        warmup="100",
    ).argv()
    assert argv[3:] == ["-d", "1.5", "-c", "4", "--processes", "2", "-w", "100", "-p", ".", "m.f"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"callable": ""}, "callable: give module.attr"),
        ({"number": "ten"}, "calls (-n) must be a whole number (got 'ten')"),
        ({"number": "0"}, "calls (-n) must be >= 1 (got 0)"),
        ({"duration": "-3"}, "duration (-d) must be > 0 seconds"),
        ({"concurrency": "0"}, "concurrency (-c) must be >= 1"),
        ({"engine": "processes", "processes": "4"}, "processes (4) needs at least as many"),
        ({"rate": "fast"}, "rate (-q) must be a number (got 'fast')"),
        ({"warmup": "soon"}, "warmup (-w) must be seconds"),
        ({"args": "x"}, "argument 'x' is not KEY=VALUE"),
        ({"args": "'x=1"}, "close the quote"),
    ],
)
def test_request_validation_messages(fields, message):
    """Each wrong field is named with what was typed and what is expected."""
    values = {"callable": "m.f", **fields}
    with pytest.raises(LaunchError) as info:
        AbRequest(**values).validate()
    assert message in str(info.value)


# --- the form in the app --------------------------------------------------------------


async def _open_form(pilot):
    await pilot.press("b")
    return await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, LaunchAbScreen) and pilot.app.screen
    )


def _fill(form, **values):
    for name, value in values.items():
        if name == "engine":
            form.query_one("#engine", Select).value = value
        else:
            form.query_one(f"#{name}", Input).value = value


async def test_form_shows_validation_errors(workdir):
    """A wrong field is reported under the form and nothing starts."""
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _open_form(pilot)
        assert form.query_one("#path", Input).value == str(workdir / "results")
        _fill(form, callable="x.f", number="many")
        inline = form.query_one("#number-error", Static)
        # The field says so as it is typed (the buttons move down a line: click after that).
        await wait_for(pilot, lambda: "must be a whole number" in str(inline.render()))
        assert form.query_one("#number", Input).has_class("-invalid")
        await pilot.click("#start")
        error = form.query_one("#launch-error", Static)
        await wait_for(pilot, lambda: "must be a whole number" in str(error.render()))
        assert isinstance(app.screen, LaunchAbScreen)
        assert app.job_manager.list_jobs() == []


async def test_form_reports_unknown_callable(workdir):
    """The callable is resolved before starting: a missing module or name is said clearly."""
    module = user_module(workdir, FAST)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await _open_form(pilot)
        error = form.query_one("#launch-error", Static)
        _fill(form, callable="no_such_module_xyz.f")
        await pilot.click("#start")
        await wait_for(pilot, lambda: "no module named 'no_such_module_xyz'" in str(error.render()))
        # The key, not a second click: two clicks on one spot within the double-click
        # interval are one double click, which a Button does not take as a press.
        _fill(form, callable=f"{module}.g")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "has no attribute 'g'" in str(error.render()))
        _fill(form, callable=f"{module}.f", args="y=3")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "cannot take y=3" in str(error.render()))
        assert app.job_manager.list_jobs() == []


async def test_launch_runs_to_the_end_in_the_monitor(workdir):
    """Start: a real votakvot-ab process runs, the app switches to its monitor, which
    follows it to ``done`` with the counts of the recorded summary."""
    module = user_module(workdir, FAST)
    results = workdir / "results"
    app = make_app([str(results)], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        form = await _open_form(pilot)
        _fill(form, callable=f"{module}.f", args="x=21", number="2000", concurrency="2")
        await pilot.click("#start")
        monitor = await wait_for(
            pilot, lambda: isinstance(app.screen, AbMonitorScreen) and app.screen, timeout=30
        )
        assert monitor.job_id is not None
        assert monitor.path.startswith(str(results) + "/ab/")
        await wait_for(
            pilot,
            lambda: (
                monitor.snapshot is not None
                and monitor.snapshot.state == "done"
                and monitor.snapshot.summary
            ),
            timeout=60,
        )
        snap = monitor.snapshot
        assert snap.done == 2000
        assert snap.results() == [(42, 2000)]
        assert snap.errors == 0
        assert "2,000 / 2,000 (100%)" in str(monitor.query_one("#abm-progress-text").render())
        job = app.job_manager.wait(monitor.job_id, timeout=30)
        assert (job.state, job.exit_code, job.kind) == ("done", 0, "ab")
        assert os.path.isfile(os.path.join(monitor.path, "ab.histogram.csv"))


async def test_stop_key_interrupts_the_run(workdir):
    """`s` in the monitor stops the run with SIGINT: it records its partial results
    as ``interrupted`` and the job ends ``stopped``."""
    module = user_module(workdir, SLOW)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        form = await _open_form(pilot)
        _fill(form, callable=f"{module}.f", duration="60", concurrency="2")
        await pilot.click("#start")
        monitor = await wait_for(
            pilot, lambda: isinstance(app.screen, AbMonitorScreen) and app.screen, timeout=30
        )
        await wait_for(
            pilot,
            lambda: (
                monitor.snapshot is not None
                and monitor.snapshot.done > 0
                and monitor.snapshot.state == "running"
            ),
            timeout=60,
        )
        await pilot.press("s")
        await wait_for(
            pilot,
            lambda: monitor.snapshot.state == "interrupted" and monitor.snapshot.summary,
            timeout=60,
        )
        assert monitor.snapshot.summary["count"] > 0
        assert monitor.has_class("-interrupted")
        job = app.job_manager.wait(monitor.job_id, timeout=30)
        assert job.state == "stopped"
        assert job.exit_code == 130


async def test_monitor_says_when_the_run_never_started(workdir):
    """A run that fails before writing its trial shows votakvot-ab's own message."""
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        # A module that imports fine in the app but not in the job (it is gone by then).
        module = user_module(workdir, FAST)
        form = await _open_form(pilot)
        _fill(form, callable=f"{module}.f", number="10")
        original = app.job_manager.start

        def start(argv, **kwargs):
            os.remove(workdir / f"{module}.py")
            return original(argv, **kwargs)

        app.job_manager.start = start
        await pilot.click("#start")
        monitor = await wait_for(
            pilot, lambda: isinstance(app.screen, AbMonitorScreen) and app.screen, timeout=30
        )
        errors = monitor.query_one("#abm-errors", Static)
        await wait_for(pilot, lambda: "without a trial" in str(errors.render()), timeout=60)
        assert f"no module named '{module}'" in str(errors.render())
        assert monitor.snapshot.state == "failed"
