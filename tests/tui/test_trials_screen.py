"""Pilot tests of the main screen: table, filter, sort, status bar, live updates."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

from tui_helpers import T0, loaded, rows, uid, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.screens.trials import TrialsScreen
from votakvot_tui.widgets import StatusBar, TrialTable


def _functions(app) -> list[str]:
    return [r.values["function"] for r in rows(app)]


def _status(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


async def test_rows_newest_first_with_states(sample):
    """Every trial is a row, newest first, an unreadable folder marked with its reason."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        shown = await loaded(pilot, 6)
        assert [r.path for r in shown[:2]] == [str(trials["failed"]), str(trials["interrupted"])]
        states = {r.path: r.state for r in shown}
        assert states[str(trials["unreadable"])] == "unreadable"
        bad = next(r for r in shown if r.state == "unreadable")
        assert "votakvot.yaml" in bad.values["error"] or bad.values["error"]
        table = app.screen.query_one(TrialTable)
        assert table.record is not None and table.record.path == str(trials["failed"])
        assert "lr" in table.view.columns and "result.loss" in table.view.columns
        assert table.view.columns[:4] == ["function", "state", "started", "duration"]
        status = _status(app)
        assert "6/6 shown" in status and "1 failed" in status and "0 running" in status


async def test_text_filter_and_query(sample):
    """The filter box keeps rows containing the text, or rows matching a pandas query."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        await loaded(pilot, 6)
        await pilot.press("slash", *"divide")
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        assert set(_functions(app)) == {"demo.divide"}
        app.screen.query_one("#filter").value = "lr > 0.06 and epochs == 8"
        await wait_for(
            pilot, lambda: sorted(r.values.get("lr", 0) for r in rows(app)) == [0.1, 0.2]
        )
        assert "query" in _mode(app)
        app.screen.query_one("#filter").value = "result.loss < 0.3"
        await wait_for(pilot, lambda: [r.values.get("lr") for r in rows(app)] == [0.2])
        app.screen.query_one("#filter").value = "nosuchcolumn > 1"
        box = app.screen.query_one("#filter-error")
        await wait_for(pilot, lambda: "query not applied" in str(box.render()))
        assert box.display and "there is no column 'nosuchcolumn'" in str(box.render())
        assert len(rows(app)) == 6
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: app.screen.query_one("#filter").value == "")


def _mode(app) -> str:
    return str(app.screen.query_one("#filter-mode").render())


async def test_sort_by_key_and_header_click(sample):
    """`s` walks the sort column, `r` reverses, a header click sorts by that column."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 24)) as pilot:
        await loaded(pilot, 6)
        screen = app.screen
        assert isinstance(screen, TrialsScreen)
        await pilot.press("s")
        await wait_for(pilot, lambda: screen.spec.sort == "function")
        await wait_for(pilot, lambda: _functions(app)[0] == "demo.broken")  # the unreadable one
        await pilot.press("r")
        await wait_for(pilot, lambda: _functions(app)[0] == "demo.train")
        table = screen.query_one(TrialTable)
        x = 2 + sum(table.view.widths[c] + 1 for c in table.view.columns[:4])  # the "lr" column
        assert table.column_at(x) == "lr"
        await pilot.click(TrialTable, offset=(x, 0))
        await wait_for(pilot, lambda: screen.spec.sort == "lr")
        await wait_for(pilot, lambda: rows(app)[0].values.get("lr") == 0.05)
        await pilot.click(TrialTable, offset=(x, 0))
        await wait_for(pilot, lambda: rows(app)[0].values.get("lr") == 0.2)
        await pilot.press("n")
        await wait_for(pilot, lambda: screen.spec.sort is None)


