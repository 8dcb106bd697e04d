"""Starting work from the dashboard: the app's keys, actions and palette commands for it.

:class:`LaunchActions` is mixed into :class:`~votakvot_tui.app.VotakvotApp`; it owns
the :class:`~votakvot_tui.core.jobs.JobManager` (everything the app starts goes through
it) and opens the launch, monitor, compare, resumable, rerun and jobs screens.
It derives from ``App`` only so that Textual merges its ``BINDINGS`` and
``COMMANDS`` into the app's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import ModalScreen

from .core.jobs import Job, JobManager
from .core.ownership import ForeignCode, foreign_trial_code
from .core.runs import AbRequest, LaunchError, root_of, start_resume
from .messages import LaunchAbAgain, OpenAbMonitor, ResumeTrial

__all__ = ["JobsProvider", "LaunchActions", "running_jobs_message"]


def running_jobs_message(jobs: list[Job], directory: str) -> str:
    """What the app prints when it quits while jobs it can see still run."""
    names = ", ".join(j.title for j in jobs[:3]) + (" ..." if len(jobs) > 3 else "")
    count = f"{len(jobs)} job{'s' * (len(jobs) != 1)}"
    return (
        f"votakvot-tui: {count} keep{'s' * (len(jobs) == 1)} running: {names}\n"
        f"Their output is in {directory}; open votakvot-tui again and press J to "
        "watch or stop them."
    )


class LaunchActions(App[None]):
    """Keys and actions that start work: ab runs, resumes, reruns, and the jobs panel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "b",
            "launch_ab",
            "Benchmark",
            show=False,
            tooltip="Start a votakvot-ab run of a callable and watch it live",
            id="launch-ab",
        ),
        Binding(
            "w",
            "ab_monitor",
            "Watch ab run",
            show=False,
            tooltip="Open the live ab monitor of the selected ab trial",
            id="ab-monitor",
        ),
        Binding(
            "C",
            "ab_compare",
            "Compare ab runs",
            show=False,
            tooltip="Compare the two marked ab trials: histograms and deltas",
            id="ab-compare",
        ),
        Binding(
            "R",
            "resumable",
            "Resumable tasks",
            show=False,
            tooltip="List resumable trials; resume or stop them",
            id="resumable",
        ),
        Binding(
            "u",
            "resume_selected",
            "Resume",
            show=False,
            tooltip="Resume the selected interrupted or stale resumable trial",
            id="resume-selected",
        ),
        Binding(
            "E",
            "rerun",
            "Rerun with params",
            show=False,
            tooltip="Edit the selected trial's params and run its function again",
            id="rerun",
        ),
        Binding(
            "J",
            "jobs",
            "Jobs",
            show=False,
            tooltip="Everything started from here: state, elapsed time, output",
            id="jobs",
        ),
    ]

    @property
    def job_manager(self) -> JobManager:
        """The jobs of this app (``$VOTAKVOT_JOBS_DIR`` or ``~/.cache/votakvot/jobs``)."""
        manager: JobManager | None = getattr(self, "_job_manager", None)
        if manager is None:
            manager = JobManager()
            self._job_manager = manager
        return manager

    @job_manager.setter
    def job_manager(self, manager: JobManager) -> None:
        self._job_manager = manager

    def default_results_folder(self) -> str:
        """Where new ab runs go: the first local folder the dashboard shows."""
        sources = getattr(self, "sources", [])
        for source in sources:
            if source.local:
                return str(source.base)
        return str(sources[0].path) if sources else os.getcwd()

    # ------------------------------------------------------------- selection

    def selected_paths(self) -> list[str]:
        """Trial folders the user points at: marked rows (or the cursor's) in the trials
        table, or the trial of a detail screen."""
        screen = self.screen
        marked = getattr(screen, "marked_or_current", None)
        if callable(marked):
            return list(marked())
        path = getattr(screen, "path", None)
        if isinstance(path, str):
            return [path]
        return []

    def _in_modal(self) -> bool:
        return isinstance(self.screen, ModalScreen)

    def _selected_one(self, none_selected: str) -> str | None:
        """The trial an action on one trial acts on: ``None`` while a dialog is open
        (silently), or after warning ``none_selected`` when no trial is selected."""
        if self._in_modal():
            return None
        paths = self.selected_paths()
        if not paths:
            self.notify(none_selected, severity="warning")
            return None
        return paths[0]

    # ---------------------------------------------------------------- actions

    def action_launch_ab(self) -> None:
        """Open the form that starts a votakvot-ab run."""
        if not self._in_modal():
            self.launch_ab()

    def launch_ab(self, request: AbRequest | None = None) -> None:
        """The launch form (filled with ``request``); once started, the run's monitor."""
        from .screens.launch_ab import LaunchAbScreen

        def started(result: tuple[Job, str] | None) -> None:
            if result is not None:
                job, trial = result
                self.open_ab_monitor(trial, job.id)

        self.push_screen(LaunchAbScreen(self.default_results_folder(), request), started)

    def open_ab_monitor(self, path: str, job_id: str | None = None) -> None:
        """Show the live monitor of the ab trial in ``path``."""
        from .screens.ab_monitor import AbMonitorScreen

        if job_id is None:
            job_id = self.job_for_trial(path)
        self.push_screen(AbMonitorScreen(path, job_id=job_id))

    def job_for_trial(self, path: str) -> str | None:
        """The newest job of this app writing the trial ``path``, if any."""
        return self.job_manager.job_for_trial(path)

    # --------------------------------------------------- requests from screens

    def on_open_ab_monitor(self, message: OpenAbMonitor) -> None:
        self.open_ab_monitor(message.path, message.job_id)

    def on_launch_ab_again(self, message: LaunchAbAgain) -> None:
        try:
            root = root_of(message.path, message.tid)
        except LaunchError:
            root = self.default_results_folder()
        self.launch_ab(AbRequest.from_params(message.params, root))

    def on_resume_trial(self, message: ResumeTrial) -> None:
        self.resume(message.path)

    def resume(self, path: str, *, confirmed: bool = False) -> None:
        """Check the trial ``path`` and resume it as a job (in a thread), notifying the outcome.

        A folder that is not the user's own is resumed only after the user saw, and
        confirmed, the module and function it would run (``confirmed``).
        """
        jobs = self.job_manager

        def work() -> None:
            if not confirmed:
                foreign = foreign_trial_code(path)
                if foreign is not None:
                    self.call_from_thread(self._confirm_foreign_resume, path, foreign)
                    return
            try:
                text = start_resume(jobs, path)
            except LaunchError as exc:
                self.call_from_thread(
                    self.notify, str(exc), title="Cannot resume", severity="error"
                )
                return
            self.call_from_thread(self.notify, text, title="Resuming")

        self.run_worker(work, thread=True, group="resume", exit_on_error=False)

    def _confirm_foreign_resume(self, path: str, foreign: ForeignCode) -> None:
        from .screens.confirm_foreign import ConfirmForeignScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.resume(path, confirmed=True)

        self.push_screen(ConfirmForeignScreen(foreign, "resume"), answered)

    # ---------------------------------------------------------------- actions

    def action_ab_monitor(self) -> None:
        """Open the ab monitor of the selected ab trial."""
        path = self._selected_one("select an ab trial first")
        if path is None:
            return

        def check() -> None:  # reads the record: in a thread (it may be remote)
            if _is_ab_trial(path):
                self.call_from_thread(self.open_ab_monitor, path)
            else:
                self.call_from_thread(
                    self.notify,
                    f"{path} is not a votakvot-ab run (no kind: ab); press b to start one",
                    severity="warning",
                )

        self.run_worker(check, thread=True, group="ab-check", exit_on_error=False)

    def action_ab_compare(self) -> None:
        """Compare the two marked ab trials."""
        from .screens.ab_compare import AbCompareScreen

        if self._in_modal():
            return
        paths = self.selected_paths()
        if len(paths) != 2:
            self.notify("mark exactly two ab trials with space to compare them", severity="warning")
            return

        def check() -> None:  # reads the records: in a thread (they may be remote)
            not_ab = [p for p in paths if not _is_ab_trial(p)]
            if not_ab:
                self.call_from_thread(
                    self.notify, f"not a votakvot-ab run: {', '.join(not_ab)}", severity="warning"
                )
            else:
                self.call_from_thread(self.push_screen, AbCompareScreen(paths[0], paths[1]))

        self.run_worker(check, thread=True, group="ab-check", exit_on_error=False)

    def action_resumable(self) -> None:
        """List the resumable trials."""
        from .screens.resumable import ResumableScreen

        if not self._in_modal() and not isinstance(self.screen, ResumableScreen):
            self.push_screen(ResumableScreen())

    def action_resume_selected(self) -> None:
        """Resume the selected resumable trial in a separate process."""
        path = self._selected_one("select a resumable trial first")
        if path is not None:
            self.resume(path)

    def action_rerun(self) -> None:
        """Open the selected trial's params in a form and run its function again."""
        from .screens.rerun import RerunScreen

        path = self._selected_one("select a trial to rerun first")
        if path is not None:
            self.push_screen(RerunScreen(path))

    def action_jobs(self) -> None:
        """Show everything the app started."""
        from .screens.jobs import JobsScreen

        if not self._in_modal() and not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen())

    async def action_quit(self) -> None:
        """Quit; jobs keep running, and the app says so when it leaves."""
        try:
            running = self.job_manager.running()
        except OSError as exc:
            self.exit(message=f"votakvot-tui: could not list the jobs: {exc}")
            return
        if running:
            self.exit(message=running_jobs_message(running, self.job_manager.directory))
        else:
            self.exit()


