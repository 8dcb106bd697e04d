"""Messages shared across screens and widgets of the dashboard.

A widget's own messages live in the widget (``TrialTable.Highlighted``); the
ones here travel between the watcher, the app and any screen. Screens ask the
app for things (open a monitor, resume a trial) with a message, so no screen
imports the app and the app is the one place that opens screens of other kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from .core.watch import Changes

__all__ = [
    "FilesChanged",
    "LaunchAbAgain",
    "MetricsChanged",
    "OpenAbMonitor",
    "ResumeTrial",
    "TrialsUpdated",
    "WorkerFailed",
]


@dataclass
class FilesChanged(Message):
    """The watcher or poller saw trial files change (posted from its thread)."""

    changes: Changes
    """Which trial folders were written, grew metrics, or went away."""


@dataclass
class MetricsChanged(Message):
    """Metric files of these trial folders grew; screens showing them reload."""

    paths: frozenset[str]
    """The trial folders whose metrics changed."""


@dataclass
class TrialsUpdated(Message):
    """The trial store changed (records added, updated or removed)."""

    paths: frozenset[str]
    """The trial folders that changed (removed ones included)."""


# Requests from screens to the app. A screen posts them with ``self.app.post_message``
# (safe from a thread worker) and never needs to know the app's class: the app
# (:class:`~votakvot_tui.launch.LaunchActions`) decides what to open.


@dataclass
class OpenAbMonitor(Message):
    """Show the live monitor of the ab trial in ``path``."""

    path: str
    job_id: str | None = None
    """The job writing it, if the dashboard started it (looked up when ``None``)."""


@dataclass
class LaunchAbAgain(Message):
    """Open the launch form filled with the options of an earlier ab run."""

    path: str
    """The earlier run's trial folder (its results root is the new run's default)."""
    tid: str
    params: dict[str, Any]
    """Its recorded params (the ab options)."""


@dataclass
class ResumeTrial(Message):
    """Check the resumable trial in ``path`` and resume it as a job."""

    path: str


@dataclass
class WorkerFailed(Message):
    """A screen's worker raised: the app shows the error dialog."""

    name: str
    error: BaseException
