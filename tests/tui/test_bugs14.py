"""Pilot tests of the dashboard bugs of issue 14 (table, forms, palette, detail)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from textual import events
from textual.widgets import DataTable, Input, OptionList, TabbedContent
from tui_helpers import T0, loaded, rows, uid, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.screens import DetailScreen
from votakvot_tui.screens.launch_ab import LaunchAbScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(120)


def _wide_trials(root: Path, count: int) -> None:
    """``count`` trials with many params: the table scrolls sideways at 80 columns."""
    for i in range(count):
        params = {f"param_number_{k}": i * 100 + k for k in range(8)}
        write_trial(
            root, "demo.wide", uid(i + 1), when=T0 + datetime.timedelta(minutes=i), params=params
        )


async def test_last_row_not_under_the_horizontal_scrollbar(tmp_path: Path):
    """`G` puts the last row on screen above the horizontal scrollbar, not under it."""
    _wide_trials(tmp_path, 40)
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 40)
        table = app.screen.query_one(TrialTable)
        assert table.show_horizontal_scrollbar
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor == 39
        line = table.cursor - round(table.scroll_y) + 1  # the header is line 0
        assert 0 < line < table.scrollable_content_region.height
        await pilot.press("g", "pagedown")
        await pilot.pause()
        line = table.cursor - round(table.scroll_y) + 1
        assert 0 < line < table.scrollable_content_region.height


def _burst(app, keys: list[str]) -> None:
    """Keys arriving in one read from the terminal: posted without waiting in between."""
    for key in keys:
        char = {"tab": "\t", "shift+tab": None, "slash": "/", "backspace": "\x7f"}.get(key, key)
        app.post_message(events.Key(key, char))


async def test_tab_right_after_typing_moves_to_the_next_field(tmp_path: Path):
    """``fakeml.sleepy``, Tab and ``ms=5`` typed at once land in two fields, not one."""
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(LaunchAbScreen(str(tmp_path)))
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, LaunchAbScreen) and app.screen
        )
        await wait_for(pilot, lambda: any(w.has_focus for w in screen.query("#callable")))
        _burst(app, [*"fakeml.sleepy", "tab", *"ms=5", "shift+tab"])
        await wait_for(pilot, lambda: screen.query_one("#args", Input).value)
        await pilot.pause()
        assert screen.query_one("#callable", Input).has_focus
        assert screen.query_one("#callable", Input).value == "fakeml.sleepy"
        assert screen.query_one("#args", Input).value == "ms=5"


async def test_palette_screenshot_goes_to_the_current_folder(tmp_path: Path, monkeypatch):
    """The palette's Screenshot saves into the current folder (no ~/Downloads needed)."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(home / "Downloads"))
    monkeypatch.chdir(work)
    app = make_app([str(tmp_path / "none")], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Screenshot")
        command.callback()
        await wait_for(pilot, lambda: list(work.glob("*.svg")))
        saved = next(work.glob("*.svg"))
        await wait_for(pilot, lambda: any(str(saved) in str(n.message) for n in app._notifications))
        assert not (home / "Downloads").exists()
        assert "<svg" in saved.read_text()


async def test_detail_keys_files_yaml_end_metrics_pageup(sample):
    """Files opens with the first file highlighted (Enter opens it); End scrolls the
    YAML to its end; PgUp moves up in the metrics."""
    root, _ = sample
    folder = write_trial(
        root,
        "demo.long",
        uid(9),
        when=T0 + datetime.timedelta(minutes=30),
        params={f"p{k}": k for k in range(80)},
        metrics=[{"epoch": e, "loss": 1 / (e + 1)} for e in range(200)],
        files={"a.txt": "first file\n", "b.txt": "second\n"},
    )
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 7)
        await pilot.press("enter")  # the newest: the long one
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        assert screen.path == str(folder)
        tabs = screen.query_one(TabbedContent)
        yaml_scroll = screen.query_one("#tab-yaml VerticalScroll")
        await wait_for(pilot, lambda: yaml_scroll.max_scroll_y > 0)
        await pilot.press("end")
        await wait_for(pilot, lambda: yaml_scroll.scroll_y == yaml_scroll.max_scroll_y)

        tabs.active = "tab-metrics"
        await pilot.pause()
        metrics = screen.query_one("#metrics", DataTable)
        await wait_for(pilot, lambda: metrics.cursor_row == metrics.row_count - 1 > 100)
        await pilot.press("pageup")
        await wait_for(pilot, lambda: metrics.cursor_row < metrics.row_count - 5)

        tabs.active = "tab-files"
        await pilot.pause()
        files = screen.query_one("#files", OptionList)
        assert files.highlighted == 0
        await pilot.press("enter")
        from votakvot_tui.screens import ViewerScreen

        await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen))


