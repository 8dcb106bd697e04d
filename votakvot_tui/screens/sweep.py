"""Sweep a trial's function over lists or ranges of its params (``S`` on the trials table).

Like the rerun form, the trial's params fill a form; each field takes one value, a
list or ``range(...)`` (see :mod:`votakvot_tui.core.sweep`). How many trials it will
start is shown as it is typed; Run starts them all as one job (its output, a line
per finished trial, is in the jobs panel, ``J``), on the runner chosen here. Each
new trial records ``info.sweep_of``: the tid of the trial the sweep came from.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from ..core.jobs import JobError
from ..core.runs import LaunchError, not_rerunnable, trial_cwd
from ..core.sweep import (
    FIELD_HELP,
    MAX_TRIALS,
    RUNNERS,
    count_trials,
    format_choices,
    parse_axes,
    sweep_command,
)
from .form import EARLY_FOCUS_KEYS, EarlyKeys, FormInput, TrialForm, import_problem

__all__ = ["SweepScreen"]


class SweepScreen(EarlyKeys, TrialForm):
    """The params of the trial in ``path`` as sweep fields; Run starts the sweep as a job.

    What is typed before the fields are there (``S`` then text at once) goes into them
    in order (:class:`EarlyKeys`).

    Args:
        path: the source trial's folder.
    """

    CSS_PATH = "sweep.tcss"
    PREFIX = "sweep"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without running anything"),
        Binding("ctrl+s", "run", "Run", tooltip="Start every combination as trials"),
        *EARLY_FOCUS_KEYS,
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog sweep-dialog"):
            yield Label("Sweep over params", classes="dialog-title")
            yield Static("reading the trial…", id="sweep-function", markup=False)
            yield Static(f"each field: {FIELD_HELP}", id="sweep-help")
            with VerticalScroll(id="sweep-scroll"):
                yield Grid(id="sweep-grid")
            with Horizontal(id="sweep-run-row"):
                yield Label("runner")
                yield Select(
                    [(r, r) for r in RUNNERS], value="inplace", allow_blank=False, id="sweep-runner"
                )
                yield Label("workers")
                yield FormInput("4", id="sweep-workers", restrict=r"[0-9]*", disabled=True)
            yield Static("", id="sweep-count")
            yield Static("", id="sweep-error", classes="error-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Run", variant="primary", id="run", disabled=True)
                yield Button("Cancel", id="cancel")

    def _check_record(self, record: dict[str, Any], function: str) -> None:
        """An ab run is not swept; the function must import from where the trial ran."""
        if record.get("kind") == "ab":
            self.app.call_from_thread(
                self.show_error, "an ab run is repeated from its launch form (E), not swept"
            )
            return
        problem = not_rerunnable(record)
        if problem is None:
            problem = import_problem(function, trial_cwd(record))
        if problem is not None:
            self.app.call_from_thread(self.show_error, problem)
            return
        self.app.call_from_thread(self._ready)

    def _show_record(self, record: dict[str, Any]) -> None:
        self.record = record
        self.query_one("#sweep-function", Static).update(
            f"{record.get('function') or '?'}\nfrom {record.get('tid')}"
        )
        params = record.get("params") or {}
        widgets: list[Any] = []
        for index, (name, value) in enumerate(params.items()):
            widgets.append(Label(str(name)))
            widgets.append(FormInput(format_choices(value), id=f"sweep-{index}", name=str(name)))
        self.query_one("#sweep-grid", Grid).mount_all(widgets)
        # Focus the first field as soon as it is there, not after the import check: keys
        # typed meanwhile stay in the field they were typed into.
        self.call_after_refresh(self._focus_first)
        self.call_after_refresh(self._update_count)

    def _focus_first(self) -> None:
        fields = self.query("#sweep-grid Input")
        if fields and not self._fields_ready:
            self.fields_ready(fields.first(Input))

    def _ready(self) -> None:
        self.checked = True
        self._update_count()

    fields = TrialForm.param_texts

    def runner(self) -> str:
        """The runner chosen."""
        value = self.query_one("#sweep-runner", Select).value
        return value if isinstance(value, str) else "inplace"

    def worker_count(self) -> int | None:
        """Workers of a thread or process runner (``None`` for inplace or left empty)."""
        text = self.query_one("#sweep-workers", Input).value.strip()
        return int(text) if text and self.runner() != "inplace" else None

    def count(self) -> int | None:
        """Trials the form would start now; ``None`` while a field cannot be read."""
        axes, errors = parse_axes(self.fields())
        return None if errors else count_trials(axes)

    @on(Input.Changed)
    @on(Select.Changed)
    def _update_count(self) -> None:
        """The number of trials and the first field that cannot be read, as typed."""
        self.query_one("#sweep-workers", Input).disabled = self.runner() == "inplace"
        if self.record is None:
            return
        axes, errors = parse_axes(self.fields())
        count = self.query_one("#sweep-count", Static)
        for field in self.query("#sweep-grid Input"):
            field.set_class(field.name in errors, "-invalid")
        if errors:
            name, why = next(iter(errors.items()))
            count.update("")
            self.show_error(f"{name}: {why}")
        else:
            n = count_trials(axes)
            swept = " · ".join(f"{k} × {len(v)}" for k, v in axes.items() if len(v) > 1)
            text = f"{n} trial{'s' * (n != 1)}" + (f": {swept}" if swept else "")
            count.update(text)
            count.set_class(n > MAX_TRIALS, "error-text")
            if self.checked:
                self.show_error(f"at most {MAX_TRIALS} trials per sweep" if n > MAX_TRIALS else "")
        ok = self.checked and not errors and count_trials(axes) <= MAX_TRIALS
        self.query_one("#run", Button).disabled = not ok

    @on(Input.Submitted)
    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        """Start every combination as a trial, in one job."""
        if not self.checked or self.record is None:
            return
        fields = self.fields()
        try:
            argv = sweep_command(self.path, self.record, fields, self.runner(), self.worker_count())
            count = self.count() or 0
            swept = " ".join(f"{k}={v.strip()}" for k, v in fields.items())
            job = self.job_manager.start(
                argv,
                cwd=trial_cwd(self.record),
                kind="sweep",
                title=f"sweep {self.record.get('function')} {swept} ({count} trials)",
                extra={"sweep_of": self.record.get("tid"), "source": self.path},
            )
        except (LaunchError, JobError) as exc:
            self.show_error(str(exc))
            return
        self.app.notify(f"started {count} trials (job {job.id}; J shows its output)", title="Sweep")
        self.dismiss(job)
