"""Keys typed at once after the key that opens a form land in the form, not on the table.

Each test posts the opening key and the text in one go (as a fast typist, a paste or
a script does: the keys arrive in one read from the terminal), then checks the text
is in the form's first field and the table behind it did not move its cursor, mark,
sort or open anything. The text holds table keys on purpose (``j`` down, ``a`` mark
all, ``s`` sort, ``g`` top, ``e`` export, space mark).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.widgets import Input, TextArea
from tui_helpers import loaded, wait_for

from votakvot.annotations import read_annotations
from votakvot_tui import make_app
from votakvot_tui.screens import DetailScreen
from votakvot_tui.screens.annotate import AnnotateScreen
from votakvot_tui.screens.export import ExportScreen
from votakvot_tui.screens.sweep import SweepScreen
from votakvot_tui.screens.trials import TrialsScreen

pytestmark = pytest.mark.timeout(120)


def _burst(app: Any, keys: list[str]) -> None:
    """Keys arriving in one read from the terminal: posted without waiting in between."""
    names = {" ": "space", ",": "comma", "(": "left_parenthesis", ")": "right_parenthesis"}
    names |= {"-": "minus", ".": "full_stop", "/": "slash"}
    for key in keys:
        char = {"tab": "\t", "shift+tab": None, "backspace": "\x7f"}.get(key, key)
        app.post_message(events.Key(names.get(key, key), char))


async def _trials(pilot: Any) -> TrialsScreen:
    await loaded(pilot, 6)
    screen = pilot.app.screen
    assert isinstance(screen, TrialsScreen)
    await wait_for(pilot, lambda: screen.table.has_focus)
    return screen


def _table_state(trials: TrialsScreen) -> tuple[Any, ...]:
    return trials.table.cursor, set(trials.table.selected), trials.spec


async def test_tag_typed_right_after_T(sample):
    """``T`` then ``ja, sk`` Tab ``a note`` at once: the tags field and the note get the
    text; the table's cursor, marks and sort stay."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        trials = await _trials(pilot)
        before = _table_state(trials)
        _burst(app, ["T", *"ja, sk", "tab", *"a note"])
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, AnnotateScreen) and app.screen
        )
        note = screen.query_one("#annotate-note", TextArea)
        await wait_for(pilot, lambda: note.text == "a note")
        assert screen.query_one("#annotate-tags", Input).value == "ja, sk"
        assert _table_state(trials) == before
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AnnotateScreen))
        saved = read_annotations(trials.table.record.path)
        assert (list(saved.tags), saved.note) == (["ja", "sk"], "a note")


async def test_tags_typed_right_after_T_with_marked_trials(sample):
    """With marked trials the form has no read to wait for; typing still lands in it."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        trials = await _trials(pilot)
        await pilot.press("space", "space")
        await wait_for(pilot, lambda: len(trials.table.selected) == 2)
        before = _table_state(trials)
        _burst(app, ["T", *"ja", "tab", *"sa"])
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, AnnotateScreen) and app.screen
        )
        await wait_for(pilot, lambda: screen.query_one("#annotate-remove", Input).value == "sa")
        assert screen.query_one("#annotate-tags", Input).value == "ja"
        assert _table_state(trials) == before


async def test_values_typed_right_after_S(sample):
    """``S`` then ``range(3)`` at once: the sweep form's first field holds it (it replaces
    the recorded value, as typing into a freshly focused field does)."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        trials = await _trials(pilot)
        await pilot.press("j", "j")  # a training trial: params lr, epochs, seed
        await wait_for(pilot, lambda: "/train/" in trials.table.record.tid)
        before = _table_state(trials)
        _burst(app, ["S", *"range(3)", "tab", *"[8, 9]"])
        screen = await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen)
        await wait_for(pilot, lambda: screen.query("#sweep-1"))
        first, second = screen.query_one("#sweep-0", Input), screen.query_one("#sweep-1", Input)
        await wait_for(pilot, lambda: second.value == "[8, 9]")
        assert first.value == "range(3)"
        assert _table_state(trials) == before
        await pilot.press(*"0")  # typing as usual once open: after the text, not over it
        assert second.value == "[8, 9]0"


async def test_file_name_typed_right_after_e(sample, tmp_path: Path):
    """``e`` then a file name at once: the export form's field holds just that name."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        trials = await _trials(pilot)
        before = _table_state(trials)
        _burst(app, ["e", *"ja-sg.csv"])
        screen = await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen) and app.screen)
        field = screen.query_one("#target", Input)
        await wait_for(pilot, lambda: field.value == "ja-sg.csv")
        assert _table_state(trials) == before


async def test_tag_typed_right_after_T_on_the_detail_screen(sample):
    """``T`` on a trial's detail screen opens its tag form; text typed at once lands there."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        trials = await _trials(pilot)
        path = trials.table.record.path
        await pilot.press("enter")
        detail = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: detail.details is not None)
        _burst(app, ["T", *"p1m"])
        screen = await wait_for(
            pilot, lambda: isinstance(app.screen, AnnotateScreen) and app.screen
        )
        tags = screen.query_one("#annotate-tags", Input)
        await wait_for(pilot, lambda: tags.value == "p1m")
        assert screen.paths == [path]
        assert app.screen_stack[-2] is detail
