"""The in-memory trial store behind the dashboard.

Only what the table needs is kept per trial (a flat row of scalars), never the
whole parsed YAML with its metadata: 100,000 trials must fit in well under
500 MB. Screens that need everything (detail, compare) re-read the folder.

The store is keyed by trial folder and updated incrementally: the watcher
names the folders that changed and only those are read again. Filtering and
sorting build a *view* (a list of records) off the event loop.
"""

from __future__ import annotations

import datetime
import itertools
import logging
import math
import os
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from votakvot.exceptions import TrialLoadError
from votakvot.layout import YAML_NAME
from votakvot.reading import find_trial_dirs as library_find
from votakvot.reading import iter_trial_dirs as library_iter
from votakvot.reading import read_records as read_trials
from votakvot.reading import side_file_name, split_glob
from votakvot.storage import is_local, split_protocol

log = logging.getLogger(__name__)

__all__ = [
    "BASE_COLUMNS",
    "RowCache",
    "Source",
    "TrialRecord",
    "TrialStore",
    "View",
    "ViewSpec",
    "display",
    "find_trial_dirs",
    "is_query",
    "iter_trial_dirs",
    "measure",
    "newest_trial_dirs",
    "read_and_measure",
    "read_record",
    "read_records",
    "sort_key",
]

ANNOTATION_COLUMNS = ("tags", "note")
"""Tags and note (``votakvot.annotate``): shown right after the base columns."""
BASE_COLUMNS = ("function", "state", "started", "duration")
"""Columns every trial has, shown first; params, info and result follow, then ``tid``."""

HIDDEN_COLUMNS = frozenset({"created", "finished", "path", "id", "parent", "kind", "heartbeat"})
"""Kept in each row (queries may use them) but not shown as table columns."""

AB_COLUMNS = ("calls/s", "p50", "p99")
"""What a ``votakvot-ab`` trial shows instead of its ~40 ``result.*`` columns (which
stay in the row, so queries like ```result.latency.p90` < 0.01`` still work)."""

LATENCY_COLUMNS = frozenset({"p50", "p99"})
"""Seconds shown as latencies (``812 ns``, ``3.4 µs``, ``12.1 ms``)."""

STATES = ("running", "done", "failed", "interrupted", "stale", "unreadable")
"""Every state a row can show; ``unreadable`` is ours, for folders that failed to load."""


@dataclass(frozen=True)
class Source:
    """One PATH argument: a folder, a glob or an fsspec URL, and how to watch it.

    Args:
        path: what the user typed.
    """

    path: str
    """What the user typed (kept for "copy as code")."""
    base: str = field(init=False)
    """The longest leading folder without glob characters: what gets watched or polled."""
    local: bool = field(init=False)
    """A local path (watched with watchdog) rather than a URL (polled)."""
    pattern: re.Pattern[str] | None = field(init=False)
    """The glob as a regex over paths relative to ``base``; ``None`` for a plain folder."""

    def __post_init__(self) -> None:
        base, pattern = split_glob(self.path)
        local = is_local(base)
        if local:
            base = os.path.abspath(os.path.expanduser(split_protocol(base)[1]))
        else:
            base = base.rstrip("/")
        object.__setattr__(self, "local", local)
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "pattern", pattern)

    def matches(self, trial_dir: str) -> bool:
        """Whether a trial folder belongs to this source (it or a parent matches the glob)."""
        base = self.base.rstrip("/")
        if trial_dir != base and not trial_dir.startswith(base + "/"):
            return False
        if self.pattern is None:
            return True
        return bool(self.pattern.match(trial_dir[len(base) :].lstrip("/")))

    def exists(self) -> bool:
        """Whether the base folder is there (URLs are assumed to be; errors come later)."""
        return not self.local or os.path.isdir(self.base)


