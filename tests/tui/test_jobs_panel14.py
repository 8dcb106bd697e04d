"""The jobs panel reads well: short ids, commands as people write them, and a failed
job's output opened at its end (where it says why it failed)."""

from __future__ import annotations

import sys

import pytest
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static
from tui_helpers import wait_for

from votakvot_tui import make_app
from votakvot_tui.core.jobs import readable_command
from votakvot_tui.screens.jobs import JobsScreen

pytestmark = pytest.mark.timeout(60)

FAILING = "for i in range(200): print('step', i)\nraise SystemExit('gave up at the end')"


def test_readable_command():
    """The interpreter is ``python``, quotes only around spaces, paths short."""
    argv = [sys.executable, "-m", "votakvot_tui.core.runs", "rerun", "/r/my results/t", "x=('a',)"]
    assert readable_command(argv, "/r") == (
        "python -m votakvot_tui.core.runs rerun \"my results/t\" x=('a',)"
    )
    assert readable_command(["/usr/bin/env", "a b", ""], "") == '/usr/bin/env "a b" ""'


async def test_jobs_table_short_ids_readable_command_failed_output_at_end(tmp_path, monkeypatch):
    """The table shows the short id and the command unquoted; a failed job's output box
    opens scrolled to its end."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        manager = app.job_manager
        job = manager.start([sys.executable, "-c", FAILING])
        job = manager.wait(job, timeout=30)
        assert job.state == "failed"
        await pilot.press("J")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen)
        await wait_for(pilot, lambda: len(screen.jobs) == 1)
        table = screen.query_one("#jobs-table", DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert row[0] == job.short_id and len(row[0]) == 6 and job.id.endswith(row[0])
        assert row[-1].startswith('python -c "for i in range(200)')
        assert "'\"'\"'" not in row[-1] and sys.executable not in row[-1]
        output = screen.query_one("#jobs-output", Static)
        await wait_for(pilot, lambda: "gave up at the end" in str(output.render()))
        assert str(output.render()).startswith('$ python -c "for i')
        box = screen.query_one("#jobs-output-box", VerticalScroll)
        await wait_for(pilot, lambda: box.max_scroll_y > 0 and box.scroll_y == box.max_scroll_y)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_short_output_shows_at_the_top_of_the_box(tmp_path, monkeypatch, size):
    """A job that printed two lines shows them at the top of the output box, right
    under its command, not at the bottom under empty lines (the box is anchored to
    its end to follow running jobs); a long output still opens at its end."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=size) as pilot:
        manager = app.job_manager
        short = manager.start([sys.executable, "-c", "print('line one'); print('line two')"])
        manager.wait(short, timeout=30)
        long = manager.start([sys.executable, "-c", FAILING])
        manager.wait(long, timeout=30)
        await pilot.press("J")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen)
        await wait_for(pilot, lambda: len(screen.jobs) == 2)
        output = screen.query_one("#jobs-output", Static)
        box = screen.query_one("#jobs-output-box", VerticalScroll)
        await wait_for(pilot, lambda: "gave up at the end" in str(output.render()))
        await wait_for(pilot, lambda: box.max_scroll_y > 0 and box.scroll_y == box.max_scroll_y)
        await pilot.press("down")
        await wait_for(pilot, lambda: "line two" in str(output.render()))
        await pilot.pause()
        # Drawn from the box's first line: the command, then the two lines under it.
        assert output.region.y == box.content_region.y and box.scroll_y == 0
        assert str(output.render()).startswith("$ python -c")
