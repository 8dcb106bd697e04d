"""The ab monitor's layout at the sizes people use: stacked when narrow, the histogram
never squeezed away, panels sized to their content, charts with honest axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from launch_helpers import write_ab_trial
from textual_plotext import PlotextPlot
from tui_helpers import wait_for

from votakvot_tui import make_app
from votakvot_tui.screens.ab_monitor import NARROW, AbMonitorScreen

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _jobs_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))


async def _monitor(pilot: Any, folder: Path) -> AbMonitorScreen:
    pilot.app.open_ab_monitor(str(folder))
    monitor = await wait_for(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, AbMonitorScreen)
            and pilot.app.screen.frames
            and pilot.app.screen
        ),
    )
    await pilot.pause()
    return monitor


@pytest.mark.parametrize("size", [(100, 30), (120, 30), (200, 50)])
async def test_histogram_keeps_its_room(tmp_path: Path, size: tuple[int, int]) -> None:
    """At 30 rows (narrow or wide) the histogram shows several latency ranges; below
    120 columns the panels stack (charts side by side over the figures)."""
    folder = write_ab_trial(tmp_path / "results")
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=size) as pilot:
        monitor = await _monitor(pilot, folder)
        assert monitor.has_class("-narrow") == (size[0] < NARROW)
        histogram = monitor.query_one("#abm-histogram")
        assert histogram.content_size.height >= 5
        lines = [line for line in str(histogram.render()).splitlines() if " ms [" in line]
        assert len(lines) >= 5
        rate, latency = monitor.query_one("#abm-rate"), monitor.query_one("#abm-latency")
        if size[0] < NARROW:
            assert rate.region.y == latency.region.y  # side by side
            assert histogram.region.y > rate.region.bottom - 1  # below the charts
        else:
            assert latency.region.y >= rate.region.bottom
            assert histogram.region.x >= rate.region.right


async def test_results_and_errors_sized_to_content(tmp_path: Path) -> None:
    """Two result values take a four-line box (with its border), not a fixed 12 lines."""
    folder = write_ab_trial(tmp_path / "results")
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        monitor = await _monitor(pilot, folder)
        assert monitor.query_one("#abm-results-box").outer_size.height == 4
        errors = monitor.query_one("#abm-errors-box")
        assert errors.outer_size.height <= 10
        assert monitor.query_one("#abm-results-box").outer_size.width < 60


async def test_rate_chart_axes(tmp_path: Path) -> None:
    """calls/s has its own legend entry and a y axis from zero; errors/s have their own
    (right) axis; time runs in seconds."""
    folder = write_ab_trial(tmp_path / "results")
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        monitor = await _monitor(pilot, folder)
        text = str(monitor.query_one("#abm-rate", PlotextPlot).render())
        lines = text.splitlines()
        assert "calls/s" in text and "errors/s" in text
        assert "seconds since start" in text
        tick_line = lines[next(i for i, line in enumerate(lines) if "└" in line) + 1]
        assert tick_line.split() and all(t.isdigit() for t in tick_line.split())  # whole seconds
        left_ticks = [line.split("┤")[0].strip() for line in lines if "┤" in line]
        assert left_ticks[-1] == "0"  # zero-based
        right_ticks = [line.rsplit("├", 1)[1].strip() for line in lines if "├" in line]
        assert right_ticks and float(right_ticks[-1]) == 0.0
        assert max(float(t) for t in right_ticks) < 100  # errors: tens, not calls' thousands
        latency = str(monitor.query_one("#abm-latency", PlotextPlot).render())
        assert "latency (ms)" in latency and "seconds since start" in latency