def find_trial_dirs(path: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Folders holding a ``votakvot.yaml`` under ``path`` (folder, glob or URL)."""
    return library_find(path, storage_options)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def iter_trial_dirs(source: Source) -> Iterator[str]:
    """Trial folders of a local source as they are found, newest names first.

    Yielded as the library's walk finds them, so reading starts before a big
    folder has been walked to the end (the first rows of 100,000 trials show in
    a fraction of the whole walk). A folder that cannot be listed, or a record
    that is no regular file, is logged and left out. URLs give nothing here:
    the app lists them whole, with their storage options.
    """
    if not source.local:
        return iter(())
    return library_iter(source.path, on_skip=_log_skip)


def _log_skip(path: str, reason: str) -> None:
    log.warning("%s: %s; skipped", path, reason)


def newest_trial_dirs(source: Source, limit: int) -> list[str]:
    """Up to ``limit`` trial folders of a local source, the newest found first."""
    return list(itertools.islice(iter_trial_dirs(source), limit))


def _library_row() -> Callable[[Any], dict[str, Any]]:
    from votakvot.report import trial_row

    return trial_row


def _scalar(value: Any) -> Any:
    """Table cells hold scalars; anything else becomes its short text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.datetime):
        return value
    try:
        return str(value)
    except RecursionError:  # nested deeper than repr goes: a short, shallow text
        return reprlib.repr(value)


class TrialRecord:
    """One table row: a trial folder and its flat values.

    Args:
        path: the trial folder.
        values: column -> scalar value (``state``, ``started``, params, ...).
    """

    __slots__ = ("_text", "path", "values")

    def __init__(self, path: str, values: dict[str, Any]) -> None:
        self.path = path
        """The trial folder (local path or URL): the store's key."""
        self.values = values
        """Column -> scalar value; timestamps are unix floats."""
        self._text: str | None = None

    @property
    def state(self) -> str:
        return str(self.values.get("state", "unknown"))

    @property
    def tid(self) -> str:
        return str(self.values.get("tid", ""))

    @property
    def sort_time(self) -> float:
        """Newest first uses this: started, else created, else nothing (last)."""
        value = self.values.get("started") or self.values.get("created")
        return value if isinstance(value, float) and math.isfinite(value) else -math.inf

    @property
    def text(self) -> str:
        """Every shown value in lower case, for "filter as you type"."""
        if self._text is None:
            self._text = " ".join(display(v, k) for k, v in self.values.items()).lower()
        return self._text

    def __repr__(self) -> str:
        return f"<TrialRecord {self.path!r} {self.state}>"


def read_record(path: str) -> TrialRecord | None:
    """Read one trial folder into a record; ``None`` if it has no ``votakvot.yaml``.

    An unreadable folder becomes a record with state ``unreadable`` and the reason
    in ``error``: the table shows it rather than dropping it silently.
    """
    records = read_records([path])
    return records[0] if records else None


def read_records(
    paths: Sequence[str], storage_options: Mapping[str, Any] | None = None
) -> list[TrialRecord]:
    """Read trial folders in bulk (remote ones concurrently); folders gone are left out.

    Uses the same reader as ``load_report``: sections repeated across trials (the
    ``meta`` of trials from one process) are parsed once and shared, never copied.
    """
    row = _library_row()
    folders = list(paths)
    # A load error names the file as messages do; map it back to the folder (the row's key).
    by_name = {side_file_name(f, YAML_NAME): f for f in folders}
    out = []
    for item in read_trials(folders, storage_options, shared=True):
        if isinstance(item, TrialLoadError):
            if isinstance(item.__cause__, FileNotFoundError | NotADirectoryError):
                continue  # its record was removed since it was listed: no longer a trial
            folder = by_name.get(item.path, item.path.rpartition("/")[0])
            out.append(_unreadable(folder, item.reason))
            continue
        try:
            out.append(_record(item, row))
        except Exception as exc:  # one odd record is one row, never a dead scan worker
            reason = f"cannot be shown: {type(exc).__name__}: {exc}"
            log.warning("%s %s", side_file_name(item.path, YAML_NAME), reason)
            out.append(_unreadable(item.path, reason))
    return out


def read_and_measure(paths: Sequence[str]) -> tuple[list[TrialRecord], dict[str, int]]:
    """:func:`read_records` and :func:`measure` in one call (what a worker process runs)."""
    records = read_records(paths)
    return records, measure(records)


