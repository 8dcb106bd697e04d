"""Enter on a trial: its YAML, traceback, attached files, metrics and output."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Label, OptionList, Static, TabbedContent, TabPane

from votakvot.storage import redact

from ..messages import MetricsChanged, TrialsUpdated
from ..widgets.trial_table import fit_middle
from .base import ReadingScreen

if TYPE_CHECKING:
    import pandas

    from votakvot.trial import Trial

__all__ = ["DetailScreen", "TrialDetails", "load_details", "read_output_end"]

METRIC_ROWS = 1000
"""The metrics tab shows the last this many rows (the plot shows them all)."""
OUTPUT_LIMIT = 200_000
"""Bytes of captured output shown (the end of it)."""
TEXT_LIMIT = 256 * 1024
"""Bytes of ``votakvot.yaml`` and ``traceback.txt`` shown (the start); a record votakvot
wrote is far smaller, and a longer text would only slow the screen down."""
HIGHLIGHT_LIMIT = 64 * 1024
"""Longer YAML is shown plain: syntax highlighting is slow on big texts."""

log = logging.getLogger(__name__)

_TABS = {
    "tab-yaml": "YAML",
    "tab-traceback": "Traceback",
    "tab-files": "Files",
    "tab-metrics": "Metrics",
    "tab-output": "Output",
}
"""The tabs in order: pane id -> title (keys 1-5 open them)."""
_FORWARDED = ("up", "down", "pageup", "pagedown", "home", "end", "enter")
"""Keys that act on the active tab's content when the row of tab names has the focus."""


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
    """Captured output (the end of ``output.log``), or why it cannot be read, or ""."""
    attached_error: str = ""
    """Why the attached files cannot be listed, or ""."""
    metrics_error: str = ""
    """Why the metrics cannot be read, or ""."""
    tags: tuple[str, ...] = ()
    """Tags added after the run (``votakvot.annotate``, ``T``)."""
    note: str = ""
    """The note added after the run, or ""."""
    annotations_error: str = ""
    """Why the tags and note cannot be read (the sidecar file named), or ""."""


def load_details(path: str) -> TrialDetails:
    """Read one trial for the detail screen (blocking: call from a thread worker).

    Each part is read on its own and a part that cannot be read says why in its
    place: a folder full of odd files still shows whatever can be shown.
    """
    from votakvot.layout import YAML_NAME
    from votakvot.reading import MAX_RECORD
    from votakvot.trial import Trial

    from ..core._files import read_start

    record = read_start(path, YAML_NAME, TEXT_LIMIT)
    yaml_text = record.text()
    trial, error = None, record.error
    if record.missing:
        error = f"no {YAML_NAME} here (deleted?)"
    elif not error and record.size is not None and record.size > MAX_RECORD:
        error = f"larger than {MAX_RECORD // 2**20} MB: not a record votakvot wrote"
    elif not error:
        trial, error = _read_trial(path)
    data = trial.data if trial is not None else {}
    traceback = str(data.get("traceback") or "")
    if not traceback:
        tb = read_start(path, "traceback.txt", TEXT_LIMIT)
        traceback = tb.error or tb.text()
    probe = trial if trial is not None else Trial(path, {})
    attached: list[str] = []
    attached_error = metrics_error = ""
    try:
        attached = probe.attached
    except Exception as exc:  # shown in the Files tab
        attached_error = _reason(path, "the files cannot be listed", exc)
    metrics = None
    try:
        frame = probe.load_metrics()
        if len(frame):
            metrics = frame
    except Exception as exc:  # shown in the Metrics tab
        metrics_error = _reason(path, "the metrics cannot be read", exc)
    output = read_output_end(path)
    tags, note, annotations_error = _read_annotations(trial if trial is not None else path)
    return TrialDetails(
        path,
        yaml_text,
        data,
        error,
        traceback,
        attached,
        metrics,
        output,
        attached_error,
        metrics_error,
        tags,
        note,
        annotations_error,
    )


def _read_annotations(trial: Trial | str) -> tuple[tuple[str, ...], str, str]:
    """Tags, note and why they cannot be read: the sidecar is read here and not taken
    from the trial, which keeps a bad one quiet (an empty set of tags) for reports."""
    from votakvot.annotations import ANNOTATIONS_NAME, read_annotations
    from votakvot.exceptions import TrialLoadError

    try:
        found = read_annotations(trial)
    except FileNotFoundError:  # the folder went away: the record's error says so
        return (), "", ""
    except TrialLoadError as exc:  # a bad sidecar: named (the title shows its folder)
        return (), "", f"{ANNOTATIONS_NAME}: {exc.reason}"
    except Exception as exc:  # said in its place; the rest of the trial still shows
        path = getattr(trial, "path", trial)
        return (), "", _reason(str(path), f"{ANNOTATIONS_NAME} cannot be read", exc)
    return tuple(found.tags), found.note, ""


