"""Metrics of one or more trials, plotted with plotext; live while they run.

Reading the metric files and building the plot both run in worker threads, so a
key is answered at once however much is drawn; at most :data:`MAX_SHOWN` trials
are overlaid (the first in the table's order), with a note saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Label, Select, SelectionList, Static
from textual.worker import get_current_worker

from ..core.labels import MAX_SHOWN, cap_message, trial_label, trial_labels
from ..messages import MetricsChanged
from ..widgets.plot_canvas import PALETTE, Figure, PlotCanvas, Series
from .base import ReadingScreen, StoppableReadingScreen

if TYPE_CHECKING:
    import pandas

__all__ = ["PlotRead", "PlotScreen", "load_series", "trial_label"]

ROW = "row"
"""x axis choice: the row number of each metric point."""
AT = "at"
"""x axis choice: seconds since the trial's first metric point."""
COUNTERS = ("step", "epoch", "iteration", "iter", "batch")
"""Columns that count progress: the default x axis when a trial has one."""
LIVE_INTERVAL = 0.5
"""Seconds between two re-reads while the plotted trials' metric files grow."""


@dataclass
class PlotRead:
    """What one read of the plotted trials found."""

    frames: dict[str, pandas.DataFrame] = field(default_factory=dict)
    """Folder -> its metrics (trials without any are left out)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Folder -> its name in the legend (the params that differ, else its tid)."""
    titles: dict[str, str] = field(default_factory=dict)
    """Folder -> its tid label (for the title)."""
    read: int = 0
    """How many of the trials were read (fewer when cancelled)."""
    cancelled: bool = False
    """The read was stopped before the end."""


