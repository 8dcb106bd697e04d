"""The "really delete these trials?" modal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Label, Static

from .base import ConfirmModal

__all__ = ["ConfirmDeleteScreen"]

SHOWN = 5
"""Folders listed by name; the rest are counted."""


class ConfirmDeleteScreen(ConfirmModal):
    """Asks before trial folders are removed; dismisses with ``True`` to delete.

    Args:
        paths: the trial folders about to be removed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes, delete", tooltip="Remove the folders from disk"),
        Binding("n,escape", "answer(False)", "No", tooltip="Keep them"),
    ]

    YES = "Delete"
    NO = "Keep"

    def __init__(self, paths: Sequence[str]) -> None:
        super().__init__()
        self.paths = list(paths)
        """The folders to delete."""

    def body(self) -> ComposeResult:
        count = len(self.paths)
        listed = "\n".join(self.paths[:SHOWN])
        if count > SHOWN:
            listed += f"\n… and {count - SHOWN} more"
        yield Label(
            f"Delete {count} trial folder{'s' * (count != 1)} from disk?",
            classes="dialog-title",
        )
        yield Static(listed, markup=False, classes="dialog-body")
        yield Static("This cannot be undone.", classes="warning")