class RowCache:
    """The table's rows of local sources kept in votakvot's warm index between runs.

    A second start of the dashboard on 100,000 trials then lists the folders and
    reads only the records whose stamps changed (see :mod:`votakvot.index`);
    the rows and their column widths come from the index file.

    Args:
        sources: the local sources of the app (each has its own index).
    """

    KIND = "tui"
    """The index kind of the dashboard's rows (the report's rows differ)."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)
        """The sources walked."""
        self.cached: list[TrialRecord] = []
        """Rows of records unchanged since the index was saved."""
        self.widths: dict[str, int] = {}
        """Column widths of :attr:`cached`, as :func:`measure` gives them."""
        self.missed: list[str] = []
        """Trial folders to read: new, changed, or not in the index."""
        self._walks: list[tuple[Any, list[tuple[str, Any]], bool, list[int], Any]] = []

    def open(self, skip: Iterable[str] = ()) -> bool:
        """Walk the sources and split cached rows from folders to read; False if a
        source's store gives no stamps (read everything as without an index).

        Args:
            skip: folders already read (not put in :attr:`cached` or :attr:`missed`).
        """
        from votakvot.index import RowIndex, walk

        skipped = set(skip)
        for source in self.sources:
            walked = walk(source.path, on_skip=_log_skip)
            if walked is None:
                return False
            storage, found, complete = walked
            index = RowIndex(storage, self.KIND)
            index.load()
            hits, misses = index.split(found)
            try:
                rows = index.rows(hits)
            except (ValueError, TypeError):  # a damaged index: read every record
                index.clear()
                hits, misses, rows = [], found, []
            to_url = storage.to_url
            for pos, values in zip(hits, rows):
                path = to_url(index.folder(pos))
                if path not in skipped:
                    self.cached.append(TrialRecord(path, values))
            self.missed += [u for u in (to_url(f) for f, _ in misses) if u not in skipped]
            widths = index.extra.get("widths")
            if isinstance(widths, dict):
                for key, width in widths.items():
                    if isinstance(width, int) and width > self.widths.get(key, -1):
                        self.widths[key] = width
            elif hits:
                self.widths = measure(self.cached)
            self._walks.append((storage, misses, complete, hits, index))
        return True

    def save(self, records: Iterable[TrialRecord]) -> None:
        """Keep ``records`` (read after :meth:`open` walked) with the cached rows."""
        by_path = {r.path: r for r in records}
        for storage, misses, complete, hits, index in self._walks:
            to_url = storage.to_url
            read = [(f, s, by_path[u]) for f, s in misses if (u := to_url(f)) in by_path]
            rows = [r for _, _, r in read]
            names: dict[str, None] = {}
            for record in rows:
                names.update(dict.fromkeys(record.values))
            columns = {n: [r.values.get(n) for r in rows] for n in names}
            absent = {n: [i for i, r in enumerate(rows) if n not in r.values] for n in names}
            widths = dict(self.widths)
            for key, width in measure(rows).items():
                if width > widths.get(key, -1):
                    widths[key] = width
            index.save(
                hits,
                columns,
                [f for f, _, _ in read],
                [s for _, s, _ in read],
                [True] * len(read),
                complete,
                (f for f, _ in misses),
                absent={n: v for n, v in absent.items() if v},
                extra={"widths": widths},
            )


def _unreadable(path: str, reason: str) -> TrialRecord:
    values = {
        "function": _guess_function(path),
        "state": "unreadable",
        "error": reason,
        "tid": _guess_tid(path),
    }
    return TrialRecord(path, values)


def _record(trial: Any, row: Callable[[Any], dict[str, Any]]) -> TrialRecord:
    path = trial.path
    data = trial.data
    at = data.get("at")
    if not isinstance(at, dict):
        at = {}  # ``at: true`` in a hand-edited or foreign record
    flat = row(trial)
    values: dict[str, Any] = {
        "function": str(data.get("function", "")),
        "state": flat.get("state") or trial.state,
        "started": _timestamp(at.get("started")),
        "duration": _scalar(at.get("duration")),
    }
    for key, value in flat.items():
        if key == "state":
            continue
        if key in ("created", "finished", "started"):
            values[key] = _timestamp(value)
        elif key not in values or values[key] is None:
            values[key] = _scalar(value)
    if values.get("started") is None:
        values["started"] = _timestamp(at.get("created"))
    error = data.get("error")
    if isinstance(error, dict):
        message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
        values["error"] = message.rstrip(": ")
    values["tid"] = trial.tid or _guess_tid(path)
    if data.get("kind") == "ab":
        values.update(_ab_values(data.get("result")))
    if values["state"] in ("running", "stale"):
        # When it last beat: a stale trial's duration stops there ("died 5m ago").
        values["heartbeat"] = trial.liveness()[0]
    if trial.unreadable:
        # A heartbeat that is a FIFO or a loop: the row stays, saying what is unknown.
        note = "; ".join(f"{name}: {why}" for name, why in trial.unreadable.items())
        log.warning("%s: %s", path, note)
        values["error"] = f"{values['error']}; {note}" if values.get("error") else note
    record = TrialRecord(path, values)
    record.text  # noqa: B018 - made now, off the event loop (a helper may be the one reading)
    return record


def _ab_values(result: Any) -> dict[str, Any]:
    """The figures of an ab run people compare: calls per second, median and p99 latency."""
    values: dict[str, Any] = {"kind": "ab"}
    if not isinstance(result, dict):
        return values
    latency = result.get("latency")
    if not isinstance(latency, dict):
        latency = {}
    for column, value in zip(
        AB_COLUMNS, (result.get("rate"), latency.get("p50"), latency.get("p99")), strict=True
    ):
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[column] = float(value)
    return values


def _guess_function(path: str) -> str:
    """``module.function`` from a default trial folder path, for rows we cannot read."""
    parts = path.rstrip("/").split("/")
    return f"{parts[-5]}.{parts[-4]}" if len(parts) >= 5 else ""


def _guess_tid(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _short_number(value: float) -> str:
    if value != value or value in (math.inf, -math.inf):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value)) if abs(value) >= 1e4 or value == 0 else f"{value:g}"
    return f"{value:.4g}"


def _duration(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value < 60:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _local_time(value: float) -> str:
    """A unix time as local time; NaN, infinities and years out of range as the number."""
    try:
        return datetime.datetime.fromtimestamp(value).strftime("%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return _short_number(value)


def display(value: Any, column: str = "") -> str:
    """How one cell is shown: short numbers, local times, human durations."""
    if value is None:
        return ""
    if column in LATENCY_COLUMNS and isinstance(value, float):
        from votakvot.ab.progress import fmt_seconds

        return fmt_seconds(value, micro="µs")
    if column == "calls/s" and isinstance(value, float) and math.isfinite(value):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    if column in ("started", "created", "finished") and isinstance(value, float):
        return _local_time(value)
    if column == "duration" and isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _duration(float(value))
        except OverflowError:  # an int too big for a float
            return str(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return _short_number(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%m-%d %H:%M:%S")
    text = str(value)
    return text.replace("\n", " ")


def sort_key(value: Any) -> tuple[int, Any]:
    """Orders mixed cells: numbers, then text, then empty."""
    if value is None:
        return (2, 0)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, int | float):
        return (0, value) if value == value else (2, 0)
    if isinstance(value, datetime.datetime):
        return (0, value.timestamp())
    return (1, str(value))


@dataclass(frozen=True)
class ViewSpec:
    """What the user asked to see: filter, sort, hidden columns."""

    text: str = ""
    """The filter box: plain text (case-insensitive substring) or a pandas query."""
    sort: str | None = None
    """Column to sort by; ``None`` is newest first."""
    reverse: bool = False
    """Descending order for ``sort``."""
    hide_constant: bool = False
    """Leave out columns whose value is the same in every shown row."""
    attempts: bool = False
    """Also show earlier attempts of calls run again (``superseded``), as
    ``load_report(attempts=True)`` does; a query naming ``superseded`` shows them too."""

    @property
    def is_query(self) -> bool:
        """The filter is a pandas query when it compares something."""
        return is_query(self.text)


_QUERY_RE = re.compile(r"(==|!=|<=|>=|<|>|\bin\b|\bnot\b|\band\b|\bor\b|`|\.str\.)")


def is_query(text: str) -> bool:
    """``result > 3 and one == 1`` is a query; ``train`` is text to look for."""
    return bool(_QUERY_RE.search(text.strip()))


@dataclass
class View:
    """One computed view of the store: the rows to show and the columns to show them in."""

    rows: list[TrialRecord]
    """The filtered and sorted records."""
    columns: list[str]
    """Shown column names, in order."""
    widths: dict[str, int]
    """Column -> display width."""
    error: str = ""
    """Why the filter was not applied (a bad query), empty when fine."""
    total: int = 0
    """Trials in the store."""
    counts: dict[str, int] = field(default_factory=dict)
    """State -> number of the shown rows (the status bar follows the filter)."""
    hidden: list[str] = field(default_factory=list)
    """Columns left out because they are the same in every shown row."""


SUPERSEDED = "superseded"
"""The state of an earlier attempt of a call that a runner ran again."""

MAX_WIDTH = 28
"""No column gets wider than this; longer values are cut with an ellipsis."""

STALE_WIDTH = len("stale · died 59m ago")
"""The state column's width when a stale trial is shown (it says when it died)."""


