"""``?``: every key of the screen underneath and of the app, with what it does."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Markdown

__all__ = ["HelpScreen"]

INTRO = """\
**Filter**: `/` then type. Plain text keeps rows containing it; a comparison is a
pandas query over the report columns (`result > 3 and lr == 0.1`, dotted names in
backticks: `` `result.loss` < 0.2 ``). **Mark** trials with space (or click the left
edge) to compare, plot or delete several. Click a header to sort by it.
`ctrl+p` opens the command palette with every action.
"""


class HelpScreen(ModalScreen[None]):
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

    def compose(self) -> ComposeResult:
        lines = ["| key | action |", "|---|---|"]
        seen = set()
        nodes: list[Any] = [self.for_screen]
        focused = self.for_screen.focused
        if focused is not None:
            nodes.insert(0, focused)
        nodes.append(self.app)
        for node in nodes:
            for bindings in node._bindings.key_to_bindings.values():
                for b in bindings:
                    if not b.description or (b.action, b.description) in seen:
                        continue
                    seen.add((b.action, b.description))
                    keys = b.key_display or b.key
                    about = b.description
                    if b.tooltip and b.tooltip != b.description:
                        about += f": {b.tooltip}"
                    lines.append(f"| `{keys}` | {about} |")
        text = INTRO + "\n" + "\n".join(lines)
        with Vertical(classes="dialog help-dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Markdown(text)

    def action_close(self) -> None:
        """Back to the screen underneath."""
        self.dismiss(None)
