"""Metric files of one trial folder, read bounded and parsed into one frame.

Below :mod:`votakvot.trial` so a ``Trial`` reads its own metrics without the
tid lookup of :func:`votakvot.metrics.load_metrics`.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .exceptions import SkippedMetricsWarning, TrialLoadError
from .layout import SIDE_FILE_LIMIT, is_metrics_file
from .storage import open_storage, redact

if TYPE_CHECKING:
    import pandas

__all__ = ["complete_lines", "metrics_frame", "read_metrics_files", "read_metrics_rows"]


def _warn(file: str, what: str) -> None:
    warnings.warn(redact(f"{file}: {what}"), SkippedMetricsWarning, stacklevel=5)


def complete_lines(raw: bytes, name: str, *, live: bool = False) -> bytes:
    """``raw`` without a last line that has no newline yet: a row being written, or cut
    short by a killed writer. Warns (naming the file) unless ``live``: a run still
    writing tears its last line all the time, and that is no news."""
    if raw and not raw.endswith(b"\n"):
        raw = raw[: raw.rfind(b"\n") + 1]
        if not live and raw:
            _warn(name, "the last row is cut short (its writer was stopped?); it is left out")
        elif not live:
            _warn(name, "the header is cut short; the file is left out")
    return raw


def read_metrics_rows(raw: bytes, name: str, *, live: bool = True) -> list[dict[str, float]]:
    """The complete rows of one metric file as numbers, without pandas.

    For readers polling a file while its run appends to it (the ab monitor): the
    unfinished last line is left out, quietly when ``live``. A row whose field
    count differs from the header's is left out, and so is a cell that is empty
    or not a number.
    """
    text = complete_lines(raw, name, live=live).decode("utf-8", "replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []
    in_us = _in_us(header)
    if in_us:
        header = ["at", *header[1:]]
    rows = []
    for parts in reader:
        if len(parts) != len(header):
            continue
        row: dict[str, float] = {}
        for key, cell in zip(header, parts):
            if cell == "":
                continue
            try:
                row[key] = float(cell)
            except ValueError:
                continue
        if in_us and "at" in row:
            row["at"] = int(parts[0]) / 1e6 if parts[0].isdigit() else row["at"] / 1e6
        rows.append(row)
    return rows


def _in_us(header: list[str]) -> bool:
    """Whether a metric file's time stamps are ``at_us`` (integer microseconds, written
    since votakvot 0.2) rather than ``at`` (float seconds): readers give ``at`` either way."""
    return bool(header) and header[0] == "at_us" and "at" not in header


def read_metrics_files(
    folder: str, storage_options: Mapping[str, Any] | None = None
) -> list[tuple[str, bytes]]:
    """``(file name for messages, complete lines)`` of each metric file of a trial, in order.

    Each file is CSV with a header row and an ``at`` column. A file that cannot
    be read, and a last row cut short by a killed writer, are left out with a
    :class:`~votakvot.SkippedMetricsWarning` naming the file.

    Raises:
        FileNotFoundError: there is no such folder.
    """
    storage = open_storage(folder, storage_options)
    try:
        # folders too: one named like a metric file is warned about, not passed over
        names = sorted(name for name, _ in storage.listdir(storage.root))
    except FileNotFoundError:
        raise FileNotFoundError(f"no trial folder {redact(folder)!r}") from None
    files = []
    for name in names:
        if not is_metrics_file(name):
            continue
        path = storage.join(storage.root, name)
        shown = storage.shown(path)
        try:
            raw = storage.read(path, SIDE_FILE_LIMIT)
        except TrialLoadError as exc:
            _warn(shown, f"{exc.reason}; left out")
            continue
        if raw is not None:
            files.append((shown, complete_lines(raw, shown)))
    return files


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


def metrics_frame(
    folder: str, storage_options: Mapping[str, Any] | None = None
) -> pandas.DataFrame:
    """All metric rows of the trial in ``folder``; see :func:`votakvot.metrics.load_metrics`."""
    import pandas

    frames = []
    for name, raw in read_metrics_files(folder, storage_options):
        if not raw.strip():
            continue
        frame = _read_csv(name, raw)
        if frame is None:
            continue
        if _in_us(list(frame.columns)):
            us = pandas.to_numeric(frame.pop("at_us"), errors="coerce")
            frame.insert(0, "at", us / 1e6)
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
