"""Two or more trials side by side: opens on the fields that differ, best values marked.

At most :data:`MAX_SHOWN` trials become columns (the first in the table's order;
a note says how many were marked), read in a worker with a progress line that
Escape stops. Columns are named by the params that differ (``lr=0.1 bs=32``).
In a row of numbers under ``result``, ``info`` or ``metrics`` that differ, the
best value is bold green: the lowest for names that read as a cost (loss, error,
latency, time, ...), the highest otherwise. The machine, process and timestamps
of each run (``meta.*``, ``at.*`` but the duration) differ in every comparison
and say little: they are folded into one row that ``m`` opens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Label
from textual.worker import get_current_worker

from ..core.labels import MAX_SHOWN, cap_message, short_middle, trial_labels
from ..core.model import display
from .base import StoppableReadingScreen

__all__ = ["CompareRead", "CompareScreen", "best_index", "compare_rows", "lower_is_better"]

SECTIONS = (
    "state",
    "function",
    "code",
    "source",
    "meta.git",
    "params",
    "result",
    "info",
    "metrics",
    "error",
    "at",
    "meta",
)
"""Fields are listed in this order; within a section, in order of appearance. The code
version (the function's source hash, git commit, dirty flag, tree) comes right after
the function: two trials of different code are told apart before their params."""

CODE_FIELDS = ("source.hash", "meta.git.commit", "meta.git.dirty", "meta.git.tree")
"""Fields that say which code ran (a function moved within its file is the same code)."""

CODE = "code"
"""The row summing up the code version: ``<commit> [dirty] · src <source hash>``."""
ALWAYS = (CODE,)
"""Rows shown in the differences view even when equal: which code ran is never noise."""
FOLDED = "meta …"
"""The one row standing for the folded fields."""
CELL_WIDTH = 24
"""Columns are at most this wide; longer values are cut (the detail screen has them whole)."""
FIELD_WIDTH = 28
"""The field-name column's width at most."""
COST_WORDS = (
    "loss",
    "error",
    "err",
    "latency",
    "time",
    "duration",
    "seconds",
    "mse",
    "mae",
    "rmse",
    "perplexity",
    "ppl",
    "wer",
    "cer",
    "regret",
    "p50",
    "p90",
    "p95",
    "p99",
    "lat",
)
"""Parts of a field name that make it a cost: lower is better."""


def lower_is_better(name: str) -> bool:
    """Whether the best value of a field is its lowest (a loss, an error, a latency)."""
    import re

    words = re.split(r"[^a-z0-9]+", name.lower())
    return any(w in COST_WORDS or w.endswith(("loss", "error")) for w in words)


def best_index(name: str, values: list[Any]) -> int | None:
    """The column holding the best value of a numeric row, or ``None`` (not numbers, all equal)."""
    import math

    if not name.startswith(("result", "info.", "metrics.", "at.duration")):
        return None
    numbers = {
        i: float(v)
        for i, v in enumerate(values)
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }
    if len(numbers) < 2 or len(set(numbers.values())) < 2:
        return None
    pick = min if lower_is_better(name) else max
    return pick(numbers, key=lambda i: numbers[i])


def is_noise(name: str) -> bool:
    """Fields that differ between any two runs and rarely matter: where and when it ran."""
    if name.startswith("meta.") and not name.startswith("meta.git."):
        return True
    return name.startswith("at.") and name != "at.duration"


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", out)
    else:
        out[prefix] = value


def _code(data: dict[str, Any]) -> str | None:
    """``<commit8> [dirty] · src <hash8>``: which code ran, in one cell."""
    meta = data.get("meta")
    git = meta.get("git") if isinstance(meta, dict) else None
    source = data.get("source")
    parts = []
    if isinstance(git, dict) and git.get("commit"):
        parts.append(str(git["commit"])[:8] + (" dirty" if git.get("dirty") else ""))
    if isinstance(source, dict) and source.get("hash"):
        parts.append(f"src {str(source['hash'])[:8]}")
    return " · ".join(parts) or None


@dataclass
class CompareRead:
    """What one read of the compared trials found."""

    labels: list[str] = field(default_factory=list)
    """Column titles, one per trial read."""
    fields: dict[str, list[Any]] = field(default_factory=dict)
    """Field -> value per trial read."""
    read: int = 0
    """How many trials were read (fewer when cancelled)."""
    cancelled: bool = False
    """The read was stopped before the end."""


def compare_rows(
    paths: list[str],
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CompareRead:
    """Read the trials and line their fields up (blocking: call from a thread worker).

    ``metrics.<name>`` is the last value of each metric series; ``code`` sums up the
    code version.

    Args:
        paths: the trial folders.
        progress: called with ``(done, total)`` after each trial.
        cancelled: asked before each trial; true stops with the trials read so far.
    """
    from votakvot.exceptions import TrialLoadError
    from votakvot.metrics import load_metrics
    from votakvot.trial import read_trial

    out = CompareRead()
    flats = []
    tids: list[str | None] = []
    params: list[dict[str, Any]] = []
    for i, path in enumerate(paths):
        if cancelled is not None and cancelled():
            out.cancelled = True
            break
        flat: dict[str, Any] = {}
        try:
            trial = read_trial(path)
        except TrialLoadError as exc:
            flat["state"] = f"unreadable: {exc.reason}"
            trial = None
        tids.append(trial.tid if trial is not None else None)
        params.append(dict(trial.params) if trial is not None else {})
        if trial is not None:
            data = trial.data
            flat["state"] = trial.state
            code = _code(data)
            if code is not None:
                flat[CODE] = code
            for section in SECTIONS:
                if section in ("state", "metrics", CODE):
                    continue
                if section in data:  # "meta.git" is in "meta"
                    _flatten(data[section], section, flat)
            frame = load_metrics(path)
            if len(frame):
                last = frame.ffill().iloc[-1]
                for column in frame.columns:
                    if column != "at":
                        flat[f"metrics.{column}"] = last[column]
        flats.append(flat)
        out.read = i + 1
        if progress is not None:
            progress(i + 1, len(paths))
    order: dict[str, None] = {}
    for section in SECTIONS:
        for flat in flats:
            for key in flat:
                if key == section or key.startswith(section + "."):
                    order[key] = None
    out.labels = trial_labels(paths[: len(flats)], tids, params, width=CELL_WIDTH)
    out.fields = {key: [flat.get(key) for flat in flats] for key in order}
    return out


class CompareScreen(StoppableReadingScreen[CompareRead]):
    """Fields in rows, trials in columns; opens on the rows that differ.

    Args:
        paths: the trial folders compared (the first :data:`MAX_SHOWN` of them).
    """

    CSS_PATH = "compare.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back (while reading: stop reading)"),
        # One key, named after what it will show (only one of the two is active at a time).
        Binding("d", "show_all", "All rows", tooltip="Show every field"),
        Binding("d", "show_differences", "Differences", tooltip="Only the fields that differ"),
        Binding("m", "toggle_meta", "Meta", tooltip="Unfold/fold where and when each ran"),
        Binding("p", "plot", "Plot overlaid", tooltip="Overlay the trials' metrics"),
    ]

    READ_GROUP = "compare"
    PROGRESS_ID = "compare-progress"
    PROGRESS_TEXT = "reading trials {done}/{total} · Esc: stop"

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.marked = len(paths)
        """How many trials were asked for."""
        self.paths = list(paths)[:MAX_SHOWN]
        """The compared trial folders (at most :data:`MAX_SHOWN`)."""
        self.only_differences = True
        """Hide the fields that are equal in every trial (the view it opens on)."""
        self.show_meta = False
        """Show the noise fields (``meta.*``, timestamps) instead of one folded row."""
        self.labels: list[str] = []
        """Column titles of the trials."""
        self.fields: dict[str, list[Any]] = {}
        """Field -> value per trial."""
        self.reading = False
        """A read is under way (Escape stops it instead of leaving)."""

    def compose(self) -> ComposeResult:
        yield Label(f"comparing {len(self.paths)} trials", id="compare-title", markup=False)
        note = cap_message(len(self.paths), self.marked) if self.marked > MAX_SHOWN else ""
        yield Label(note, id="compare-note", markup=False, classes="" if note else "hidden")
        yield Label("", id="compare-progress", markup=False)
        yield DataTable(id="compare", zebra_stripes=True, cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The ``d`` key is named after what it will show: all rows, or the differences."""
        if action == "show_all":
            return self.only_differences
        if action == "show_differences":
            return not self.only_differences
        return True

    def read(self) -> CompareRead:
        """The trials' labels and fields, with progress on the screen."""
        worker = get_current_worker()
        return compare_rows(self.paths, self._report, lambda: worker.is_cancelled)

    def show(self, read: CompareRead) -> None:
        if not self._read_done(read.cancelled, read.read, len(self.paths)):
            return  # replaced by a newer read, which will show
        self.labels, self.fields = read.labels, read.fields
        self.draw()

    def differs(self, field: str) -> bool:
        """Whether the trials disagree on a field."""
        values = [display(v) for v in self.fields.get(field, [])]
        # As shown: timestamps a microsecond apart are not a difference to anybody.
        return any(v != values[0] for v in values[1:])

    def code_differs(self) -> bool:
        """Whether the trials ran different code (source hash, commit, dirty state, tree)."""
        return any(self.differs(f) for f in CODE_FIELDS if f in self.fields)

    def visible_rows(self) -> list[str]:
        """The rows of the current view, the folded row included (as :data:`FOLDED`)."""
        out = []
        folded = False
        for name in self.fields:
            if self.only_differences and not self.differs(name) and name not in ALWAYS:
                continue
            if is_noise(name) and not self.show_meta:
                if not folded:
                    out.append(FOLDED)
                    folded = True
                continue
            out.append(name)
        return out

    def draw(self) -> None:
        """Fill the table from the fields already read (cheap: no file access)."""
        table = self.query_one(DataTable)
        table.clear(columns=True)
        names = self.visible_rows()
        widest = max((len(n) if n != FOLDED else FIELD_WIDTH for n in names), default=5)
        table.add_column("field", key="field", width=min(FIELD_WIDTH, widest))
        for i, label in enumerate(self.labels):
            values = [display(v[i]) for n, v in self.fields.items() if n in names]
            width = max([len(label), *map(len, values)], default=1)
            table.add_column(label, key=f"t{i}", width=min(width, CELL_WIDTH))
        noise = [n for n in self.fields if is_noise(n)]
        for name in names:
            if name == FOLDED:
                differ = sum(self.differs(n) for n in noise)
                summary = Text(f"meta: {len(noise)} fields, {differ} differ (m)", style="dim")
                table.add_row(summary, *[""] * len(self.labels), key=name)
                continue
            values = self.fields[name]
            different = self.differs(name)
            style = "bold yellow" if different else ""
            best = best_index(name, values)
            cells = []
            for i, value in enumerate(values):
                text = short_middle(display(value), CELL_WIDTH)
                cells.append(Text(text, style="bold green" if i == best else style))
            table.add_row(Text(short_middle(name, FIELD_WIDTH), style=style), *cells, key=name)
        count = sum(self.differs(f) for f in self.fields)
        title = f"comparing {len(self.labels)} trials: {count} of {len(self.fields)} fields differ"
        if self.code_differs():
            title += ", the code among them"
        title += " · differences only" if self.only_differences else " · all rows"
        self.query_one("#compare-title", Label).update(title)

    def action_toggle_diff(self) -> None:
        """Show only the fields that differ, or all of them."""
        self.only_differences = not self.only_differences
        self.refresh_bindings()
        self.draw()

    def action_show_all(self) -> None:
        """Show every field."""
        if self.only_differences:
            self.action_toggle_diff()

    def action_show_differences(self) -> None:
        """Show only the fields that differ (and the code version)."""
        if not self.only_differences:
            self.action_toggle_diff()

    def action_toggle_meta(self) -> None:
        """Unfold (or fold again) where and when each trial ran."""
        self.show_meta = not self.show_meta
        self.draw()

    def action_plot(self) -> None:
        """Overlay the metrics of the compared trials."""
        from .plot import PlotScreen

        self.app.push_screen(PlotScreen(self.paths))

    def action_back(self) -> None:
        """Stop a read under way; otherwise back to the trials."""
        if not self.stop_reading():
            self.dismiss(None)
