"""The live view of one ``votakvot-ab`` run, in the spirit of oha's terminal view.

Progress, calls/s and p50/p99 over time, the latency histogram, percentiles,
result counts and error kinds with their first traceback. The trial's files are
read in a thread worker several times a second (see :mod:`votakvot_tui.core.ab_data`);
a finished run is read once and shown as recorded.
"""

from __future__ import annotations

import os
import platform
import signal
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Label, ProgressBar, Static
from textual_plotext import PlotextPlot

from votakvot.storage import redact

from ..core.ab_data import AbReader, AbSnapshot, display_bins, fmt_latency
from ..messages import LaunchAbAgain
from ..widgets.plot_canvas import integer_ticks
from .base import BaseScreen

__all__ = ["AbMonitorScreen", "histogram_text", "percentile_table"]

INTERVAL = 0.2
"""Seconds between reads of a running trial's files (five frames a second)."""
FINAL_STATES = ("done", "failed", "interrupted")
MAX_POINTS = 600
"""Seconds of history drawn (the newest ones) in the time series."""
NARROW = 120
"""Below this many columns the panels stack (charts over the figures) instead of
standing side by side, as oha does in a narrow terminal."""


def histogram_text(snapshot: AbSnapshot, bins: int = 12, width: int = 30) -> Text:
    """oha-style bars: one line per latency range, ``upper edge [count] ■■■■``."""
    rows = display_bins(snapshot.buckets, bins)
    text = Text()
    if not rows:
        text.append("no successful calls yet", style="dim")
        return text
    peak = max(count for _, count in rows) or 1
    count_width = len(f"{peak:,}")
    for edge, count in rows:
        bar = "■" * (round(width * count / peak) if count else 0)
        text.append(f"{fmt_latency(edge):>10} ", style="bold")
        text.append(f"[{count:>{count_width},}] ", style="dim")
        text.append(bar + "\n", style="green")
    text.rstrip()
    return text


def percentile_table(snapshot: AbSnapshot) -> Table:
    """Latency figures: percentiles on the left, min, mean and max beside them.

    Side by side rather than one long column: the panel stays seven lines high,
    which leaves the histogram below it room at 30 rows.
    """
    table = Table(box=None, show_header=False, padding=(0, 1), expand=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="bold")
    table.add_column(justify="right")
    left = [(name, fmt_latency(value)) for name, value in snapshot.percentiles()]
    right = [(name, fmt_latency(snapshot.latency(name))) for name in ("min", "mean", "max")]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ("", "")
        b = right[i] if i < len(right) else ("", "")
        table.add_row(*a, *b)
    return table


def _figures(snapshot: AbSnapshot) -> Text:
    rate = snapshot.rate()
    text = Text()
    label = "calls/s now" if snapshot.running else "calls/s"
    text.append(f"{label} ", style="dim")
    text.append(f"{rate:,.0f}" if rate is not None else "-", style="bold")
    text.append("   ok ", style="dim")
    ok = (snapshot.status or {}).get("ok", snapshot.summary.get("ok"))
    text.append(f"{ok:,}" if isinstance(ok, int) else "-", style="bold green")
    text.append("   errors ", style="dim")
    text.append(f"{snapshot.errors:,}", style="bold red" if snapshot.errors else "bold")
    text.append("   elapsed ", style="dim")
    text.append(f"{snapshot.elapsed:.1f}s", style="bold")
    target = (snapshot.status or {}).get("target_rate") or snapshot.params.get("rate")
    if target:
        late = (snapshot.status or {}).get("late", snapshot.summary.get("late"))
        text.append(f"   target {target:g}/s late {late or 0:,}", style="dim")
    return text


