"""Warnings raised inside a tracked call are kept in its ``log.jsonl`` (issue 17).

They are records of logger ``py.warnings`` (as ``logging.captureWarnings`` would
name them), level WARNING, message ``file:line: Category: text``; they are still
shown as before, and the program's own warning handling is left alone.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

import votakvot


class ConvergenceWarning(UserWarning):
    """Like scikit-learn's."""


def warning_rows(trial: votakvot.Trial) -> list[dict]:
    logs = trial.logs
    return logs[logs.logger == "py.warnings"].to_dict("records")


def test_a_warning_becomes_a_record(root: Path) -> None:
    def fit() -> int:
        warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=1)
        return 1

    line = fit.__code__.co_firstlineno + 1
    with pytest.warns(ConvergenceWarning, match="lbfgs"):  # pytest still sees it
        trial = votakvot.run("fit", fit)
    (row,) = warning_rows(trial)
    assert row["level"] == "WARNING"
    assert row["message"] == (
        f"{__file__}:{line}: ConvergenceWarning: lbfgs failed to converge"
    )


def test_catch_warnings_and_filters_in_user_code_keep_working(root: Path) -> None:
    """What the program catches or filters out is not shown, so not kept either; what it
    lets through is kept once."""

    def fit() -> int:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.warn("caught by the program", UserWarning, stacklevel=1)
        assert [str(w.message) for w in caught] == ["caught by the program"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.warn("ignored", UserWarning, stacklevel=1)
        warnings.warn("shown", RuntimeWarning, stacklevel=1)
        return len(caught)

    with pytest.warns(RuntimeWarning):
        trial = votakvot.run("fit", fit)
    assert trial.result == 1
    assert [r["message"].rpartition(": ")[2] for r in warning_rows(trial)] == ["shown"]


def test_capture_warnings_by_logging_is_kept_once(root: Path) -> None:
    """With logging.captureWarnings(True) the warning is already a py.warnings record:
    it is not kept twice."""
    logging.captureWarnings(True)
    try:

        def fit() -> None:
            warnings.warn("once", UserWarning, stacklevel=1)

        trial = votakvot.run("fit", fit)
    finally:
        logging.captureWarnings(False)
    rows = warning_rows(trial)
    assert len(rows) == 1 and "once" in rows[0]["message"]


def test_a_program_own_showwarning_is_still_called(root: Path) -> None:
    seen: list[str] = []
    before = warnings.showwarning

    def mine(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        seen.append(str(message))

    warnings.showwarning = mine
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            trial = votakvot.run("fit", lambda: warnings.warn("to both", UserWarning, stacklevel=1))
    finally:
        warnings.showwarning = before
    assert seen == ["to both"]
    assert len(warning_rows(trial)) == 1


def test_warnings_outside_a_trial_are_not_kept_and_still_shown(tmp_path: Path) -> None:
    """In a plain program (no pytest catching warnings): shown on stderr as always, both
    inside and outside trials; kept only for the trial."""
    script = tmp_path / "fit.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, warnings
            import votakvot
            votakvot.init(path=sys.argv[1])

            @votakvot.track()
            def fit():
                warnings.warn("said-in-the-trial", UserWarning)

            fit()
            warnings.warn("said-after-it", UserWarning)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "UserWarning: said-in-the-trial" in out.stderr
    assert "UserWarning: said-after-it" in out.stderr
    (log,) = (tmp_path / "results").rglob("log.jsonl")
    text = log.read_text()
    assert "said-in-the-trial" in text and "said-after-it" not in text
