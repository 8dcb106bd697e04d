"""What every screen of the dashboard shares: failed workers become the error dialog.

Every screen derives from :class:`BaseScreen` (modals from :class:`BaseModal`, yes/no
dialogs from :class:`ConfirmModal`);
one that shows what it reads from disk derives from :class:`ReadingScreen` (or
:class:`StoppableReadingScreen`, when the user waits for a read of many trials).
Worker state messages do not bubble, so the base forwards a failure to the app
as :class:`~votakvot_tui.messages.WorkerFailed`; the app's one handler shows it.
"""

from __future__ import annotations

import time
from typing import ClassVar, Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label
from textual.worker import Worker, WorkerState

from ..core.jobs import JobManager
from ..messages import WorkerFailed

__all__ = ["BaseModal", "BaseScreen", "ConfirmModal", "ReadingScreen", "StoppableReadingScreen"]

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


class ConfirmModal(BaseModal[bool]):
    """A yes/no dialog that dismisses with ``True`` for yes; "no" has the focus.

    The confirm dialogs differ only in what they say (:meth:`body`), the button
    labels and their key bindings, so the frame, the buttons and the answer are here.
    """

    YES: ClassVar[str] = "Yes"
    """The label of the button that goes ahead (shown as dangerous)."""
    NO: ClassVar[str] = "No"
    """The label of the safe button (focused, so Enter does nothing harmful)."""

    def __init__(self) -> None:
        super().__init__(classes="modal")

    def body(self) -> ComposeResult:
        """The question and what it is about, above the buttons."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield from self.body()
            with Horizontal(classes="buttons"):
                yield Button(self.YES, variant="error", id="yes")
                yield Button(self.NO, variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)


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


class StoppableReadingScreen(ReadingScreen[ReadType]):
    """A read of many trials the user waits for: progress on a label, Escape stops it.

    Compare and plot read the same way and differ only in the label and its text,
    so both come from here (:attr:`PROGRESS_ID`, :attr:`PROGRESS_TEXT`). :meth:`read`
    passes :meth:`_report` as the reader's progress callback; :meth:`show` starts
    with :meth:`_read_done`; ``Escape`` calls :meth:`stop_reading` first.
    """

    PROGRESS_ID: ClassVar[str] = "progress"
    """The id of the label the progress is shown on."""
    PROGRESS_TEXT: ClassVar[str] = "reading {done}/{total} · Esc: stop"
    """The progress, formatted with ``done`` and ``total``."""

    reading: bool = False
    """A read the user waits for is under way (Escape stops it instead of leaving)."""
    _stopped: bool = False
    _last_progress: float = 0.0

    def reload(self) -> None:
        """Read again (in a worker; Escape stops it)."""
        self.reading = True
        self._stopped = False
        super().reload()

    def _report(self, done: int, total: int) -> None:
        # Called by the reader in the worker thread: at most ten updates a second.
        now = time.monotonic()
        if done == total or now - self._last_progress > 0.1:
            self._last_progress = now
            self.app.call_from_thread(self._progress, done, total)

    def _progress(self, done: int, total: int) -> None:
        if self.reading and done < total:
            self.query_one(f"#{self.PROGRESS_ID}", Label).update(
                self.PROGRESS_TEXT.format(done=done, total=total)
            )

    def _read_done(self, cancelled: bool, read: int, total: int) -> bool:
        """End the wait: the label says where a stopped read stopped, else hides.

        Returns ``False`` for a read cancelled by a newer one (which will show)."""
        if cancelled and not self._stopped:
            return False
        self.reading = False
        progress = self.query_one(f"#{self.PROGRESS_ID}", Label)
        progress.update(
            f"stopped after {read} of {total} trials · r: read again" if cancelled else ""
        )
        progress.set_class(not cancelled, "hidden")
        return True

    def stop_reading(self) -> bool:
        """Stop a read under way; ``False`` when none is (Escape then leaves)."""
        if not self.reading:
            return False
        self._stopped = True
        self.workers.cancel_group(self, self.READ_GROUP)
        return True
