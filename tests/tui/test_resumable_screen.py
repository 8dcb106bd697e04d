"""The resumable-tasks view: listing, resuming in a separate process, stopping, and the
message when a task's module cannot be imported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from launch_helpers import user_module
from tui_helpers import loaded, wait_for, write_trial

from votakvot.trial import read_trial
from votakvot_tui import make_app
from votakvot_tui.core.jobs import JobManager
from votakvot_tui.core.runs import LaunchError, resume_command, root_of
from votakvot_tui.screens.resumable import ResumableScreen

pytestmark = pytest.mark.timeout(120)

TASK = """
import os
import time

import votakvot


class Count(votakvot.resumable_fn):
    snapshot_each = 1

    def init(self, n, delay=0.0):
        self.i = 0
        self.n = n
        self.delay = delay

    def loop(self):
        time.sleep(self.delay)
        self.i += 1
        if os.environ.get("STOP_AT") == str(self.i):
            raise KeyboardInterrupt
        if self.i >= self.n:
            return self.i
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with the task's module; jobs in a temporary folder; no job outlives the test."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    monkeypatch.delenv("STOP_AT", raising=False)
    (tmp_path / "results").mkdir()
    yield tmp_path
    for job in JobManager(str(tmp_path / "jobs")).running():
        if job.child_pid:
            try:
                os.killpg(job.child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def interrupted_task(workdir, tid: str = "tasks/a", n: int = 20, delay: float = 0.0) -> str:
    """Run the task in a subprocess that stops it at loop 5; returns the trial folder."""
    module = user_module(workdir, TASK, "task")
    code = (
        f"import votakvot, {module}\n"
        f"votakvot.init(path={str(workdir / 'results')!r})\n"
        f"votakvot.run({tid!r}, {module}.Count, n={n}, delay={delay})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workdir,
        env={**os.environ, "STOP_AT": "5"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert "KeyboardInterrupt" in done.stderr, done.stderr
    folder = str(workdir / "results" / tid)
    trial = read_trial(folder)
    assert trial is not None and trial.state == "interrupted"
    return folder


async def _open(pilot, count: int) -> ResumableScreen:
    await loaded(pilot, count)
    await pilot.press("R")
    return await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, ResumableScreen) and pilot.app.screen.loaded
        and pilot.app.screen,
    )  # fmt: skip


def test_root_and_command():
    """The results root is the folder without the tid; a moved folder is refused."""
    assert root_of("/r/tasks/a", "tasks/a") == "/r"
    assert root_of("sftp://h/r/x/", "x") == "sftp://h/r"
    with pytest.raises(LaunchError, match="does not end with its tid"):
        root_of("/r/other", "tasks/a")
    with pytest.raises(LaunchError, match="records no function"):
        resume_command("/r/t", {"tid": "t"})
    assert resume_command("/r/t", {"tid": "t", "function": "m.C"})[-2:] == ["resume", "/r/t"]


async def test_lists_and_resumes_an_interrupted_task(workdir):
    """An interrupted task is listed with its loop count; `u` resumes it in a job that
    finishes the same trial (same folder, one resume recorded)."""
    folder = interrupted_task(workdir)
    write_trial(workdir / "results", "demo.train", params={"lr": 0.1}, result=1.0)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await _open(pilot, 2)
        assert [r.tid for r in screen.rows] == ["tasks/a"]
        row = screen.rows[0]
        assert (row.state, row.loops, row.alive()) == ("interrupted", 4, "-")
        assert row.snapshot_at is not None
        await pilot.press("u")
        await wait_for(pilot, lambda: any("resumes in job" in str(n.message)
                                          for n in app._notifications), timeout=60)  # fmt: skip
        jobs = app.job_manager.list_jobs()
        assert [j.kind for j in jobs] == ["resume"]
        job = app.job_manager.wait(jobs[0], timeout=60)
        assert (job.state, job.exit_code) == ("done", 0), job.tail()
        trial = read_trial(folder)
        assert trial.state == "done"
        assert trial.result == 20
        assert len(trial.data["resumable"]["resumes"]) == 1
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.rows and screen.rows[0].state == "done")


async def test_resume_refuses_an_unimportable_task(workdir):
    """A task whose module cannot be imported is not started; the message says so."""
    record = write_trial(
        workdir / "results",
        "gone_module_xyz.Task",
        state="interrupted",
        params={"n": 3},
        error=("KeyboardInterrupt", ""),
    )
    text = (record / "votakvot.yaml").read_text()
    (record / "votakvot.yaml").write_text(text + "kind: resumable\nresumable: {loops: 2}\n")
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await _open(pilot, 1)
        assert screen.rows[0].loops == 2
        await pilot.press("u")
        note = await wait_for(
            pilot,
            lambda: next((n for n in app._notifications if "not importable" in str(n.message)),
                         None),
            timeout=60,
        )  # fmt: skip
        assert "gone_module_xyz" in str(note.message)
        assert app.job_manager.list_jobs() == []


async def test_resume_refuses_other_trials(workdir):
    """`u` on a trial that is not resumable says what to do instead."""
    write_trial(
        workdir / "results",
        "demo.train",
        state="interrupted",
        params={"lr": 0.1},
        error=("KeyboardInterrupt", ""),
    )
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("u")
        await wait_for(
            pilot, lambda: any("not a resumable task" in str(n.message) for n in app._notifications)
        )


async def test_stop_a_resumed_task(workdir):
    """`s` stops the job the app started: the task is recorded interrupted again and
    can be resumed later."""
    folder = interrupted_task(workdir, "tasks/slow", n=100000, delay=0.05)
    app = make_app([str(workdir / "results")], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await _open(pilot, 1)
        await pilot.press("u")
        await wait_for(pilot, lambda: app.job_manager.list_jobs(), timeout=60)
        await wait_for(
            pilot,
            lambda: (read_trial(folder).data.get("resumable") or {}).get("loops", 0) > 6,
            timeout=60,
        )
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.rows and screen.rows[0].state == "running")
        assert screen.rows[0].alive().startswith("yes")
        await pilot.press("s")
        job = app.job_manager.wait(app.job_manager.list_jobs()[0], timeout=60)
        assert job.state == "stopped"
        assert read_trial(folder).state == "interrupted"
