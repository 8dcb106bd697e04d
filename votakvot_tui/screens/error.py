"""A modal that shows an error a worker ran into, so nothing fails silently."""

from __future__ import annotations

import traceback
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Label, Static

from votakvot.storage import redact

from .base import BaseModal

__all__ = ["ErrorScreen"]

SUMMARY_LIMIT = 300
"""Characters of the message shown above the details: Close stays on screen at 80x24."""


class ErrorScreen(BaseModal[None]):
    """What went wrong, with the details folded below.

    Args:
        title: what was being done.
        error: the exception.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "dismiss", "Close", tooltip="Back to where you were"),
    ]

    def __init__(self, title: str, error: BaseException) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error-dialog"):
            yield Label(redact(self.title_text), classes="dialog-title", markup=False)
            # Errors name URLs; their passwords stay out of the dialog (and screenshots).
            summary = redact(f"{type(self.error).__name__}: {self.error}")
            if len(summary) > SUMMARY_LIMIT:  # the whole text is in the details below
                summary = summary[:SUMMARY_LIMIT] + "… (all of it below)"
            yield Static(summary, classes="error-text", markup=False)
            with VerticalScroll(classes="error-details"):
                details = "".join(traceback.format_exception(self.error))
                yield Static(redact(details), markup=False)
            yield Button("Close", variant="primary", id="close", compact=True)

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
