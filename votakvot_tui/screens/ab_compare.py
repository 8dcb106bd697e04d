"""Two ab runs side by side: overlaid latency histograms, per-percentile and throughput deltas.

The figures and the verdict come from ``votakvot.ab.compare`` (what
``votakvot-ab compare A B`` prints), so the screen and the command agree.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Label, Static
from textual_plotext import PlotextPlot

from ..core.ab_data import AbReader, AbSnapshot, fmt_latency
from .base import ReadingScreen

__all__ = ["AbCompareScreen", "compare_table"]

HIST_POINTS = 40
"""Latency ranges (log-spaced) the overlaid histograms are drawn over."""


def _fmt(metric: str, value: float | None) -> str:
    from votakvot.ab.compare import LATENCY_METRICS

    if value is None:
        return "-"
    if metric in LATENCY_METRICS:
        return fmt_latency(value)
    if metric == "error_rate":
        return f"{value:.2%}"
    if metric == "errors":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def compare_table(a: AbSnapshot, b: AbSnapshot) -> tuple[Table, str]:
    """The rows of ``votakvot-ab compare``: A, B and the change, coloured by better/worse."""
    from votakvot.ab.compare import HIGHER_IS_BETTER, NOISE, compare

    result = compare(a.summary, b.summary, [])
    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("metric")
    table.add_column("A", justify="right")
    table.add_column("B", justify="right")
    table.add_column("change", justify="right")
    for row in result["rows"]:
        name = row["metric"]
        change = row["change"]
        style = ""
        if change is not None and abs(change) >= NOISE:
            good = change > 0 if name in HIGHER_IS_BETTER else change < 0
            style = "green" if good else "red"
        table.add_row(
            "calls/s" if name == "rate" else name,
            _fmt(name, row["a"]),
            _fmt(name, row["b"]),
            Text("-" if change is None else f"{change:+.1%}", style=style),
        )
    return table, str(result["verdict"])


def _log_bins(snapshots: list[AbSnapshot]) -> list[float]:
    lows = [s.buckets[0][0] for s in snapshots if s.buckets]
    highs = [s.buckets[-1][1] for s in snapshots if s.buckets]
    if not lows:
        return []
    import math

    low, high = max(min(lows), 1), max(highs)
    if high <= low:
        return [float(low), float(high + 1)]
    step = (math.log(high) - math.log(low)) / HIST_POINTS
    return [math.exp(math.log(low) + step * i) for i in range(HIST_POINTS + 1)]


def _share(snapshot: AbSnapshot, edges: list[float]) -> list[float]:
    """Fraction of successful calls per latency range (so runs of other sizes compare)."""
    counts = [0] * (len(edges) - 1)
    total = sum(b[2] for b in snapshot.buckets) or 1
    for lower, upper, count in snapshot.buckets:
        mid = (lower + upper) / 2.0
        for i in range(len(counts)):
            if mid < edges[i + 1] or i == len(counts) - 1:
                counts[i] += count
                break
    return [100.0 * c / total for c in counts]


class AbCompareScreen(ReadingScreen[tuple[AbSnapshot, AbSnapshot]]):
    """Run ``b`` against run ``a``.

    Args:
        a: the baseline trial folder.
        b: the trial compared with it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to where you were"),
        Binding("x", "swap", "Swap A/B", tooltip="Make B the baseline"),
    ]

    def __init__(self, a: str, b: str) -> None:
        super().__init__(classes="ab-compare")
        self.a = a
        self.b = b
        self.snapshots: tuple[AbSnapshot, AbSnapshot] | None = None
        """Both runs as read."""

    def compose(self) -> ComposeResult:
        yield Label("", id="abc-title", markup=False)
        with Horizontal(id="abc-body"):
            with Vertical(id="abc-left"):
                yield Static("", id="abc-runs")
                yield Static("", id="abc-table")
                yield Static("", id="abc-verdict")
            yield PlotextPlot(id="abc-histogram")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    READ_GROUP = "ab-compare"

    def read(self) -> tuple[AbSnapshot, AbSnapshot]:
        """Both runs."""
        return AbReader(self.a).read(), AbReader(self.b).read()

    def show(self, read: tuple[AbSnapshot, AbSnapshot]) -> None:
        """Draw the comparison."""
        self.snapshots = read
        a, b = read
        self.query_one("#abc-title", Label).update(f"compare ab runs: {a.callable} / {b.callable}")
        runs = Text()
        for name, snap in (("A", a), ("B", b)):
            tid = (snap.record or {}).get("tid", snap.path)
            runs.append(f"{name} ", style="bold")
            runs.append(f"{tid} ({snap.state}) {_describe(snap.params)}\n")
        runs.rstrip()
        self.query_one("#abc-runs", Static).update(runs)
        missing = [n for n, s in (("A", a), ("B", b)) if not s.summary]
        if missing:
            self.query_one("#abc-table", Static).update(
                f"run {' and '.join(missing)} has no summary yet (still running, or it "
                "ended without one); compare once both finished"
            )
            self.query_one("#abc-verdict", Static).update("")
        else:
            table, verdict = compare_table(a, b)
            self.query_one("#abc-table", Static).update(table)
            self.query_one("#abc-verdict", Static).update(Text(f"verdict: {verdict}", "bold"))
        self._draw(a, b)

    def _draw(self, a: AbSnapshot, b: AbSnapshot) -> None:
        widget = self.query_one("#abc-histogram", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("latency histogram (% of calls)")
        edges = _log_bins([a, b])
        if edges:
            mids = [(edges[i] * edges[i + 1]) ** 0.5 / 1e6 for i in range(len(edges) - 1)]
            plt.xscale("log")
            plt.xlabel("ms")
            plt.plot(mids, _share(a, edges), label="A", marker="braille", color="cyan")
            plt.plot(mids, _share(b, edges), label="B", marker="braille", color="magenta")
        widget.refresh()

    def action_back(self) -> None:
        """Back to where you were."""
        self.dismiss(None)

    def action_swap(self) -> None:
        """Make B the baseline."""
        self.a, self.b = self.b, self.a
        self.reload()


def _describe(params: dict[str, Any]) -> str:
    parts = []
    if params.get("number") is not None and not params.get("duration"):
        parts.append(f"-n {params['number']}")
    if params.get("duration"):
        parts.append(f"-d {params['duration']:g}")
    if params.get("concurrency"):
        parts.append(f"-c {params['concurrency']}")
    if params.get("engine") == "gevent":
        parts.append("--gevent")
    if (params.get("processes") or 1) > 1:
        parts.append(f"--processes {params['processes']}")
    if params.get("rate"):
        parts.append(f"-q {params['rate']:g}")
    return " ".join(parts)
