"""What every screen of the dashboard shares: failed workers become the error dialog.

Every screen derives from :class:`BaseScreen` (modals from :class:`BaseModal`);
one that shows what it reads from disk derives from :class:`ReadingScreen`.
Worker state messages do not bubble, so the base forwards a failure to the app
as :class:`~votakvot_tui.messages.WorkerFailed`; the app's one handler shows it.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from ..core.jobs import JobManager
from ..messages import WorkerFailed

__all__ = ["BaseModal", "BaseScreen", "ReadingScreen"]

ResultType = TypeVar("ResultType")
ReadType = TypeVar("ReadType")


class BaseScreen(Screen[ResultType]):
    """A screen whose failed workers are reported instead of crashing or staying silent."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state == WorkerState.ERROR and error is not None:
            self.app.post_message(WorkerFailed(event.worker.name, error))

    @property
    def job_manager(self) -> JobManager:
        """The app's jobs (screens that start or list jobs use it)."""
        manager = getattr(self.app, "job_manager", None)
        if not isinstance(manager, JobManager):
            raise RuntimeError(f"{type(self.app).__name__} has no job_manager")
        return manager


class BaseModal(BaseScreen[ResultType], ModalScreen[ResultType]):
    """A modal screen (dialogs and forms) with the same reporting."""


class ReadingScreen(BaseScreen[None], Generic[ReadType]):
    """A screen showing what it reads (trials, metrics, jobs), local or remote.

    :meth:`read` runs in a worker thread, so a slow or remote folder never freezes
    the dashboard; :meth:`show` then runs on the event loop. A new :meth:`reload`
    cancels the one still reading: the newest read wins.
    """

    READ_GROUP: ClassVar[str] = "read"
    """The worker group of the reads (one screen kind's reads replace each other)."""

    def read(self) -> ReadType:
        """What the screen shows, read off the event loop."""
        raise NotImplementedError

    def show(self, read: ReadType) -> None:
        """Show what :meth:`read` returned (on the event loop)."""
        raise NotImplementedError

    def reload(self) -> None:
        """Read again, then show it."""
        self.run_worker(
            self._read_then_show,
            name="reload",
            group=self.READ_GROUP,
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def action_reload(self) -> None:
        """Read again."""
        self.reload()

    def _read_then_show(self) -> None:
        read = self.read()
        self.app.call_from_thread(self.show, read)
