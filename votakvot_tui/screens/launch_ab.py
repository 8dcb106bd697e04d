"""The form that starts a ``votakvot-ab`` run: checked first, then started as a job."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ..jobs import Job
from ..runs import ENGINES, AbRequest, LaunchError

if TYPE_CHECKING:
    from ..launch import LaunchActions

__all__ = ["LaunchAbScreen", "check_request"]


def check_request(request: AbRequest) -> tuple[list[str], str, str]:
    """Validate everything (import the callable, bind its arguments) and build the command.

    Blocking (imports the user's module): call from a thread worker.

    Returns:
        ``(argv, trial folder, tid)``.

    Raises:
        LaunchError: what is wrong, in words the form shows as they are.
    """
    from votakvot._layout import new_tid
    from votakvot._storage import is_local
    from votakvot.ab.runner import Options, check
    from votakvot.ab.target import UsageError, resolve

    options = request.validate()
    try:
        check(
            Options(
                spec=options["spec"],
                kwargs=options["kwargs"],
                number=options["number"],
                duration=options["duration"],
                concurrency=options["concurrency"],
                gevent=options["gevent"],
                processes=options["processes"],
                rate=options["rate"],
            )
        )
        target = resolve(options["spec"])
        target.check_arguments(options["kwargs"])
    except UsageError as exc:
        raise LaunchError(str(exc)) from None
    root = options["path"]
    if is_local(root):
        root = os.path.abspath(os.path.expanduser(root.removeprefix("file://")))
        options["path"] = root
    tid, _ = new_tid(f"ab/{target.short}")
    from ..runs import ab_argv

    argv = ab_argv(options, request.arguments(), tid)
    return argv, f"{root.rstrip('/')}/{tid}", tid


class LaunchAbScreen(ModalScreen[tuple[Job, str] | None]):
    """Callable, arguments and options of an ab run; dismisses with ``(job, trial folder)``.

    Args:
        results: the results folder offered (``-p``).
        request: values to start from (tests, "run again").
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without starting anything"),
        Binding("ctrl+s", "start", "Start", tooltip="Check the form and start the run"),
    ]

    def __init__(self, results: str = ".", request: AbRequest | None = None) -> None:
        super().__init__(classes="modal")
        self.request = request or AbRequest(callable="", path=results)
        """The values the form opens with."""

    def compose(self) -> ComposeResult:
        r = self.request
        with Vertical(classes="dialog launch-dialog"):
            yield Label("Benchmark a callable (votakvot-ab)", classes="dialog-title")
            with Grid(id="launch-grid"):
                yield Label("callable")
                yield Input(
                    r.callable, placeholder="my_module.get or path/file.py:f", id="callable"
                )
                yield Label("arguments")
                yield Input(r.args, placeholder="KEY=VALUE ... (url=http://x n=3)", id="args")
                yield Label("calls -n")
                yield Input(r.number, placeholder="1000", id="number")
                yield Label("or seconds -d")
                yield Input(r.duration, placeholder="10, 2.5s, 1m (wins over -n)", id="duration")
                yield Label("concurrency -c")
                yield Input(r.concurrency, placeholder="1", id="concurrency")
                yield Label("workers")
                yield Select(
                    [(e, e) for e in ENGINES], value=r.engine, allow_blank=False, id="engine"
                )
                yield Label("processes")
                yield Input(r.processes, placeholder="2", id="processes")
                yield Label("rate -q")
                yield Input(r.rate, placeholder="calls/s in total (empty: flat out)", id="rate")
                yield Label("warmup -w")
                yield Input(r.warmup, placeholder="100 calls or 2s", id="warmup")
                yield Label("results -p")
                yield Input(r.path, id="path")
            yield Static("", id="launch-error", classes="error-text", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#callable", Input).focus()
        self._sync_processes()

    def form(self) -> AbRequest:
        """The request as the form says now."""

        def value(name: str) -> str:
            return self.query_one(f"#{name}", Input).value

        engine = self.query_one("#engine", Select).value
        return AbRequest(
            callable=value("callable"),
            args=value("args"),
            number=value("number"),
            duration=value("duration"),
            concurrency=value("concurrency"),
            engine=str(engine),
            processes=value("processes"),
            rate=value("rate"),
            warmup=value("warmup"),
            path=value("path"),
        )

    @on(Select.Changed, "#engine")
    def _sync_processes(self) -> None:
        engine = self.query_one("#engine", Select).value
        self.query_one("#processes", Input).disabled = engine != "processes"

    def show_error(self, text: str) -> None:
        """Say what is wrong below the form."""
        self.query_one("#launch-error", Static).update(text)
        self.query_one("#start", Button).disabled = False

    @on(Input.Submitted)
    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Check the form (cheap checks now, the callable in a worker), then start."""
        request = self.form()
        try:
            request.validate()
        except LaunchError as exc:
            self.show_error(str(exc))
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
        app: LaunchActions = self.app  # type: ignore[assignment]
        from ..jobs import JobError

        try:
            job = app.job_manager.start(
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
