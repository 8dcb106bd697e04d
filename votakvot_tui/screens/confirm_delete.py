"""The "really delete these trials?" modal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from .base import BaseModal

__all__ = ["ConfirmDeleteScreen"]

SHOWN = 5
"""Folders listed by name; the rest are counted."""


class ConfirmDeleteScreen(BaseModal[bool]):
    """Asks before trial folders are removed; dismisses with ``True`` to delete.

    Args:
        paths: the trial folders about to be removed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes, delete", tooltip="Remove the folders from disk"),
        Binding("n,escape", "answer(False)", "No", tooltip="Keep them"),
    ]

    def __init__(self, paths: Sequence[str]) -> None:
        super().__init__(classes="modal")
        self.paths = list(paths)
        """The folders to delete."""

    def compose(self) -> ComposeResult:
        count = len(self.paths)
        listed = "\n".join(self.paths[:SHOWN])
        if count > SHOWN:
            listed += f"\n… and {count - SHOWN} more"
        with Vertical(classes="dialog"):
            yield Label(
                f"Delete {count} trial folder{'s' * (count != 1)} from disk?",
                classes="dialog-title",
            )
            yield Static(listed, markup=False, classes="dialog-body")
            yield Static("This cannot be undone.", classes="warning")
            with Horizontal(classes="buttons"):
                yield Button("Delete", variant="error", id="yes")
                yield Button("Keep", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)