def measure(records: Iterable[TrialRecord]) -> dict[str, int]:
    """Column -> widest display among the rows (capped), in order of appearance."""
    widths: dict[str, int] = {}
    for record in records:
        ab = record.values.get("kind") == "ab"
        for key, value in record.values.items():
            if ab and key.startswith("result."):
                continue  # an ab run shows AB_COLUMNS instead: not a column of its own
            width = min(len(display(value, key)), MAX_WIDTH)
            if width > widths.get(key, -1):
                widths[key] = width
    return widths


class TrialStore:
    """Every trial known to the app, keyed by folder."""

    def __init__(self) -> None:
        self.records: dict[str, TrialRecord] = {}
        """Folder -> record."""
        self.columns: dict[str, None] = {}
        """Every column seen, in order of first appearance (an ordered set)."""
        self.widths: dict[str, int] = {}
        """Column -> widest display seen so far (capped at :data:`MAX_WIDTH`)."""
        self.version = 0
        """Bumped on every change, so views know when they are out of date."""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[TrialRecord]:
        return iter(list(self.records.values()))

    def get(self, path: str) -> TrialRecord | None:
        return self.records.get(path)

    def put(self, records: Iterable[TrialRecord], widths: dict[str, int] | None = None) -> None:
        """Add or replace records (on the event loop, with rows read elsewhere).

        Args:
            records: the rows.
            widths: :func:`measure` of the rows, computed off the event loop; when
                left out it is computed here.
        """
        records = list(records)
        if widths is None:
            widths = measure(records)
        for record in records:
            self.records[record.path] = record
        mine = self.widths
        for key, width in widths.items():
            if key not in self.columns:
                self.columns[key] = None
            if width > mine.get(key, 0):
                mine[key] = width
        self.version += 1

    def remove(self, paths: Iterable[str]) -> int:
        """Forget these folders and everything below them; returns how many went."""
        removed = 0
        for path in paths:
            if self.records.pop(path, None) is not None:
                removed += 1
                continue
            prefix = path.rstrip("/") + "/"
            for key in [k for k in self.records if k.startswith(prefix)]:
                del self.records[key]
                removed += 1
        if removed:
            self.version += 1
        return removed

    def counts(self) -> dict[str, int]:
        """State -> number of trials."""
        out: dict[str, int] = {}
        for record in list(self.records.values()):
            out[record.state] = out.get(record.state, 0) + 1
        return out

    def shown_columns(self) -> list[str]:
        """Base columns, tags and note, then params/info/result in order of appearance,
        ``tid`` last."""
        # list() copies in one step: the event loop may add columns while a worker reads.
        dynamic = [
            c
            for c in list(self.columns)
            if c not in BASE_COLUMNS and c not in HIDDEN_COLUMNS and c not in ("tid", "error")
        ]
        dynamic.sort(key=lambda c: c not in ANNOTATION_COLUMNS)  # tags, note first, as in reports
        error = ["error"] if "error" in self.columns else []
        return [*BASE_COLUMNS, *dynamic, *error, "tid"]

    def build_view(
        self, spec: ViewSpec, is_cancelled: Callable[[], bool] = lambda: False
    ) -> View | None:
        """Filter and sort a snapshot of the store (run in a thread worker).

        Returns ``None`` when cancelled half way.
        """
        rows = list(self.records.values())
        text = spec.text.strip()
        if not spec.attempts and SUPERSEDED not in text:
            # A call run again is one row, its latest attempt, as in load_report.
            rows = [r for r in rows if r.state != SUPERSEDED]
        total = len(rows)
        columns = self.shown_columns()
        error = ""
        if text and is_query(text):
            try:
                rows = query_rows(rows, text)
            except Exception as exc:
                error = "query not applied: " + query_error(exc, columns)
        elif text:
            needle = text.lower()
            rows = [r for r in rows if needle in r.text]
        if is_cancelled():
            return None
        if spec.sort is None:
            rows.sort(key=lambda r: r.sort_time, reverse=not spec.reverse)
        else:
            column = spec.sort
            # Empty cells stay last in both directions.
            empty = [r for r in rows if r.values.get(column) is None]
            rows = [r for r in rows if r.values.get(column) is not None]
            rows.sort(key=lambda r: sort_key(r.values[column]), reverse=spec.reverse)
            rows.extend(empty)
        if is_cancelled():
            return None
        hidden: list[str] = []
        if spec.hide_constant and len(rows) > 1:
            kept = [
                c for c in columns if c in ("function", "state", "tid") or not _constant(rows, c)
            ]
            hidden = [c for c in columns if c not in kept]
            columns = kept
        counts: dict[str, int] = {}
        for row in rows:
            state = row.state
            counts[state] = counts.get(state, 0) + 1
        widths = {c: max(len(c) + 1, self.widths.get(c, 0)) for c in columns}
        if counts.get("stale"):
            widths["state"] = max(widths["state"], STALE_WIDTH)
        return View(
            rows=rows,
            columns=columns,
            widths=widths,
            error=error,
            total=total,
            counts=counts,
            hidden=hidden,
        )


