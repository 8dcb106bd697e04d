"""A virtual table of trials: renders only the lines on screen.

Textual's ``DataTable`` builds every row up front, which takes seconds and a lot
of memory at 100,000 trials. This widget keeps a reference to the model's
view (a list of records) and draws the visible window with the line API, so
its cost does not depend on the number of trials.
"""

from __future__ import annotations

import time
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..core.model import TrialRecord, View, display

__all__ = ["TrialTable", "ago", "fit_middle"]

MARK_WIDTH = 2
"""The leftmost cells: a dot on selected rows."""

FROZEN = ("function", "state")
"""Columns that stay put when the table scrolls sideways: which trial a row is stays in view."""


def _fit(text: str, width: int) -> str:
    if len(text) > width:
        return text[: max(width - 1, 0)] + "…"
    return text.ljust(width)


def fit_middle(text: str, width: int) -> str:
    """Cut in the middle: a tid keeps its start and its uuid end (what tells trials apart)."""
    if len(text) <= width:
        return text.ljust(width)
    if width < 2:
        return text[:width]
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def ago(seconds: float) -> str:
    """``40s``, ``5m``, ``3h``, ``2d``: how long ago, short."""
    seconds = max(seconds, 0.0)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


class _TableMessage(Message):
    """A message of a :class:`TrialTable`, with the table as its ``control``."""

    def __init__(self, table: TrialTable) -> None:
        super().__init__()
        self.table = table

    @property
    def control(self) -> TrialTable:
        return self.table


