"""SVG snapshots of the main screens at 80x24, over the fixed sample trials.

Review every changed SVG before accepting it with ``pytest --snapshot-update``.
"""

from __future__ import annotations

import pytest
from test_snapshots_sizes import pin_header, settle, steady_cursors
from tui_helpers import loaded, wait_for

from votakvot_tui import make_app
from votakvot_tui.screens import CompareScreen, DetailScreen, HelpScreen, PlotScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.usefixtures("utc_timezone")


def _app(root):
    app = make_app([str(root)], watch=False)
    app.animation_level = "none"  # a tab's underline slides by timing otherwise
    return app


async def _ready(pilot) -> None:
    await loaded(pilot, 6)
    await settle(pilot)
    pin_header(pilot)


def _stable(run_before):
    """``run_before``, then what differs between runs made the same (see test_snapshots_sizes)."""

    async def run(pilot) -> None:
        await run_before(pilot)
        await settle(pilot)
        steady_cursors(pilot)
        await pilot.pause()

    return run


def test_trials_screen(snap_compare, sample):
    """The table: newest first, state colours, status bar, footer keys."""
    root, _ = sample
    assert snap_compare(_app(root), run_before=_stable(_ready))


def test_trials_screen_query(snap_compare, sample):
    """A pandas query in the filter box, rows sorted by a column, constant columns hidden."""
    root, _ = sample

    async def run_before(pilot) -> None:
        await _ready(pilot)
        screen = pilot.app.screen
        screen.query_one("#filter").value = "lr >= 0.1"
        await wait_for(pilot, lambda: len(screen.view.rows) == 2)
        screen.sort_by("lr")
        screen.action_hide_constant()
        await wait_for(
            pilot, lambda: screen.spec.sort == "lr" and "seed" not in screen.view.columns
        )
        pilot.app.clear_notifications()
        screen.query_one(TrialTable).focus()
        await pilot.pause()

    assert snap_compare(_app(root), run_before=_stable(run_before))


def _open(key_path: str):
    async def run_before(pilot) -> None:
        await _ready(pilot)
        table = pilot.app.screen.query_one(TrialTable)
        table.cursor = next(i for i, r in enumerate(table.view.rows) if key_path in r.path)
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(pilot.app.screen, DetailScreen) and pilot.app.screen.details,
        )
        await pilot.pause()

    return run_before


def test_detail_failed(snap_compare, sample):
    """A failed trial opens on its traceback."""
    root, _ = sample
    assert snap_compare(_app(root), run_before=_stable(_open("00000004")))


def test_detail_yaml(snap_compare, sample):
    """A finished trial opens on its highlighted YAML."""
    root, _ = sample
    assert snap_compare(_app(root), run_before=_stable(_open("00000001")))


def test_plot(snap_compare, sample):
    """The metrics plot of one trial with its series list."""
    root, _ = sample

    async def run_before(pilot) -> None:
        await _ready(pilot)
        table = pilot.app.screen.query_one(TrialTable)
        table.cursor = next(i for i, r in enumerate(table.view.rows) if "00000002" in r.path)
        await pilot.press("p")
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, PlotScreen) and pilot.app.screen.drawn
        )
        await pilot.pause()

    assert snap_compare(_app(root), run_before=_stable(run_before))


def test_compare(snap_compare, sample):
    """Three trainings side by side, differing fields highlighted, only differences."""
    root, trials = sample

    async def run_before(pilot) -> None:
        await _ready(pilot)
        table = pilot.app.screen.query_one(TrialTable)
        table.selected = {str(trials[f"train{i}"]) for i in range(3)}
        await pilot.press("c")
        await wait_for(
            pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.fields
        )
        await pilot.pause()  # it opens on the differences

    assert snap_compare(_app(root), run_before=_stable(run_before))


def test_help(snap_compare, sample):
    """`?` over the trials screen."""
    root, _ = sample

    async def run_before(pilot) -> None:
        await _ready(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
        await pilot.pause(0.2)

    assert snap_compare(_app(root), run_before=_stable(run_before))
