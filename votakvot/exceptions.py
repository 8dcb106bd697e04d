"""Every error votakvot raises on purpose derives from :class:`VotakvotError`.

::

    VotakvotError
    ├── StorageError          writing a trial failed (disk full, permission, remote down)
    ├── TrialLoadError        a trial folder could not be read (bad YAML, unsafe tag, ...)
    │   └── UnsafeTagError    the YAML asks to run code; it is never executed
    ├── TrialFailedError      ``Trial.result`` of a trial whose function raised
    ├── ResumeError           a resumable trial cannot be resumed as asked
    ├── WorkerCrashedError    a runner's worker process died running a trial (recorded ``crashed``)
    └── MissingDependencyError  an fsspec protocol whose package is not installed

Warnings (a reader went on without something; each names the file), all of them
``UserWarning`` and ``VotakvotError`` (so ``-W error`` turns them into the latter):
``SkippedTrialWarning`` (a trial left out), ``UnreadableFileWarning`` (a side file
of a kept trial), ``SkippedMetricsWarning`` (metric rows or files),
``UnreadableValueWarning`` (a value with a tag that is not resolved).
"""

from __future__ import annotations

__all__ = [
    "MissingDependencyError",
    "ResumeError",
    "SkippedMetricsWarning",
    "SkippedTrialWarning",
    "StorageError",
    "TrialFailedError",
    "TrialLoadError",
    "UnreadableFileWarning",
    "UnreadableValueWarning",
    "UnsafeTagError",
    "VotakvotError",
    "WorkerCrashedError",
]


class VotakvotError(Exception):
    """Base class of the errors votakvot raises itself."""


class StorageError(VotakvotError, OSError):
    """Writing a trial's files failed; only raised into user code with ``init(strict=True)``."""


class TrialLoadError(VotakvotError):
    """A trial folder or one of its files could not be read.

    Args:
        path: the file that could not be read.
        reason: what was wrong with it, in words a user can act on.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsafeTagError(TrialLoadError):
    """The YAML carries a tag that would run code when loaded; votakvot refuses it."""


class TrialFailedError(VotakvotError):
    """Raised by ``Trial.result`` when the recorded call raised.

    Carries what was recorded: ``error_type``, ``error_message`` and the ``traceback`` text.
    """

    def __init__(self, tid: str, error_type: str, error_message: str, traceback: str) -> None:
        super().__init__(
            f"trial {tid!r} failed with {error_type}: {error_message}\n"
            f"recorded traceback:\n{traceback}"
        )
        self.tid = tid
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class ResumeError(VotakvotError):
    """A resumable trial cannot be resumed as asked (other params, broken snapshot, ...)."""


class WorkerCrashedError(VotakvotError):
    """The process running a trial died (a segfault, ``os._exit``, the OOM killer).

    The runner recorded the trial ``crashed`` with the exit code or signal, and the
    other calls went on; this is what the crashed call's future raises.
    """


class MissingDependencyError(VotakvotError, ImportError):
    """A path's protocol needs a package that is not installed; the message names it."""


class UnreadableValueWarning(VotakvotError, UserWarning):
    """A value in a trial record has a tag votakvot will not resolve (it would run code,
    or is unknown); it is read as a ``votakvot._yaml.Placeholder`` and the trial is kept.
    The message names the file and the field."""


class SkippedTrialWarning(VotakvotError, UserWarning):
    """A trial folder could not be read and was left out; the message names the file and why."""


class UnreadableFileWarning(VotakvotError, UserWarning):
    """A file of a trial folder besides its record (heartbeat, output, logs) could not be
    read; the trial is kept, and what depends on the file is unknown. Names the file."""


class SkippedMetricsWarning(VotakvotError, UserWarning):
    """Rows or files of a trial's metrics could not be read and were left out; names the file."""
