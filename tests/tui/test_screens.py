"""Pilot tests of every screen and action beyond the table itself."""

from __future__ import annotations

import csv
from pathlib import Path

from textual.widgets import DataTable, Input, OptionList, SelectionList, Static, TextArea
from tui_helpers import loaded, rows, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.screens import (
    CompareScreen,
    ConfirmDeleteScreen,
    DetailScreen,
    ErrorScreen,
    ExportScreen,
    HelpScreen,
    PlotScreen,
    ViewerScreen,
)
from votakvot_tui.widgets import TrialTable


async def _cursor_to(pilot, path: Path) -> None:
    table = pilot.app.screen.query_one(TrialTable)
    index = next(i for i, r in enumerate(table.view.rows) if r.path == str(path))
    table.cursor = index


async def test_detail_shows_yaml_traceback_files_metrics(sample):
    """Enter opens the detail screen: YAML, traceback of a failure, files, metrics."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 6)
        await pilot.press("enter")  # the newest: the failed trial
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        assert screen.path == str(trials["failed"])
        assert "ZeroDivisionError" in screen.details.traceback
        assert screen.query_one("TabbedContent").active == "tab-traceback"
        assert "state: failed" in screen.details.yaml
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailScreen))

        await _cursor_to(pilot, trials["train0"])
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        assert screen.details.attached == ["notes.txt"]
        assert list(screen.details.metrics.columns) == ["at", "epoch", "loss"]
        metrics = screen.query_one("#metrics", DataTable)
        assert metrics.row_count == 8
        screen.query_one("TabbedContent").active = "tab-files"
        files = screen.query_one("#files", OptionList)
        files.focus()
        await pilot.pause()
        files.highlighted = 0
        await pilot.press("enter")
        viewer = await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen) and app.screen)
        await wait_for(pilot, lambda: "learning rate 0.05" in viewer.query_one(TextArea).text)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        await pilot.press("y")
        assert app.clipboard == str(trials["train0"])
        await pilot.press("t")
        assert app.clipboard.endswith("00000001-0000-4000-8000-000000000001")


async def test_detail_of_unreadable_trial(sample):
    """An unreadable trial opens too and says why it could not be read."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 6)
        await _cursor_to(pilot, trials["unreadable"])
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        assert screen.details.error
        assert "unreadable" in str(screen.query_one("#yaml", Static).render())


async def test_detail_follows_a_running_trial(tmp_path: Path):
    """The detail screen of a running trial reloads when its metrics grow."""
    root = tmp_path / "r"
    folder = write_trial(root, state="running", metrics=[{"loss": 1.0}])
    app = make_app([str(root)])
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        assert len(screen.details.metrics) == 1
        with open(folder / "votakvot.metrics.00000.csv", "a") as f:
            f.write("1773480500.0,0.5\n")
        await wait_for(pilot, lambda: len(screen.details.metrics) == 2)


async def test_plot_series_x_axis_and_live(sample):
    """`p` plots the trial's metrics; series and x axis can be chosen; new points show."""
    root, trials = sample
    app = make_app([str(root)])
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 6)
        await _cursor_to(pilot, trials["train1"])
        await pilot.press("p")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, PlotScreen) and app.screen)
        await wait_for(pilot, lambda: screen.frames)
        series = screen.query_one("#series", SelectionList)
        # The x axis (epoch) is not offered as a series.
        assert [series.get_option_at_index(i).value for i in range(series.option_count)] == [
            "loss"
        ]
        assert series.selected == ["loss"] and screen.x_axis == "epoch"  # loss over epochs
        series.deselect("loss")
        await wait_for(pilot, lambda: screen._chosen == [])
        series.select("loss")
        await wait_for(pilot, lambda: screen._chosen == ["loss"])
        await pilot.press("x")
        assert screen.x_axis == "loss"
        await pilot.press("x")
        assert screen.x_axis == "row"
        await pilot.press("x")
        assert screen.x_axis == "at"
        await pilot.press("l")
        assert screen.log_y
        with open(trials["train1"] / "votakvot.metrics.00000.csv", "a") as f:
            f.write("1773480600.0,8,0.4\n")
        await wait_for(pilot, lambda: len(screen.frames[str(trials["train1"])]) == 9)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PlotScreen))


