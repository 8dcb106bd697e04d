"""The "this folder is someone else's: run its code anyway?" modal, before a resume."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Label, Static

from ..core.ownership import ForeignCode
from .base import ConfirmModal

__all__ = ["ConfirmForeignScreen"]


class ConfirmForeignScreen(ConfirmModal):
    """Shows whose folder it is and the exact module and function that would run;
    dismisses with ``True`` to go on.

    Args:
        foreign: what would be imported and called, and the folder's owner.
        action: ``"resume"`` or ``"rerun"``, as the question names it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n,escape", "answer(False)", "No", tooltip="Run nothing"),
    ]

    YES = "Run it as me"
    NO = "Cancel"

    def __init__(self, foreign: ForeignCode, action: str = "resume") -> None:
        super().__init__()
        self.foreign = foreign
        """What would run."""
        self.action = action
        """The verb shown in the question."""

    def body(self) -> ComposeResult:
        foreign = self.foreign
        yield Label(
            f"{self.action.capitalize()} a trial of {foreign.owner}?", classes="dialog-title"
        )
        yield Static(foreign.folder, markup=False, classes="dialog-body")
        yield Static(
            f"module:   {foreign.module}\nfunction: {foreign.function}\nfrom:     {foreign.cwd}",
            markup=False,
            id="foreign-code",
            classes="dialog-body",
        )
        yield Static(foreign.text(self.action), markup=False, classes="warning")
