"""Reading many trials back: as ``Trial`` objects or as one pandas DataFrame.

Column rule of reports (one row per trial, default integer index):

* ``tid``, ``state``, ``created``, ``duration`` come first;
* params by their bare names (``one``; nested dicts dotted: ``opt.lr``);
* info fields by their bare names too, unless a param already has that name,
  then as ``info.<name>``;
* the result as ``result`` when it is a scalar or a list, ``result.<field>``
  when it is a mapping (dicts, dataclasses, namedtuples);
* a param or info field whose name is a reserved column (:data:`RESERVED`) or
  starts with a reserved prefix (``result.``, ``meta.``, ...) is kept as
  ``params.<name>`` / ``info.<name>``;
* ``tags`` (comma-joined text, ``"best,bad-seed"``) and ``note`` right after those,
  when any trial of the report was annotated (``votakvot.annotate``); ``""`` for
  the others. Params and info named ``tags`` or ``note`` are therefore always
  ``params.tags``, ``info.note``, ...;
* ``full=True`` adds ``id``, ``function``, ``parent``, ``started``,
  ``finished``, ``path``, ``error.type``, ``error.message``, ``meta.*`` and any
  other top-level field dotted (``ab.*``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from ._columns import Part, join_columns
from .exceptions import SkippedTrialWarning, TrialLoadError, UnreadableFileWarning
from .reading import find_trial_dirs, read_records, scan_trial_dirs
from .storage import open_storage, redact
from .trial import Trial

if TYPE_CHECKING:
    import pandas

__all__ = [
    "ANNOTATION_COLUMNS",
    "BASE_COLUMNS",
    "FULL_COLUMNS",
    "RESERVED",
    "SkippedTrialWarning",
    "UnreadableFileWarning",
    "find_trial_dirs",
    "load_report",
    "load_trials",
    "query",
    "trial_row",
]

BASE_COLUMNS = ("tid", "state", "created", "duration")
"""The columns every report starts with, also of an empty one."""
FULL_COLUMNS = (
    "id",
    "function",
    "parent",
    "started",
    "finished",
    "path",
    "error.type",
    "error.message",
)
"""Columns ``full=True`` adds (before ``meta.*``), present even in an empty report."""
ANNOTATION_COLUMNS = ("tags", "note")
"""Columns of trials annotated with ``votakvot.annotate`` (see :mod:`votakvot.annotations`)."""
RESERVED = frozenset(
    {*BASE_COLUMNS, *FULL_COLUMNS, *ANNOTATION_COLUMNS, "result", "error", "votakvot", "traceback"}
)
"""Names params and info never take bare; they become ``params.<name>``/``info.<name>``."""
_RESERVED_PREFIXES = ("result.", "meta.", "error.", "at.", "params.", "info.")
_KNOWN_KEYS = frozenset(
    {"votakvot", "id", "tid", "state", "function", "parent", "at", "params", "info", "meta"}
    | {"result", "error", "traceback"}
)
_TIMESTAMPS = ("created", "started", "finished")
SUPERSEDED = "superseded"
"""The state of an earlier attempt of a call run again (see ``votakvot.runners``)."""


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item:
            _flatten(item, f"{name}.", out)
        else:
            out[name] = item


def _flat(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        _flatten(value, "", out)
    return out


def _free(name: str) -> bool:
    return name not in RESERVED and not name.startswith(_RESERVED_PREFIXES)


def trial_row(trial: Trial, full: bool = False) -> dict[str, Any]:
    """The report row of one trial: the same columns :func:`load_report` makes.

    Cheap and pandas-free, so a viewer can build its table trial by trial.
    """
    data = trial.data
    at = data.get("at")
    if not isinstance(at, dict):
        at = {}  # a hand-edited record: a field of the wrong type reads as missing
    row: dict[str, Any] = {
        "tid": trial.tid,
        "state": trial.state,
        "created": at.get("created"),
        "duration": at.get("duration"),
    }
    params = data.get("params")
    if params:
        for name, value in _flat(params).items():
            row[name if _free(name) else f"params.{name}"] = value
    info = data.get("info")
    if info:
        for name, value in _flat(info).items():
            row[name if _free(name) and name not in row else f"info.{name}"] = value
    annotations = trial.sidecar_annotations()
    if annotations is not None:
        row["tags"] = annotations.tags_text
        row["note"] = annotations.note
    if "result" in data:
        result = data["result"]
        if isinstance(result, dict) and result:
            _flatten(result, "result.", row)
        else:
            row["result"] = result
    if full:
        row["id"] = data.get("id")
        row["function"] = data.get("function")
        row["parent"] = data.get("parent")
        row["started"] = at.get("started")
        row["finished"] = at.get("finished")
        row["path"] = trial.path
        for key, value in at.items():
            if key not in ("created", "duration", "started", "finished"):
                row[f"at.{key}"] = value
        error = data.get("error")
        if isinstance(error, dict):
            _flatten(error, "error.", row)
        meta = data.get("meta")
        if isinstance(meta, dict):
            _flatten(meta, "meta.", row)
        for key, value in data.items():
            if key not in _KNOWN_KEYS:
                if isinstance(value, dict) and value:
                    _flatten(value, f"{key}.", row)
                else:
                    row[str(key)] = value
    return row


def _skip(error: TrialLoadError, safe: bool, stacklevel: int = 4) -> None:
    """Raise ``error``, or warn about it pointing at the caller of the public function."""
    if not safe:
        raise error
    message = f"skipped trial: {redact(str(error))}"
    warnings.warn(message, SkippedTrialWarning, stacklevel=stacklevel)


def _trials(path: str | None, safe: bool, shared: bool, options: _Options) -> Iterator[Trial]:
    folders, annotated = scan_trial_dirs(path, options, strict=not safe)
    for item in read_records(folders, options, shared=shared, annotated=annotated):
        if isinstance(item, TrialLoadError):
            _skip(item, safe)
            continue
        yield item


def _path(path: str | os.PathLike[str] | None) -> str | None:
    return None if path is None else os.fspath(path)


_Options = Mapping[str, Any] | None


def _collect(
    folders: list[str],
    full: bool,
    options: _Options = None,
    annotated: Collection[str] | None = None,
) -> Part:
    """Report columns of some folders, their errors as plain (picklable) tuples, and
    each row's folder, whether it was read without a warning, and its column names in
    order (the index keeps those: a report's column order is where each name first
    appears, ``None`` values included)."""
    errors: list[tuple[type, str, str]] = []
    paths: list[str] = []
    clean: list[bool] = []

    def rows() -> Iterator[dict[str, Any]]:
        for item in read_records(folders, options, shared=True, annotated=annotated):
            if isinstance(item, TrialLoadError):
                errors.append((type(item), item.path, item.reason))
                continue
            # Warned about by the caller: a forked child's own warnings would be lost.
            item._quiet = True
            yield trial_row(item, full)
            paths.append(item.path)
            clean.append(not item.unreadable)
            for name in item.unreadable:
                errors.append((UnreadableFileWarning, item.unreadable_note(name), ""))

    shapes: list[tuple[str, ...]] = []
    columns, n = _columns(rows(), shapes)
    return columns, n, errors, paths, clean, shapes


PARALLEL_MIN = 3000
"""Local trials from which ``load_report`` reads half of them in a forked helper process."""


def _collect_all(
    folders: list[str],
    full: bool,
    options: _Options,
    annotated: Collection[str] | None = None,
) -> list[Part]:
    """Columns of all folders: half in a forked child when that pays off, pandas imported.

    ``annotated``: the folders the walk saw an annotations sidecar in (``None``: not known).
    """
    from ._fork import ForkedCall, can_fork

    if len(folders) >= PARALLEL_MIN and open_storage(folders[0], options).forkable and can_fork():
        half = len(folders) // 2
        child = ForkedCall(_collect, folders[:half], full, options, annotated)
        import pandas  # imported while the child parses

        del pandas
        mine = _collect(folders[half:], full, options, annotated)
        return [child.result(), mine]
    return [_collect(folders, full, options, annotated)]


def _merge(parts: list[Part]) -> tuple[dict[str, list[Any]], int]:
    if len(parts) == 1:
        return parts[0][0], parts[0][1]
    return join_columns((part[0], part[1]) for part in parts)


def load_trials(
    path: str | os.PathLike[str] | None = None,
    safe: bool = True,
    *,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, Trial]:
    """Every trial at or below ``path``, as ``{tid: Trial}``.

    Args:
        path: a folder, a glob (``*`` within a segment, ``**`` across) or an
            fsspec URL of either; default: the root given to ``votakvot.init``.
        safe: skip a trial folder that cannot be read with one
            :class:`SkippedTrialWarning` naming the file; ``False`` raises
            :class:`~votakvot.TrialLoadError` instead, for anything skipped
            (also a folder that cannot be listed, a record that is no file).
        storage_options: options of the fsspec filesystem (credentials,
            endpoints), e.g. ``{"key": ..., "secret": ...}`` for ``s3://``.

    Earlier attempts of a call that was run again (``state: superseded``) are
    left out: each tid maps to its latest attempt.
    """
    trials: dict[str, Trial] = {}
    for trial in _trials(_path(path), safe, False, storage_options):
        if trial.data.get("state") == SUPERSEDED:
            continue  # an earlier attempt of a call run again (see load_report's attempts)
        other = trials.get(trial.tid)
        if other is not None:
            warnings.warn(
                f"two trial folders record tid {trial.tid!r}: {redact(other.path)} and "
                f"{redact(trial.path)}; "
                "keeping the second",
                SkippedTrialWarning,
                stacklevel=2,
            )
        trials[trial.tid] = trial
    return trials


def _columns(
    rows: Iterable[dict[str, Any]], shapes: list[tuple[str, ...]] | None = None
) -> tuple[dict[str, list[Any]], int]:
    """Rows to columns without keeping the rows: memory stays one pointer per cell.

    ``shapes``, given, gets each row's names in order (rows of one shape share one tuple).
    """
    columns: dict[str, list[Any]] = {}
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    n = 0
    for row in rows:
        if shapes is not None:
            shape = tuple(row)
            shapes.append(seen.setdefault(shape, shape))
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * n
            elif len(column) < n:
                column.extend([None] * (n - len(column)))
            column.append(value)
        n += 1
    for column in columns.values():
        if len(column) < n:
            column.extend([None] * (n - len(column)))
    return columns, n


def _order(names: Iterable[str], full: bool) -> list[str]:
    names = list(names)
    base = [c for c in BASE_COLUMNS]
    base += [c for c in ANNOTATION_COLUMNS if c in names]  # what a person said, up front
    fixed = [c for c in FULL_COLUMNS] if full else []
    taken = set(base) | set(fixed)
    own = [c for c in names if c not in taken and not c.startswith(("meta.", "error.", "at."))]
    rest = [c for c in names if c not in taken and c not in own]
    meta = [c for c in rest if c.startswith("meta.")]
    other = [c for c in rest if not c.startswith("meta.")]
    return base + own + fixed + other + meta


def _to_datetime(values: list[Any]) -> Any:
    import pandas

    try:
        return pandas.to_datetime(values)
    except (ValueError, TypeError):
        try:  # offsets differ (DST, other machines): one instant scale
            return pandas.to_datetime(values, utc=True)
        except (ValueError, TypeError):
            return values  # naive and aware mixed: left as they are


def load_report(
    path: str | os.PathLike[str] | None = None,
    full: bool = False,
    safe: bool = True,
    *,
    storage_options: Mapping[str, Any] | None = None,
    attempts: bool = False,
    cache: bool = True,
) -> pandas.DataFrame:
    """One row per trial at or below ``path``, oldest first (see the module for columns).

    Args:
        path: a folder, a glob (``*`` within a segment, ``**`` across) or an
            fsspec URL of either; default: the root given to ``votakvot.init``.
        full: add ids, all timestamps, the error, the path and ``meta.*``.
        safe: skip unreadable trial folders with a warning; ``False`` raises
            :class:`~votakvot.TrialLoadError` for anything skipped, scan-time
            skips included (a folder that cannot be listed, a record that is
            not a regular file or too big). A local trial folder deleted
            while the report runs is left out without a word; a record a
            remote store does not send (FTP answers "550" for missing and
            refused alike) is warned about. Messages show URLs without their
            password.
        storage_options: options of the fsspec filesystem (credentials,
            endpoints), e.g. ``{"key": ..., "secret": ...}`` for ``s3://``.
        attempts: also show the earlier attempts of calls that were run again
            (``state`` ``superseded``; ``full=True`` adds ``attempt``, ``ended_as``
            and ``superseded_by``). By default a call is one row: its latest attempt.
        cache: use and update the warm index (:mod:`votakvot.index`): rows of
            records unchanged since the last report are not read again.
            ``False`` reads every record and leaves the index alone.

    Returns:
        A DataFrame with a default integer index; with no trials, an empty one
        that still has the base columns, so ``pandas.concat`` always works.
    """
    parts = None
    if cache:
        from .index import cached_report_parts

        parts = cached_report_parts(_path(path), full, not safe, storage_options, _collect_all)
    if parts is None:
        folders, annotated = scan_trial_dirs(_path(path), storage_options, strict=not safe)
        parts = _collect_all(folders, full, storage_options, annotated)
    for _, _, errors, *_ in parts:
        for cls, name, reason in errors:
            if issubclass(cls, Warning):  # the row is kept; something of it is unknown
                warnings.warn(name, cls, stacklevel=2)
            else:
                _skip(cast("type[TrialLoadError]", cls)(name, reason), safe, stacklevel=3)
    import pandas

    columns, n = _merge(parts)
    for name in (*BASE_COLUMNS, *(FULL_COLUMNS if full else ())):
        columns.setdefault(name, [None] * n)
    for name in ANNOTATION_COLUMNS:
        if name in columns:  # some trial was annotated: the others read as "", never NaN
            columns[name] = ["" if v is None else v for v in columns[name]]
    for name in _TIMESTAMPS:
        if name in columns:
            columns[name] = _to_datetime(columns[name])
    order = _order(columns, full)
    frame = pandas.DataFrame({name: columns.pop(name) for name in order})
    if n and not attempts:
        kept = frame["state"] != SUPERSEDED
        if not kept.all():
            frame = frame[kept].reset_index(drop=True)
            n = len(frame)
    if n and frame["created"].dtype.kind == "M":
        frame = _oldest_first(frame)
    return frame


def _oldest_first(frame: pandas.DataFrame) -> pandas.DataFrame:
    """Sorted by ``created``, then ``tid``; without ties (the usual case) one numpy sort
    of the times does it: factorizing 100,000 tids for nothing took longer."""
    import numpy

    times = frame["created"].array.asi8
    order = numpy.argsort(times, kind="stable")
    ordered = times[order]
    no_nat = len(ordered) and ordered[0] != numpy.iinfo(numpy.int64).min  # NaT sorts first
    if no_nat and (len(ordered) < 2 or bool((ordered[1:] != ordered[:-1]).all())):
        return frame.take(order).reset_index(drop=True)
    frame = frame.sort_values(["created", "tid"], kind="stable", na_position="last")
    return frame.reset_index(drop=True)


def query(frame: pandas.DataFrame, expr: str) -> pandas.DataFrame:
    """``frame.query(expr)``, with dotted column names usable as written (``result.x > 3``).

    pandas reads ``result.x`` as an attribute access; names of the frame that
    contain a dot are put in backticks first, unless they already are.
    """
    import re

    dotted = sorted((str(c) for c in frame.columns if "." in str(c)), key=len, reverse=True)
    if dotted:
        names = "|".join(re.escape(c) for c in dotted)
        expr = re.sub(rf"(?<![\w.`])({names})(?![\w.`])", r"`\1`", expr)
    return frame.query(expr).reset_index(drop=True)
