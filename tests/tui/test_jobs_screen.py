"""The jobs panel and the "jobs keep running" notice when the app quits."""

from __future__ import annotations

import os
import signal
import sys

import pytest
from textual.widgets import Static
from tui_helpers import wait_for

from votakvot_tui import make_app
from votakvot_tui.core.jobs import JobManager
from votakvot_tui.launch import running_jobs_message
from votakvot_tui.screens.jobs import JobsScreen

pytestmark = pytest.mark.timeout(60)

SLEEPER = "import time; print('working', flush=True); time.sleep(60)"


@pytest.fixture
def jobs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    (tmp_path / "results").mkdir()
    yield tmp_path / "jobs"
    for job in JobManager(str(tmp_path / "jobs")).running():
        if job.child_pid:
            try:
                os.killpg(job.child_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


async def test_jobs_panel_lists_tails_and_stops(jobs_dir, tmp_path):
    """`J` lists the jobs newest first with their output; `s` stops the highlighted
    one; `x` forgets an ended one."""
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        manager = app.job_manager
        done = manager.start([sys.executable, "-c", "print('finished ok')"], title="quick")
        manager.wait(done, timeout=30)
        slow = manager.start([sys.executable, "-c", SLEEPER], title="slow one")
        await pilot.press("J")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen)
        await wait_for(pilot, lambda: len(screen.jobs) == 2)
        assert screen.jobs[0].id == slow.id
        output = screen.query_one("#jobs-output", Static)
        await wait_for(pilot, lambda: "working" in str(output.render()))
        assert "keep running when you quit" in str(screen.query_one("#jobs-notice").render())
        await pilot.press("s")
        await wait_for(pilot, lambda: manager.get(slow.id).state == "stopped", timeout=30)
        await pilot.press("down")
        await wait_for(pilot, lambda: "finished ok" in str(output.render()))
        await pilot.press("x")
        await wait_for(pilot, lambda: [j.id for j in screen.jobs] == [slow.id])


async def test_quit_says_jobs_keep_running(jobs_dir, tmp_path, capsys):
    """Quitting with a running job leaves it running and prints where to find it."""
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test() as pilot:
        job = app.job_manager.start([sys.executable, "-c", SLEEPER], title="long job")
        await pilot.press("q")
        await pilot.pause()
    message = " ".join(capsys.readouterr().err.split())
    assert "1 job keeps running: long job" in message
    assert str(jobs_dir) in message
    assert JobManager(str(jobs_dir)).get(job.id).state in ("starting", "running")


async def test_quit_without_jobs_says_nothing(jobs_dir, tmp_path, capsys):
    """No running job, no message."""
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert "keep" not in capsys.readouterr().err


def test_running_jobs_message_counts():
    """The notice names up to three jobs and the folder."""
    from votakvot_tui.core.jobs import Job

    jobs = [Job(id=str(i), folder="/j", argv=["x"], cwd="/", title=f"t{i}") for i in range(4)]
    text = running_jobs_message(jobs, "/jobs")
    assert text.startswith("votakvot-tui: 4 jobs keep running: t0, t1, t2 ...")
    assert "/jobs" in text


async def test_palette_offers_job_commands(jobs_dir, tmp_path):
    """The command palette lists running jobs to stop (and ab jobs to watch)."""
    from votakvot_tui.launch import JobsProvider

    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test() as pilot:
        slow = app.job_manager.start([sys.executable, "-c", SLEEPER], title="slow one")
        provider = JobsProvider(app.screen)
        commands = await provider._list()
        titles = [c[0] for c in commands]
        assert "Stop job: slow one" in titles
        run = next(c[2] for c in commands if c[0] == "Stop job: slow one")
        run()
        await wait_for(pilot, lambda: app.job_manager.get(slow.id).state == "stopped", timeout=30)
        hits = [hit async for hit in provider.search("stop slow")]
        assert hits == []  # stopped: no longer offered
