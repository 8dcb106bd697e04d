"""A plotext plot built off the event loop, so a dozen long series never freeze the keys.

``PlotextPlot`` builds its figure inside ``render``, on the event loop: twelve
series of 4,000 points took 8 s at 150x40, paid again on every refresh. Here the
screen hands over a :class:`Figure` (plain data); a thread builds the screen lines
at the widget's size (a big figure entirely in a helper process, down to the
segments) and ``render_line`` only returns the last lines built.
"""

from __future__ import annotations

import io
import math
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import work
from textual.events import Resize
from textual.strip import Strip
from textual.worker import Worker, WorkerState, get_current_worker
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

__all__ = ["PALETTE", "Figure", "PlotCanvas", "Series", "integer_ticks", "screen_lines"]

PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (67, 99, 216),
    (245, 130, 49),
    (145, 30, 180),
    (66, 212, 244),
    (240, 50, 230),
    (191, 239, 69),
    (250, 190, 212),
    (70, 153, 144),
    (220, 190, 255),
    (154, 99, 36),
    (255, 250, 200),
)
"""Fourteen colours told apart on dark and light backgrounds (Sasha Trubetskoy's list);
series past the fourteenth reuse them."""


@dataclass
class Series:
    """One line of the plot."""

    label: str
    """Shown in the legend (outside the plot)."""
    xs: list[Any]
    """x values, already thinned to what the terminal can show."""
    ys: list[Any]
    """y values, as many as ``xs``."""
    color: tuple[int, int, int]
    """The line's colour, the same as its legend entry's."""


@dataclass
class Figure:
    """Everything drawn, as plain data a thread can build from."""

    series: list[Series] = field(default_factory=list)
    """The lines."""
    xlabel: str = ""
    """Under the x axis."""
    ylabel: str = ""
    """Names the y axis."""
    title: str = ""
    """Over the plot (an empty plot says why it is empty here)."""
    log_y: bool = False
    """Logarithmic y axis."""
    integer_x: bool = False
    """x holds integers (steps, epochs): ticks at whole numbers only."""


def integer_ticks(low: float, high: float, most: int = 8) -> list[int]:
    """Whole-number ticks from ``low`` to ``high``, at most ``most`` of them, 1-2-5 spaced."""
    span = max(high - low, 1)
    raw = span / max(most - 1, 1)
    magnitude = 10 ** max(math.floor(math.log10(raw)), 0) if raw > 0 else 1
    step = next((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), 10 * magnitude)
    step = max(int(step), 1)
    first = math.ceil(low / step) * step
    return list(range(int(first), math.floor(high) + 1, step))


def build_text(figure: Figure, width: int, height: int, theme: str) -> Text:
    """The figure drawn at ``width`` x ``height`` cells (slow: off the event loop)."""
    return Text.from_ansi(_build(figure, width, height, theme))


def screen_lines(text: Text, width: int, console: Console) -> list[list[Segment]]:
    """``text`` cut into screen lines of exactly ``width`` cells, as segments (what
    :meth:`PlotCanvas.render_line` shows).

    Not on the event loop: for a big plot, parsing the ANSI text into ~1,000 coloured
    spans and those into segments is 100+ ms of pure Python; done in a thread of the
    app it held the GIL against the loop (a key took up to 375 ms)."""
    return [
        list(Strip(list(line.render(console)), line.cell_len).crop_extend(0, width, None))
        for line in text.split("\n", allow_blank=True)
    ]


Packed = tuple[list[str], list[list[tuple[str, int]]]]
"""Screen lines as they cross the pipe: the style definitions, and each line's runs of
text with the index of their style (-1: none)."""


def build_in_process(figure: Figure, width: int, height: int, theme: str, colours: Any) -> Packed:
    """What runs in the helper process: the figure drawn and cut into screen lines.

    Styles go back as text, not pickled: a ``Style`` keeps its hash, and hashes of
    text differ between processes, so an unpickled one would not equal its twin.
    """
    from plotext._dict import themes

    if colours is not None:
        themes.setdefault(theme, colours)  # the app's theme, registered in the app's process
    console = Console(file=io.StringIO(), width=max(width, 1), color_system="truecolor")
    lines = screen_lines(build_text(figure, width, height, theme), width, console)
    index: dict[Style | None, int] = {None: -1}
    packed = [[(s.text, index.setdefault(s.style, len(index) - 1)) for s in line] for line in lines]
    return [str(style) for style in index if style is not None], packed


def _unpack(packed: Packed) -> list[list[Segment]]:
    """The segments of :func:`build_in_process`'s lines (a few dozen styles parsed)."""
    definitions, lines = packed
    styles: list[Style | None] = [Style.parse(d) for d in definitions]
    styles.append(None)  # index -1
    return [[Segment(text, styles[i]) for text, i in line] for line in lines]


