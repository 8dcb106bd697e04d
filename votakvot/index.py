"""The warm index: report rows of a root, cached where the user's cache lives.

Reading 100,000 records takes seconds however fast each is parsed; a second
``load_report`` of the same root should only pay for listing it. The index keeps
the rows a report made, per root and kind (``report``, ``report-full``), in one
JSON file under :func:`cache_dir` (never inside the root: it may be read-only or
shared). Each row is keyed by its folder and a stamp of its files:

* local: the folder's ``mtime_ns`` (every atomic write renames a file into the
  folder, and adding or removing a file changes it too), the record's size and
  ``mtime_ns``, and the size and ``mtime_ns`` of each side file that changes a
  row (:data:`SIDE_FILES`) that existed when the row was cached;
* object stores: the record's size and ETag (or checksum, or time) and those of
  the side files, all from the one listing.

A stamp that differs means the record is read again; rows of ``running`` trials
(their state depends on the heartbeat and the clock), rows whose files changed
within the last :data:`RACY_NS` (a file system's clock ticks coarsely), rows a
reader warned about, and rows with values JSON cannot hold exactly are never
cached. A missing, truncated, damaged (its CRC-32 says) or foreign index file is
rebuilt without a word; a
cache folder that cannot be written is logged once and the report goes on.
Several processes may save at once: each writes a temporary file and renames
it, so a reader sees one whole index, and the last writer wins. Loading it is
``json.loads``: nothing in it runs.

``$VOTAKVOT_CACHE_DIR`` moves the cache (tests point it at a temporary folder);
``load_report(cache=False)`` and ``votakvot report --no-cache`` bypass it.

Index files do not pile up (:func:`evict`, run by a save at most once per
:data:`EVICT_EVERY`): those of local roots that no longer exist go, those unused
for :data:`MAX_AGE` (a load touches its file at most once per :data:`TOUCH_EVERY`)
go, and the oldest go while the folder holds more than :data:`MAX_BYTES`. A
process reading an index as another evicts it keeps the open file; one that
finds it gone reads every record and saves a new one.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import re
import stat
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from ._columns import Part, join_columns
from .layout import ANNOTATIONS_NAME
from .storage import LocalStorage, Storage, redact, temp_name

__all__ = [
    "CACHE_ENV",
    "EVICT_EVERY",
    "FORMAT",
    "MAX_AGE",
    "MAX_BYTES",
    "RACY_NS",
    "SIDE_FILES",
    "TOUCH_EVERY",
    "RowIndex",
    "cache_dir",
    "cached_report_parts",
    "evict",
    "walk",
]

log = logging.getLogger(__name__)

CACHE_ENV = "VOTAKVOT_CACHE_DIR"
"""The environment variable that names the cache folder instead of the default."""
FORMAT = "votakvot-index-2"
"""The index file's format tag; a file with any other is rebuilt."""
SIDE_FILES = (ANNOTATIONS_NAME,)
"""Files of a trial folder besides its record whose change changes the trial's row."""
RACY_NS = 2_000_000_000
"""Rows whose files changed this recently (ns) are not cached: a second write within
one tick of the file system's clock could leave size and time unchanged."""
MAX_AGE = 30 * 86400
"""Seconds an index may go unused (by its file's mtime) before :func:`evict` removes it."""
TOUCH_EVERY = 86400
"""Seconds between the touches a load gives its index file (its mtime says "used")."""
MAX_BYTES = 1 << 30
"""Bytes of index files a cache folder keeps; beyond, the least recently used go."""
EVICT_EVERY = 3600
"""Seconds between evictions of one cache folder, run by the saves in it."""
_EVICTED = ".evicted"
"""The file in the cache folder whose mtime says when it was last evicted."""
_INDEX_NAME = re.compile(r"[A-Za-z0-9_.-]+-[0-9a-f]{32}\.json(\..+\.tmp)?\Z")
"""Names of index files (and of their temporary files): nothing else is evicted."""
_KEPT_STATES = frozenset({"done", "failed", "interrupted"})
_PLAIN = frozenset({str, int, float, bool, type(None)})
_SIDES = " +"
"""Between a row's key and the stamps of its side files, in the index file."""
_warned: set[str] = set()