def load_series(
    paths: list[str],
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PlotRead:
    """Metric frames and legend names of the trials (blocking: call from a thread worker).

    Args:
        paths: the trial folders.
        progress: called with ``(done, total)`` after each trial.
        cancelled: asked before each trial; true stops the read with what was read.
    """
    from votakvot.exceptions import TrialLoadError
    from votakvot.metrics import load_metrics
    from votakvot.trial import read_trial

    out = PlotRead()
    tids: list[str | None] = []
    params: list[dict[str, Any]] = []
    done: list[str] = []
    for i, path in enumerate(paths):
        if cancelled is not None and cancelled():
            out.cancelled = True
            break
        try:
            trial = read_trial(path)
        except TrialLoadError:
            trial = None  # an unreadable record: its metrics may still be fine
        tids.append(trial.tid if trial is not None else None)
        params.append(dict(trial.params) if trial is not None else {})
        done.append(path)
        frame = load_metrics(path)
        if len(frame):
            out.frames[path] = frame
        out.read = i + 1
        if progress is not None:
            progress(i + 1, len(paths))
    # Named by what differs among the trials drawn (those without metrics say nothing).
    drawn = [i for i, p in enumerate(done) if p in out.frames]
    names = trial_labels(
        [done[i] for i in drawn], [tids[i] for i in drawn], [params[i] for i in drawn]
    )
    out.labels = dict(zip([done[i] for i in drawn], names, strict=True))
    out.titles = {p: trial_label(p, t) for p, t in zip(done, tids, strict=True)}
    return out


def _usable_at(frame: pandas.DataFrame) -> bool:
    """Whether every row has a finite ``at`` (a hand-written file may have none)."""
    import numpy
    import pandas

    if AT not in frame or not pandas.api.types.is_numeric_dtype(frame[AT]):
        return False
    return bool(numpy.isfinite(frame[AT].to_numpy(dtype=float)).all())


def _seconds(data: pandas.DataFrame, frame: pandas.DataFrame) -> list[Any]:
    """x values for the ``at`` axis; the row numbers when ``at`` is missing or not numbers."""
    if not _usable_at(frame):
        return list(range(len(data)))
    return list(data[AT] - frame[AT].iloc[0])


def _numeric_columns(frames: dict[str, pandas.DataFrame]) -> list[str]:
    import pandas

    seen: dict[str, None] = {}
    for frame in frames.values():
        for column in frame.columns:
            if column != AT and pandas.api.types.is_numeric_dtype(frame[column]):
                seen[str(column)] = None
    return list(seen)


def _is_integer(frames: dict[str, pandas.DataFrame], column: str) -> bool:
    """Whether a column holds whole numbers in every trial (so its ticks should too)."""
    import pandas

    for frame in frames.values():
        if column in frame:
            values = frame[column].dropna()
            if pandas.api.types.is_integer_dtype(values):
                continue
            if not pandas.api.types.is_numeric_dtype(values) or not (values % 1 == 0).all():
                return False
    return True


def _default_series(columns: list[str]) -> str:
    """What to plot first: a loss or error if there is one, else the first non-counter."""
    for hint in ("loss", "error", "acc"):
        for column in columns:
            if hint in column.lower():
                return column
    return next((c for c in columns if c.lower() not in COUNTERS), columns[0])


def _thin(xs: list[Any], ys: list[Any], most: int) -> tuple[list[Any], list[Any]]:
    """At most about ``most`` points, evenly spaced, the last one kept (a live run's newest)."""
    if len(xs) <= most:
        return xs, ys
    step = -(-len(xs) // most)
    keep = list(range(0, len(xs), step))
    if keep[-1] != len(xs) - 1:
        keep.append(len(xs) - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep]


class PlotScreen(StoppableReadingScreen[PlotRead]):
    """Pick the series and the x axis on the left; the plot follows the files live.

    Args:
        paths: trial folders; the same series of each is overlaid (the first
            :data:`MAX_SHOWN` of them).
    """

    CSS_PATH = "plot.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back (while reading: stop reading)"),
        Binding("x", "next_x", "Next x axis", tooltip="Cycle the x axis: row, at, columns"),
        Binding("l", "toggle_log", "Log y", tooltip="Logarithmic y axis on/off"),
        Binding("r", "reload", "Reload", show=False, tooltip="Read the metrics again"),
    ]

    READ_GROUP = "plot"
    PROGRESS_ID = "plot-progress"
    PROGRESS_TEXT = "reading metrics {done}/{total} trials · Esc: stop"

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.marked = len(paths)
        """How many trials were asked for."""
        self.paths = list(paths)[:MAX_SHOWN]
        """The trial folders plotted (at most :data:`MAX_SHOWN`)."""
        self.frames: dict[str, pandas.DataFrame] = {}
        """Folder -> its metrics, as last read."""
        self.labels: dict[str, str] = {}
        """Folder -> its legend name."""
        self.x_axis = ROW
        """The chosen x axis."""
        self.log_y = False
        """Logarithmic y axis."""
        self.reading = False
        """A read the user waits for is under way (Escape stops it instead of leaving);
        the re-reads that follow a running trial are not."""
        self.figure: Figure | None = None
        """What the plot shows (or is building)."""
        self._chosen: list[str] | None = None
        self._columns: list[str] = []
        self._x_options: list[str] = [ROW, AT]
        self._live_due = False
        self._legend = Text()
        self._cache: dict[tuple[str, str, str, int], tuple[list[Any], list[Any]] | None] = {}

    def compose(self) -> ComposeResult:
        title = f"metrics of {len(self.paths)} trials" if len(self.paths) > 1 else "metrics"
        yield Label(title, id="plot-title", markup=False)
        note = cap_message(len(self.paths), self.marked) if self.marked > MAX_SHOWN else ""
        yield Label(note, id="plot-note", markup=False, classes="" if note else "hidden")
        yield Label("", id="plot-progress", markup=False)
        with Horizontal(id="plot-body"):
            with Vertical(id="plot-controls"):
                yield Label("x axis")
                yield Select([(ROW, ROW), (AT, AT)], value=ROW, allow_blank=False, id="x-axis")
                yield Label("series (space: tick)")
                yield SelectionList[str](id="series")
            with Vertical(id="plot-area"):
                yield PlotCanvas(id="plot")
                yield Static("", id="plot-legend")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    def read(self) -> PlotRead:
        """The metrics read again, with progress on the screen."""
        worker = get_current_worker()
        return load_series(self.paths, self._report, lambda: worker.is_cancelled)

    def show(self, read: PlotRead) -> None:
        if not self._read_done(read.cancelled, read.read, len(self.paths)):
            return  # replaced by a newer read, which will show
        self.frames = read.frames
        self.labels = read.labels
        self._cache.clear()
        names = [read.titles[p] for p in self.paths if p in read.titles]
        if names:
            title = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
            self.query_one("#plot-title", Label).update(f"metrics of {title}")
        columns = _numeric_columns(self.frames)
        if self._chosen is None and columns:
            self._chosen = [_default_series(columns)]
            counter = next((c for c in columns if c.lower() in COUNTERS), None)
            if counter is not None and counter != self._chosen[0]:
                self.x_axis = counter
        self._columns = columns
        x_options = [ROW, AT, *columns]
        if self._x_options != x_options:
            self._x_options = x_options
            x_select = self.query_one("#x-axis", Select)
            with x_select.prevent(Select.Changed):
                x_select.set_options([(c, c) for c in x_options])
                x_select.value = self.x_axis if self.x_axis in x_options else ROW
        self._fill_series()
        self.draw()

    def _fill_series(self) -> None:
        """Offer every numeric column but the x axis; keep what is ticked."""
        series = self.query_one("#series", SelectionList)
        offered = [c for c in self._columns if c != self.x_axis]
        known = [str(series.get_option_at_index(i).value) for i in range(series.option_count)]
        if known == offered:
            return
        chosen = self._chosen or []
        with series.prevent(SelectionList.SelectedChanged):
            series.clear_options()
            series.add_options([(c, c, c in chosen) for c in offered])

    @on(SelectionList.SelectedChanged, "#series")
    def _series_changed(self) -> None:
        hidden = [c for c in self._chosen or [] if c == self.x_axis]  # not offered, kept
        self._chosen = [str(v) for v in self.query_one("#series", SelectionList).selected]
        self._chosen += hidden
        self.draw()

    @on(Select.Changed, "#x-axis")
    def _x_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.BLANK:
            self.x_axis = str(event.value)  # ticked series stay chosen, drawn once not x
            self._fill_series()
            self.draw()

    def action_next_x(self) -> None:
        """Cycle the x axis."""
        options = self._x_options
        index = options.index(self.x_axis) + 1 if self.x_axis in options else 0
        self.query_one("#x-axis", Select).value = options[index % len(options)]

    def action_toggle_log(self) -> None:
        """Logarithmic y axis on/off."""
        self.log_y = not self.log_y
        self.draw()

    def make_figure(self, most_points: int = 400) -> Figure:
        """The figure of the chosen series over the chosen x axis (cheap: no file access)."""
        chosen = [c for c in self._chosen or [] if c != self.x_axis]
        figure = Figure(log_y=self.log_y, ylabel=", ".join(chosen))
        if not self.frames:
            figure.title = "reading…" if self.reading else "no metrics (yet)"
            return figure
        if not chosen:
            figure.title = "no series selected: tick one on the left (space)"
            return figure
        overlay = len(self.frames) > 1
        for path, frame in self.frames.items():
            for column in chosen:
                points = self._points(path, frame, column, most_points)
                if points is None:
                    continue
                name = self.labels.get(path, trial_label(path))
                label = column
                if overlay:
                    label = f"{column} {name}" if len(chosen) > 1 else name
                color = PALETTE[len(figure.series) % len(PALETTE)]
                figure.series.append(Series(label, *points, color))
        if self.x_axis == AT:
            usable = all(_usable_at(f) for f in self.frames.values())
            figure.xlabel = "seconds since first point" if usable else "row (no usable 'at')"
            figure.integer_x = not usable
        else:
            figure.xlabel = self.x_axis
            figure.integer_x = self.x_axis == ROW or _is_integer(self.frames, self.x_axis)
        return figure

    def _points(
        self, path: str, frame: pandas.DataFrame, column: str, most: int
    ) -> tuple[list[Any], list[Any]] | None:
        """x and y of one series, thinned; kept until the next read (a key that only
        changes the scale or the ticks redraws without touching pandas)."""
        key = (path, column, self.x_axis, most)
        if key in self._cache:
            return self._cache[key]
        points: tuple[list[Any], list[Any]] | None = None
        if column in frame:
            data = frame[[c for c in dict.fromkeys((column, AT, self.x_axis)) if c in frame]]
            data = data.dropna(subset=[column])
            xs: list[Any] | None = None
            if self.x_axis == ROW:
                xs = list(range(len(data)))
            elif self.x_axis == AT:
                xs = _seconds(data, frame)
            elif self.x_axis in data:
                data = data.dropna(subset=[self.x_axis])
                xs = list(data[self.x_axis])
            if xs is not None:
                points = _thin(xs, list(data[column]), most)
        self._cache[key] = points
        return points

    def draw(self) -> None:
        """Redraw the plot from the frames already read (the build runs in a thread)."""
        canvas = self.query_one("#plot", PlotCanvas)
        self.figure = self.make_figure(max(2 * canvas.size.width, 100))
        canvas.draw(self.figure)
        legend = self.legend()
        if legend != self._legend:  # an unchanged legend costs no layout pass
            self._legend = legend
            self.query_one("#plot-legend", Static).update(legend)

    @property
    def drawn(self) -> bool:
        """Read and drawn: the plot on screen is the last figure at its size (tests wait on it)."""
        return not self.reading and self.query_one("#plot", PlotCanvas).drawn

    def legend(self) -> Text:
        """One coloured entry per series, outside the plot so it never hides a line."""
        text = Text()
        for series in self.figure.series if self.figure else []:
            if text:
                text.append("  ")
            # No-break spaces: a wrapped legend never parts an entry from its colour.
            text.append("━━\u00a0", style="rgb({},{},{})".format(*series.color))
            text.append(series.label.replace(" ", "\u00a0"))
        return text

    @on(MetricsChanged)
    def _on_metrics(self, message: MetricsChanged) -> None:
        """A plotted trial metered more: read again, at most every :data:`LIVE_INTERVAL` s."""
        if message.paths & set(self.paths) and not self._live_due:
            self._live_due = True
            self.set_timer(LIVE_INTERVAL, self._live_reload)

    def _live_reload(self) -> None:
        """Read again for a running trial; not a wait: Escape during it still leaves."""
        self._live_due = False
        ReadingScreen.reload(self)

    def action_back(self) -> None:
        """Stop a read under way; otherwise back to where you were."""
        if not self.stop_reading():
            self.dismiss(None)
