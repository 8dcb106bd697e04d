"""The main screen: the trials table, the filter box and the status bar."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Footer, Input, Label, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ..core.model import Source, TrialRecord, TrialStore, View, ViewSpec, is_query
from ..messages import TrialsUpdated
from ..widgets import StatusBar, TrialTable
from .base import BaseScreen

__all__ = ["TrialsHost", "TrialsScreen"]

MIN_REBUILD_INTERVAL = 0.2
"""Live updates rebuild the view at most this often (seconds): bursts stay cheap."""


class TrialsHost(Protocol):
    """What the trials screen reads from the app (the app is one; tests may pass another)."""

    sources: list[Source]
    store: TrialStore
    missing: list[str]
    scanning: bool

    def apply(
        self,
        records: Sequence[TrialRecord],
        paths: Iterable[str],
        removed: Iterable[str],
    ) -> None:
        """Put read records into the store and tell the screens (the screen only removes)."""


class TrialsScreen(BaseScreen[None]):
    """Every trial, newest first, filtered and sorted as asked."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "focus_filter",
            "Filter",
            key_display="/",
            tooltip="Type text or a pandas query",
        ),
        Binding("s", "sort_next", "Sort", tooltip="Sort by the next column"),
        Binding("r", "reverse", "Reverse", show=False, tooltip="Reverse the sort order"),
        Binding(
            "n", "sort_newest", "Newest first", show=False, tooltip="Back to the default order"
        ),
        Binding("p", "plot", "Plot", tooltip="Plot metrics of the marked trials (or this one)"),
        Binding("c", "compare", "Compare", tooltip="Compare the marked trials side by side"),
        Binding("d,delete", "delete", "Delete", tooltip="Delete the marked trials (asks first)"),
        Binding(
            "h", "hide_constant", "Hide same", show=False, tooltip="Hide columns equal in every row"
        ),
        Binding("y", "copy_path", "Copy path", show=False, tooltip="Copy the trial's folder"),
        Binding("t", "copy_tid", "Copy tid", show=False, tooltip="Copy the trial's id"),
        Binding(
            "x", "copy_code", "Copy as code", show=False, tooltip="Copy load_report(...).query(...)"
        ),
        Binding(
            "e", "export", "Export CSV", show=False, tooltip="Write the shown rows to a CSV file"
        ),
        Binding("a", "select_all", "Mark all", show=False, tooltip="Mark every shown trial"),
        Binding(
            "T",
            "annotate",
            "Tag / note",
            show=False,
            tooltip="Tag the marked trials (or this one), write a note",
        ),
        Binding(
            "S",
            "sweep",
            "Sweep",
            show=False,
            tooltip="Run this trial's function over lists of params",
        ),
        Binding(
            "A",
            "attempts",
            "Attempts",
            show=False,
            tooltip="Show or hide earlier attempts of calls run again (superseded)",
        ),
        Binding("escape", "clear", "Clear", show=False, tooltip="Clear the marks, then the filter"),
    ]

    spec: reactive[ViewSpec] = reactive(ViewSpec, always_update=True, init=False)
    """Filter, sort and hidden columns currently asked for."""

    def __init__(self, host: TrialsHost) -> None:
        super().__init__(id="trials")
        self.host = host
        """Where the trials come from: the store, the sources, whether the scan runs."""
        self._dirty = False
        self._worker: Worker[None] | None = None
        self._build_cost = 0.0
        self._shown_at = 0.0
        self.view: View | None = None
        """The view on screen."""

    def compose(self) -> ComposeResult:
        yield Label(self._header_text(), id="trials-header")
        with Horizontal(id="filter-row"):
            yield Label("filter", id="filter-mode")
            yield Input(
                placeholder="text, or a pandas query like: result > 3 and one == 1",
                id="filter",
                compact=True,
            )
        yield Static("", id="filter-error", markup=False)
        yield TrialTable(id="table")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table.focus()
        self.set_interval(1.0, self._tick)
        self.set_interval(MIN_REBUILD_INTERVAL, self._rebuild_if_dirty)
        self.request_view(now=True)

    def _header_text(self) -> Text:
        """``votakvot  ./my-results``: which results this is, always in view, as the user
        typed it (the command line, or the launcher's path)."""
        text = Text("votakvot", style="bold")
        text.append("  ")
        from votakvot.storage import redact  # a URL's password never shows

        text.append(", ".join(redact(s.path) for s in self.host.sources))
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text

    @property
    def table(self) -> TrialTable:
        return self.query_one("#table", TrialTable)

    # ------------------------------------------------------------------ view

    def watch_spec(self, spec: ViewSpec) -> None:
        self.request_view(now=True)

    def request_view(self, now: bool = False) -> None:
        """Rebuild the view: at once for the user; live updates are coalesced."""
        if now:
            self._dirty = False
            self._worker = self.build_view(self.spec)
        else:
            self._dirty = True

    def _rebuild_if_dirty(self) -> None:
        """Runs every :data:`MIN_REBUILD_INTERVAL`: one rebuild for any number of updates."""
        if not self._dirty:
            return
        worker = self._worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            return
        # A view of 100,000 rows takes a while to build: rebuild less often then, or
        # the rebuilds would take the interpreter from the reading and the keys.
        if time.monotonic() - self._shown_at < 3 * self._build_cost:
            return
        self._dirty = False
        self._worker = self.build_view(self.spec)

    @work(thread=True, exclusive=True, group="view", exit_on_error=False)
    def build_view(self, spec: ViewSpec) -> None:
        """Filter and sort off the event loop; the newest request wins."""
        worker = get_current_worker()
        started = time.monotonic()
        view = self.host.store.build_view(spec, lambda: worker.is_cancelled)
        if view is None or worker.is_cancelled:
            return
        counts = self.host.store.counts()
        self._build_cost = time.monotonic() - started
        self.app.call_from_thread(self._show_view, view, counts)

    def _show_view(self, view: View, counts: dict[str, int]) -> None:
        self.view = view
        self._shown_at = time.monotonic()
        table = self.table
        table.sort_column = self.spec.sort
        table.sort_reverse = self.spec.reverse
        app = self.host
        if app.missing and not app.store.records:
            table.empty_text = "No such folder: " + ", ".join(app.missing)
        elif app.scanning and not view.rows:
            table.empty_text = "Looking for trials…"
        elif not view.rows and app.store.records:
            table.empty_text = "No trial matches the filter."
        else:
            table.empty_text = "No trials here yet (waiting for new ones)."
        table.set_view(view)
        self._counts = counts
        self._show_filter_error(view.error)
        self._update_status()

    def _show_filter_error(self, error: str) -> None:
        """A query that failed says why, whole, in red under the filter box."""
        box = self.query_one("#filter-error", Static)
        box.update(error)
        box.display = bool(error)
        self.query_one("#filter-row").set_class(bool(error), "-error")

    def _update_status(self) -> None:
        view = self.view
        if view is None:
            return
        spec = self.spec
        # The header shows a column sort with an arrow; only say what it cannot.
        sort = "oldest first" if spec.sort is None and spec.reverse else ""
        table = self.table
        self.query_one(StatusBar).show(
            shown=len(view.rows),
            total=view.total,
            counts=view.counts,
            selected=len(table.selected),
            sort=sort,
            note=self._row_error(),
            loading=self.host.scanning,
            row=table.cursor if view.rows else None,
            hidden=len(view.hidden),
            offscreen=table.columns_out_of_view(),
        )

    def _row_error(self) -> str:
        """The error of the trial under the cursor (failed or unreadable), for the status bar."""
        record = self.table.record
        if record is None or record.state not in ("failed", "interrupted", "unreadable"):
            return ""
        return str(record.values.get("error") or record.state)

    @on(TrialTable.Highlighted, "#table")
    @on(TrialTable.ColumnsScrolled, "#table")
    def _on_highlighted(self) -> None:
        self._update_status()

    def _tick(self) -> None:
        """Running trials' durations (and "died 5m ago") move on: redraw while there are some."""
        counts = getattr(self, "_counts", {})
        if self.view is not None and (counts.get("running") or counts.get("stale")):
            self.table.refresh()

    @on(TrialsUpdated)
    def _on_trials_updated(self, message: TrialsUpdated) -> None:
        self.request_view()

    # --------------------------------------------------------------- filter

    @on(Input.Changed, "#filter")
    def _on_filter(self, event: Input.Changed) -> None:
        self.query_one("#filter-mode", Label).update("query" if is_query(event.value) else "filter")
        self.spec = ViewSpec(
            text=event.value,
            sort=self.spec.sort,
            reverse=self.spec.reverse,
            hide_constant=self.spec.hide_constant,
            attempts=self.spec.attempts,
        )

    @on(Input.Submitted, "#filter")
    def _on_filter_done(self) -> None:
        self.table.focus()

    def action_focus_filter(self) -> None:
        """Put the cursor in the filter box (at once: the keys typed next go there)."""
        self.set_focus(self.query_one("#filter", Input))

    def action_clear(self) -> None:
        """Escape: leave the filter box, else clear marks, else clear the filter."""
        filter_box = self.query_one("#filter", Input)
        if filter_box.has_focus:
            self.table.focus()
        elif self.table.selected:
            self.table.clear_selection()
            self._update_status()
        elif filter_box.value:
            filter_box.value = ""

    # ----------------------------------------------------------------- sort

    def _set(self, **changes: Any) -> None:
        values = {
            "text": self.spec.text,
            "sort": self.spec.sort,
            "reverse": self.spec.reverse,
            "hide_constant": self.spec.hide_constant,
            "attempts": self.spec.attempts,
            **changes,
        }
        self.spec = ViewSpec(**values)

    def sort_by(self, column: str | None) -> None:
        """Sort by ``column`` (again: reverse the order); ``None`` is newest first."""
        if column == self.spec.sort and column is not None:
            self._set(reverse=not self.spec.reverse)
        else:
            self._set(sort=column, reverse=column in ("started", "duration"))

    @on(TrialTable.SortRequested, "#table")
    def _on_sort_requested(self, event: TrialTable.SortRequested) -> None:
        self.sort_by(event.column)

    def action_sort_next(self) -> None:
        """Sort by the next column to the right (after the last: newest first)."""
        columns = self.view.columns if self.view else []
        if not columns:
            return
        if self.spec.sort not in columns:
            self._set(sort=columns[0], reverse=False)
        else:
            index = columns.index(self.spec.sort) + 1
            if index >= len(columns):
                self._set(sort=None, reverse=False)
            else:
                self._set(sort=columns[index], reverse=False)

    def action_reverse(self) -> None:
        """Flip the sort order."""
        self._set(reverse=not self.spec.reverse)

    def action_sort_newest(self) -> None:
        """Back to the default order: newest first."""
        self._set(sort=None, reverse=False)

    def action_hide_constant(self) -> None:
        """Toggle hiding the columns that are the same in every shown row."""
        self._set(hide_constant=not self.spec.hide_constant)
        self.notify(
            "hiding columns equal in every row" if self.spec.hide_constant else "all columns"
        )

    def action_attempts(self) -> None:
        """Toggle showing the earlier (superseded) attempts of calls run again."""
        self._set(attempts=not self.spec.attempts)
        self.notify(
            "showing earlier attempts (superseded)"
            if self.spec.attempts
            else "one row per call: its latest attempt"
        )

    # -------------------------------------------------------------- actions

    def marked_or_current(self) -> list[str]:
        """Folders of the marked trials, or of the one under the cursor."""
        table = self.table
        if table.selected:
            order = {r.path: i for i, r in enumerate(self.view.rows)} if self.view else {}
            return sorted(table.selected, key=lambda p: order.get(p, 0))
        record = table.record
        return [record.path] if record is not None else []

    @on(TrialTable.Selected, "#table")
    def _on_open(self, event: TrialTable.Selected) -> None:
        from .detail import DetailScreen

        self.app.push_screen(DetailScreen(event.record.path))

    @on(TrialTable.SelectionChanged, "#table")
    def _on_marks(self) -> None:
        self._update_status()

    def action_select_all(self) -> None:
        """Mark every shown trial."""
        if self.view:
            self.table.selected = {r.path for r in self.view.rows}
            self.table.refresh()
            self._update_status()

    def action_annotate(self) -> None:
        """Tag the marked trials (or the one under the cursor) and write a note."""
        from .annotate import AnnotateScreen

        paths = self.marked_or_current()
        records = [self.host.store.get(p) for p in paths]
        if paths:
            self.app.push_screen(
                AnnotateScreen(paths, [r.tid if r else p for r, p in zip(records, paths)])
            )

    def action_sweep(self) -> None:
        """Run the cursor trial's function over lists or ranges of params, as a job."""
        from .sweep import SweepScreen

        record = self.table.record
        if record is not None:
            self.app.push_screen(SweepScreen(record.path))

    def action_plot(self) -> None:
        """Plot the metrics of the marked trials (or the one under the cursor)."""
        from .plot import PlotScreen

        paths = self.marked_or_current()
        if paths:
            self.app.push_screen(PlotScreen(paths))

    def action_compare(self) -> None:
        """Compare the marked trials side by side (mark with space)."""
        from .compare import CompareScreen

        paths = self.marked_or_current()
        if len(paths) < 2:
            self.notify("mark two or more trials with space to compare them", severity="warning")
            return
        self.app.push_screen(CompareScreen(paths))

    def action_delete(self) -> None:
        """Delete the marked trials (or the one under the cursor) after confirmation."""
        from .confirm_delete import ConfirmDeleteScreen

        paths = self.marked_or_current()
        if not paths:
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.delete_trials(paths)

        self.app.push_screen(ConfirmDeleteScreen(paths), done)

    @work(thread=True, group="delete", exit_on_error=False)
    def delete_trials(self, paths: list[str]) -> None:
        """Remove the folders (after the modal said yes)."""
        from ..core.actions import delete_trial_folders

        failed = delete_trial_folders(paths)
        deleted = [p for p in paths if p not in failed]
        self.app.call_from_thread(self._deleted, deleted, failed)

    def _deleted(self, deleted: list[str], failed: dict[str, str]) -> None:
        self.host.apply([], [], deleted)
        self.table.selected -= set(deleted)
        if failed:
            self.notify(
                "\n".join(f"{p}: {why}" for p, why in failed.items()),
                title="Some trials were not deleted",
                severity="error",
            )
        else:
            self.notify(f"deleted {len(deleted)} trial{'s' * (len(deleted) != 1)}")

    def _copy(self, text: str, what: str) -> None:
        self.app.copy_to_clipboard(text)
        self.notify(text, title=f"Copied {what}")

    def action_copy_path(self) -> None:
        """Copy the folder of the trial under the cursor."""
        record = self.table.record
        if record is not None:
            self._copy(record.path, "path")

    def action_copy_tid(self) -> None:
        """Copy the tid of the trial under the cursor."""
        record = self.table.record
        if record is not None:
            self._copy(record.tid, "tid")

    def action_copy_code(self) -> None:
        """Copy the pandas line that reproduces this view in a notebook."""
        from ..core.actions import view_as_code

        code = view_as_code([s.path for s in self.host.sources], self.spec)
        self._copy(code, "code")

    def action_export(self) -> None:
        """Write the shown rows (shown columns) to a CSV file."""
        from .export import ExportScreen

        if self.view is None:
            return
        view = self.view

        def done(target: str | None) -> None:
            if target:
                self.export_csv(view, target)

        self.app.push_screen(ExportScreen(), done)

    @work(thread=True, group="export", exit_on_error=False)
    def export_csv(self, view: View, target: str) -> None:
        """Write the CSV off the event loop."""
        from ..core.actions import export_csv

        count = export_csv(view, target)
        self.app.call_from_thread(self.notify, f"wrote {count} rows to {target}", title="Exported")

    def extra_commands(self) -> Iterable[SystemCommand]:
        """Sorting by each column, for the command palette."""
        for column in self.view.columns if self.view else []:
            yield SystemCommand(
                f"Sort by {column}", f"Order the trials by {column}", _sorter(self, column)
            )
        yield SystemCommand("Sort newest first", "The default order", self.action_sort_newest)


def _sorter(screen: TrialsScreen, column: str) -> Any:
    return lambda: screen.sort_by(column)
