"""Rerun a trial's function with edited params, as a new trial that names where it came from.

The new trial records ``info.rerun_of`` (the source trial's tid). It runs in a separate
process through :mod:`votakvot_tui.core.jobs` (``python -m votakvot_tui.core.runs rerun``),
from the folder the source trial ran in.
"""

from __future__ import annotations

import ast
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from ..core.jobs import JobError
from ..core.ownership import ForeignCode, foreign_code
from ..core.runs import (
    LaunchError,
    format_value,
    not_rerunnable,
    rerun_command,
    trial_cwd,
)
from ..messages import LaunchAbAgain
from .form import EARLY_FOCUS_KEYS, EarlyKeys, FormInput, TrialForm, import_problem, literal_error

__all__ = ["RerunScreen", "extra_errors", "param_diff", "param_items"]


def param_items(values: dict[str, str], extra: str = "") -> list[str]:
    """``KEY=VALUE`` items from the form (each value as typed: a Python literal or text),
    plus any typed in the extra field."""
    import shlex

    items = [f"{key}={value}" for key, value in values.items()]
    try:
        items += shlex.split(extra)
    except ValueError as exc:
        raise LaunchError(f"extra params {extra!r}: {exc} (close the quote)") from None
    from votakvot.ab.target import UsageError, parse_kwargs

    try:
        parse_kwargs(items)
    except UsageError as exc:
        raise LaunchError(str(exc)) from None
    return items


def extra_errors(extra: str, names: set[str]) -> str:
    """Why the extra ``KEY=VALUE ...`` field cannot be used ("" when it can): each value
    must be a Python literal, each key a new argument name (not one of ``names``)."""
    import shlex

    try:
        items = shlex.split(extra)
    except ValueError as exc:
        return f"{exc} (close the quote)"
    problems = []
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            problems.append(f"{item!r} is not KEY=VALUE (e.g. seed=3 name='a b')")
        elif key in names:
            problems.append(f"{key} is in the form above already: edit it there")
        elif problem := literal_error(text):
            problems.append(f"{key}: {problem}")
    return "; ".join(problems)