class _Builder:
    """The helper process drawing big plots, started on the first one and kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def build(
        self, figure: Figure, width: int, height: int, theme: str, colours: Any
    ) -> list[list[Segment]]:
        """The figure's screen lines (:func:`screen_lines`), drawn in the helper process
        (blocking; the pipe is waited on without the GIL, the answer unpickled in C)."""
        with self._lock:  # one request at a time: answers come back in order
            process = self._process
            if process is None or process.poll() is not None:
                process = self._process = subprocess.Popen(
                    [sys.executable, "-m", "votakvot_tui.widgets._plot_builder"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            assert process.stdin is not None and process.stdout is not None
            try:
                pickle.dump((figure, width, height, theme, colours), process.stdin)
                process.stdin.flush()
                packed: Packed = pickle.load(process.stdout)
            except (EOFError, OSError) as exc:
                process.kill()
                _, err = process.communicate()
                self._process = None
                said = err.decode(errors="replace")[-2000:]
                raise RuntimeError(f"the plot drawing process ended ({exc!r}): {said}") from exc
        return _unpack(packed)


_BUILDER = _Builder()


def _points(figure: Figure) -> int:
    return sum(len(s.xs) for s in figure.series)


def _build(figure: Figure, width: int, height: int, theme: str) -> str:
    plt = Plot()
    plt.plotsize(width, height)
    plt._set_size(width, height)  # as PlotextPlot.render does (textual-plotext issue 5)
    plt.theme(theme)
    xs_all = [x for s in figure.series for x in s.xs]
    for series in figure.series:
        plt.plot(series.xs, series.ys, color=series.color, marker="braille")
    if figure.integer_x and xs_all:
        ticks = integer_ticks(min(xs_all), max(xs_all), max(2, width // 10))
        if ticks:
            plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])
    if figure.title:
        plt.title(figure.title)
    plt.xlabel(figure.xlabel)
    plt.ylabel(figure.ylabel)
    if figure.log_y and figure.series:  # plotext fails on a log axis with nothing on it
        plt.yscale("log")
    return str(plt.build())


class PlotCanvas(PlotextPlot):
    """Shows the last :class:`Figure` given to :meth:`draw`, built in a thread.

    Until the first build is done it shows ``drawing…``; while a newer build runs
    the older text stays on screen, so the plot never blinks.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.figure: Figure | None = None
        """The figure last asked for."""
        self.built_for: tuple[Figure, int, int] | None = None
        """The figure and size the text on screen was built for."""
        self._text: Text | None = Text("drawing…")
        self._strips: list[Strip] = []

    def draw(self, figure: Figure) -> None:
        """Show ``figure`` (returns at once; the text follows from a thread)."""
        self.figure = figure
        self._start()

    def on_resize(self, event: Resize) -> None:
        self._start()

    def _start(self) -> None:
        width, height = self.size
        if self.figure is None or width < 4 or height < 3:
            return
        theme = self._get_plotext_theme_name(self.app.theme)
        self._build(self.figure, width, height, theme)

    IN_PROCESS_POINTS: ClassVar[int] = 1500
    """Figures with more points are built in a helper process. In a thread, plotext's
    pure-Python drawing held the GIL against the event loop: keys took 350 ms (median)
    while twelve series were drawn."""

    @work(thread=True, exclusive=True, group="plot-build", exit_on_error=False)
    def _build(self, figure: Figure, width: int, height: int, theme: str) -> None:
        # Cut into screen lines off the loop too: on the event loop, turning ~3,000
        # coloured spans into segments at every refresh cost more than the key that
        # caused it. A big figure comes back from the helper process as lines already.
        text: Text | None = None
        if _points(figure) > self.IN_PROCESS_POINTS:
            from plotext._dict import themes

            lines = _BUILDER.build(figure, width, height, theme, themes.get(theme))
        else:
            text = build_text(figure, width, height, theme)
            lines = screen_lines(text, width, self.app.console)
        strips = [Strip(segments, width) for segments in lines]
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, text, strips, figure, width, height)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed build is reported like any screen's failed worker (the error dialog)."""
        from ..messages import WorkerFailed

        error = event.worker.error
        if event.state == WorkerState.ERROR and error is not None:
            self.app.post_message(WorkerFailed(event.worker.name, error))

    def _show(
        self, text: Text | None, strips: list[Strip], figure: Figure, width: int, height: int
    ) -> None:
        if figure is not self.figure:
            return  # a newer figure is on its way
        self._text = text
        self._strips = strips
        self.built_for = (figure, width, height)
        self.refresh()

    @property
    def drawn(self) -> bool:
        """Whether the text on screen is the last figure at the current size."""
        return (
            self.built_for is not None
            and self.built_for[0] is self.figure
            and self.built_for[1:] == tuple(self.size)
        )

    def render(self) -> Text:
        """The plot as text (what :meth:`render_line` shows, line by line; a plot from
        the helper process as its plain text, made when asked, never while drawing)."""
        if self._text is None:
            self._text = Text("\n".join(strip.text for strip in self._strips))
        return self._text

    def render_line(self, y: int) -> Strip:
        """One line of the last plot built, cut into segments by the worker."""
        if not self._strips:
            return super().render_line(y)  # "drawing…"
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width)
