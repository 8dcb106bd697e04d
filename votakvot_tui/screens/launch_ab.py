"""The form that starts a ``votakvot-ab`` run: checked first, then started as a job."""

from __future__ import annotations

import os
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label, Select, Static

from ..core.jobs import Job
from ..core.runs import ENGINES, AbRequest, LaunchError, ab_base_command
from .base import BaseModal
from .form import EARLY_FOCUS_KEYS, EarlyKeys, FormInput

__all__ = ["LaunchAbScreen", "check_request"]

_FIELDS = (
    ("callable", "callable", "my_module.get or path/file.py:f"),
    ("arguments", "args", "KEY=VALUE ... (url=http://x n=3)"),
    ("calls -n", "number", "1000"),
    ("or seconds -d", "duration", "10, 2.5s, 1m (wins over -n)"),
    ("concurrency -c", "concurrency", "1"),
    ("workers", "engine", ""),
    ("processes", "processes", "2"),
    ("rate -q", "rate", "calls/s in total (empty: flat out)"),
    ("warmup -w", "warmup", "100 calls or 2s"),
    ("results -p", "path", ""),
)
"""The form's rows: label, :class:`AbRequest` field (the widget's id too), placeholder.
``engine`` is a choice (a ``Select``); every other field is typed text."""


def check_request(request: AbRequest) -> tuple[list[str], str, str]:
    """Validate everything (import the callable, bind its arguments) and build the command.

    Blocking (imports the user's module): call from a thread worker.

    Returns:
        ``(argv, trial folder, tid)``.

    Raises:
        LaunchError: what is wrong, in words the form shows as they are.
    """
    from votakvot.ab.target import UsageError, resolve
    from votakvot.layout import new_tid
    from votakvot.storage import is_local

    options = request.validate()
    try:
        target = resolve(options.spec)
        target.check_arguments(options.kwargs)
    except UsageError as exc:
        raise LaunchError(str(exc)) from None
    root = options.path
    if is_local(root):
        root = os.path.abspath(os.path.expanduser(root.removeprefix("file://")))
        options.path = root
    tid, _ = new_tid(f"ab/{target.short}")
    options.tid = tid
    argv = [*ab_base_command(), *options.to_argv()]
    return argv, f"{root.rstrip('/')}/{tid}", tid


class LaunchAbScreen(EarlyKeys, BaseModal[tuple[Job, str] | None]):
    """Callable, arguments and options of an ab run; dismisses with ``(job, trial folder)``.

    Args:
        results: the results folder offered (``-p``).
        request: values to start from (tests, "run again").
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without starting anything"),
        Binding("ctrl+s", "start", "Start", tooltip="Check the form and start the run"),
        *EARLY_FOCUS_KEYS,
    ]

    def __init__(self, results: str = ".", request: AbRequest | None = None) -> None:
        super().__init__(classes="modal")
        self.request = request or AbRequest(callable="", path=results)
        """The values the form opens with."""
        self.touched: set[str] = set()
        """Fields edited since the form opened: only their errors show as they are typed."""

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(classes="dialog launch-dialog"):
            yield Label("Benchmark a callable (votakvot-ab)", classes="dialog-title")
            with Grid(id="launch-grid"):
                for label, name, placeholder in _FIELDS:
                    yield Label(label)
                    if name == "engine":
                        yield Select(
                            [(e, e) for e in ENGINES], value=r.engine, allow_blank=False, id=name
                        )
                    else:
                        with Vertical(classes="field"):
                            yield FormInput(getattr(r, name), placeholder=placeholder, id=name)
                            yield Static(
                                "", id=f"{name}-error", classes="field-error", markup=False
                            )
            yield Static("", id="launch-error", classes="error-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="primary", id="start", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.fields_ready(self.query_one("#callable", Input))
        self._sync_processes()

    def form(self) -> AbRequest:
        """The request as the form says now."""

        engine = self.query_one("#engine", Select).value
        typed = {
            name: self.query_one(f"#{name}", Input).value
            for _, name, _ in _FIELDS
            if name != "engine"
        }
        return AbRequest(engine=str(engine), **typed)

    @on(Select.Changed, "#engine")
    def _sync_processes(self) -> None:
        engine = self.query_one("#engine", Select).value
        self.query_one("#processes", Input).disabled = engine != "processes"

    def show_error(self, text: str) -> None:
        """Say what is wrong below the form."""
        self.query_one("#launch-error", Static).update(text)
        self.query_one("#start", Button).disabled = False

    @on(Input.Changed, "#launch-grid Input")
    def _on_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.value != getattr(self.request, event.input.id, None):
            self.touched.add(event.input.id)
        self.check_fields()

    def check_fields(self, every: bool = False) -> LaunchError | None:
        """The cheap checks (no import) as the user types: the first wrong field is marked
        and says why under itself, if it was edited (``every``: whether edited or not).

        Returns:
            What is wrong, or ``None`` when the checks pass.
        """
        problem: LaunchError | None = None
        try:
            self.form().validate()
        except LaunchError as exc:
            problem = exc
        for _, name, _ in _FIELDS:
            if name == "engine":
                continue
            show = problem is not None and problem.field == name and (every or name in self.touched)
            self.query_one(f"#{name}", Input).set_class(show, "-invalid")
            error = self.query_one(f"#{name}-error", Static)
            error.update(str(problem) if show else "")
            error.display = show
        return problem

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Check the form (cheap checks now, the callable in a worker), then start."""
        request = self.form()
        problem = self.check_fields(every=True)
        if problem is not None:
            self.show_error(f"not started: {problem}")
            return
        self.query_one("#launch-error", Static).update("checking the callable…")
        self.query_one("#start", Button).disabled = True
        self.check_and_start(request)

    @work(thread=True, exclusive=True, group="launch-ab", exit_on_error=False)
    def check_and_start(self, request: AbRequest) -> None:
        """Resolve the callable (imports its module) and start the run as a job."""
        try:
            argv, trial, tid = check_request(request)
        except LaunchError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        from ..core.jobs import JobError

        try:
            job = self.job_manager.start(
                argv,
                kind="ab",
                title=f"ab {request.callable.strip()} {request.args.strip()}".strip(),
                trial=trial,
                extra={"tid": tid, "form": request.__dict__},
            )
        except JobError as exc:
            self.app.call_from_thread(self.show_error, str(exc))
            return
        self.app.call_from_thread(self.dismiss, (job, trial))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close without starting anything."""
        self.dismiss(None)