def read_output_end(path: str, limit: int = OUTPUT_LIMIT) -> str:
    """The end of what the trial printed, as a terminal shows it: progress-bar redraws
    collapsed, the kept tail of a running trial past its cap after the marker, and a
    start never inside a character or a line; or why it cannot be read."""
    from votakvot.capture import render_output
    from votakvot.layout import tail_name

    from ..core._files import read_start, tail_start

    out = read_start(path, "output.log", limit, tail=True)
    if out.error or out.missing:
        return out.error
    data, size = out.data, out.size or len(out.data)
    end = read_start(path, tail_name("output.log"), limit, tail=True)
    if end.data and not end.error:  # the trial runs (or was killed) past capture_limit
        joint = b"" if data.endswith(b"\n") or end.data.startswith(b"\n") else b"\n"
        data += joint + end.data
        size += len(joint) + (end.size or len(end.data))
    cut = out.cut or end.cut or len(data) > limit
    if not cut:
        return render_output(data)
    data = tail_start(data[-limit:])
    return f"… (only the last {len(data):,} of {size:,} bytes are shown)\n" + render_output(data)


_NOTE = re.compile(r"\A… \(only the last .* bytes are shown\)$", re.MULTILINE)
_MARKER = re.compile(r"^\[votakvot: \S+ reached capture_limit=.*\]$", re.MULTILINE)


def _output_text(output: str) -> Text:
    """The Output tab's text: the cut note and the capture-limit marker stand out."""
    text = Text(output)
    text.highlight_regex(_NOTE, style="dim italic")
    text.highlight_regex(_MARKER, style="bold black on yellow")
    return text


def _traceback(text: str) -> Text | Syntax:
    """The traceback highlighted as Python's (files, lines, the error last in red)."""
    if not text:
        return Text("no traceback", style="dim")
    if len(text) > HIGHLIGHT_LIMIT:
        return Text(text)
    return Syntax(text, "pytb", theme="ansi_dark", word_wrap=True)


def _read_trial(path: str) -> tuple[Trial | None, str]:
    from votakvot.exceptions import TrialLoadError
    from votakvot.layout import YAML_NAME
    from votakvot.trial import read_trial

    try:
        trial = read_trial(path)
    except TrialLoadError as exc:
        return None, exc.reason
    except OSError as exc:  # went away or changed since it was looked at
        return None, f"cannot be read: {exc.strerror or exc}"
    return trial, "" if trial is not None else f"no {YAML_NAME} here (deleted?)"


def _reason(path: str, what: str, exc: Exception) -> str:
    log.warning("%s: %s: %s: %s", path, what, type(exc).__name__, exc)
    return f"{what}: {type(exc).__name__}: {exc}"