async def test_compare_marked_trials(sample):
    """Space marks trials; `c` compares them, differences first-class, `d` only those."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 6)
        await pilot.press("c")  # nothing marked: a warning, no screen
        assert not isinstance(app.screen, CompareScreen)
        table = app.screen.query_one(TrialTable)
        table.selected = {str(trials["train0"]), str(trials["train2"])}
        await pilot.press("c")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen)
        await wait_for(pilot, lambda: screen.fields)
        assert screen.differs("params.lr") and not screen.differs("params.epochs")
        assert screen.fields["metrics.loss"][0] != screen.fields["metrics.loss"][1]
        grid = screen.query_one(DataTable)
        assert screen.only_differences  # it opens on the differences; `d` shows all rows
        assert "params.epochs" not in [str(k.value) for k in grid.rows]
        assert "params.lr" in [str(k.value) for k in grid.rows]
        differences = grid.row_count
        await pilot.press("d")
        assert grid.row_count > differences
        await pilot.press("p")
        plot = await wait_for(pilot, lambda: isinstance(app.screen, PlotScreen) and app.screen)
        await wait_for(pilot, lambda: len(plot.frames) == 2)
        assert plot._chosen == ["loss"]


async def test_delete_asks_then_removes_folders(sample):
    """`d` asks first; `n` keeps the trial, `y` removes its folder and its row."""
    root, trials = sample
    app = make_app([str(root)])
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 6)
        await _cursor_to(pilot, trials["interrupted"])
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDeleteScreen))
        assert trials["interrupted"].exists()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDeleteScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(rows(app)) == 5)
        assert not trials["interrupted"].exists()
        assert trials["failed"].exists()


async def test_export_csv(sample, tmp_path: Path):
    """`e` asks for a file name and writes the shown rows there."""
    root, _ = sample
    target = tmp_path / "out.csv"
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 6)
        app.screen.query_one("#filter", Input).value = "train"
        await wait_for(pilot, lambda: len(rows(app)) == 3)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("e")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen)
        modal.query_one("#target", Input).value = str(target)
        await pilot.press("enter")
        await wait_for(pilot, target.exists)
    with open(target) as f:
        data = list(csv.DictReader(f))
    assert [row["lr"] for row in data] == ["0.2", "0.1", "0.05"]
    assert "path" in data[0] and "result.loss" in data[0]


async def test_copy_path_tid_and_code(sample):
    """`y`, `t` and `x` copy the folder, the tid and the pandas line of the view."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        await loaded(pilot, 6)
        await pilot.press("y")
        assert app.clipboard == str(trials["failed"])
        await pilot.press("t")
        assert app.clipboard.startswith("demo/divide/26-03-14/")
        app.screen.query_one("#filter", Input).value = "lr > 0.06"
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        app.screen.query_one(TrialTable).focus()
        await pilot.press("x")
        assert app.clipboard == (
            f"votakvot.load_report({str(root)!r}).query('lr > 0.06')"
            ".sort_values('created', ascending=False)"
        )


async def test_help_and_command_palette(sample):
    """`?` lists the keys with what they do; the palette offers every described action."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 40)) as pilot:
        await loaded(pilot, 6)
        await pilot.press("question_mark")
        help_screen = await wait_for(
            pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen
        )
        text = " ".join(f"{keys} {about}" for keys, about in help_screen.rows)
        for words in ("c Compare:", "d Delete:", "e Export CSV:", "x Copy as code:", "? Help"):
            assert words in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HelpScreen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Compare (c)",
            "Export CSV (e)",
            "Copy as code (x)",
            "Sort by lr",
            "Help (?)",
        ):
            assert title in titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Sort by lr")
        command.callback()
        await wait_for(pilot, lambda: app.screen.spec.sort == "lr")


async def test_worker_failure_becomes_error_modal(sample, monkeypatch):
    """A failing worker (here: reading a trial for the detail screen) shows an error dialog."""
    root, _ = sample

    def broken(path):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("votakvot_tui.screens.detail.load_details", broken)
    app = make_app([str(root)], watch=False)
    async with app.run_test() as pilot:
        await loaded(pilot, 6)
        await pilot.press("enter")
        modal = await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen) and app.screen)
        assert "disk on fire" in str(modal.error)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