def _is_ab_trial(path: str) -> bool:
    """Whether a trial folder holds a votakvot-ab run (reads its record; small)."""
    from votakvot.trial import read_trial

    try:
        trial = read_trial(path)
    except Exception:
        return False
    return trial is not None and trial.data.get("kind") == "ab"


class JobsProvider(Provider):
    """Palette commands for the jobs the app can see: open their monitor, stop them."""

    def _commands(self) -> Iterable[tuple[str, str, Any]]:
        app = self.app
        if not isinstance(app, LaunchActions):
            return
        for job in app.job_manager.list_jobs(limit=20):
            title = job.title or job.command
            if job.kind == "ab" and job.trial:
                yield (
                    f"Watch job: {title}",
                    f"{job.describe()} - open its ab monitor",
                    _call(app.open_ab_monitor, job.trial, job.id),
                )
            if job.state in ("starting", "running", "stopping"):
                yield (
                    f"Stop job: {title}",
                    f"{job.describe()} - SIGINT, then SIGTERM if it lingers",
                    _call(app.job_manager.stop, job.id),
                )

    async def discover(self) -> Hits:
        for text, help_text, run in await self._list():
            yield DiscoveryHit(text, run, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, run in await self._list():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), run, help=help_text)

    async def _list(self) -> list[tuple[str, str, Any]]:
        import asyncio

        return await asyncio.to_thread(lambda: list(self._commands()))


def _call(fn: Any, *args: Any) -> Any:
    return lambda: fn(*args)


LaunchActions.COMMANDS = App.COMMANDS | {JobsProvider}