async def test_rerun_form_checks_every_field_as_a_literal(tmp_path: Path, monkeypatch):
    """An emptied field or bare text is refused inline with what is allowed; Run stays
    disabled (and Enter refuses) until all fields are literals; the changes show."""
    from textual.widgets import Button, Static

    from votakvot_tui.screens.rerun import RerunScreen

    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    write_trial(tmp_path / "results", "json.dumps", params={"obj": [1, 2], "indent": 2})
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("E")
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, RerunScreen) and app.screen.checked and app.screen
        )
        run = screen.query_one("#run", Button)
        diff = screen.query_one("#rerun-diff", Static)
        assert not run.disabled
        assert "same params" in str(diff.render())
        indent = next(f for f in screen.query("#rerun-grid Input") if f.name == "indent")
        indent.value = ""
        error = screen.query_one(f"#{indent.id}-error", Static)
        await wait_for(pilot, lambda: "empty" in str(error.render()))
        assert "Python literal" in str(error.render()) and indent.has_class("-invalid")
        assert run.disabled
        indent.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "not run" in str(screen.query_one("#rerun-error").render()))
        assert app.job_manager.list_jobs() == []
        indent.value = "four"
        await wait_for(pilot, lambda: "quote text ('four')" in str(error.render()))
        indent.value = "4"
        extra = screen.query_one("#rerun-extra", Input)
        extra.value = "sort_keys=True"
        await wait_for(pilot, lambda: not run.disabled)
        assert not error.display and not indent.has_class("-invalid")
        assert "indent: 2 → 4" in str(diff.render())
        assert "+ sort_keys=True" in str(diff.render())
        extra.value = "indent=3"
        extra_error = screen.query_one("#rerun-extra-error", Static)
        await wait_for(pilot, lambda: "in the form above" in str(extra_error.render()))
        assert run.disabled
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RerunScreen))
        assert app.job_manager.list_jobs() == []


async def test_detail_traceback_highlighted_and_tab_keys_in_footer(sample):
    """The traceback is drawn as Python's (highlighted), the footer names the tab keys,
    and ] / [ / 1-5 move between the tabs."""
    from rich.syntax import Syntax
    from textual.widgets import Footer, Static

    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 6)
        await pilot.press("enter")  # the newest: the failed trial
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        shown = screen.query_one("#traceback", Static).content
        assert isinstance(shown, Syntax) and shown.lexer is not None
        assert "Traceback" in shown.lexer.name
        keys = {b.binding.description for b in screen.active_bindings.values() if b.binding.show}
        assert {"Next tab", "Prev tab"} <= keys
        assert screen.query_one(Footer).display
        tabs = screen.query_one(TabbedContent)
        await wait_for(pilot, lambda: tabs.active == "tab-traceback")
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: tabs.active == "tab-files")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: tabs.active == "tab-yaml")
        await pilot.press("4")
        await wait_for(pilot, lambda: tabs.active == "tab-metrics")


async def test_a_multi_line_paste_keeps_every_line(tmp_path: Path):
    """Pasting ``x=1`` and ``y=2`` on two lines into a form field keeps both (Textual's
    Input kept the first line only)."""
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(LaunchAbScreen(str(tmp_path)))
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, LaunchAbScreen) and app.screen
        )
        await wait_for(pilot, lambda: any(w.has_focus for w in screen.query("#callable")))
        args = screen.query_one("#args", Input)
        args.focus()
        await pilot.pause()
        app.post_message(events.Paste("x=1\ny=2\tz=3\n"))
        await wait_for(pilot, lambda: args.value)
        assert args.value == "x=1 y=2 z=3"


async def test_keys_typed_right_after_the_key_that_opens_a_form(sample):
    """``b`` then ``fakeml.sleepy`` Tab ``ms=5`` at once fill the launch form (they reached
    the table or nowhere); ``/divide`` at once filters (``d`` was the delete key)."""
    from votakvot_tui.screens.trials import TrialsScreen

    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        trials = app.screen
        assert isinstance(trials, TrialsScreen)
        _burst(app, ["slash", *"divide"])
        await wait_for(pilot, lambda: trials.query_one("#filter", Input).value == "divide")
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        assert app.screen is trials and not trials.table.selected
        await pilot.press("escape")  # back to the table
        await wait_for(pilot, lambda: trials.table.has_focus)
        _burst(app, ["b", *"fakeml.sleepyy", "backspace", "tab", *"ms=5"])
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, LaunchAbScreen) and app.screen
        )
        await wait_for(pilot, lambda: screen.query_one("#args", Input).value == "ms=5")
        assert screen.query_one("#callable", Input).value == "fakeml.sleepy"
        assert trials.spec.sort is None and not trials.table.selected
        await pilot.press("backspace", "backspace", *"x=1")  # editing as usual once open
        assert screen.query_one("#args", Input).value == "msx=1"
