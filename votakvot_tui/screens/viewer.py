"""A read-only viewer for one attached file."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Label, TextArea

from .base import BaseScreen

__all__ = ["ViewerScreen", "read_text"]

LIMIT = 2 * 1024 * 1024
"""Bytes of a file shown; a bigger file shows its start and says so."""


def read_text(path: str, name: str, limit: int = LIMIT) -> str:
    """The start of an attached file as text, or why it is not shown as text."""
    from votakvot.trial import Trial

    with Trial(path, {}).attach(name, "rb") as f:
        raw = f.read(limit + 1)
    if b"\x00" in raw[:8192]:
        return f"{name}: binary file ({len(raw):,}+ bytes), not shown"
    text = raw[:limit].decode("utf-8", errors="replace")
    if len(raw) > limit:
        text += f"\n… (only the first {limit:,} bytes are shown)"
    return text


class ViewerScreen(BaseScreen[None]):
    """An attached file as text, scrollable and selectable.

    Args:
        path: the trial folder.
        name: the file's name inside it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to the trial"),
    ]

    def __init__(self, path: str, name: str) -> None:
        super().__init__()
        self.path = path
        """The trial folder."""
        self.file_name = name
        """The attached file shown."""

    def compose(self) -> ComposeResult:
        yield Label(f"{self.file_name}  ({self.path})", id="viewer-title", markup=False)
        yield TextArea("reading…", read_only=True, id="viewer", soft_wrap=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        self.load()

    @work(thread=True, exclusive=True, group="viewer", exit_on_error=False)
    def load(self) -> None:
        """Read the file off the event loop."""
        text = read_text(self.path, self.file_name)
        self.app.call_from_thread(self.query_one(TextArea).load_text, text)

    def action_back(self) -> None:
        """Back to the trial."""
        self.dismiss(None)
