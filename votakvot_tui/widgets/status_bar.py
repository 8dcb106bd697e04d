"""One line at the bottom of the trials screen: counts, filter state, sort."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["StatusBar"]


class StatusBar(Static):
    """Shown/total, running, failed, what the filter did, and the sort order."""

    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    """

    def show(
        self,
        *,
        shown: int,
        total: int,
        counts: dict[str, int],
        selected: int = 0,
        sort: str = "",
        note: str = "",
        loading: bool = False,
    ) -> None:
        """Redraw with these figures."""
        text = Text()
        text.append(f"{shown:,}", style="bold")
        text.append(f"/{total:,} shown")
        if loading:
            text.append(" (loading…)", style="italic")
        for state, style in (
            ("running", "bold $primary"),
            ("failed", "bold $error"),
            ("stale", "$warning"),
            ("unreadable", "$error"),
        ):
            count = counts.get(state, 0)
            if count or state in ("running", "failed"):
                text.append(" · ")
                text.append(f"{count:,} {state}", style=_rich(style) if count else "")
        if selected:
            text.append(f" · {selected} marked", style="bold")
        if sort:
            text.append(f" · {sort}")
        if note:
            text.append(" · ")
            text.append(note, style="bold red")
        text.no_wrap = True
        text.overflow = "ellipsis"
        self.update(text)


def _rich(style: str) -> str:
    # Rich styles cannot name theme variables; these are close to the default theme.
    return (
        style.replace("$primary", "dodger_blue2")
        .replace("$error", "red")
        .replace("$warning", "yellow")
    )
