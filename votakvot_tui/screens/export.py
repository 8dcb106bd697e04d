"""The "export to CSV" modal: asks for a file name."""

from __future__ import annotations

import datetime
import os
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label

from .base import BaseModal

__all__ = ["ExportScreen"]


class ExportScreen(BaseModal[str | None]):
    """Asks where to write the shown rows; dismisses with the path or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Do not export"),
    ]

    def __init__(self, default: str | None = None) -> None:
        super().__init__(classes="modal")
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.default = default or os.path.join(os.getcwd(), f"votakvot-{stamp}.csv")
        """The file name offered."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export the shown rows to CSV", classes="dialog-title")
            yield Input(self.default, id="target")
            with Horizontal(classes="buttons"):
                yield Button("Export", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        target = self.query_one("#target", Input).value.strip()
        self.dismiss(target or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without exporting."""
        self.dismiss(None)
