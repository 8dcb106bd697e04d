"""SVG snapshots of the ab monitor and the ab compare screen over fixed, fake ab trials.

Review every changed SVG before accepting it with ``pytest --snapshot-update``.
"""

from __future__ import annotations

import pytest
from launch_helpers import write_ab_trial
from tui_helpers import wait_for

from votakvot_tui import make_app
from votakvot_tui.screens.ab_compare import AbCompareScreen
from votakvot_tui.screens.ab_monitor import AbMonitorScreen

pytestmark = pytest.mark.usefixtures("utc_timezone")

SIZE = (120, 40)


@pytest.fixture(autouse=True)
def _jobs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))


def _monitor(folder):
    async def run_before(pilot) -> None:
        pilot.app.open_ab_monitor(str(folder))
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, AbMonitorScreen) and pilot.app.screen.frames
        )
        await pilot.pause()
        await pilot.pause()

    return run_before


def test_ab_monitor_done(snap_compare, tmp_path):
    """A finished run: progress, calls/s and p50/p99 over time, histogram, results, errors."""
    folder = write_ab_trial(tmp_path / "results")
    app = make_app([str(tmp_path / "results")], watch=False)
    assert snap_compare(app, run_before=_monitor(folder), terminal_size=SIZE)


def test_ab_monitor_interrupted(snap_compare, tmp_path):
    """A run stopped early: its title bar says interrupted, partial figures stay."""
    folder = write_ab_trial(tmp_path / "results", state="interrupted", seconds=3)
    app = make_app([str(tmp_path / "results")], watch=False)
    assert snap_compare(app, run_before=_monitor(folder), terminal_size=SIZE)


def test_ab_compare(snap_compare, tmp_path):
    """Two runs: per-metric changes coloured better/worse, verdict, overlaid histograms."""
    root = tmp_path / "results"
    a = write_ab_trial(root)
    b = write_ab_trial(
        root,
        "ab/bench.get/26-03-14/09:40:00/00000000-0000-4000-8000-0000000000bb",
        seconds=4,
        slower=1.3,
    )

    async def run_before(pilot) -> None:
        pilot.app.push_screen(AbCompareScreen(str(a), str(b)))
        await wait_for(
            pilot,
            lambda: isinstance(pilot.app.screen, AbCompareScreen) and pilot.app.screen.snapshots,
        )
        await pilot.pause()

    app = make_app([str(root)], watch=False)
    assert snap_compare(app, run_before=run_before, terminal_size=SIZE)
