"""Tag trials and write a note, after the fact (``T`` on the trials table).

What is typed goes through :func:`votakvot.annotate`: a sidecar file next to each
trial's record, written atomically, the record itself never touched. One trial: the
form shows its tags and note and saves them as typed. Several marked trials: the
tags typed are added to each, those under "remove" taken off, and a note typed
replaces each one's note (left empty, notes stay as they are).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static, TextArea

from votakvot.annotations import Annotations, annotate, read_annotations, split_tags

from ..core.model import read_records
from .base import BaseModal
from .form import EARLY_FOCUS_KEYS, EarlyKeys, FormInput, FormTextArea

__all__ = ["AnnotateScreen"]


class AnnotateScreen(EarlyKeys, BaseModal[int | None]):
    """The tags and note of the trials in ``paths``; dismisses with how many were saved.

    What is typed before the fields are there (``T`` then text at once, or while the
    one trial's tags are read) goes into them in order (:class:`EarlyKeys`).

    Args:
        paths: trial folders: the cursor's trial, or every marked one.
        labels: how to name them in the title (their tids), in the same order.
    """

    CSS_PATH = "annotate.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the tags and the note"),
        *EARLY_FOCUS_KEYS,
    ]

    def __init__(self, paths: Sequence[str], labels: Sequence[str] = ()) -> None:
        super().__init__(classes="modal")
        self.paths = list(paths)
        """The trials annotated."""
        self.labels = list(labels) or self.paths
        """Their tids (or folders), for the title."""
        self.current: Annotations | None = None
        """The one trial's annotations once read (``None`` for several trials)."""

    @property
    def single(self) -> bool:
        """One trial: the form edits its tags and note as they are."""
        return len(self.paths) == 1

    def compose(self) -> ComposeResult:
        count = len(self.paths)
        if self.single:
            title, which = "Tags and note", self.labels[0]
        else:
            which = ", ".join(self.labels[:2]) + (f" and {count - 2} more" if count > 2 else "")
            title = f"Tag {count} trials"
        with Vertical(classes="dialog annotate-dialog"):
            yield Label(title, classes="dialog-title")
            yield Static(which, id="annotate-which", markup=False)
            with Grid(id="annotate-grid"):
                yield Label("tags" if self.single else "add tags")
                yield FormInput(
                    placeholder="best, bad-seed", id="annotate-tags", disabled=self.single
                )
                if not self.single:
                    yield Label("remove tags")
                    yield FormInput(placeholder="old, wrong", id="annotate-remove")
            yield Label(
                "note" if self.single else "note (replaces each one's; empty keeps them)",
                classes="annotate-note-label",
            )
            yield FormTextArea(id="annotate-note", disabled=self.single, soft_wrap=True)
            yield Static(
                "reading…" if self.single else "", id="annotate-error", classes="error-text"
            )
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save", disabled=self.single)
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self.single:
            self.load()
        else:
            self.fields_ready(self.query_one("#annotate-tags", Input))

    @work(thread=True, exclusive=True, group="annotate", exit_on_error=False)
    def load(self) -> None:
        """Read the one trial's annotations (off the event loop: it may be remote)."""
        try:
            current = read_annotations(self.paths[0])
        except Exception as exc:  # a bad sidecar: said, and saving stays off (nothing lost)
            self.app.call_from_thread(self.show_error, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._show, current)

    def _show(self, current: Annotations) -> None:
        self.current = current
        tags = self.query_one("#annotate-tags", Input)
        tags.value = ", ".join(current.tags)
        note = self.query_one("#annotate-note", TextArea)
        note.text = current.note
        for widget in (tags, note, self.query_one("#save", Button)):
            widget.disabled = False
        self.show_error("")
        self.fields_ready(tags)

    def show_error(self, text: str) -> None:
        """Say what is wrong below the form ("" clears it)."""
        self.query_one("#annotate-error", Static).update(text)

    @on(Input.Changed)
    def _check(self) -> None:
        """Check the tag lists as they are typed: a mistake shows before Save."""
        try:
            self._tags()
        except ValueError as exc:
            self.show_error(str(exc))
        else:
            self.show_error("")

    def _tags(self) -> tuple[list[str], list[str]]:
        add = split_tags(self.query_one("#annotate-tags", Input).value)
        if self.single:
            assert self.current is not None
            return add, [t for t in self.current.tags if t not in add]
        return add, split_tags(self.query_one("#annotate-remove", Input).value)

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Write the annotations of every trial (in a thread), then close."""
        if self.single and self.current is None:
            return  # still reading, or the sidecar could not be read
        try:
            add, remove = self._tags()
        except ValueError as exc:
            self.show_error(str(exc))
            return
        text = self.query_one("#annotate-note", TextArea).text
        note = text if self.single or text.strip() else None
        self.query_one("#save", Button).disabled = True
        self.show_error("saving…")
        self.save(add, remove, note)

    @work(thread=True, exclusive=True, group="annotate", exit_on_error=False)
    def save(self, add: list[str], remove: list[str], note: str | None) -> None:
        """Annotate each trial, then read the rows again so the table shows it at once.

        The watcher would notice the new sidecars too, but not on a remote root
        before its next poll, nor when watching is off.
        """
        failed: dict[str, str] = {}
        for path in self.paths:
            try:
                annotate(path, tags=add, note=note, remove_tags=remove)
            except Exception as exc:  # each trial on its own: one bad sidecar spoils no other
                failed[path] = f"{type(exc).__name__}: {exc}"
        done = [p for p in self.paths if p not in failed]
        apply = getattr(self.app, "apply", None)
        if done and callable(apply):
            records = read_records(done, getattr(self.app, "storage_options", None))
            self.app.call_from_thread(apply, records, done, ())
        self.app.call_from_thread(self._saved, len(done), failed)

    def _saved(self, count: int, failed: dict[str, str]) -> None:
        if failed:
            self.query_one("#save", Button).disabled = False
            lines = [f"{path}: {why}" for path, why in list(failed.items())[:3]]
            more = f"\n… and {len(failed) - 3} more" if len(failed) > 3 else ""
            self.show_error(f"saved {count}, not saved {len(failed)}:\n" + "\n".join(lines) + more)
            return
        self.app.notify(f"annotated {count} trial{'s' * (count != 1)}", title="Tags and note")
        self.dismiss(count)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)