def param_diff(recorded: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """What differs from the recorded params: ``lr: 0.1 → 0.5``, ``+ seed=3``, ``- epochs``."""
    lines = []
    for name, value in values.items():
        if name not in recorded:
            lines.append(f"+ {name}={format_value(value)}")
        elif not _same(recorded[name], value):
            lines.append(f"{name}: {format_value(recorded[name])} → {format_value(value)}")
    lines += [f"- {name}" for name in recorded if name not in values]
    return lines


def _same(a: Any, b: Any) -> bool:
    """Equal as params: ``(1, 2)`` read back from YAML as ``[1, 2]`` is no change."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _extra_values(extra: str) -> dict[str, Any]:
    import shlex

    out = {}
    for item in shlex.split(extra):
        key, _, text = item.partition("=")
        out[key] = ast.literal_eval(text.strip())
    return out


class RerunScreen(EarlyKeys, TrialForm):
    """The params of the trial in ``path`` in a form; Run starts the new trial as a job.

    Args:
        path: the source trial's folder.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without running anything"),
        Binding("ctrl+s", "run", "Run", tooltip="Run the function with these params"),
        *EARLY_FOCUS_KEYS,
    ]
    PREFIX = "rerun"

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.foreign: ForeignCode | None = None
        """What Run would run when the folder is not the user's own, else ``None``."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog rerun-dialog"):
            yield Label("Rerun with edited params", id="rerun-title", classes="dialog-title")
            yield Static("reading the trial…", id="rerun-function", markup=False)
            with VerticalScroll(id="rerun-scroll"):
                yield Grid(id="rerun-grid")
            owner = Static("", id="rerun-owner", classes="warning", markup=False)
            owner.display = False  # shown only for someone else's folder
            yield owner
            yield Static("", id="rerun-diff", markup=False)
            yield Static("", id="rerun-error", classes="error-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Run", variant="primary", id="run", disabled=True, compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _check_record(self, record: dict[str, Any], function: str) -> None:
        """An ab run goes to its launch form; someone else's folder is shown, not imported
        (importing would already run its code)."""
        if record.get("kind") == "ab":
            self.app.call_from_thread(self._to_launch_form, record)
            return
        problem = not_rerunnable(record)  # a notebook's function: no process can import it
        if problem is not None:
            self.app.call_from_thread(self.show_error, problem)
            return
        cwd = trial_cwd(record)
        foreign = foreign_code(self.path, record, cwd)
        if foreign is not None:  # checking the import would already run the module
            self.app.call_from_thread(self._show_foreign, foreign)
            return
        problem = import_problem(function, cwd)
        if problem is not None:
            self.app.call_from_thread(self.show_error, problem)
            return
        self.app.call_from_thread(self._ready)

    def _show_record(self, record: dict[str, Any]) -> None:
        self.record = record
        tid = record.get("tid")
        title = Text("Rerun ")
        title.append(str(record.get("function") or "?"), style="bold")
        title.append(" with edited params")
        self.query_one("#rerun-title", Label).update(title)
        self.query_one("#rerun-function", Static).update(f"from {tid}")
        grid = self.query_one("#rerun-grid", Grid)
        params = record.get("params") or {}
        widgets: list[Any] = []
        for index, (name, value) in enumerate(params.items()):
            widgets.append(Label(str(name)))
            widgets.append(
                Vertical(
                    FormInput(format_value(value), id=f"param-{index}", name=str(name)),
                    Static("", id=f"param-{index}-error", classes="field-error", markup=False),
                    classes="field",
                )
            )
        widgets.append(Label("more"))
        widgets.append(
            Vertical(
                FormInput("", placeholder="KEY=VALUE ... (extra params)", id="rerun-extra"),
                Static("", id="rerun-extra-error", classes="field-error", markup=False),
                classes="field",
            )
        )
        # Focus the first field as soon as it is there, not after the import check: keys
        # typed meanwhile stay in the field they were typed into.
        grid.mount_all(widgets)
        self.call_after_refresh(self._focus_first)
        self.call_after_refresh(self._validate)

    def _focus_first(self) -> None:
        fields = self.query("#rerun-grid Input")
        if fields and not any(f.has_focus for f in fields):
            self.fields_ready(fields.first(Input))

    def _to_launch_form(self, record: dict[str, Any]) -> None:
        """An ab run is rerun through the launch form, filled with its options."""
        self.dismiss(None)
        tid = str(record.get("tid") or "")
        self.app.post_message(LaunchAbAgain(self.path, tid, dict(record.get("params") or {})))

    def _show_foreign(self, foreign: ForeignCode) -> None:
        """Someone else's folder: say whose, and exactly what Run would import and call."""
        self.foreign = foreign
        owner = self.query_one("#rerun-owner", Static)
        owner.update(foreign.text("rerun"))
        owner.display = True
        self.query_one("#run", Button).label = "Run it as me"
        self._ready()

    def _ready(self) -> None:
        self.checked = True
        self._validate()

    @on(Input.Changed, "#rerun-grid Input")
    def _validate(self) -> bool:
        """Check every field as a Python literal; mark the wrong ones, say why under each,
        show what differs from the recorded params, and allow Run only when all are fine."""
        if self.record is None:
            return False
        fields = [f for f in self.query("#rerun-grid Input") if isinstance(f, Input)]
        names = {f.name for f in fields if f.id != "rerun-extra" and f.name}
        valid = True
        values: dict[str, Any] = {}
        for field in fields:
            if field.id == "rerun-extra":
                problem = extra_errors(field.value, names)
            else:
                problem = literal_error(field.value)
                if not problem and field.name:
                    values[field.name] = ast.literal_eval(field.value.strip())
            valid = valid and not problem
            field.set_class(bool(problem), "-invalid")
            error = self.query_one(f"#{field.id}-error", Static)
            error.update(problem)
            error.display = bool(problem)
        extra = self.query("#rerun-extra")
        if valid and extra:
            values.update(_extra_values(extra.first(Input).value))
        recorded = dict(self.record.get("params") or {})
        diff = param_diff(recorded, values) if valid else []
        text = Text()
        if not valid:
            text.append("fix the fields marked in red to run", style="bold red")
        elif diff:
            text.append("changes: ", style="bold")
            text.append("  ".join(diff))
        else:
            text.append("same params as the recorded trial", style="dim")
        self.query_one("#rerun-diff", Static).update(text)
        self.query_one("#run", Button).disabled = not (self.checked and valid)
        return valid

    values = TrialForm.param_texts  # the extra field has no name: not among them

    @on(Input.Submitted)
    @on(Button.Pressed, "#run")
    def action_run(self) -> None:
        """Start the function with the edited params as a new trial."""
        if not self.checked or self.record is None:
            return
        if not self._validate():
            self.show_error("not run: some fields are not Python literals (see the red notes)")
            return
        try:
            items = param_items(self.values(), self.query_one("#rerun-extra", Input).value)
            argv = rerun_command(self.path, str(self.record.get("function") or ""), items)
        except LaunchError as exc:
            self.show_error(str(exc))
            return
        try:
            job = self.job_manager.start(
                argv,
                cwd=trial_cwd(self.record),
                kind="rerun",
                title=f"rerun {self.record.get('function')} {' '.join(items)}".strip(),
                extra={"rerun_of": self.record.get("tid"), "source": self.path},
            )
        except JobError as exc:
            self.show_error(str(exc))
            return
        self.app.notify(f"started {job.title} (job {job.id}; J shows its output)", title="Rerun")
        self.dismiss(job)
