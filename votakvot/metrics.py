"""Reading a trial's metric series back.

A trial's rows are spread over ``votakvot.metrics.NNNNN.csv`` files (one per set
of columns locally, one per flush on remote stores); :func:`load_metrics` joins
them into one frame in the order the rows were metered.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import SkippedMetricsWarning
from .layout import METRICS_PREFIX
from .reading import read_metrics_files, resolve_trial_path
from .storage import redact

if TYPE_CHECKING:
    import pandas

__all__ = ["METRICS_PREFIX", "SkippedMetricsWarning", "load_metrics", "resolve_trial_path"]


def _warn(file: str, what: str) -> None:
    warnings.warn(redact(f"{file}: {what}"), SkippedMetricsWarning, stacklevel=4)


def _read_csv(name: str, raw: bytes) -> pandas.DataFrame | None:
    """One metric file as a frame; rows with extra fields dropped, a non-CSV file skipped."""
    import pandas

    try:
        return pandas.read_csv(io.BytesIO(raw))
    except (ValueError, pandas.errors.ParserError) as first:
        bad: list[list[str]] = []
        try:
            frame = pandas.read_csv(
                io.BytesIO(raw), engine="python", on_bad_lines=lambda line: bad.append(line)
            )
        except (ValueError, pandas.errors.ParserError) as exc:
            _warn(name, f"not a metrics CSV file ({_short(exc)}); left out")
            return None
        if bad:
            _warn(name, f"{len(bad)} row(s) with extra fields left out ({_short(first)})")
        lost = raw.count(b"\n") - 1 - len(frame) - len(bad)
        if lost > 0:
            _warn(name, f"{lost} line(s) could not be read ({_short(first)})")
        return frame


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def load_metrics(
    trial: Any, *, storage_options: Mapping[str, Any] | None = None
) -> pandas.DataFrame:
    """All metric rows of one trial, in the order they were metered.

    Args:
        trial: a ``Trial``, a trial folder (path or URL), or a tid under the
            root given to ``votakvot.init`` (``rep.loc[0]["tid"]``).
        storage_options: options of the fsspec filesystem (credentials,
            endpoints); by default those a ``Trial`` was read with.

    Returns:
        One row per ``votakvot.meter`` call: ``at`` (unix time, seconds) and a
        column per metered name; a column a row did not meter is NaN. A trial
        without metrics gives an empty frame with just ``at``. Rows and files
        that cannot be read are left out, each with a
        :class:`SkippedMetricsWarning` naming the file.

    Raises:
        FileNotFoundError: there is no such trial.
    """
    import pandas

    if storage_options is None:
        storage_options = getattr(trial, "storage_options", None)
    folder = resolve_trial_path(trial, storage_options=storage_options)
    frames = []
    for name, raw in read_metrics_files(folder, storage_options):
        if not raw.strip():
            continue
        frame = _read_csv(name, raw)
        if frame is None:
            continue
        if "at" in frame.columns and frame["at"].dtype.kind not in "if":
            at = pandas.to_numeric(frame["at"], errors="coerce")
            odd = int(at.isna().sum() - frame["at"].isna().sum())
            if odd:
                _warn(name, f"{odd} row(s) whose 'at' is not a number; they are sorted last")
            frame["at"] = at
        frames.append(frame)
    if not frames:
        return pandas.DataFrame({"at": pandas.Series([], dtype="float64")})
    frame = frames[0] if len(frames) == 1 else pandas.concat(frames, ignore_index=True)
    if "at" in frame.columns:
        frame = frame.sort_values("at", kind="stable", na_position="last")
    return frame.reset_index(drop=True)