def _constant(rows: Sequence[TrialRecord], column: str) -> bool:
    first = rows[0].values.get(column)
    return all(r.values.get(column) == first for r in rows)


def query_rows(rows: list[TrialRecord], expression: str) -> list[TrialRecord]:
    """Rows for which a pandas ``DataFrame.query`` expression holds.

    Column names are those of ``votakvot.load_report`` (dotted names need
    backticks: ```result.x` > 3``), so the same expression works in a notebook.
    """
    import pandas

    from votakvot.report import query

    frame = pandas.DataFrame.from_records([r.values for r in rows])
    for column in ("started", "created", "finished"):
        if column in frame:
            frame[column] = pandas.to_datetime(frame[column], unit="s", utc=True)
    frame[_ROW] = range(len(frame))
    kept = query(frame, expression)
    return [rows[i] for i in kept[_ROW]]


_ROW = "__votakvot_tui_row__"

_QUERY_HELP = (
    "a query compares columns: lr > 0.01 and state == 'done', function.str.contains('train')"
)


def query_error(exc: BaseException, columns: Sequence[str]) -> str:
    """Why a pandas query failed, in words a user can act on (not pandas internals).

    Args:
        exc: what ``DataFrame.query`` raised.
        columns: the columns there are (named when one was misspelt).
    """
    import difflib

    text = str(exc)
    name = re.fullmatch(r"name '(.+)' is not defined", text)
    if isinstance(exc, NameError) and name:
        missing = name.group(1)
        backticked = re.fullmatch(r"BACKTICK_QUOTED_STRING_(.+)", missing)
        if backticked:  # pandas' mangled form of a `quoted name`
            missing = backticked.group(1).replace("_SLASH_", "/").replace("_", " ")
        close = difflib.get_close_matches(missing, list(columns), n=3)
        if close:
            known = f"did you mean {' or '.join(close)}?"
        else:
            known = "the columns are " + ", ".join(columns[:12])
            known += ", …" if len(columns) > 12 else ""
        return (
            f"there is no column {missing!r}: {known} (names with / or spaces go in "
            "backticks: `calls/s`; text in quotes: state == 'done')"
        )
    if isinstance(exc, SyntaxError) or type(exc).__name__ == "TokenError":
        return f"{text or 'invalid syntax'}: not a complete query; {_QUERY_HELP}"
    if isinstance(exc, TypeError) and "not supported between" in text:
        return (
            f"{text}: a column of text was compared with a number (or the reverse); "
            "quote text ('done'), leave numbers bare (0.1)"
        )
    if isinstance(exc, KeyError):
        return f"not a filter (it gives no true/false per row): {_QUERY_HELP}"
    return f"{type(exc).__name__}: {text}"
