"""One line at the bottom of the trials screen: counts, filter state, sort."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

__all__ = ["StatusBar"]


class StatusBar(Static):
    """Cursor position, shown/total, the states of the shown rows, hidden columns,
    marks, sort and the error of the trial under the cursor."""

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
        row: int | None = None,
        hidden: int = 0,
        offscreen: tuple[int, int] = (0, 0),
    ) -> None:
        """Redraw with these figures.

        Args:
            shown: rows the filter kept.
            total: trials known.
            counts: state -> number among the shown rows.
            selected: marked rows.
            sort: the order, when the header cannot say it.
            note: an error to show in red (the trial under the cursor).
            loading: the scan still runs.
            row: the cursor's row (0-based), ``None`` without rows.
            hidden: columns hidden because they are the same in every row.
            offscreen: columns scrolled out of view on the left and on the right.
        """
        text = Text()
        if row is not None and shown:
            text.append(f"row {row + 1:,}/{shown:,}", style="bold")
            text.append(" · ")
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
        left, right = offscreen
        if left or right:
            text.append(" · ")
            more = f"←{left} " if left else ""
            text.append(f"{more}columns{f' {right}→' if right else ''}", style="bold")
        if hidden:
            text.append(" · ")
            text.append(
                f" {hidden} same-value column{'s' * (hidden != 1)} hidden (h) ", style="reverse"
            )
        if selected:
            text.append(f" · {selected:,} marked", style="bold")
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
