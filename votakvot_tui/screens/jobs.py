"""The jobs panel: everything the dashboard started, with its state and output."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Label, Static

from ..core.jobs import Job, JobError
from ..messages import OpenAbMonitor
from .base import ReadingScreen

__all__ = ["JobsScreen"]

REFRESH = 0.5
"""Seconds between re-reads of the jobs folder."""
TAIL_LINES = 40
"""Lines of output shown for the highlighted job."""
COLUMNS = ("job", "kind", "state", "elapsed", "exit", "command")

NOTICE = "Jobs keep running when you quit the dashboard; they are listed here next time."

_STATE_STYLE = {
    "running": "bold dodger_blue1",
    "starting": "dodger_blue1",
    "stopping": "yellow",
    "done": "green",
    "failed": "bold red",
    "stopped": "yellow",
    "lost": "italic red",
}


def _title(job: Job) -> str:
    """What the job is: its title, or its command readably when the title is the default
    (the start of the raw command line)."""
    if job.title and job.title != " ".join(job.argv[:6]):
        return job.title.replace("\n", " ⏎ ")
    return job.readable().replace("\n", " ⏎ ")  # one line per job


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    minutes, sec = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{sec:02d}" if hours else f"{minutes}:{sec:02d}"


class JobsScreen(ReadingScreen[list[Job]]):
    """Jobs, newest first; the output tail of the highlighted one below.

    Args:
        select: the job id to put the cursor on.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to where you were"),
        Binding("s", "stop", "Stop", tooltip="Stop the job (SIGINT, then SIGTERM if it lingers)"),
        Binding("enter,w", "open", "Open", tooltip="The ab monitor or the trial of the job"),
        Binding("x", "forget", "Forget", tooltip="Delete an ended job and its output"),
    ]

    def __init__(self, select: str | None = None) -> None:
        super().__init__(id="jobs")
        self.select = select
        """The job id to highlight."""
        self.jobs: list[Job] = []
        """The jobs as last read."""
        self._output_of: str | None = None

    def compose(self) -> ComposeResult:
        yield Label("jobs started from the dashboard", id="jobs-title")
        with Vertical(id="jobs-body"):
            yield DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="jobs-output-box"):
                yield Static("", id="jobs-output", markup=False)
        yield Label(NOTICE, id="jobs-notice")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#jobs-table", DataTable)

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.table.add_column(column, key=column)
        self.query_one("#jobs-output-box").border_title = "output"
        self.table.focus()
        self.set_interval(REFRESH, self.reload)
        self.reload()

    READ_GROUP = "jobs"

    def read(self) -> list[Job]:
        """The jobs folder read again (the highlighted job's output follows in ``show``)."""
        return self.job_manager.list_jobs(limit=200)

    def show(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        table = self.table
        keys = [j.id for j in jobs]
        current = {str(row.value) for row in table.rows}
        for key in current - set(keys):
            table.remove_row(key)
        for job in jobs:
            state = job.state
            cells = (  # Text, not str: a title like "x=[1]" is not markup
                Text(job.short_id),
                Text(job.kind),
                Text(state, style=_STATE_STYLE.get(state, "")),
                Text(_elapsed(job.elapsed)),
                Text("" if job.exit_code is None else str(job.exit_code)),
                Text(_title(job), no_wrap=True, overflow="ellipsis"),
            )
            if job.id in current:
                for column, cell in zip(COLUMNS, cells):
                    table.update_cell(job.id, column, cell)
            else:
                table.add_row(*cells, key=job.id)
        if keys and [str(r.value) for r in table.rows] != keys:
            # A new job goes on top: the ids (row keys) sort by start time, but the
            # cells show only their random end, so the rows are laid out again.
            current_job = self.current()
            rows = {str(key.value): table.get_row(key) for key in table.rows}
            table.clear()
            for key in keys:
                table.add_row(*rows[key], key=key)
            if current_job is not None and current_job.id in rows and not self.select:
                table.move_cursor(row=table.get_row_index(current_job.id))
        if self.select and self.select in keys:
            table.move_cursor(row=table.get_row_index(self.select))
            self.select = None
        if not jobs:
            self.query_one("#jobs-output", Static).update(
                "Nothing started yet: press b to benchmark a callable, R for resumable tasks, "
                "E on a trial to rerun it."
            )
        self._show_output()

    def current(self) -> Job | None:
        """The job under the cursor."""
        table = self.table
        if not self.jobs or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return next((j for j in self.jobs if j.id == key), None)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _show_output(self) -> None:
        job = self.current()
        if job is None:
            return
        head = Text()
        head.append(f"$ {job.readable()}\n", style="bold")
        head.append(f"  in {job.cwd}  ({job.describe()})  job {job.id}\n\n", style="dim")
        head.append(job.tail(TAIL_LINES))
        self.query_one("#jobs-output", Static).update(head)
        # Another job's output opens at its end (where a failure says why) and follows
        # it as it grows, until the user scrolls up to read (Textual's anchor).
        if job.id != self._output_of:
            self.query_one("#jobs-output-box", VerticalScroll).anchor()
        self._output_of = job.id

    # ---------------------------------------------------------------- actions

    def action_back(self) -> None:
        """Back to where you were."""
        self.dismiss(None)

    def action_stop(self) -> None:
        """Stop the highlighted job."""
        job = self.current()
        if job is None:
            return
        if job.state not in ("starting", "running", "stopping"):
            self.notify(f"job {job.id} already ended ({job.state})")
            return
        try:
            again = job.stop_requested is not None
            self.job_manager.stop(job.id)
        except (JobError, OSError) as exc:
            self.notify(f"cannot stop job {job.id}: {exc}", severity="error")
            return
        self.notify(f"{'escalating the stop of' if again else 'stopping'} {job.title or job.id}")
        self.reload()

    def action_open(self) -> None:
        """Open the job's ab monitor (ab runs) or its trial's details."""
        job = self.current()
        if job is None:
            return
        if job.kind == "ab" and job.trial:
            self.app.post_message(OpenAbMonitor(job.trial, job.id))
        elif job.trial:
            from .detail import DetailScreen

            self.app.push_screen(DetailScreen(job.trial))
        else:
            self.notify("this job records no trial folder; its output is below")

    def action_forget(self) -> None:
        """Delete an ended job's folder."""
        job = self.current()
        if job is None:
            return
        try:
            self.job_manager.forget(job.id)
        except (JobError, OSError) as exc:
            self.notify(str(exc), severity="warning")
            return
        self.reload()
