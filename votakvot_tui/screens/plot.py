"""Metrics of one or more trials, plotted with plotext; live while they run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Label, Select, SelectionList
from textual_plotext import PlotextPlot

from ..messages import MetricsChanged
from .base import ReadingScreen

if TYPE_CHECKING:
    import pandas

__all__ = ["PlotScreen", "load_series", "trial_label"]

ROW = "row"
"""x axis choice: the row number of each metric point."""
AT = "at"
"""x axis choice: seconds since the trial's first metric point."""
COUNTERS = ("step", "epoch", "iteration", "iter", "batch")
"""Columns that count progress: the default x axis when a trial has one."""
MAX_POINTS = 4000
"""Longer series are thinned evenly before drawing (a terminal has few columns)."""


def trial_label(path: str) -> str:
    """A short name for a trial in legends: its function and the start of its id."""
    parts = path.rstrip("/").split("/")
    last = parts[-1][:8]
    if len(parts) >= 5:
        return f"{parts[-4]}:{last}"
    return last


def load_series(paths: list[str]) -> dict[str, pandas.DataFrame]:
    """Metric frames of the trials (blocking: call from a thread worker)."""
    from votakvot.metrics import load_metrics

    out = {}
    for path in paths:
        frame = load_metrics(path)
        if len(frame):
            out[path] = frame
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


def _default_series(columns: list[str]) -> str:
    """What to plot first: a loss or error if there is one, else the first non-counter."""
    for hint in ("loss", "error", "acc"):
        for column in columns:
            if hint in column.lower():
                return column
    return next((c for c in columns if c.lower() not in COUNTERS), columns[0])


class PlotScreen(ReadingScreen["dict[str, pandas.DataFrame]"]):
    """Pick the series and the x axis on the left; the plot follows the files live.

    Args:
        paths: trial folders; the same series of each is overlaid.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to where you were"),
        Binding("x", "next_x", "Next x axis", tooltip="Cycle the x axis: row, at, columns"),
        Binding("l", "toggle_log", "Log y", tooltip="Logarithmic y axis on/off"),
        Binding("r", "reload", "Reload", show=False, tooltip="Read the metrics again"),
    ]

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = list(paths)
        """The trial folders plotted."""
        self.frames: dict[str, pandas.DataFrame] = {}
        """Folder -> its metrics, as last read."""
        self.x_axis = ROW
        """The chosen x axis."""
        self.log_y = False
        """Logarithmic y axis."""
        self._chosen: list[str] | None = None

    def compose(self) -> ComposeResult:
        names = ", ".join(trial_label(p) for p in self.paths[:4])
        if len(self.paths) > 4:
            names += f" +{len(self.paths) - 4}"
        yield Label(f"metrics of {names}", id="plot-title", markup=False)
        with Horizontal():
            with Vertical(id="plot-controls"):
                yield Label("x axis")
                yield Select([(ROW, ROW), (AT, AT)], value=ROW, allow_blank=False, id="x-axis")
                yield Label("series")
                yield SelectionList[str](id="series")
            yield PlotextPlot(id="plot")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.reload()

    READ_GROUP = "plot"

    def read(self) -> dict[str, pandas.DataFrame]:
        """The metrics read again."""
        return load_series(self.paths)

    def show(self, frames: dict[str, pandas.DataFrame]) -> None:
        self.frames = frames
        columns = _numeric_columns(frames)
        series = self.query_one("#series", SelectionList)
        if self._chosen is None and columns:
            self._chosen = [_default_series(columns)]
            counter = next((c for c in columns if c.lower() in COUNTERS), None)
            if counter is not None and counter != self._chosen[0]:
                self.x_axis = counter
        known = {str(series.get_option_at_index(i).value) for i in range(series.option_count)}
        chosen = self._chosen or []
        for column in columns:
            if column not in known:
                series.add_option((column, column, column in chosen))
        x_select = self.query_one("#x-axis", Select)
        x_options = [ROW, AT, *columns]
        if list(getattr(self, "_x_options", [])) != x_options:
            self._x_options = x_options
            with x_select.prevent(Select.Changed):
                x_select.set_options([(c, c) for c in x_options])
                x_select.value = self.x_axis if self.x_axis in x_options else ROW
        self.draw()

    @on(SelectionList.SelectedChanged, "#series")
    def _series_changed(self) -> None:
        self._chosen = [str(v) for v in self.query_one("#series", SelectionList).selected]
        self.draw()

    @on(Select.Changed, "#x-axis")
    def _x_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.BLANK:
            self.x_axis = str(event.value)
            self.draw()

    def action_next_x(self) -> None:
        """Cycle the x axis."""
        options = getattr(self, "_x_options", [ROW, AT])
        index = options.index(self.x_axis) + 1 if self.x_axis in options else 0
        self.query_one("#x-axis", Select).value = options[index % len(options)]

    def action_toggle_log(self) -> None:
        """Logarithmic y axis on/off."""
        self.log_y = not self.log_y
        self.draw()

    def draw(self) -> None:
        """Redraw the plot from the frames already read (cheap: no file access)."""
        widget = self.query_one("#plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        chosen = self._chosen or []
        if not self.frames:
            plt.title("no metrics (yet)")
            widget.refresh()
            return
        overlay = len(self.frames) > 1
        for path, frame in self.frames.items():
            for column in chosen:
                if column not in frame:
                    continue
                data = frame[[c for c in {column, AT, self.x_axis} if c in frame]].dropna(
                    subset=[column]
                )
                if self.x_axis == ROW:
                    xs: list[Any] = list(range(len(data)))
                elif self.x_axis == AT:
                    xs = _seconds(data, frame)
                elif self.x_axis in data:
                    xs = list(data[self.x_axis])
                else:
                    continue
                ys = list(data[column])
                step = max(len(xs) // MAX_POINTS, 1)
                label = f"{column} {trial_label(path)}" if overlay else column
                plt.plot(xs[::step], ys[::step], label=label, marker="braille")
        label = self.x_axis
        if self.x_axis == AT:
            usable = all(_usable_at(f) for f in self.frames.values())
            label = "seconds since first point" if usable else "row (no usable 'at')"
        plt.xlabel(label)
        if self.log_y:
            plt.yscale("log")
        widget.refresh()

    @on(MetricsChanged)
    def _on_metrics(self, message: MetricsChanged) -> None:
        if message.paths & set(self.paths):
            self.reload()

    def action_back(self) -> None:
        """Back to where you were."""
        self.dismiss(None)
