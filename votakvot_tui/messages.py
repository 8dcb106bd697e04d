"""Messages shared across screens and widgets of the dashboard.

A widget's own messages live in the widget (``TrialTable.Highlighted``); the
ones here travel between the watcher, the app and any screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from .core.watch import Changes

__all__ = ["FilesChanged", "MetricsChanged", "TrialsUpdated"]


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