def cache_dir() -> str:
    """Where indexes live: ``$VOTAKVOT_CACHE_DIR``, else ``$XDG_CACHE_HOME/votakvot``,
    else ``~/.cache/votakvot``."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "votakvot")


def _plain(value: Any) -> bool:
    """Whether JSON gives ``value`` back exactly (same types, all the way down)."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is list:
        return all(_plain(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    return False


class RowIndex:
    """The cached rows of one root and one kind of row.

    The file is one JSON header line, then each row's folder relative to the root
    (one a line), then each row's stamp (one a line: text split at newlines is
    many times faster to read than the same strings as JSON), then one JSON object:
    the rows' ``columns``, and their ``shapes`` (each distinct list of a row's column
    names in its order) with each row's place among them in ``codes`` (one number when
    all rows are alike; -1 for rows saved without): a report orders its columns by
    where each name first appears, ``None`` values too, which the columns cannot tell.

    Args:
        storage: the root's storage (its ``root`` is what the index is of).
        kind: which rows (``report``, ``report-full``): each kind is its own file.
        directory: the cache folder; default :func:`cache_dir`.
    """

    def __init__(self, storage: Storage, kind: str, directory: str | None = None) -> None:
        self.storage = storage
        """The root's storage."""
        self.kind = kind
        """Which rows this index holds."""
        self.local = isinstance(storage, LocalStorage)
        root = storage.root
        self._prefix = root if root.endswith(storage.sep) else root + storage.sep
        name = hashlib.sha256(f"{kind}\0{storage.to_url(root)}".encode()).hexdigest()[:32]
        self.file = os.path.join(directory or cache_dir(), f"{kind}-{name}.json")
        """The index file."""
        self._rels: list[str] = []
        self._stamps: list[str] = []
        self._columns: dict[str, list[Any]] = {}
        self._datetimes: list[str] = []
        self._where: dict[str, int] = {}
        self._absent: dict[str, set[int]] = {}
        self._shapes: list[tuple[str, ...]] = []
        self._codes: list[int] = []
        self.extra: dict[str, Any] = {}
        """What the last save kept beside the rows (``save(extra=...)``)."""

    # --- loading -------------------------------------------------------------------

    def load(self) -> None:
        """Read the index file; anything wrong with it leaves the index empty."""
        try:
            with open(self.file, "rb") as f:
                raw = f.read()
                used = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return
        except OSError as exc:
            log.debug("index %s not read (%s); reading every record", self.file, exc)
            return
        if time.time() - used > TOUCH_EVERY:  # used now: eviction goes by this time
            try:
                os.utime(self.file)
            except OSError as exc:  # evicted just now, or a read-only cache
                log.debug("index %s not touched (%s)", self.file, exc)
        try:
            self._take(raw)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            log.debug("index %s is not one (%s); rebuilding it", self.file, exc)
            self.clear()

    def clear(self) -> None:
        """Forget every cached row (the next save writes only what was read)."""
        self._rels, self._stamps, self._columns, self._datetimes = [], [], {}, []
        self._where, self._absent, self.extra = {}, {}, {}
        self._shapes, self._codes = [], []

    def _take(self, raw: bytes) -> None:
        end = raw.index(b"\n")
        head = json.loads(raw[:end])
        if head.get("format") != FORMAT or head.get("kind") != self.kind:
            raise ValueError("another format or kind")
        n, a, b = (
            head["rows"],
            end + 1 + head["folders"],
            end + 1 + head["folders"] + head["stamps"],
        )
        if zlib.crc32(memoryview(raw)[end + 1 :]) != head["crc32"]:
            raise ValueError("its checksum does not match: damaged")
        rels = raw[end + 1 : a].decode().split("\n") if n else []
        stamps = raw[a:b].decode().split("\n") if n else []
        body = json.loads(raw[b:])
        columns = body["columns"]
        shapes = [tuple(shape) for shape in body["shapes"]]
        codes = body["codes"]
        if type(codes) is int:  # every row of one shape
            codes = [codes] * n if -1 <= codes < len(shapes) else None
        elif (  # checked in C: a row each is 100,000 here
            type(codes) is list
            and codes
            and (
                not set(map(type, codes)) <= {int}
                or not -1 <= min(codes) <= max(codes) < len(shapes)
            )
        ):
            codes = None
        if type(codes) is not list:
            raise ValueError("row shapes that are none")
        if not all(all(type(k) is str for k in shape) for shape in shapes):
            raise ValueError("a row shape that is no list of names")
        for name, column in columns.items():
            if type(column) is dict:  # repeated strings: a table and each row's place in it
                table, codes = column["table"], column["codes"]
                if type(table) is not list or type(codes) is not list:
                    raise ValueError(f"column {name!r} is neither a list nor a table")
                columns[name] = [table[i] for i in codes]
        if not (
            type(n) is int
            and len(rels) == n
            and len(stamps) == n
            and len(codes) == n
            and type(columns) is dict
            and all(type(c) is list and len(c) == n for c in columns.values())
        ):
            raise ValueError("parts of different lengths")
        self._rels, self._stamps, self._columns = rels, stamps, columns
        self._shapes, self._codes = shapes, codes
        self._datetimes = [c for c in head.get("datetimes", ()) if c in columns]
        self._where = dict(zip(rels, range(n)))
        self._absent = {k: set(v) for k, v in (head.get("absent") or {}).items()}
        extra = head.get("extra")
        self.extra = extra if type(extra) is dict else {}

    def __len__(self) -> int:
        return len(self._rels)

    # --- using it ------------------------------------------------------------------

    def _rel(self, folder: str) -> str:
        return folder[len(self._prefix) :] if folder.startswith(self._prefix) else ""

    def _rel_at(self, pos: int) -> str:
        return self._rels[pos]

    def folder(self, pos: int) -> str:
        """The folder (this storage's own path) of the cached row at ``pos``."""
        return self._folder(self._rels[pos])

    def _folder(self, rel: str) -> str:
        return self._prefix + rel if rel else self.storage.root

    def _text(self, stamp: tuple[Any, ...]) -> str:
        if self.local:
            return f"{stamp[0]} {stamp[1]} {stamp[2]}"
        return json.dumps(stamp)

    def _sides(self, folder: str) -> str:
        """The stamps of the side files that are there ('' if none), locally."""
        out = []
        for name in SIDE_FILES:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            out.append(f"{name} {st.st_size} {st.st_mtime_ns}")
        return _SIDES + " ".join(out) if out else ""

    def split(
        self, found: Iterable[tuple[str, tuple[Any, ...]]]
    ) -> tuple[list[int], list[tuple[str, tuple[Any, ...]]]]:
        """Walked ``(folder, stamp)`` pairs -> (index positions still valid, the rest).

        Locally a side file is looked at only if it was there when the row was
        cached: one that appears since changes the folder's time.
        """
        hits: list[int] = []
        misses: list[tuple[str, tuple[Any, ...]]] = []
        where, stamps, prefix = self._where, self._stamps, self._prefix
        cut = len(prefix)
        if self.local:  # the warm path of 100,000 rows: each part in one comprehension
            found = list(found)
            # walked folders are the root ("" when cut) or below it
            places = [where.get(folder[cut:]) for folder, _ in found]
            texts = [f"{a} {b} {c}" for _, (a, b, c) in found]
            for pos, now, item in zip(places, texts, found):
                if pos is not None:
                    have = stamps[pos]
                    if have == now or (
                        have.startswith(now + _SIDES) and have == now + self._sides(item[0])
                    ):
                        hits.append(pos)
                        continue
                misses.append(item)
            return hits, misses
        text = self._text
        for folder, stamp in found:  # object stores: side files are in the stamp itself
            pos = where.get(folder[cut:] if folder.startswith(prefix) else "")
            if pos is not None and stamps[pos] == text(stamp):
                hits.append(pos)
                continue
            misses.append((folder, stamp))
        return hits, misses

    def columns(self, hits: list[int]) -> dict[str, list[Any]]:
        """The cached columns of the rows at ``hits``, values as the reader made them.

        Raises:
            ValueError: a stored time is no time (a damaged index).
        """
        out: dict[str, list[Any]] = {}
        whole = len(hits) == len(self._rels) and hits == list(range(len(hits)))
        for name, values in self._columns.items():
            column = list(values) if whole else [values[i] for i in hits]
            if name in self._datetimes:
                parse = datetime.datetime.fromisoformat
                column = [None if v is None else parse(v) for v in column]
            out[name] = column
        rels = self._rels
        if "tid" in out:  # stored as None when it is the folder's relative path
            if os.sep == "/":
                out["tid"] = [t if t is not None else rels[i] for t, i in zip(out["tid"], hits)]
            else:
                out["tid"] = [
                    t if t is not None else rels[i].replace(os.sep, "/")
                    for t, i in zip(out["tid"], hits)
                ]
        if "path" in out:
            url, folder = self.storage.to_url, self._folder
            out["path"] = [
                p if p is not None else url(folder(rels[i])) for p, i in zip(out["path"], hits)
            ]
        return out

    def shapes(self, hits: list[int]) -> tuple[list[tuple[str, ...]], list[int]]:
        """The names of each cached row at ``hits`` in its own order: the shapes and each
        row's place among them. A report orders its columns by where a name first
        appears (``None`` values too), which the columns alone cannot tell.

        Raises:
            ValueError: a row was saved without its shape (not by a report).
        """
        codes = self._codes
        mine = list(codes) if len(hits) == len(codes) else [codes[p] for p in hits]
        if -1 in mine:
            raise ValueError("rows saved without their shapes")
        return list(self._shapes), mine

    def rows(self, hits: list[int]) -> list[dict[str, Any]]:
        """The cached rows at ``hits`` as mappings, without the columns a row lacked."""
        columns = self.columns(hits)
        names = list(columns)
        if not any(self._absent.get(name) for name in names):
            return [dict(zip(names, values)) for values in zip(*columns.values())]
        lacks = [self._absent.get(name, set()) for name in names]
        return [
            {n: v for n, v, lack in zip(names, values, lacks) if pos not in lack}
            for pos, values in zip(hits, zip(*columns.values()))
        ]

    # --- saving --------------------------------------------------------------------

    def save(
        self,
        hits: list[int],
        new: Mapping[str, list[Any]],
        folders: list[str],
        stamps: list[tuple[Any, ...]],
        keep: list[bool],
        complete: bool,
        missed: Iterable[str] = (),
        absent: Mapping[str, Iterable[int]] | None = None,
        extra: Mapping[str, Any] | None = None,
        shapes: Sequence[tuple[str, ...]] | None = None,
    ) -> None:
        """Write the index of this walk: the rows still valid and the new ones.

        Args:
            hits: positions of the cached rows the walk found unchanged.
            new: columns of the rows read now (``None`` where a row lacks one).
            folders: the folder of each new row; ``stamps`` their walk stamps.
            keep: which new rows may be cached (read without a warning).
            complete: the walk saw the whole root (no glob): cached rows it did not
                find are gone and dropped; otherwise they are kept, but for those
                of the folders in ``missed`` (the walk's changed or new folders).
            absent: for rows that are mappings (the dashboard's), the new rows
                (positions in ``folders``) that lack each column; given, the index
                keeps which rows lack which column, and :meth:`rows` honours it.
            extra: JSON values kept beside the rows (:attr:`extra` when loaded).
            shapes: each new row's names in its order (:meth:`shapes` gives them back);
                without, those rows have none.
        """
        n_new = len(folders)
        now = time.time_ns()
        keep = list(keep)
        state = new.get("state", [None] * n_new)
        for i in range(n_new):
            if keep[i] and state[i] not in _KEPT_STATES:
                keep[i] = False
            elif keep[i] and self.local and max(stamps[i][0], stamps[i][2]) > now - RACY_NS:
                keep[i] = False  # changed within a clock tick or two: may change unseen
        datetimes = set(self._datetimes)
        for name, values in new.items():
            if any(type(v) is datetime.datetime for v in values):
                datetimes.add(name)
        for name, values in new.items():
            dt = name in datetimes
            for i, v in enumerate(values):
                if keep[i] and not (
                    (v is None or type(v) is datetime.datetime) if dt else _plain(v)
                ):
                    keep[i] = False
        old = list(hits)
        for name in datetimes.difference(self._datetimes):
            before = self._columns.get(name)
            if before is not None:  # cached as plain values before: read those rows again
                old = [pos for pos in old if before[pos] is None]
        mine: list[int] = []
        rels: list[str] = []
        texts: list[str] = []
        for i in range(n_new):
            if not keep[i]:
                continue
            rel = self._rel(folders[i])
            if "\n" in rel:
                continue  # cannot be a line of the index: read each time
            text = self._text(stamps[i])
            if self.local:
                sides = self._sides(folders[i])
                if sides:
                    if max(int(t) for t in sides.split()[2::3]) > now - RACY_NS:
                        continue
                    text += sides
            mine.append(i)
            rels.append(rel)
            texts.append(text)
        if not complete:  # rows outside this walk stay for the walks they belong to
            walked = set(hits)
            walked.update(self._where.get(self._rel(f), -1) for f in missed)
            old += [p for p in range(len(self._rels)) if p not in walked]
        if not mine and len(old) == len(self._rels):
            return  # nothing new, nothing gone: the file on disk says it already
        names = list(self._columns)
        names += [c for c in new if c not in self._columns]
        columns: dict[str, list[Any]] = {}
        for name in names:
            cached = self._columns.get(name)
            column = [None] * len(old) if cached is None else [cached[p] for p in old]
            fresh = new.get(name)
            if fresh is None:
                column += [None] * len(mine)
            elif name in datetimes:
                column += [None if fresh[i] is None else fresh[i].isoformat() for i in mine]
            else:
                column += [fresh[i] for i in mine]
            columns[name] = column
        all_rels = [self._rels[p] for p in old] + rels
        all_stamps = [self._stamps[p] for p in old] + texts
        table = list(self._shapes)
        lookup = {shape: code for code, shape in enumerate(table)}
        all_codes = [self._codes[p] for p in old]
        for i in mine:
            if shapes is None:
                all_codes.append(-1)
                continue
            shape = tuple(shapes[i])
            code = lookup.get(shape)
            if code is None:
                code = lookup[shape] = len(table)
                table.append(shape)
            all_codes.append(code)
        m = len(old)
        lacking: dict[str, list[int]] = {}
        if absent is not None:
            told = {name: set(rows) for name, rows in absent.items()}
            for name in names:
                marks: list[int] = []
                had = self._absent.get(name)
                if name not in self._columns:
                    marks.extend(range(m))  # a column only new rows have
                elif had:
                    marks.extend(j for j, p in enumerate(old) if p in had)
                if name not in new:
                    marks.extend(range(m, m + len(mine)))
                elif told.get(name):
                    lack = told[name]
                    marks.extend(m + j for j, i in enumerate(mine) if i in lack)
                if marks:
                    lacking[name] = marks
        if "tid" in columns:
            tids = columns["tid"]
            for j in range(m, len(all_rels)):
                if tids[j] == all_rels[j].replace(os.sep, "/"):
                    tids[j] = None
        if "path" in columns:
            urls = columns["path"]
            url = self.storage.to_url
            for j in range(m, len(all_rels)):
                if urls[j] == url(self._folder(all_rels[j])):
                    urls[j] = None
        # Rows in folder order: a report's columns come in the order trials are read.
        order = sorted(range(len(all_rels)), key=all_rels.__getitem__)
        if order != list(range(len(order))):
            all_rels = [all_rels[j] for j in order]
            all_stamps = [all_stamps[j] for j in order]
            all_codes = [all_codes[j] for j in order]
            columns = {name: [values[j] for j in order] for name, values in columns.items()}
            moved = [0] * len(order)
            for j, was in enumerate(order):
                moved[was] = j
            lacking = {name: sorted(moved[j] for j in rows) for name, rows in lacking.items()}
        used = sorted(set(all_codes) - {-1})
        if len(used) < len(table):  # shapes of rows gone: dropped, the rest renumbered
            renumber = {old_code: new_code for new_code, old_code in enumerate(used)}
            renumber[-1] = -1
            table = [table[c] for c in used]
            all_codes = [renumber[c] for c in all_codes]
        codes: int | list[int] = all_codes
        if all_codes and all_codes.count(all_codes[0]) == len(all_codes):
            codes = all_codes[0]  # rows of one shape (or none known, the dashboard's)
        folders_text = "\n".join(all_rels).encode()
        stamps_text = "\n".join(all_stamps).encode()
        head = {
            "format": FORMAT,
            "kind": self.kind,
            "root": redact(self.storage.to_url(self.storage.root)),
            "rows": len(all_rels),
            "folders": len(folders_text),
            "stamps": len(stamps_text),
            "datetimes": sorted(datetimes),
            "absent": lacking if absent is not None else None,
            "extra": dict(extra or {}),
        }
        body = json.dumps(
            {
                "columns": {k: _packed(v) for k, v in columns.items()},
                "shapes": table,
                "codes": codes,
            },
            separators=(",", ":"),
        )
        rest = folders_text + stamps_text + body.encode()
        head["crc32"] = zlib.crc32(rest)
        payload = json.dumps(head).encode() + b"\n" + rest
        self._write(payload)

    def _write(self, payload: bytes) -> None:
        """Replace the index file atomically; a cache that cannot be written is logged once."""
        folder = os.path.dirname(self.file)
        tmp = temp_name(self.file)
        try:
            os.makedirs(folder, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(payload)
            os.replace(tmp, self.file)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass  # never made: the write's own error is the one to tell
            if folder not in _warned:
                _warned.add(folder)
                log.warning(
                    "votakvot: the report index cannot be saved in %s (%s); reports read "
                    "every record. Set %s to a writable folder to keep one.",
                    folder,
                    exc.strerror or exc,
                    CACHE_ENV,
                )
            return
        try:
            _evict_now_and_then(folder)
        except OSError as exc:  # the index is saved; the clean-up waits for the next save
            log.debug("cache folder %s not evicted (%s)", folder, exc)


def _evict_now_and_then(folder: str) -> None:
    """:func:`evict` ``folder`` if it was not evicted within :data:`EVICT_EVERY`."""
    marker = os.path.join(folder, _EVICTED)
    try:
        last = os.stat(marker).st_mtime
    except FileNotFoundError:
        last = 0.0
    if time.time() - last < EVICT_EVERY:
        return
    with open(marker, "wb"):  # first: the other processes saving now need not evict too
        pass
    evict(folder)


def evict(
    directory: str | None = None,
    *,
    max_age: float = MAX_AGE,
    max_bytes: int = MAX_BYTES,
) -> list[str]:
    """Remove the index files a cache folder no longer needs; the removed files.

    In turn: index files of local roots that no longer exist; those not used
    (their mtime: loads touch it) for ``max_age`` seconds; temporary files of
    writes that died an hour ago or more; then the least recently used while
    the rest is bigger than ``max_bytes`` (the most recently used one stays
    whatever its size). Other files of the folder are never touched.

    Safe while other processes use the folder: a reader keeps the file it has
    open, a later one finds none and rebuilds it; a file gone already is no error.
    Saves call it at most once per :data:`EVICT_EVERY`; call it to clean up now.
    """
    folder = directory or cache_dir()
    now = time.time()
    try:
        with os.scandir(folder) as listing:
            entries = [e for e in listing if _INDEX_NAME.match(e.name)]
    except FileNotFoundError:
        return []
    removed: list[str] = []
    kept: list[tuple[float, int, str]] = []
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # evicted or replaced by another process since listed
        if not stat.S_ISREG(st.st_mode):
            continue
        unused = now - st.st_mtime
        if entry.name.endswith(".tmp"):
            if unused > 3600 and _remove(entry.path):
                removed.append(entry.path)
        elif unused > max_age or _root_gone(entry.path):
            if _remove(entry.path):
                removed.append(entry.path)
        else:
            kept.append((st.st_mtime, st.st_size, entry.path))
    kept.sort()
    total = sum(size for _, size, _ in kept)
    for _, size, path in kept[:-1]:
        if total <= max_bytes:
            break
        if _remove(path):
            removed.append(path)
        total -= size
    if removed:
        log.debug("evicted %d index files from %s", len(removed), folder)
    return removed


def _remove(path: str) -> bool:
    """Unlink ``path``; False (logged unless gone already) if it could not be."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False  # another process evicted it first
    except OSError as exc:
        log.debug("index %s not evicted (%s)", path, exc)
        return False
    return True


def _root_gone(path: str) -> bool:
    """Whether the index file at ``path`` is of a local root that no longer exists
    (its header names the root; remote roots are left to their age)."""
    try:
        with open(path, "rb") as f:
            line = f.readline(1 << 16).decode()
        # the header's keys come in the order saved: the root is near the start
        at = line.index('"root": ') + len('"root": ')
        root = json.JSONDecoder().raw_decode(line, at)[0]
    except (OSError, ValueError) as exc:
        log.debug("index %s: no root read (%s); left to its age", path, exc)
        return False
    if type(root) is not str or "://" in root or not os.path.isabs(root):
        return False
    return not os.path.lexists(root)


def walk(
    path: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    *,
    strict: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
    shared: bool = False,
) -> tuple[Storage, list[tuple[str, tuple[Any, ...]]], bool] | None:
    """The trial folders at or below ``path`` with the stamps an index keys them by.

    Args:
        path, storage_options, strict, on_skip: as for
            :func:`votakvot.reading.iter_trial_dirs`.
        shared: locally, walk half the tree in a forked helper process when that
            is safe (no other threads): the ``stat`` calls are most of a warm
            report. The folders then come in no particular order.

    Returns:
        ``(storage, [(folder, stamp), ...], complete)``: folders are the storage's
        own paths (``storage.to_url`` makes them URLs), newest first; ``complete``
        is False for a glob (the walk saw part of the root). ``None`` for stores
        that give no cheap stamp (FTP, SFTP, ``memory://``).
    """
    from . import reading
    from .layout import YAML_NAME

    storage, pattern = reading._open_walk(path, storage_options)
    root, sep = storage.root, storage.sep
    skip = reading._skipper(strict, on_skip)
    try:
        found: Iterable[tuple[str, tuple[Any, ...]]]
        found = storage.stamp_folders(root, YAML_NAME, SIDE_FILES, skip)
    except NotImplementedError:
        return None
    if shared and isinstance(storage, LocalStorage):
        from .storage import stamp_local_shared

        found = stamp_local_shared(root, YAML_NAME, skip)
    if pattern is None:
        return storage, list(found), True
    return storage, [(f, s) for f, s in found if reading._matches(pattern, root, f, sep)], False


def _packed(values: list[Any]) -> list[Any] | dict[str, list[Any]]:
    """A column of few distinct strings as a table and codes: many times fewer string
    objects for ``json.loads`` to make (states, functions, repeated params)."""
    n = len(values)
    if n < 64:
        return values
    table: dict[Any, int] = {}
    for v in values:
        if v is not None and type(v) is not str:
            return values
        if v not in table:
            if len(table) >= n // 8:
                return values
            table[v] = len(table)
    return {"table": list(table), "codes": [table[v] for v in values]}


Collect = Callable[
    [list[str], bool, "Mapping[str, Any] | None", "Collection[str] | None"], list[Part]
]


def cached_report_parts(
    path: str | None,
    full: bool,
    strict: bool,
    storage_options: Mapping[str, Any] | None,
    collect: Collect,
) -> list[Part] | None:
    """The parts of a report: cached rows whose files did not change, the rest read by
    ``collect(folders, full, storage_options, annotated)``; the index saved for the next
    time. ``annotated`` are the folders whose annotations sidecar the walk listed (object
    stores list every file at once), so the reader asks for no other; ``None`` locally.

    Returns ``None`` for stores that give no cheap stamp (FTP, SFTP): the caller
    reads every record as without a cache.
    """
    walked = walk(path, storage_options, strict=strict, shared=True)
    if walked is None:
        return None
    storage, found, complete = walked
    root = storage.root
    index = RowIndex(storage, "report-full" if full else "report")
    index.load()
    hits, misses = index.split(found)
    hits.sort()  # the index is in folder order, as an uncached report reads
    misses.sort()
    try:
        cached = index.columns(hits)
        table, codes = index.shapes(hits)
    except (ValueError, TypeError):  # a time that is none: a damaged index, rebuilt
        index.clear()
        hits, misses, cached, table, codes = [], sorted(found), {}, [], []
    to_url = storage.to_url
    by_url = {to_url(f): (f, s) for f, s in misses}
    annotated = None
    if not index.local:  # the stamps of object stores hold the side files' (None: absent)
        side = 2 + SIDE_FILES.index(ANNOTATIONS_NAME)
        annotated = {url for url, (_, s) in by_url.items() if s[side] is not None}
    parts = collect(list(by_url), full, storage_options, annotated)
    new, folders, stamps, keep, shapes = _joined(parts, by_url)
    try:
        index.save(
            hits, new, folders, stamps, keep, complete, (f for f, _ in misses), shapes=shapes
        )
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # A row JSON cannot write after all: the report stands, the index waits.
        log.warning("votakvot: the report index of %s not saved (%s)", storage.shown(root), exc)
    errors = [error for part in parts for error in part[2]]
    lookup = {shape: code for code, shape in enumerate(table)}
    for shape in shapes:
        code = lookup.get(shape)
        if code is None:
            code = lookup[shape] = len(table)
            table.append(shape)
        codes.append(code)
    rels = [index._rel_at(p) for p in hits] + [index._rel(f) for f in folders]
    columns = _combined(cached, new, len(hits), rels, table, codes)
    return [(columns, len(rels), errors, [], [], [])]


def _combined(
    cached: dict[str, list[Any]],
    new: dict[str, list[Any]],
    n_cached: int,
    rels: list[str],
    table: list[tuple[str, ...]],
    codes: list[int],
) -> dict[str, list[Any]]:
    """Cached rows then new ones as one report read in folder order would make them:
    rows in folder order, the columns any row has, in the order of where each name
    first appears (a name with ``None`` too).

    Args:
        cached, new: the columns of the cached rows and of the rows read now.
        n_cached: how many rows are cached (``rels`` and ``codes`` start with those).
        rels: each row's folder relative to the root.
        table, codes: the row shapes, and each row's place among them.
    """
    n_new = len(rels) - n_cached
    order: list[int] | None = None
    if n_cached and n_new and rels[n_cached - 1] > rels[n_cached]:
        order = sorted(range(len(rels)), key=rels.__getitem__)
        codes = [codes[j] for j in order]
    names: dict[str, None] = {}
    for code in dict.fromkeys(codes):  # each shape once, where it first comes
        names.update(dict.fromkeys(table[code]))
    out: dict[str, list[Any]] = {}
    for name in names:
        had = cached.get(name)
        column = had if had is not None else [None] * n_cached
        added = new.get(name)
        column.extend(added if added is not None else [None] * n_new)
        out[name] = column if order is None else [column[j] for j in order]
    return out


def _joined(
    parts: list[Part], by_url: Mapping[str, tuple[str, tuple[Any, ...]]]
) -> tuple[
    dict[str, list[Any]],
    list[str],
    list[tuple[Any, ...]],
    list[bool],
    list[tuple[str, ...]],
]:
    """The new rows of all parts as one set of columns, with their folders, stamps and
    shapes."""
    columns, _ = join_columns((part, n) for part, n, *_ in parts)
    folders: list[str] = []
    stamps: list[tuple[Any, ...]] = []
    keep: list[bool] = []
    shapes: list[tuple[str, ...]] = []
    for _, _, _, urls, ok, rows in parts:
        for url, fine in zip(urls, ok):
            folder, stamp = by_url[url]
            folders.append(folder)
            stamps.append(stamp)
            keep.append(fine)
        shapes.extend(rows)
    return columns, folders, stamps, keep, shapes