class TrialTable(ScrollView, can_focus=True):
    """Trials, one per line, with a cursor, a multi-selection and a fixed header."""

    DEFAULT_CSS = """
    TrialTable {
        background: $surface;
        height: 1fr;
    }
    TrialTable > .trial-table--header { text-style: bold; background: $panel; }
    TrialTable > .trial-table--cursor { background: $primary 25%; }
    TrialTable:focus > .trial-table--cursor { background: $primary 55%; text-style: bold; }
    TrialTable > .trial-table--selected { color: $warning; text-style: bold; }
    TrialTable > .trial-table--running { color: $primary; text-style: bold; }
    TrialTable > .trial-table--done { color: $success; }
    TrialTable > .trial-table--failed { color: $error; text-style: bold; }
    TrialTable > .trial-table--interrupted { color: $warning; }
    TrialTable > .trial-table--stale { color: $warning; text-style: italic; }
    TrialTable > .trial-table--unreadable { color: $error; text-style: italic; }
    TrialTable > .trial-table--empty { color: $text-muted; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "trial-table--header",
        "trial-table--cursor",
        "trial-table--selected",
        "trial-table--running",
        "trial-table--done",
        "trial-table--failed",
        "trial-table--interrupted",
        "trial-table--stale",
        "trial-table--unreadable",
        "trial-table--empty",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("space", "toggle_select", "Mark", tooltip="Mark the trial for compare/plot/delete"),
        Binding("enter", "open", "Open", show=False, tooltip="Show the trial's details"),
        # Keys that open a place to type in run before the next key is handed on
        # (priority), so text typed right after them lands there, not on the table
        # (``/divide`` typed at once: ``d`` was the delete key).
        Binding("slash", "screen.focus_filter", show=False, priority=True),
        Binding("b", "app.launch_ab", show=False, priority=True),
        Binding("E", "app.rerun", show=False, priority=True),
        Binding("T", "screen.annotate", show=False, priority=True),
        Binding("S", "screen.sweep", show=False, priority=True),
        Binding("e", "screen.export", show=False, priority=True),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, repaint=True)
    """Index of the highlighted row in the view."""

    class Highlighted(_TableMessage):
        """The cursor moved to another trial."""

        def __init__(self, table: TrialTable, record: TrialRecord | None) -> None:
            super().__init__(table)
            self.record = record
            """The trial under the cursor, ``None`` when the table is empty."""

    class Selected(_TableMessage):
        """Enter or a double click on a trial: open it."""

        def __init__(self, table: TrialTable, record: TrialRecord) -> None:
            super().__init__(table)
            self.record = record
            """The trial to open."""

    class SortRequested(_TableMessage):
        """A click on a column header."""

        def __init__(self, table: TrialTable, column: str) -> None:
            super().__init__(table)
            self.column = column
            """The clicked column."""

    class ColumnsScrolled(_TableMessage):
        """The table scrolled sideways or changed width: other columns are out of view."""

    class SelectionChanged(_TableMessage):
        """Rows were marked or unmarked with space."""

        def __init__(self, table: TrialTable, paths: frozenset[str]) -> None:
            super().__init__(table)
            self.paths = paths
            """Folders of the marked trials."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.view: View = View(rows=[], columns=[], widths={})
        """What is shown: rows and columns from the model."""
        self.selected: set[str] = set()
        """Folders of the rows marked with space."""
        self.sort_column: str | None = None
        """Shown in the header with an arrow; ``None`` means newest first."""
        self.sort_reverse = False
        """Descending order for ``sort_column``."""
        self.empty_text = "No trials yet."
        """Shown when the view has no rows."""

    # ----------------------------------------------------------------- data

    @property
    def record(self) -> TrialRecord | None:
        """The trial under the cursor."""
        rows = self.view.rows
        return rows[self.cursor] if 0 <= self.cursor < len(rows) else None

    def set_view(self, view: View) -> None:
        """Show a new view, keeping the cursor on the same trial when it is still there."""
        current = self.record
        self.view = view
        index = 0
        if current is not None:
            if self.cursor < len(view.rows) and view.rows[self.cursor].path == current.path:
                index = self.cursor
            else:
                for i, row in enumerate(view.rows):
                    if row.path == current.path:
                        index = i
                        break
                else:
                    index = min(self.cursor, max(len(view.rows) - 1, 0))
        known = {r.path for r in view.rows} if self.selected else set()
        if self.selected - known:
            self.selected &= known
            self.post_message(self.SelectionChanged(self, frozenset(self.selected)))
        width = MARK_WIDTH + sum(view.widths[c] + 1 for c in view.columns)
        self.virtual_size = Size(width, len(view.rows) + 1)
        self.cursor = index
        self._scroll_cursor_into_view()
        self.refresh()
        self.post_message(self.Highlighted(self, self.record))

    @property
    def frozen_width(self) -> int:
        """Cells at the left that never scroll sideways: the mark, function and state."""
        widths = self.view.widths
        return MARK_WIDTH + sum(widths[c] + 1 for c in FROZEN if c in widths)

    def columns_out_of_view(self) -> tuple[int, int]:
        """How many columns are out of view on the left and on the right."""
        frozen = self.frozen_width
        start = frozen + int(self.scroll_x)
        end = int(self.scroll_x) + self.scrollable_content_region.width
        left = right = 0
        x = frozen
        for column in self.view.columns:
            if column in FROZEN:
                continue
            width = self.view.widths[column] + 1
            if x + width <= start:
                left += 1
            elif x >= end:
                right += 1
            x += width
        return left, right

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        if round(old_value) != round(new_value):
            self.post_message(self.ColumnsScrolled(self))

    def on_resize(self) -> None:
        self.post_message(self.ColumnsScrolled(self))

    def column_at(self, x: int) -> str | None:
        """The column drawn at virtual x (header clicks)."""
        x -= MARK_WIDTH
        for column in self.view.columns:
            width = self.view.widths[column] + 1
            if 0 <= x < width:
                return column
            x -= width
        return None

    # ------------------------------------------------------------- rendering

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"trial-table--{name}", partial=True)

    def _scrolled(self, strip: Strip, scroll_x: int, width: int) -> Strip:
        """The frozen cells as they are, the rest shifted left by ``scroll_x``."""
        frozen = min(self.frozen_width, width)
        if not scroll_x or frozen >= width:
            return strip.crop(0, width)
        return Strip.join([strip.crop(0, frozen), strip.crop(frozen + scroll_x, scroll_x + width)])

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            return (
                self._scrolled(self._header(), scroll_x, width)
                .extend_cell_length(width, base + self._style("header"))
                .apply_style(base)
            )
        index = scroll_y + y - 1
        rows = self.view.rows
        if not rows:
            if y == 1:
                text = _fit(" " + self.empty_text, width)
                return Strip([Segment(text, base + self._style("empty"))])
            return Strip.blank(width, base)
        if index >= len(rows):
            return Strip.blank(width, base)
        return self._scrolled(self._row(index, rows[index]), scroll_x, width).extend_cell_length(
            width, base
        )

    def _header(self) -> Strip:
        style = self.rich_style + self._style("header")
        segments = [Segment(" " * MARK_WIDTH, style)]
        for column in self.view.columns:
            name = column
            if column == self.sort_column:
                name = f"{column}{'▼' if self.sort_reverse else '▲'}"
            segments.append(Segment(_fit(name, self.view.widths[column]) + " ", style))
        return Strip(segments)

    def _row(self, index: int, record: TrialRecord) -> Strip:
        base = self.rich_style
        cursor = index == self.cursor
        row_style = base + self._style("cursor") if cursor else base
        marked = record.path in self.selected
        mark_style = row_style + self._style("selected")
        segments = [Segment("● " if marked else "  ", mark_style)]
        state = record.state
        values = record.values
        beat = values.get("heartbeat") if state == "stale" else None
        for column in self.view.columns:
            value = values.get(column)
            width = self.view.widths[column]
            if column == "duration" and state in ("running", "stale") and value is None:
                started = values.get("started")
                if isinstance(started, float):
                    # A stale trial stopped at its last heartbeat: its clock stops there too.
                    end = beat if isinstance(beat, float) else time.time()
                    value = max(end - started, 0.0)
            if column == "state" and isinstance(beat, float):
                text = _fit(f"stale · died {ago(time.time() - beat)} ago", width) + " "
            elif column == "tid":
                text = fit_middle(display(value, column), width) + " "
            else:
                text = _fit(display(value, column), width) + " "
            style = row_style
            if column == "state":
                style = row_style + self._style(state if state in _STATES else "stale")
            elif marked and column == "function":
                style = mark_style
            segments.append(Segment(text, style))
        return Strip(segments)

    # ---------------------------------------------------------------- moving

    def _visible_rows(self) -> int:
        """Rows the user can see: below the header and above the horizontal scrollbar."""
        return max(self.scrollable_content_region.height - 1, 1)

    def _scroll_cursor_into_view(self) -> None:
        top = int(self.scroll_y)
        visible = self._visible_rows()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def _move_to(self, index: int) -> None:
        rows = len(self.view.rows)
        if not rows:
            return
        index = max(0, min(index, rows - 1))
        if index != self.cursor:
            self.cursor = index  # watch_cursor tells the screen
            self._scroll_cursor_into_view()

    def action_cursor(self, delta: int) -> None:
        """Move the cursor by ``delta`` rows."""
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        """Move the cursor by a screenful."""
        self._move_to(self.cursor + direction * self._visible_rows())

    def action_jump(self, index: int) -> None:
        """To the first (0) or last (-1) row."""
        self._move_to(index if index >= 0 else len(self.view.rows) - 1)

    def action_toggle_select(self) -> None:
        """Mark or unmark the trial under the cursor, then step down."""
        record = self.record
        if record is None:
            return
        if record.path in self.selected:
            self.selected.discard(record.path)
        else:
            self.selected.add(record.path)
        self.post_message(self.SelectionChanged(self, frozenset(self.selected)))
        self.refresh()
        self.action_cursor(1)

    def action_open(self) -> None:
        """Ask to open the trial under the cursor."""
        record = self.record
        if record is not None:
            self.post_message(self.Selected(self, record))

    def clear_selection(self) -> None:
        if self.selected:
            self.selected.clear()
            self.post_message(self.SelectionChanged(self, frozenset()))
            self.refresh()

    def watch_cursor(self, old: int, new: int) -> None:
        self.refresh()
        if self.view.rows:  # however the cursor moved (a key, a click, code): say so
            self.post_message(self.Highlighted(self, self.record))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x = offset.x if offset.x < self.frozen_width else offset.x + int(self.scroll_x)
        if offset.y == 0:
            column = self.column_at(x)
            if column is not None:
                self.post_message(self.SortRequested(self, column))
            return
        index = int(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self.view.rows):
            self._move_to(index)
            if x < MARK_WIDTH:
                self.action_toggle_select()
            elif event.chain >= 2:
                self.action_open()


_STATES = frozenset({"running", "done", "failed", "interrupted", "stale", "unreadable"})
