"""A trial's tags and note on its detail screen: shown, edited with ``T``, kept current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static
from tui_helpers import loaded, rows, wait_for

import votakvot
from votakvot.annotations import read_annotations
from votakvot.layout import ANNOTATIONS_NAME
from votakvot_tui import make_app
from votakvot_tui.screens import DetailScreen
from votakvot_tui.screens.annotate import AnnotateScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(120)


async def _open(pilot: Any, folder: Path) -> DetailScreen:
    """The detail screen of ``folder``, read."""
    app = pilot.app
    table = app.screen.query_one(TrialTable)
    table.cursor = next(i for i, r in enumerate(rows(app)) if r.path == str(folder))
    table.focus()
    await pilot.press("enter")
    screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
    await wait_for(pilot, lambda: screen.details is not None)
    return screen


def _shown(screen: DetailScreen) -> str:
    line = screen.query_one("#detail-annotations", Static)
    return str(line.render()) if line.display else ""


async def test_tags_and_note_are_shown(sample):
    """A tagged trial shows its tags and its note under the title; an untagged one
    shows no such line."""
    root, trials = sample
    votakvot.annotate(str(trials["train1"]), tags=["best", "lr-sweep"], note="lowest loss\nkeep")
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        screen = await _open(pilot, trials["train1"])
        text = _shown(screen)
        assert "best, lr-sweep" in text and "lowest loss" in text and "keep" in text
        await pilot.press("escape")
        screen = await _open(pilot, trials["train0"])
        assert _shown(screen) == ""


async def test_T_on_the_detail_screen_edits_and_the_screen_follows(sample):
    """``T`` on the detail screen opens the trial's tag form; once saved, the screen
    shows the new tags and note without a reload by hand."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        screen = await _open(pilot, trials["train2"])
        assert _shown(screen) == ""
        await pilot.press("T")
        form = await wait_for(pilot, lambda: isinstance(app.screen, AnnotateScreen) and app.screen)
        await wait_for(pilot, lambda: form.current is not None)
        await pilot.press(*"good", "tab", *"seed matters")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        assert read_annotations(str(trials["train2"])).tags == ("good",)
        await wait_for(pilot, lambda: "good" in _shown(screen) and "seed matters" in _shown(screen))


async def test_tags_written_elsewhere_show_up(sample):
    """Tags added by ``votakvot.annotate`` while the screen is open appear on it (the
    watcher reports the sidecar), and taking them off hides the line again."""
    root, trials = sample
    app = make_app([str(root)])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        screen = await _open(pilot, trials["failed"])
        await pilot.pause(0.5)  # the watch is set up beside the scan
        votakvot.annotate(str(trials["failed"]), tags=["flaky"])
        await wait_for(pilot, lambda: "flaky" in _shown(screen))
        votakvot.annotate(str(trials["failed"]), remove_tags=["flaky"])
        await wait_for(pilot, lambda: _shown(screen) == "")


async def test_a_bad_sidecar_is_named(sample):
    """A sidecar that cannot be read is named on the screen, with what to do; the rest
    of the trial shows as usual."""
    root, trials = sample
    folder = trials["train0"]
    (folder / ANNOTATIONS_NAME).write_text("tags: [unclosed\n")
    app = make_app([str(root)], watch=False)
    with pytest.warns(votakvot.UnreadableFileWarning):
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot, 6)
            screen = await _open(pilot, folder)
            assert ANNOTATIONS_NAME in _shown(screen)
            assert screen.details is not None and screen.details.data.get("state") == "done"
