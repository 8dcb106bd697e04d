"""Reading a trial's metric series back.

A trial's rows are spread over ``votakvot.metrics.NNNNN.csv`` files (one per set
of columns locally, one per flush on remote stores); :func:`load_metrics` joins
them into one frame in the order the rows were metered.
"""

from __future__ import annotations

import io
import os
import posixpath
import warnings
from typing import TYPE_CHECKING, Any

from ._layout import METRICS_PREFIX, YAML_NAME
from ._storage import get_filesystem, is_local, redact, split_protocol

if TYPE_CHECKING:
    import pandas

__all__ = ["METRICS_PREFIX", "SkippedMetricsWarning", "load_metrics", "resolve_trial_path"]


def resolve_trial_path(trial: Any, root: str | None = None) -> str:
    """The folder of ``trial``: a ``Trial``, a folder path or URL, or a tid.

    A tid is looked up under ``root``, by default the one given to ``votakvot.init``.

    Raises:
        FileNotFoundError: ``trial`` is neither a trial folder nor a tid under the root.
    """
    from .trial import Trial

    if isinstance(trial, Trial):
        return trial.path
    text = str(trial)
    if not is_local(text):
        return text.rstrip("/")
    local = os.path.expanduser(split_protocol(text)[1])
    if os.path.isfile(os.path.join(local, YAML_NAME)):
        return local
    if root is None:
        from ._config import get_config

        root = get_config().path
    tid = text.strip("/")
    if is_local(root):
        folder = os.path.join(os.path.expanduser(split_protocol(root)[1]), *tid.split("/"))
        if os.path.isdir(folder):
            return folder
        raise FileNotFoundError(
            f"no trial {text!r}: it is neither a trial folder nor a tid under the root "
            f"{root!r} given to votakvot.init(); pass the trial's path or init(path=...)"
        )
    return f"{root.rstrip('/')}/{tid}"


class SkippedMetricsWarning(UserWarning):
    """Rows or files of a trial's metrics could not be read and were left out; names the file."""


def _warn(file: str, what: str) -> None:
    warnings.warn(redact(f"{file}: {what}"), SkippedMetricsWarning, stacklevel=4)


def _complete_lines(raw: bytes, file: str) -> bytes:
    """Drop a last line without its newline: a row cut short by a killed writer."""
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        if raw:
            _warn(file, "the last row is cut short (its writer was stopped?); it is left out")
        else:
            _warn(file, "the header is cut short; the file is left out")
    return raw


def _metric_files(folder: str) -> list[tuple[str, bytes]]:
    """``(name, content)`` of each metric file, in name order; unreadable ones warned about."""
    if is_local(folder):
        local = split_protocol(folder)[1]
        try:
            entries = sorted(
                (e.name, e.path)
                for e in os.scandir(local)
                if e.name.startswith(METRICS_PREFIX) and e.name.endswith(".csv")
            )
        except (FileNotFoundError, NotADirectoryError):
            raise FileNotFoundError(f"no trial folder {redact(folder)!r}") from None
        files = []
        for name, path in entries:
            raw = _side_file(local, name, path)
            if raw is not None:
                files.append((path, raw))
        return files
    fs, root = get_filesystem(folder)
    fs.invalidate_cache(root)  # listings are cached per instance; a trial may have grown
    try:
        # detail=True: some backends (FTP) give bare names for detail=False
        listed = [
            entry["name"]
            for entry in fs.ls(root, detail=True)
            if entry.get("type") != "directory"
        ]
    except FileNotFoundError:
        raise FileNotFoundError(f"no trial folder {redact(folder)!r}") from None
    paths = sorted(
        p
        for p in listed
        if posixpath.basename(p).startswith(METRICS_PREFIX) and p.endswith(".csv")
    )
    files = []
    for path in paths:
        name = f"{folder}/{posixpath.basename(path)}"
        raw = _side_file(folder, posixpath.basename(path), name)
        if raw is not None:
            files.append((name, raw))
    return files


def _side_file(folder: str, name: str, shown: str) -> bytes | None:
    """One metrics file by the bounded, regular-file-only reader; trouble is warned about."""
    from ._scan import read_side_file
    from .exceptions import TrialLoadError

    try:
        return read_side_file(folder, name)
    except TrialLoadError as exc:
        _warn(shown, f"{exc.reason}; left out")
        return None


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


def load_metrics(trial: Any) -> pandas.DataFrame:
    """All metric rows of one trial, in the order they were metered.

    Args:
        trial: a ``Trial``, a trial folder (path or URL), or a tid under the
            root given to ``votakvot.init`` (``rep.loc[0]["tid"]``).

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

    folder = resolve_trial_path(trial)
    frames = []
    for name, raw in _metric_files(folder):
        raw = _complete_lines(raw, name)
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
