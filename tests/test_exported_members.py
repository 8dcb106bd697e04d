"""The public API is exactly what is meant to be public."""

from __future__ import annotations

import votakvot

EXPECTED = {
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
}


def test_all_lists_the_public_api() -> None:
    """``__all__`` is sorted and names exactly the public API."""
    assert set(votakvot.__all__) == EXPECTED
    assert votakvot.__all__ == sorted(votakvot.__all__)


def test_every_public_name_resolves() -> None:
    """Each name in ``__all__`` is reachable, including the lazily imported ones."""
    for name in votakvot.__all__:
        assert getattr(votakvot, name) is not None, name


def test_metrics_module_is_reachable_as_in_the_readme() -> None:
    """``votakvot.metrics.load_metrics`` works without importing the submodule first."""
    assert callable(votakvot.metrics.load_metrics)


def test_every_exception_derives_from_the_base() -> None:
    """One base class catches every error votakvot raises on purpose."""
    for name in EXPECTED:
        obj = getattr(votakvot, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, votakvot.VotakvotError), name
