"""The "this folder is someone else's: run its code anyway?" modal, before a resume."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Label, Static

from ..core.ownership import ForeignCode
from .base import BaseModal

__all__ = ["ConfirmForeignScreen"]


class ConfirmForeignScreen(BaseModal[bool]):
    """Shows whose folder it is and the exact module and function that would run;
    dismisses with ``True`` to go on.

    Args:
        foreign: what would be imported and called, and the folder's owner.
        action: ``"resume"`` or ``"rerun"``, as the question names it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,escape", "answer(False)", "No", tooltip="Run nothing"),
    ]

    def __init__(self, foreign: ForeignCode, action: str = "resume") -> None:
        super().__init__(classes="modal")
        self.foreign = foreign
        """What would run."""
        self.action = action
        """The verb shown in the question."""

    def compose(self) -> ComposeResult:
        foreign = self.foreign
        with Vertical(classes="dialog"):
            yield Label(
                f"{self.action.capitalize()} a trial of {foreign.owner}?", classes="dialog-title"
            )
            yield Static(foreign.folder, markup=False, classes="dialog-body")
            yield Static(
                f"module:   {foreign.module}\nfunction: {foreign.function}\nfrom:     "
                f"{foreign.cwd}",
                markup=False,
                id="foreign-code",
                classes="dialog-body",
            )
            yield Static(foreign.text(self.action), markup=False, classes="warning")
            with Horizontal(classes="buttons"):
                yield Button("Run it as me", variant="error", id="yes")
                yield Button("Cancel", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)
