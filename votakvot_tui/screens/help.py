"""``?``: every key of the screen underneath and of the app, with what it does."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Label, Static

from .base import BaseModal

__all__ = ["HelpScreen"]

INTRO = (
    "[b]/[/b] filters: plain text keeps rows containing it; a comparison is a pandas "
    "query over the report's columns ([i]result > 3 and lr == 0.1[/i], "
    "[i]result.loss < 0.2[/i]). [b]space[/b] marks trials (or click the left edge) to "
    "compare, plot or delete several. Click a header to sort. [b]ctrl+p[/b]: every action."
)


def _keys(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "delete": "del", "escape": "esc"}
    return " ".join(names.get(k, k) for k in keys.split(","))


class HelpScreen(BaseModal[None]):
    """Keys of ``screen`` and of the app, made from their bindings (never out of date).

    Args:
        screen: the screen the help is for.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", tooltip="Back"),
    ]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__(classes="modal")
        self.for_screen = screen
        """The screen whose keys are listed."""
        self.rows: list[tuple[str, str]] = []
        """``(keys, what they do)`` as listed."""

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        table.add_column("key", style="bold", no_wrap=True)
        table.add_column("action", ratio=1)
        seen = set()
        nodes: list[Any] = [self.for_screen]
        focused = self.for_screen.focused
        if focused is not None:
            nodes.append(focused)
        nodes.append(self.app)
        for node in nodes:
            for bindings in node._bindings.key_to_bindings.values():
                for b in bindings:
                    if not b.description or (not b.show and not b.tooltip):
                        continue  # Textual's own hidden keys (tab, scrolling) are no news
                    if (b.action, b.description) in seen:
                        continue
                    seen.add((b.action, b.description))
                    about = b.description
                    if b.tooltip and b.tooltip != b.description:
                        about += f": {b.tooltip}"
                    self.rows.append((_keys(b.key_display or b.key), about))
                    table.add_row(*self.rows[-1])
        with Vertical(classes="dialog help-dialog"):
            yield Label("Keys (escape to close)", classes="dialog-title")
            with VerticalScroll():
                yield Static(Text.from_markup(INTRO), classes="help-intro")
                yield Static(table)

    def action_close(self) -> None:
        """Back to the screen underneath."""
        self.dismiss(None)