def _results_text(snapshot: AbSnapshot) -> Text:
    rows = snapshot.results()
    text = Text()
    if not rows:
        text.append("counted when the run ends" if snapshot.running else "no results", style="dim")
        return text
    total = sum(c for _, c in rows) or 1
    for value, count in rows[:12]:
        text.append(f"{count:>10,} ", style="bold")
        text.append(f"{100.0 * count / total:5.1f}%  ", style="dim")
        text.append(f"{value!r}\n")
    if len(rows) > 12:
        text.append(f"... {len(rows) - 12} more values", style="dim")
    text.rstrip()
    return text


def _errors_text(snapshot: AbSnapshot) -> Text:
    kinds = snapshot.error_kinds()
    text = Text()
    if not kinds:
        if snapshot.errors and snapshot.running:
            text.append(
                f"{snapshot.errors:,} errors; kinds are listed when the run ends", style="dim"
            )
        else:
            text.append("no errors", style="dim")
        return text
    for kind in kinds:
        text.append(f"{int(kind.get('count') or 0):>10,} ", style="bold red")
        text.append(f"{kind.get('type')}: {kind.get('message')}\n")
    first = next((k.get("traceback") for k in kinds if k.get("traceback")), None)
    if first:
        text.append("\nfirst traceback:\n", style="dim")
        text.append(str(first).rstrip(), style="red")
    return text


def _whole_seconds(plt: Any, times: list[float], width: int) -> None:
    """Ticks on whole seconds (``1 2 3``, not ``1.0 2.8 4.5``)."""
    if len(times) > 1 and max(times) - min(times) >= 2:
        ticks = integer_ticks(min(times), max(times), max(2, width // 10))
        if ticks:
            plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])


class _HistogramPanel(Static):
    """The histogram's panel: redrawn to fit whenever its size changes."""

    def on_resize(self) -> None:
        screen = self.screen
        if isinstance(screen, AbMonitorScreen) and screen.snapshot is not None:
            screen._draw_histogram(screen.snapshot)


