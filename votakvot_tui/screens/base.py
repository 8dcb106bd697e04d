"""What every screen of the dashboard shares: failed workers become the error dialog.

Every screen derives from :class:`BaseScreen` (modals from :class:`BaseModal`).
Worker state messages do not bubble, so the base forwards a failure to the app
as :class:`~votakvot_tui.messages.WorkerFailed`; the app's one handler shows it.
"""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from ..core.jobs import JobManager
from ..messages import WorkerFailed

__all__ = ["BaseModal", "BaseScreen"]

ResultType = TypeVar("ResultType")


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
