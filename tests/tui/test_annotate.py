"""Tags and notes from the dashboard: the form (``T`` and the palette), the table, the watcher."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static, TextArea
from tui_helpers import loaded, rows, wait_for

import votakvot
from votakvot.annotations import Annotations, read_annotations
from votakvot.exceptions import UnreadableFileWarning
from votakvot.layout import ANNOTATIONS_NAME
from votakvot_tui import make_app
from votakvot_tui.screens.annotate import AnnotateScreen
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(120)


def _row(app, path):
    return next(r for r in rows(app) if r.path == str(path))


async def _open_form(pilot) -> AnnotateScreen:
    pilot.app.screen.query_one(TrialTable).focus()
    await pilot.press("T")
    return await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, AnnotateScreen) and pilot.app.screen
    )


async def test_tag_and_note_the_cursor_trial(sample):
    """``T`` edits the cursor trial's tags and note; the row shows them, a query finds them."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        cursor = app.screen.query_one(TrialTable).record
        form = await _open_form(pilot)
        tags = form.query_one("#annotate-tags", Input)
        await wait_for(pilot, lambda: not tags.disabled)  # the trial's annotations were read
        assert tags.value == ""
        await pilot.press(*"best, bad-seed")
        form.query_one("#annotate-note", TextArea).text = "lr too high\nrerun with 0.05"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AnnotateScreen))
        assert read_annotations(cursor.path) == Annotations(
            ("best", "bad-seed"), "lr too high\nrerun with 0.05"
        )
        await wait_for(pilot, lambda: _row(app, cursor.path).values.get("tags") == "best,bad-seed")
        await wait_for(pilot, lambda: app.screen.view.columns[4:6] == ["tags", "note"])
        app.screen.query_one("#filter", Input).value = 'tags.str.contains("best", na=False)'
        await wait_for(pilot, lambda: [r.path for r in rows(app)] == [cursor.path])

        # Open again: the form shows what is saved; removing a tag there removes it.
        app.screen.query_one("#filter", Input).value = ""
        await loaded(pilot, 6)
        app.screen.query_one(TrialTable).cursor = next(
            i for i, r in enumerate(rows(app)) if r.path == cursor.path
        )
        form = await _open_form(pilot)
        tags = form.query_one("#annotate-tags", Input)
        await wait_for(pilot, lambda: tags.value == "best, bad-seed")
        assert form.query_one("#annotate-note", TextArea).text == "lr too high\nrerun with 0.05"
        tags.value = "best"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, AnnotateScreen))
        assert read_annotations(cursor.path).tags == ("best",)
    assert (trials["train0"] / "votakvot.yaml").exists()


async def test_tag_many_marked_trials(sample):
    """With marked trials, tags are added to each and "remove" takes tags off each."""
    root, trials = sample
    votakvot.annotate(str(trials["train0"]), tags=["old", "keep"], note="mine")
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        table = app.screen.query_one(TrialTable)
        paths = [str(trials["train0"]), str(trials["train1"])]
        table.selected = set(paths)
        form = await _open_form(pilot)
        assert "Tag 2 trials" in str(form.query_one(".dialog-title").render())
        form.query_one("#annotate-tags", Input).value = "lr-sweep"
        form.query_one("#annotate-remove", Input).value = "old"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, AnnotateScreen))
        await wait_for(pilot, lambda: _row(app, paths[1]).values.get("tags") == "lr-sweep")
    assert read_annotations(paths[0]) == Annotations(("keep", "lr-sweep"), "mine")
    assert read_annotations(paths[1]) == Annotations(("lr-sweep",), "")


async def test_a_bad_tag_is_shown_and_nothing_is_written(sample):
    """A tag with a line break or an empty tag list item is said inline; Save writes nothing."""
    root, trials = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        table = app.screen.query_one(TrialTable)
        table.selected = {str(trials["train0"]), str(trials["train1"])}
        form = await _open_form(pilot)
        form.query_one("#annotate-tags", Input).value = "x" * 70
        error = form.query_one("#annotate-error", Static)
        await wait_for(pilot, lambda: "at most 64" in str(error.render()))
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, AnnotateScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AnnotateScreen))
    assert not any((p / ANNOTATIONS_NAME).exists() for p in trials.values())


async def test_a_tag_written_elsewhere_shows_up(sample):
    """The watcher sees a sidecar written by ``votakvot tag`` while the dashboard is open."""
    root, trials = sample
    app = make_app([str(root)])
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        await pilot.pause(0.5)  # the watch is set up beside the scan
        votakvot.annotate(str(trials["failed"]), tags=["flaky"])
        await wait_for(pilot, lambda: _row(app, trials["failed"]).values.get("tags") == "flaky")


async def test_the_palette_offers_tagging(sample):
    """The command palette lists "Tag / note", and it opens the form for the cursor trial."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        command = next(
            c for c in app.get_system_commands(app.screen) if c.title.startswith("Tag / note")
        )
        await command.callback()
        await wait_for(pilot, lambda: isinstance(app.screen, AnnotateScreen))


def test_the_poller_reports_a_sidecar_change(sample):
    """Remote roots are polled: a new or changed sidecar names its trial as changed."""
    from votakvot_tui.core.model import Source
    from votakvot_tui.core.watch import Poller

    root, trials = sample
    poller = Poller([Source(str(root))], lambda changes: None)
    poller.poll_once()
    votakvot.annotate(str(trials["train1"]), tags="best")
    changes = poller.poll_once()
    assert changes.trials == {str(trials["train1"])} and not changes.metrics
    votakvot.annotate(str(trials["train1"]), note="a longer note than before")
    assert poller.poll_once().trials == {str(trials["train1"])}


async def test_a_bad_sidecar_is_named_and_the_row_stays(sample):
    """A sidecar that would run code is not run: the row stays, its error names the file,
    and the form says why it cannot save rather than overwrite what it cannot read."""
    root, trials = sample
    folder = trials["train1"]
    proof = root.parent / "ran"
    (folder / ANNOTATIONS_NAME).write_text(f"!!python/object/apply:os.system ['touch {proof}']\n")
    app = make_app([str(root)], watch=False)
    with pytest.warns(UnreadableFileWarning, match=ANNOTATIONS_NAME):
        await _bad_sidecar_form(app, folder)
    assert not proof.exists()


async def _bad_sidecar_form(app, folder) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 6)
        row = _row(app, folder)
        assert row.state == "done" and ANNOTATIONS_NAME in row.values["error"]
        app.screen.query_one(TrialTable).cursor = next(
            i for i, r in enumerate(rows(app)) if r.path == str(folder)
        )
        form = await _open_form(pilot)
        error = form.query_one("#annotate-error", Static)
        await wait_for(pilot, lambda: "fix or delete the file" in str(error.render()))
        assert form.query_one("#save").disabled