class AbMonitorScreen(BaseScreen[None]):
    """The monitor of the ab trial in ``path``; panels stack below :data:`NARROW` columns.

    Args:
        path: the trial folder (it may not exist yet when the run is starting).
        job_id: the job running it, when started from the app (Stop uses it).
        interval: seconds between reads while it runs.
    """

    CSS_PATH = "ab_monitor.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to where you were"),
        Binding("s", "stop", "Stop run", tooltip="Stop the run; it records what it measured"),
        Binding("o", "output", "Output", show=False, tooltip="Show the job's output"),
        Binding("r", "again", "Run again", tooltip="The launch form with this run's options"),
    ]

    def __init__(self, path: str, job_id: str | None = None, interval: float = INTERVAL) -> None:
        super().__init__(classes="ab-monitor")
        self.path = path
        """The trial folder watched."""
        self.job_id = job_id
        """The job that runs it, if the app started it."""
        self.interval = interval
        self.reader = AbReader(path)
        self.snapshot: AbSnapshot | None = None
        """What is on screen."""
        self.frames = 0
        """Reads shown so far (tests wait on it)."""
        self._reading = False
        self._final = False

    def compose(self) -> ComposeResult:
        yield Label(f"ab {redact(self.path)}", id="abm-title", markup=False)
        with Horizontal(id="abm-top"):
            yield ProgressBar(total=None, show_eta=False, id="abm-progress")
            yield Label("", id="abm-progress-text", markup=False)
        yield Static("", id="abm-figures")
        with Horizontal(id="abm-middle"):
            with Vertical(id="abm-charts"):
                yield PlotextPlot(id="abm-rate")
                yield PlotextPlot(id="abm-latency")
            with Vertical(id="abm-side"):
                yield Static("", id="abm-percentiles")
                yield _HistogramPanel("", id="abm-histogram")
        with Horizontal(id="abm-bottom"):
            with VerticalScroll(id="abm-results-box"):
                yield Static("", id="abm-results")
            with VerticalScroll(id="abm-errors-box"):
                yield Static("", id="abm-errors")
        yield Footer()

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")
        self.query_one("#abm-percentiles").border_title = "latency"
        self.query_one("#abm-histogram").border_title = "histogram"
        self.query_one("#abm-results-box").border_title = "results"
        self.query_one("#abm-errors-box").border_title = "errors"
        self._timer = self.set_interval(self.interval, self._poll)
        self._poll()

    def _poll(self) -> None:
        if self._reading or self._final:
            return
        self._reading = True
        self.read_files()

    @work(thread=True, exclusive=True, group="ab-monitor", exit_on_error=False)
    def read_files(self) -> None:
        """Read what changed in the trial folder (off the event loop)."""
        try:
            snapshot = self.reader.read()
            if self.job_id is not None and snapshot.record is None:
                self._check_job(snapshot)
        finally:
            self._reading = False
        self.app.call_from_thread(self.show, snapshot)

    def _check_job(self, snapshot: AbSnapshot) -> None:
        """A job that ended before writing its trial (a bad option, an import error)."""
        from ..core.jobs import JobError

        try:
            job = self.job_manager.get(self.job_id or "")
        except JobError as exc:
            snapshot.error = str(exc)
            return
        if job.finished or job.state == "lost":
            tail = job.tail(12, "stderr") or job.tail(12)
            snapshot.state = job.state
            snapshot.error = f"votakvot-ab ended ({job.describe()}) without a trial: {tail}"

    def show(self, snapshot: AbSnapshot) -> None:
        """Draw a snapshot (on the event loop)."""
        self.snapshot = snapshot
        self.frames += 1
        ended_early = snapshot.record is None and snapshot.state in ("failed", "lost", "stopped")
        recorded_end = snapshot.state in FINAL_STATES and snapshot.record is not None
        # A "done" record without its summary yet is read again; the summary follows.
        if ended_early or (recorded_end and (snapshot.summary or snapshot.state != "done")):
            self._final = True
            self._timer.pause()
        state = snapshot.state
        title = f"ab {snapshot.callable}  ·  {state}"
        if snapshot.error and not ended_early:
            title += f"  ·  cannot read: {snapshot.error}"
        if snapshot.record is None and snapshot.status is None:
            title += "  ·  waiting for the run to start"
        self.query_one("#abm-title", Label).update(title)
        self.set_class(snapshot.running, "-running")
        self.set_class(state in ("failed", "stale"), "-failed")
        self.set_class(state == "interrupted", "-interrupted")
        done, total, progress_text = snapshot.progress()
        bar = self.query_one("#abm-progress", ProgressBar)
        if total:
            bar.update(total=total, progress=done)
        elif state in FINAL_STATES:
            bar.update(total=1, progress=1)
        self.query_one("#abm-progress-text", Label).update(progress_text)
        self.query_one("#abm-figures", Static).update(_figures(snapshot))
        self.query_one("#abm-percentiles", Static).update(percentile_table(snapshot))
        self._draw_histogram(snapshot)
        self.query_one("#abm-results", Static).update(_results_text(snapshot))
        if ended_early:
            self.query_one("#abm-errors", Static).update(Text(snapshot.error or "", "red"))
        else:
            self.query_one("#abm-errors", Static).update(_errors_text(snapshot))
        self._draw_series(snapshot)

    def _draw_histogram(self, snapshot: AbSnapshot) -> None:
        """As many ranges as the panel has lines, bars as wide as it allows."""
        panel = self.query_one("#abm-histogram", Static)
        size = panel.content_size
        bins = min(max(size.height, 4), 24) if size.height else 12
        width = max(size.width - 22, 8) if size.width else 30
        panel.update(histogram_text(snapshot, bins=bins, width=width))

    def _draw_series(self, snapshot: AbSnapshot) -> None:
        rows = snapshot.series[-MAX_POINTS:]
        xs = [r.get("second", float(i + 1)) for i, r in enumerate(rows)]
        rate = self.query_one("#abm-rate", PlotextPlot)
        plt = rate.plt
        plt.clear_data()
        plt.clear_figure()
        times = list(xs)
        calls = [r.get("calls", 0.0) for r in rows]
        if snapshot.running:
            # The per-second rows lag a flush behind: go on with the status samples.
            last = times[-1] if times else 0.0
            for t, value in snapshot.live_rate:
                if t > last:
                    times.append(t)
                    calls.append(value)
        if times:
            plt.plot(times, calls, marker="braille", color="green", label="calls/s")
            # From zero: a dip from 1,200 to 1,100 calls/s is not a collapse.
            plt.ylim(0, max(max(calls) * 1.1, 1.0))
        if any(r.get("errors") for r in rows):
            # Errors on their own (right) axis: 20/s would lie flat on a 1,200/s scale.
            errors = [r.get("errors", 0.0) for r in rows]
            plt.plot(xs, errors, marker="braille", color="red", label="errors/s", yside="right")
            # textual-plotext's stub types yside as a float; plotext takes "left"/"right".
            plt.ylim(0, max(max(errors) * 1.1, 1.0), yside="right")  # type: ignore[arg-type]
        plt.xlabel("seconds since start")
        _whole_seconds(plt, times, rate.size.width)
        rate.refresh()
        latency = self.query_one("#abm-latency", PlotextPlot)
        plt = latency.plt
        plt.clear_data()
        plt.clear_figure()
        plt.ylabel("latency (ms)")
        plt.xlabel("seconds since start")
        _whole_seconds(plt, xs, latency.size.width)
        for key, color in (("p50", "cyan"), ("p99", "magenta")):
            points = [(x, r[key] * 1e3) for x, r in zip(xs, rows) if r.get(key) is not None]
            if points:
                plt.plot(
                    [p[0] for p in points],
                    [p[1] for p in points],
                    marker="braille",
                    color=color,
                    label=key,
                )
        latency.refresh()

    # ---------------------------------------------------------------- actions

    def action_back(self) -> None:
        """Back to where you were (a running job goes on)."""
        self.dismiss(None)

    def action_stop(self) -> None:
        """Stop the run: SIGINT, so votakvot-ab records its partial results as interrupted."""
        snapshot = self.snapshot
        if snapshot is not None and snapshot.state in FINAL_STATES:
            self.notify(f"the run already ended ({snapshot.state})")
            return
        if self.job_id is not None:
            job = self.job_manager.stop(self.job_id)
            self.notify(f"stopping {job.title} (SIGINT; it keeps what it measured)")
            return
        pid = (snapshot.status or {}).get("pid") if snapshot else None
        record = (snapshot.record or {}) if snapshot else {}
        node = ((record.get("meta") or {}).get("system") or {}).get("node")
        if isinstance(pid, int) and node == platform.node() and snapshot and snapshot.running:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                self.notify(f"process {pid} is gone", severity="warning")
                return
            except PermissionError as exc:
                self.notify(f"cannot stop process {pid}: {exc}", severity="error")
                return
            self.notify(f"sent SIGINT to votakvot-ab (pid {pid})")
            return
        self.notify(
            "this run was not started here and runs on another machine (or not at all): "
            "stop it where it runs (Ctrl-C)",
            severity="warning",
        )

    def action_output(self) -> None:
        """Open the jobs panel on this run's job."""
        from .jobs import JobsScreen

        if self.job_id is None:
            self.notify("this run was not started from the dashboard", severity="warning")
            return
        self.app.push_screen(JobsScreen(select=self.job_id))

    def action_again(self) -> None:
        """Open the launch form filled with this run's options (edit, then start)."""
        snapshot = self.snapshot
        if snapshot is None or not snapshot.params:
            self.notify("the run's options are not recorded yet", severity="warning")
            return
        tid = str((snapshot.record or {}).get("tid") or "")
        self.app.post_message(LaunchAbAgain(self.path, tid, dict(snapshot.params)))
