"""Resumable trials: how far each got, whether its process lives; resume or stop with a key.

Resuming runs ``votakvot.run(tid, cls, **params)`` again for the trial, in a separate
process started through :mod:`votakvot_tui.core.jobs` (``python -m votakvot_tui.core.runs resume``),
from the folder the trial first ran in so its module imports the same way.
"""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Label, Static

from ..messages import ResumeTrial, TrialsUpdated
from .base import BaseScreen

if TYPE_CHECKING:
    from votakvot.trial import Trial

__all__ = ["ResumableRow", "ResumableScreen", "find_resumable"]

COLUMNS = ("tid", "state", "loops", "snapshot", "resumes", "alive", "job")
_STATE_STYLE = {
    "running": "bold dodger_blue1",
    "done": "green",
    "failed": "bold red",
    "interrupted": "yellow",
    "stale": "italic yellow",
}
RESUMABLE_STATES = ("interrupted", "stale", "failed")
"""States a trial can be resumed from (a failed task resumes from its last snapshot)."""


@dataclass
class ResumableRow:
    """One resumable trial as the table shows it."""

    path: str
    tid: str
    state: str
    function: str
    loops: int | None
    snapshot_at: datetime.datetime | None
    resumes: int
    last_sign: float | None
    """Unix time of the last heartbeat (or the start)."""
    interval: float
    """Its heartbeat interval."""

    @classmethod
    def from_trial(cls, trial: Trial) -> ResumableRow:
        section = trial.data.get("resumable") or {}
        loops = section.get("loops")
        at = section.get("snapshot_at")
        resumes = section.get("resumes")
        last, interval = trial.liveness()
        return cls(
            path=trial.path,
            tid=trial.tid,
            state=trial.state,
            function=str(trial.data.get("function") or ""),
            loops=loops if isinstance(loops, int) else None,
            snapshot_at=at if isinstance(at, datetime.datetime) else None,
            resumes=len(resumes) if isinstance(resumes, list) else 0,
            last_sign=last,
            interval=interval,
        )

    def alive(self, now: float | None = None) -> str:
        """``yes (2s ago)`` for a running trial with a fresh heartbeat, ``no (...)`` if it
        went silent, ``-`` once it ended."""
        if self.state not in ("running", "stale"):
            return "-"
        ago = ""
        if self.last_sign is not None:
            ago = f" ({(now or time.time()) - self.last_sign:.0f}s ago)"
        return ("yes" if self.state == "running" else "no") + ago

    def snapshot_text(self, now: datetime.datetime | None = None) -> str:
        if self.snapshot_at is None:
            return "-"
        now = now or datetime.datetime.now().astimezone()
        seconds = max((now - self.snapshot_at).total_seconds(), 0)
        ago = f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"
        return f"{self.snapshot_at.astimezone():%m-%d %H:%M:%S} ({ago} ago)"


def find_resumable(paths: list[str], cache: dict[str, Any] | None = None) -> list[ResumableRow]:
    """The resumable trials among trial folders (blocking: call from a thread worker).

    Only records mentioning ``kind: resumable`` are parsed; ``cache`` (path ->
    (mtime, row or None)) skips folders whose record did not change.
    """
    from votakvot.exceptions import TrialLoadError
    from votakvot.layout import YAML_NAME
    from votakvot.reading import MAX_RECORD, read_side_file
    from votakvot.trial import read_trial

    cache = {} if cache is None else cache
    rows = []
    for path in paths:
        local = "://" not in path
        stamp: float | None = None
        if local:
            try:
                stamp = os.stat(os.path.join(path, YAML_NAME)).st_mtime
            except OSError:
                continue  # gone, or unreadable: the trials table says which
            hit = cache.get(path)
            if hit is not None and hit[0] == stamp and hit[1] is None:
                continue  # not resumable, unchanged
            try:
                raw = read_side_file(path, YAML_NAME, MAX_RECORD)
            except TrialLoadError:
                continue  # the trials table shows why the folder is unreadable
            if raw is None or b"kind: resumable" not in raw:
                cache[path] = (stamp, None)
                continue
        try:
            trial = read_trial(path)
        except Exception:
            continue  # the trials table shows unreadable folders; nothing to resume here
        if trial is None or trial.data.get("kind") != "resumable":
            cache[path] = (stamp, None)
            continue
        row = ResumableRow.from_trial(trial)
        cache[path] = (stamp, row)
        rows.append(row)
    rows.sort(key=lambda r: r.tid)
    return rows


