"""Two or more trials side by side, differences highlighted."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Label

from ..core.model import display
from .base import ReadingScreen
from .plot import trial_label

__all__ = ["CompareScreen", "compare_rows"]

SECTIONS = (
    "state",
    "function",
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


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}", out)
    else:
        out[prefix] = value


def compare_rows(paths: list[str]) -> tuple[list[str], dict[str, list[Any]]]:
    """Read the trials and line their fields up: ``(labels, {field: [value per trial]})``.

    Blocking: call from a thread worker. ``metrics.<name>`` is the last value of
    each metric series.
    """
    from votakvot.exceptions import TrialLoadError
    from votakvot.metrics import load_metrics
    from votakvot.trial import read_trial

    flats = []
    for path in paths:
        flat: dict[str, Any] = {}
        try:
            trial = read_trial(path)
        except TrialLoadError as exc:
            flat["state"] = f"unreadable: {exc.reason}"
            trial = None
        if trial is not None:
            data = trial.data
            flat["state"] = trial.state
            for section in SECTIONS:
                if section in ("state", "metrics"):
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
    order: dict[str, None] = {}
    for section in SECTIONS:
        for flat in flats:
            for key in flat:
                if key == section or key.startswith(section + "."):
                    order[key] = None
    labels = [trial_label(p) for p in paths]
    return labels, {key: [flat.get(key) for flat in flats] for key in order}


class CompareScreen(ReadingScreen[tuple[list[str], dict[str, list[Any]]]]):
    """Fields in rows, trials in columns; rows that differ stand out.

    Args:
        paths: the trial folders compared.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to the trials"),
        Binding("d", "toggle_diff", "Only differences", tooltip="Show only fields that differ"),
        Binding("p", "plot", "Plot overlaid", tooltip="Overlay the trials' metrics"),
    ]

    def __init__(self, paths: list[str]) -> None:
        super().__init__()
        self.paths = list(paths)
        """The compared trial folders."""
        self.only_differences = False
        """Hide the fields that are equal in every trial."""
        self.labels: list[str] = []
        """Column titles of the trials."""
        self.fields: dict[str, list[Any]] = {}
        """Field -> value per trial."""

    def compose(self) -> ComposeResult:
        yield Label(f"comparing {len(self.paths)} trials", id="compare-title")
        yield DataTable(id="compare", zebra_stripes=True, cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.reload()

    READ_GROUP = "compare"

    def read(self) -> tuple[list[str], dict[str, list[Any]]]:
        """The trials' labels and fields."""
        return compare_rows(self.paths)

    def show(self, read: tuple[list[str], dict[str, list[Any]]]) -> None:
        self.labels, self.fields = read
        self.draw()

    def differs(self, field: str) -> bool:
        """Whether the trials disagree on a field."""
        values = [display(v) for v in self.fields.get(field, [])]
        # As shown: timestamps a microsecond apart are not a difference to anybody.
        return any(v != values[0] for v in values[1:])

    def code_differs(self) -> bool:
        """Whether the trials ran different code (source hash, commit, dirty state, tree)."""
        return any(self.differs(f) for f in CODE_FIELDS if f in self.fields)

    def draw(self) -> None:
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column("field", key="field")
        for i, label in enumerate(self.labels):
            table.add_column(label, key=f"t{i}")
        for field, values in self.fields.items():
            different = self.differs(field)
            if self.only_differences and not different:
                continue
            style = "bold yellow" if different else ""
            cells = [Text(display(v)[:60], style=style) for v in values]
            table.add_row(Text(field, style=style), *cells, key=field)
        count = sum(self.differs(f) for f in self.fields)
        title = f"comparing {len(self.paths)} trials: {count} of {len(self.fields)} fields differ"
        if self.code_differs():
            title += ", the code among them"
        if self.only_differences:
            title += " (only differences shown, d: all)"
        self.query_one("#compare-title", Label).update(title)

    def action_toggle_diff(self) -> None:
        """Show only the fields that differ, or all of them."""
        self.only_differences = not self.only_differences
        self.draw()

    def action_plot(self) -> None:
        """Overlay the metrics of the compared trials."""
        from .plot import PlotScreen

        self.app.push_screen(PlotScreen(self.paths))

    def action_back(self) -> None:
        """Back to the trials."""
        self.dismiss(None)
