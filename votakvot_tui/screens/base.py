"""What every full screen of the dashboard shares."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import Screen
from textual.worker import Worker, WorkerState

__all__ = ["BaseScreen"]

ResultType = TypeVar("ResultType")


class BaseScreen(Screen[ResultType]):
    """A screen whose failed workers become an error dialog.

    Worker state messages do not bubble, so each screen forwards its own to the
    app's one handler (:meth:`VotakvotApp.on_worker_state_changed`).
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            handler = getattr(self.app, "on_worker_state_changed", None)
            if handler is not None:
                handler(event)