async def test_hide_constant_columns(sample):
    """`h` hides columns with one value in every shown row (here: epochs and seed)."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        await loaded(pilot, 6)
        screen = app.screen
        screen.query_one("#filter").value = "train"
        await wait_for(pilot, lambda: len(rows(app)) == 3)
        table = screen.query_one(TrialTable)
        assert "epochs" in table.view.columns
        await pilot.press("h")
        await wait_for(pilot, lambda: "epochs" not in table.view.columns)
        assert "seed" not in table.view.columns and "lr" in table.view.columns
        await pilot.press("h")
        await wait_for(pilot, lambda: "epochs" in table.view.columns)


async def test_cursor_marks_and_mouse(sample):
    """Arrows move the cursor, space marks (shown in the status bar), a click moves it."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        await loaded(pilot, 6)
        table = app.screen.query_one(TrialTable)
        await pilot.press("down")
        assert table.cursor == 1
        await pilot.press("space", "space")
        assert len(table.selected) == 2 and table.cursor == 3
        await wait_for(pilot, lambda: "2 marked" in _status(app))
        await pilot.press("escape")
        assert not table.selected
        await pilot.click(TrialTable, offset=(10, 3))
        assert table.cursor == 2
        await pilot.press("end")
        assert table.cursor == 5
        await pilot.press("home")
        assert table.cursor == 0
        await pilot.press("a")
        assert len(table.selected) == 6


async def test_live_new_updated_and_deleted_trials(tmp_path: Path):
    """A trial written while the app runs shows up; its new state too; a deleted one goes."""
    root = tmp_path / "live"
    root.mkdir()
    write_trial(root, uid=uid(1))
    app = make_app([str(root)])
    async with app.run_test() as pilot:
        await loaded(pilot, 1)
        folder = write_trial(
            root,
            "demo.slow",
            uid(2),
            when=T0 + datetime.timedelta(hours=1),
            state="running",
            heartbeat=datetime.datetime.now().timestamp(),
        )
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        assert rows(app)[0].state == "running"
        await wait_for(pilot, lambda: "1 running" in _status(app))
        write_trial(root, "demo.slow", uid(2), when=T0 + datetime.timedelta(hours=1), result=42)
        await wait_for(pilot, lambda: rows(app)[0].state == "done")
        assert rows(app)[0].values["result"] == 42
        shutil.rmtree(folder)
        await wait_for(pilot, lambda: len(rows(app)) == 1)


async def test_live_burst_is_batched(tmp_path: Path):
    """Hundreds of trials written at once all arrive, in a few batched refreshes."""
    root = tmp_path / "burst"
    root.mkdir()
    app = make_app([str(root)])
    messages = []
    async with app.run_test(message_hook=messages.append) as pilot:
        await loaded(pilot, 0)
        for i in range(300):
            write_trial(root, "demo.many", uid(i), when=T0 + datetime.timedelta(seconds=i))
        await wait_for(pilot, lambda: len(rows(app)) == 300, timeout=30)
        from votakvot_tui.messages import FilesChanged

        batches = [m for m in messages if isinstance(m, FilesChanged)]
        assert 1 <= len(batches) < 300


async def test_missing_path_says_so(tmp_path: Path):
    """A folder that does not exist is named on screen instead of an empty table."""
    app = make_app([str(tmp_path / "nope")])
    async with app.run_test(notifications=True) as pilot:
        await wait_for(pilot, lambda: not app.scanning)
        table = app.screen.query_one(TrialTable)
        await wait_for(pilot, lambda: "No such folder" in table.empty_text)
        assert str(tmp_path / "nope") in table.empty_text


async def test_glob_path(sample):
    """A glob PATH shows only the trials under matching folders."""
    root, _ = sample
    app = make_app([f"{root}/demo/divide/**"], watch=False)
    async with app.run_test() as pilot:
        shown = await loaded(pilot, 2)
        assert {r.values["function"] for r in shown} == {"demo.divide"}


async def test_big_scan_in_helper_processes(sample, monkeypatch):
    """A big first scan is parsed by helper processes; every trial still arrives once."""
    root, trials = sample
    monkeypatch.setattr("votakvot_tui.app.FIRST_CHUNK", 1)
    monkeypatch.setattr("votakvot_tui.app.PROCESS_CHUNK", 2)
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        shown = await loaded(pilot, 6)
        assert sorted(r.path for r in shown) == sorted(str(p) for p in trials.values())
        assert {r.state for r in shown} == {"done", "failed", "interrupted", "unreadable"}
