"""Enter on a trial: its YAML, traceback, attached files, metrics and output."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Label, OptionList, Static, TabbedContent, TabPane

from ..messages import MetricsChanged, TrialsUpdated
from .base import BaseScreen

if TYPE_CHECKING:
    import pandas

__all__ = ["DetailScreen", "TrialDetails", "load_details"]

METRIC_ROWS = 1000
"""The metrics tab shows the last this many rows (the plot shows them all)."""
OUTPUT_LIMIT = 200_000
"""Characters of captured output shown (the end of it)."""


@dataclass
class TrialDetails:
    """Everything the detail screen shows, read in one go off the event loop."""

    path: str
    """The trial folder."""
    yaml: str
    """The raw ``votakvot.yaml`` text ("" if unreadable)."""
    data: dict[str, Any]
    """The parsed YAML ({} if unreadable)."""
    error: str
    """Why the trial could not be read, or ""."""
    traceback: str
    """The recorded traceback, or ""."""
    attached: list[str]
    """Attached file names."""
    metrics: pandas.DataFrame | None
    """The metric rows, or ``None`` when there are none."""
    output: str
    """Captured output (``output.log``), or ""."""


def _cat(path: str, name: str) -> bytes | None:
    from votakvot._storage import get_filesystem

    fs, root = get_filesystem(path)
    try:
        return bytes(fs.cat_file(posixpath.join(root, name)))
    except FileNotFoundError:
        return None


def load_details(path: str) -> TrialDetails:
    """Read one trial for the detail screen (blocking: call from a thread worker)."""
    from votakvot.exceptions import TrialLoadError
    from votakvot.trial import Trial, read_trial

    raw = _cat(path, "votakvot.yaml") or b""
    yaml_text = raw.decode("utf-8", errors="replace")
    error = ""
    trial: Trial | None
    try:
        trial = read_trial(path)
    except TrialLoadError as exc:
        trial, error = None, exc.reason
    data = trial.data if trial is not None else {}
    if trial is None and not error:
        error = "no votakvot.yaml here (deleted?)"
    traceback = str(data.get("traceback") or "")
    if not traceback:
        tb = _cat(path, "traceback.txt")
        traceback = tb.decode("utf-8", errors="replace") if tb else ""
    attached: list[str] = []
    metrics = None
    output = ""
    probe = trial if trial is not None else Trial(path, {})
    attached = probe.attached
    frame = probe.load_metrics()
    if len(frame):
        metrics = frame
    try:
        output = probe.output
    except (NotImplementedError, FileNotFoundError):
        out = _cat(path, "output.log")
        output = out.decode("utf-8", errors="replace") if out else ""
    return TrialDetails(path, yaml_text, data, error, traceback, attached, metrics, output)


class DetailScreen(BaseScreen[None]):
    """One trial in full; follows the trial live while it runs.

    Args:
        path: the trial folder.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "back", "Back", tooltip="Back to the trials"),
        Binding("p,m", "plot", "Plot", tooltip="Plot this trial's metrics"),
        Binding("y", "copy_path", "Copy path", tooltip="Copy the trial's folder"),
        Binding("t", "copy_tid", "Copy tid", tooltip="Copy the trial's id"),
        Binding("r", "reload", "Reload", show=False, tooltip="Read the trial again"),
    ]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        """The trial folder shown."""
        self.details: TrialDetails | None = None
        """What was read last."""

    def compose(self) -> ComposeResult:
        yield Label(self.path, id="detail-title", markup=False)
        with TabbedContent(id="detail-tabs"):
            with TabPane("YAML", id="tab-yaml"), VerticalScroll():
                yield Static("reading…", id="yaml")
            with TabPane("Traceback", id="tab-traceback"), VerticalScroll():
                yield Static("", id="traceback", markup=False)
            with TabPane("Files", id="tab-files"):
                yield OptionList(id="files")
            with TabPane("Metrics", id="tab-metrics"):
                yield DataTable(id="metrics", zebra_stripes=True, cursor_type="row")
            with TabPane("Output", id="tab-output"), VerticalScroll():
                yield Static("", id="output", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="detail", exit_on_error=False)
    def reload(self) -> None:
        """Read the trial again (off the event loop)."""
        details = load_details(self.path)
        self.app.call_from_thread(self._show, details)

    def action_reload(self) -> None:
        """Read the trial again."""
        self.reload()

    def _show(self, details: TrialDetails) -> None:
        self.details = details
        data = details.data
        state = str(data.get("state", "unreadable" if details.error else "?"))
        title = Text()
        title.append(str(data.get("function", "")) + " ", style="bold")
        title.append(state, style=_STATE_STYLES.get(state, ""))
        title.append("  " + str(data.get("tid", self.path)))
        self.query_one("#detail-title", Label).update(title)
        yaml_widget = self.query_one("#yaml", Static)
        if details.error:
            yaml_widget.update(Text(f"unreadable: {details.error}\n\n{details.yaml}", style="red"))
        else:
            yaml_widget.update(Syntax(details.yaml, "yaml", theme="ansi_dark", word_wrap=True))
        self.query_one("#traceback", Static).update(details.traceback or "no traceback")
        files = self.query_one("#files", OptionList)
        highlighted = files.highlighted
        files.clear_options()
        files.add_options(details.attached or [])
        if not details.attached:
            files.add_option("(no attached files)")
        if highlighted is not None and highlighted < len(details.attached):
            files.highlighted = highlighted
        self._show_metrics(details.metrics)
        output = details.output[-OUTPUT_LIMIT:]
        self.query_one("#output", Static).update(output or "no captured output")
        tabs = self.query_one(TabbedContent)
        if details.traceback and tabs.active == "tab-yaml" and not getattr(self, "_shown", False):
            tabs.active = "tab-traceback"
        self._shown = True

    def _show_metrics(self, frame: pandas.DataFrame | None) -> None:
        table = self.query_one("#metrics", DataTable)
        table.clear(columns=True)
        if frame is None:
            table.add_column("no metrics")
            return
        tail = frame.tail(METRIC_ROWS)
        table.add_column("#")
        for column in tail.columns:
            table.add_column(str(column))
        from ..model import display

        for index, row in zip(tail.index, tail.itertuples(index=False)):
            cells = [display(v, "started" if c == "at" else "") for c, v in zip(tail.columns, row)]
            table.add_row(str(index), *cells)
        table.move_cursor(row=table.row_count - 1)

    @on(OptionList.OptionSelected, "#files")
    def _open_file(self, event: OptionList.OptionSelected) -> None:
        from .viewer import ViewerScreen

        if self.details and self.details.attached:
            name = self.details.attached[event.option_index]
            self.app.push_screen(ViewerScreen(self.path, name))

    @on(TrialsUpdated)
    def _on_updated(self, message: TrialsUpdated) -> None:
        if self.path in message.paths:
            self.reload()

    @on(MetricsChanged)
    def _on_metrics(self, message: MetricsChanged) -> None:
        if self.path in message.paths:
            self.reload()

    def action_back(self) -> None:
        """Back to the trials."""
        self.dismiss(None)

    def action_plot(self) -> None:
        """Plot this trial's metrics."""
        from .plot import PlotScreen

        self.app.push_screen(PlotScreen([self.path]))

    def action_copy_path(self) -> None:
        """Copy the trial's folder."""
        self.app.copy_to_clipboard(self.path)
        self.notify(self.path, title="Copied path")

    def action_copy_tid(self) -> None:
        """Copy the trial's id."""
        tid = str((self.details.data if self.details else {}).get("tid", ""))
        self.app.copy_to_clipboard(tid)
        self.notify(tid, title="Copied tid")


_STATE_STYLES = {
    "running": "bold dodger_blue2",
    "done": "green",
    "failed": "bold red",
    "interrupted": "yellow",
    "stale": "italic yellow",
    "unreadable": "italic red",
}
"""Rich styles of the states (the table uses the theme's colours for the same)."""
