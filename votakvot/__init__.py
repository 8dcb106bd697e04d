"""votakvot: every call of a tracked function becomes a trial folder you can read back.

>>> import votakvot
>>> votakvot.init(path="./results")
>>> @votakvot.track()
... def experiment(one, two):
...     votakvot.meter(loss=0.5)
...     return one + two
"""

from __future__ import annotations

from typing import Any

from . import capture as _capture  # noqa: F401 - installs the output-capture hook
from . import meta
from ._decorator import track
from ._init import init
from ._recording import attach, inform, meter, tid
from ._run import run
from ._version import __version__
from .annotations import annotate
from .exceptions import (
    MissingDependencyError,
    ResumeError,
    SkippedMetricsWarning,
    SkippedTrialWarning,
    StorageError,
    TrialFailedError,
    TrialLoadError,
    UnreadableFileWarning,
    UnreadableValueWarning,
    UnsafeTagError,
    VotakvotError,
)
from .resumable import resumable_fn
from .trial import Trial

metadata_providers = meta.providers
"""The same dict as ``votakvot.meta.providers``."""

__all__ = [
    "MissingDependencyError",
    "ResumeError",
    "SkippedMetricsWarning",
    "SkippedTrialWarning",
    "StorageError",
    "Trial",
    "TrialFailedError",
    "TrialLoadError",
    "UnreadableFileWarning",
    "UnreadableValueWarning",
    "UnsafeTagError",
    "VotakvotError",
    "__version__",
    "annotate",
    "as_completed",
    "attach",
    "imap",
    "inform",
    "init",
    "load_metrics",
    "load_report",
    "load_trials",
    "map",
    "meta",
    "metadata_providers",
    "meter",
    "resumable_fn",
    "run",
    "submit",
    "sweep",
    "tid",
    "track",
]


def __getattr__(name: str) -> Any:
    # The read side needs pandas; importing it lazily keeps `import votakvot` light.
    if name in ("load_report", "load_trials"):
        from . import report

        return getattr(report, name)
    if name in ("submit", "map", "sweep", "imap", "as_completed"):
        from . import runners

        return getattr(runners, name)
    if name == "load_metrics":
        from .metrics import load_metrics

        return load_metrics
    if name in ("metrics", "runners", "report", "testing", "reading", "annotations"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'votakvot' has no attribute {name!r}")