class DetailScreen(ReadingScreen[TrialDetails]):
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
        # Priority: text typed right after it goes to the form, not to this screen's keys.
        Binding(
            "T",
            "annotate",
            "Tag / note",
            show=False,
            priority=True,
            tooltip="Tag the trial, write a note",
        ),
        *(Binding(key, f"forward('{key}')", show=False) for key in _FORWARDED),
        Binding("right_square_bracket", "tab(1)", "Next tab", key_display="]"),
        Binding("left_square_bracket", "tab(-1)", "Prev tab", key_display="["),
        *(
            Binding(str(n), f"show_tab('{tab}')", title, show=False, tooltip=f"The {title} tab")
            for n, (tab, title) in enumerate(_TABS.items(), 1)
        ),
    ]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        """The trial folder shown."""
        self.details: TrialDetails | None = None
        """What was read last."""

    def compose(self) -> ComposeResult:
        yield Label(redact(self.path), id="detail-title", markup=False)  # no URL passwords
        annotations = Static("", id="detail-annotations", markup=False)
        annotations.display = False  # shown when the trial has tags, a note or a bad sidecar
        yield annotations
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

    READ_GROUP = "detail"

    def _pane_widget(self) -> Widget | None:
        """What the active tab shows: its scroll area, metrics table or files list."""
        tabs = self.query_one("#detail-tabs", TabbedContent)
        if not tabs.active:
            return None
        found = self.query_one(f"#{tabs.active}").query("VerticalScroll, DataTable, OptionList")
        return found.first() if found else None

    async def action_forward(self, key: str) -> None:
        """A moving key pressed on the row of tab names acts on the tab's content.

        Focusing the content instead would not do: Textual switches to the tab of a
        widget that gets focus, so a focus landing late (a quick ``]``, or the switch
        to the traceback of a failed trial) would switch back.
        """
        widget = self._pane_widget()
        if widget is None or widget.has_focus:
            return
        for binding in widget._bindings.key_to_bindings.get(key, ()):
            await self.app.run_action(binding.action, widget)
            return

    def action_tab(self, step: int) -> None:
        """The next (1) or previous (-1) tab."""
        tabs = self.query_one("#detail-tabs", TabbedContent)
        names = list(_TABS)
        index = names.index(tabs.active) if tabs.active in names else 0
        tabs.active = names[(index + step) % len(names)]

    def action_show_tab(self, tab: str) -> None:
        """Open the tab ``tab`` (keys 1-5)."""
        self.query_one("#detail-tabs", TabbedContent).active = tab

    def read(self) -> TrialDetails:
        """The trial read again."""
        return load_details(self.path)

    def show(self, details: TrialDetails) -> None:
        self.details = details
        data = details.data
        state = str(data.get("state", "unreadable" if details.error else "?"))
        title = Text()
        title.append(str(data.get("function", "")) + " ", style="bold")
        title.append(state, style=_STATE_STYLES.get(state, ""))
        room = self.size.width - len(title.plain) - 4
        tid = str(data.get("tid", redact(self.path)))
        title.append("  " + fit_middle(tid, max(room, 12)).rstrip())
        title.no_wrap = True
        title.overflow = "ellipsis"
        self.query_one("#detail-title", Label).update(title)
        self._show_annotations(details)
        yaml_widget = self.query_one("#yaml", Static)
        if details.error:
            yaml_widget.update(Text(f"unreadable: {details.error}\n\n{details.yaml}", style="red"))
        elif len(details.yaml) > HIGHLIGHT_LIMIT:
            yaml_widget.update(Text(details.yaml))
        else:
            yaml_widget.update(Syntax(details.yaml, "yaml", theme="ansi_dark", word_wrap=True))
        self.query_one("#traceback", Static).update(_traceback(details.traceback))
        files = self.query_one("#files", OptionList)
        highlighted = files.highlighted
        files.clear_options()
        files.add_options(details.attached or [])
        if details.attached_error:
            files.add_option(Text(f"({details.attached_error})", style="red"))
        elif not details.attached:
            files.add_option("(no attached files)")
        if highlighted is not None and highlighted < len(details.attached):
            files.highlighted = highlighted
        elif details.attached:
            files.highlighted = 0  # Enter opens the first file straight away
        self._show_metrics(details.metrics, details.metrics_error)
        output = details.output
        self.query_one("#output", Static).update(
            _output_text(output) if output else "no captured output"
        )
        tabs = self.query_one(TabbedContent)
        if details.traceback and tabs.active == "tab-yaml" and not getattr(self, "_shown", False):
            tabs.active = "tab-traceback"
        self._shown = True

    def _show_annotations(self, details: TrialDetails) -> None:
        """The tags and the note under the title (the note's lines joined: ``T`` shows
        it whole); no line when there are none."""
        line = self.query_one("#detail-annotations", Static)
        text = Text()
        if details.annotations_error:
            text.append(details.annotations_error, style="red")
        if details.tags:
            text.append("tags ", style="bold")
            text.append(", ".join(details.tags))
        if details.note.strip():
            text.append("   " if text else "")
            text.append("note ", style="bold")
            text.append(" ⏎ ".join(part for part in details.note.strip().splitlines()))
        line.update(text)
        line.display = bool(text)

    def _show_metrics(self, frame: pandas.DataFrame | None, error: str = "") -> None:
        table = self.query_one("#metrics", DataTable)
        table.clear(columns=True)
        if frame is None:
            table.add_column(error or "no metrics")
            return
        tail = frame.tail(METRIC_ROWS)
        table.add_column("#")
        for column in tail.columns:
            table.add_column(str(column))
        from ..core.model import display

        for index, row in zip(tail.index, tail.itertuples(index=False)):
            cells = [display(v, "started" if c == "at" else "") for c, v in zip(tail.columns, row)]
            table.add_row(str(index), *cells)
        table.move_cursor(row=table.row_count - 1)

    @on(OptionList.OptionSelected, "#files")
    def _open_file(self, event: OptionList.OptionSelected) -> None:
        from .viewer import ViewerScreen

        if self.details and event.option_index < len(self.details.attached):
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

    def action_annotate(self) -> None:
        """Tag the trial and write a note (the screen shows them once saved)."""
        from .annotate import AnnotateScreen

        tid = str((self.details.data if self.details else {}).get("tid") or self.path)
        self.app.push_screen(AnnotateScreen([self.path], [tid]))

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
