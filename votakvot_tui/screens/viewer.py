"""A read-only viewer for one attached file."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Label, TextArea

from votakvot.storage import redact

from ..core._files import LIMIT, read_start
from ..widgets.trial_table import fit_middle
from .base import ReadingScreen

__all__ = ["ViewerScreen", "read_text"]


def read_text(path: str, name: str, limit: int = LIMIT) -> str:
    """The start of an attached file as text, or why it is not shown as text.

    Only regular files are opened (a FIFO would block, a device never end) and at
    most ``limit`` bytes are read; JSON, CSV and logs show as they are. A symbolic
    link that leads out of the trial folder is not followed: whoever wrote a shared
    folder could point it at any file of the person looking.
    """
    from votakvot.layout import link_outside, safe_relative

    try:
        name = safe_relative(name)
    except ValueError as exc:
        return str(exc)
    target = link_outside(path, name)
    if target is not None:
        return (
            f"{name}: a symbolic link to {target}, outside the trial folder: not shown. "
            "Copy the file into the trial folder to see it here"
        )
    start = read_start(path, name, limit)
    if start.missing:
        return f"{name}: not there any more (deleted?)"
    if start.error:
        return start.error
    if start.binary:
        size = f"{start.size:,}" if start.size is not None else "?"
        return f"{name}: binary file ({size} bytes), not shown"
    return start.text()


class ViewerScreen(ReadingScreen[str]):
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
        yield Label(self._title(80), id="viewer-title", markup=False)
        yield TextArea("reading…", read_only=True, id="viewer", soft_wrap=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()
        self.reload()

    def on_resize(self) -> None:
        self.query_one("#viewer-title", Label).update(self._title(self.size.width))

    def _title(self, width: int) -> Text:
        """The file's name, then its trial folder cut in the middle to fit on one line."""
        title = Text(self.file_name, style="bold", no_wrap=True, overflow="ellipsis")
        room = max(width - len(self.file_name) - 6, 12)
        title.append(f"  {fit_middle(redact(self.path), room).rstrip()}", style="dim")
        return title

    READ_GROUP = "viewer"

    def read(self) -> str:
        """The file's text (its start, for a big file)."""
        return read_text(self.path, self.file_name)

    def show(self, text: str) -> None:
        self.query_one(TextArea).load_text(text)

    def action_back(self) -> None:
        """Back to the trial."""
        self.dismiss(None)