class ResumableScreen(BaseScreen[None]):
    """Every resumable trial the dashboard knows, with its progress and liveness."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back", tooltip="Back to where you were"),
        Binding("u,enter", "resume", "Resume", tooltip="Resume the interrupted or stale trial"),
        Binding("s", "stop", "Stop", tooltip="Stop the trial's job started from here"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="Read the trials again"),
    ]

    def __init__(self) -> None:
        super().__init__(id="resumable")
        self.rows: list[ResumableRow] = []
        """The trials on screen."""
        self.loaded = 0
        """Times the list was read (tests wait on it)."""
        self._cache: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield Label("resumable tasks", id="resumable-title")
        yield DataTable(id="resumable-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="resumable-empty")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#resumable-table", DataTable)

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.table.add_column(column, key=column)
        self.table.focus()
        self.set_interval(2.0, self.action_refresh)
        self.action_refresh()

    def action_refresh(self) -> None:
        """Read the trials again."""
        store = getattr(self.app, "store", None)
        # Copied here, on the event loop: the app changes the store only from there.
        self.scan(list(store.records) if store is not None else [])

    @on(TrialsUpdated)
    def _on_trials(self) -> None:
        self.action_refresh()

    @work(thread=True, exclusive=True, group="resumable", exit_on_error=False)
    def scan(self, paths: list[str]) -> None:
        """Find resumable trials among those the app knows (off the event loop)."""
        rows = find_resumable(sorted(paths), self._cache)
        jobs = {}
        for job in self.job_manager.list_jobs(limit=200):
            if job.trial and job.trial not in jobs:
                jobs[os.path.normpath(job.trial)] = job.state
        self.app.call_from_thread(self._show, rows, jobs)

    def _show(self, rows: list[ResumableRow], jobs: dict[str, str]) -> None:
        self.rows = rows
        self.loaded += 1
        table = self.table
        cursor = table.cursor_row
        table.clear()
        now = time.time()
        for row in rows:
            cells = (
                row.tid,
                row.state,
                "-" if row.loops is None else f"{row.loops:,}",
                row.snapshot_text(),
                str(row.resumes),
                row.alive(now),
                jobs.get(os.path.normpath(row.path), ""),
            )
            table.add_row(
                *(
                    Text(c, style=_STATE_STYLE.get(c, "") if i == 1 else "")
                    for i, c in enumerate(cells)
                ),
                key=row.path,
            )
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        self.query_one("#resumable-empty", Static).update(
            ""
            if rows
            else "No resumable trials here. A resumable task is a subclass of "
            "votakvot.resumable_fn run with votakvot.run(tid, Task, **params)."
        )

    def current(self) -> ResumableRow | None:
        """The trial under the cursor."""
        if not self.rows or self.table.row_count == 0:
            return None
        return self.rows[min(self.table.cursor_row, len(self.rows) - 1)]

    def action_back(self) -> None:
        """Back to where you were."""
        self.dismiss(None)

    def action_resume(self) -> None:
        """Resume the trial under the cursor in a separate process."""
        row = self.current()
        if row is None:
            return
        if row.state not in RESUMABLE_STATES:
            self.notify(
                f"{row.tid} is {row.state}; only interrupted, stale or failed trials resume",
                severity="warning",
            )
            return
        self.app.post_message(ResumeTrial(row.path))

    def action_stop(self) -> None:
        """Stop the job running the trial under the cursor (started from the dashboard)."""
        row = self.current()
        if row is None:
            return
        job_id = self.job_manager.job_for_trial(row.path)
        if job_id is None:
            self.notify(
                f"{row.tid} was not started from the dashboard; stop it where it runs",
                severity="warning",
            )
            return
        job = self.job_manager.get(job_id)
        if job.state not in ("starting", "running", "stopping"):
            self.notify(f"its job already ended ({job.describe()})")
            return
        self.job_manager.stop(job_id)
        self.notify(
            f"stopping {row.tid}: it is recorded interrupted, and u resumes it from its "
            "last snapshot"
        )
