"""Reading trial folders back: the one walker, the one file reader, the one record parser.

Everything that reads trials (``load_report``, ``load_trials``, ``read_trial``,
``load_metrics``, the CLI, the dashboard) goes through these functions, so a
fix to reading is made once::

    from votakvot import reading

    for folder in reading.iter_trial_dirs("results/**/24-05-*"):   # newest first
        ...
    for item in reading.iter_trials("s3://bucket/results", {"anon": True}):
        print(item)            # a Trial, or a TrialLoadError naming the file

Metric files being appended to are read with :func:`read_metrics_rows` (the
unfinished last row left out, quietly).

Paths are local folders, globs (``*`` within a path segment, ``**`` across
segments) or fsspec URLs of either; ``storage_options`` (credentials,
endpoints) go to the fsspec filesystem. Every file is read bounded and only if
it is a regular file: a FIFO, a device or a huge file is refused with a
:class:`~votakvot.TrialLoadError` that names it, never hangs a reader.
"""

from __future__ import annotations

import os
import posixpath
import re
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NamedTuple

from . import layout
from ._metrics_read import read_metrics_files, read_metrics_rows
from ._records import check_record, parse_record
from .annotations import ANNOTATIONS_LIMIT
from .exceptions import SkippedTrialWarning, TrialLoadError
from .layout import ANNOTATIONS_NAME, MAX_RECORD, SIDE_FILE_LIMIT, YAML_NAME
from .metrics import resolve_trial_path
from .storage import (
    LocalStorage,
    OnSkip,
    Storage,
    open_storage,
    read_side_file,
    redact,
    shown_name,
    split_protocol,
)
from .trial import Trial, read_record, read_trial

__all__ = [
    "MAX_RECORD",
    "SIDE_FILE_LIMIT",
    "SkipHandler",
    "TrialScan",
    "check_record",
    "find_trial_dirs",
    "iter_trial_dirs",
    "iter_trials",
    "parse_record",
    "read_metrics_files",
    "read_metrics_rows",
    "read_record",
    "read_records",
    "read_side_file",
    "read_trial",
    "resolve_trial_path",
    "scan_trial_dirs",
    "side_file_name",
    "split_glob",
]

Options = Mapping[str, Any] | None


_GLOB_CHARS = re.compile(r"[*?\[]")


# --- paths and globs ------------------------------------------------------------------


def split_glob(path: str) -> tuple[str, re.Pattern[str] | None]:
    """``"root/**/21-05-20/15:*"`` -> ``("root", regex over paths relative to it)``.

    The regex matches a trial folder when the folder or one of its parents
    matches the pattern: ``*`` is any text within one path segment, ``**`` any
    number of segments, ``?`` one character, ``[...]`` a character class.
    """
    protocol, rest = split_protocol(path)
    head = f"{protocol}://" if protocol else ""
    parts = rest.split("/")
    i = next((n for n, part in enumerate(parts) if _GLOB_CHARS.search(part)), None)
    if i is None:
        return path, None
    if parts[-1] == YAML_NAME:
        parts = parts[:-1]
    static = "/".join(parts[:i]) or ("/" if rest.startswith("/") else ".")
    return head + static, re.compile(_translate(parts[i:]) + r"(?:/.*)?\Z", re.DOTALL)


def _translate(segments: list[str]) -> str:
    out = ""
    for n, segment in enumerate(segments):
        last = n == len(segments) - 1
        if segment == "**":
            out += ".*" if last else "(?:[^/]+/)*"
            continue
        i = 0
        while i < len(segment):
            c = segment[i]
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                end = segment.find("]", i + 2)
                if end < 0:
                    out += re.escape(c)
                else:
                    body = segment[i + 1 : end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out += f"[{body.replace(chr(92), chr(92) * 2)}]"
                    i = end
            else:
                out += re.escape(c)
            i += 1
        if not last:
            out += "/"
    return out


def _default_root(path: str | os.PathLike[str] | None) -> str:
    if path is None:
        from ._config import get_config

        return get_config().path
    return str(path)


side_file_name = shown_name
"""How messages name ``folder/name`` (:func:`votakvot.storage.shown_name`)."""


# --- the walker -----------------------------------------------------------------------


SkipHandler = Callable[[str, str], None]
"""``on_skip(path, reason)``: told of a folder that cannot be listed, or a record that
is no regular file, which a walk leaves out and goes on."""


def _skipper(strict: bool, on_skip: SkipHandler | None = None) -> OnSkip:
    def skip(path: str, reason: str, lead: str) -> None:
        """Raise with ``strict``: strict readers (``load_report(safe=False)``) must not
        return with trials silently missing; else tell ``on_skip``, or warn."""
        if strict:
            raise TrialLoadError(redact(path), redact(reason))
        if on_skip is not None:
            on_skip(redact(path), redact(reason))
            return
        warnings.warn(redact(f"{lead}{path}: {reason}"), SkippedTrialWarning, stacklevel=5)

    return skip


def _open_walk(
    path: str | os.PathLike[str] | None, storage_options: Options
) -> tuple[Storage, re.Pattern[str] | None]:
    text = _default_root(path)
    if text.endswith("/" + YAML_NAME) or text == YAML_NAME:
        text = posixpath.dirname(text) or "."
    base, pattern = split_glob(text)
    return open_storage(base, storage_options), pattern


def _matches(pattern: re.Pattern[str], root: str, folder: str, sep: str) -> bool:
    rel = folder[len(root) :].lstrip(sep)
    if sep != "/":
        rel = rel.replace(sep, "/")
    return bool(pattern.match(rel))


def find_trial_dirs(
    path: str | os.PathLike[str] | None = None,
    storage_options: Options = None,
    *,
    strict: bool = False,
) -> list[str]:
    """Trial folders (those holding ``votakvot.yaml``) at or below ``path``, sorted.

    Args:
        path: a folder, a glob (``*`` within a segment, ``**`` across), or
            either with an fsspec protocol; default: the root given to ``init``.
        storage_options: options of the fsspec filesystem (credentials, endpoints).
        strict: raise :class:`~votakvot.TrialLoadError` for a folder that cannot
            be listed or a record that is not a regular file, instead of warning
            (:class:`~votakvot.SkippedTrialWarning`) and going on.

    Returns:
        Absolute local paths, or full URLs (protocol, host and all) for remote
        stores; each can be given to :func:`read_trial`. Trials inside trials
        (``run("a/b")`` within ``a``) are found too.

    Raises:
        MissingDependencyError: the protocol's package is not installed.
        TrialLoadError: with ``strict``, the first folder or record skipped.
    """
    storage, pattern = _open_walk(path, storage_options)
    root = storage.root
    found = storage.find_folders(root, YAML_NAME, _skipper(strict))
    if pattern is not None:
        found = [f for f in found if _matches(pattern, root, f, storage.sep)]
    return sorted(map(storage.to_url, found))


class TrialScan(NamedTuple):
    """The trial folders of a walk and, where its listing tells, which are annotated."""

    folders: list[str]
    """As :func:`find_trial_dirs` returns them: sorted URLs (absolute paths locally)."""
    annotated: frozenset[str] | None
    """The folders holding an annotations sidecar, from the same listing (object
    stores list every file at once); ``None`` when the walk does not tell (local
    folders are not listed one by one): :func:`read_records` then looks itself."""


def scan_trial_dirs(
    path: str | os.PathLike[str] | None = None,
    storage_options: Options = None,
    *,
    strict: bool = False,
) -> TrialScan:
    """:func:`find_trial_dirs` with the annotated folders the listing shows, for
    :func:`read_records`: on an object store a report then asks only for the
    sidecars that are there, not once per trial.

    Args and Raises: as for :func:`find_trial_dirs`.
    """
    storage, pattern = _open_walk(path, storage_options)
    root, sep = storage.root, storage.sep
    skip = _skipper(strict)
    annotated: set[str] | None = None
    if isinstance(storage, LocalStorage):
        found = storage.find_folders(root, YAML_NAME, skip)
    else:
        try:
            stamped = list(storage.stamp_folders(root, YAML_NAME, (ANNOTATIONS_NAME,), skip))
        except NotImplementedError:  # a store that lists folder by folder (FTP, SFTP)
            found = storage.find_folders(root, YAML_NAME, skip)
        else:
            found = [folder for folder, _ in stamped]
            annotated = {folder for folder, stamp in stamped if stamp[2] is not None}
    if pattern is not None:
        found = [f for f in found if _matches(pattern, root, f, sep)]
    to_url = storage.to_url
    folders = sorted(map(to_url, found))
    if annotated is None:
        return TrialScan(folders, None)
    return TrialScan(folders, frozenset(to_url(f) for f in annotated))


def iter_trial_dirs(
    path: str | os.PathLike[str] | None = None,
    storage_options: Options = None,
    *,
    strict: bool = False,
    on_skip: SkipHandler | None = None,
) -> Iterator[str]:
    """:func:`find_trial_dirs`, newest first, yielded as the walk finds them.

    Trial ids end in date, time and uuid, so walking each folder's entries in
    reverse name order finds the newest trials first (a folder comes before the
    trials inside it). Locally the first folders come before the rest of the
    tree is listed: the dashboard shows the newest rows of 100,000 trials at
    once. Remote stores are listed whole, then yielded in reverse name order.

    Args:
        on_skip: called with ``(path, reason)`` for a folder that cannot be listed
            or a record that is no regular file, instead of a warning (the
            dashboard logs them); ``strict`` raises instead.

    Raises:
        MissingDependencyError: at once, when the protocol's package is missing.
    """
    storage, pattern = _open_walk(path, storage_options)  # fails here, not on next()
    return _stream(storage, pattern, _skipper(strict, on_skip))


def _stream(storage: Storage, pattern: re.Pattern[str] | None, skip: OnSkip) -> Iterator[str]:
    root = storage.root
    for folder in storage.iter_folders(root, YAML_NAME, skip):
        if pattern is None or _matches(pattern, root, folder, storage.sep):
            yield storage.to_url(folder)


# --- files ----------------------------------------------------------------------------


def read_records(
    folders: list[str],
    storage_options: Options = None,
    *,
    shared: bool = False,
    annotated: Collection[str] | None = None,
) -> Iterator[Trial | TrialLoadError]:
    """Each folder's :class:`~votakvot.trial.Trial`, or the error saying why it cannot be read.

    Folders are what :func:`find_trial_dirs` returns; remote ones are read
    concurrently and must share one filesystem (they do when they come from one
    walk). A local folder deleted since it was found is left out without a word.

    Args:
        shared: sections repeated across trials (``meta``) are parsed once and the
            same object is shared: for readers that never change ``Trial.data``.
        annotated: the folders holding an annotations sidecar, as the walk's listing
            showed (:func:`scan_trial_dirs`); only those are read. Without it, local
            sidecars are looked for (one ``access`` call each, no failed open) and
            remote ones asked for, each.
    """
    if not folders:
        return
    storage = open_storage(folders[0], storage_options)
    paths = [storage.path_of(f) for f in folders]
    files = [storage.join(p, YAML_NAME) for p in paths]
    contents = storage.read_many(files, layout.MAX_RECORD)  # looked up now: tests lower it
    # Annotations (tags, note) live in a sidecar: read in the same batch, so a remote
    # report pays one concurrent round for them; trials without one cost nothing more.
    local = isinstance(storage, LocalStorage)
    sides = [storage.join(p, ANNOTATIONS_NAME) for p in paths]
    if annotated is not None:
        there = [f in annotated for f in folders]
    elif local:  # most trials have none: a failed open (and its exception) costs more
        there = [os.access(side, os.F_OK) for side in sides]
    else:
        there = [True] * len(sides)
    wanted = [side for side, t in zip(sides, there) if t]
    read = iter(storage.read_many(wanted, ANNOTATIONS_LIMIT) if wanted else ())
    sidecars = [next(read) if t else None for t in there]
    for folder, path, file, raw, sidecar in zip(folders, paths, files, contents, sidecars):
        # text only, no connection to name a file; a local one is its own name
        name = file if local else shown_name(folder, YAML_NAME)
        if isinstance(raw, FileNotFoundError) and storage.gone(path):
            continue  # deleted since the walk listed it: no longer a trial, nothing lost
        try:
            if isinstance(raw, TrialLoadError):
                raise raw
            if isinstance(raw, Exception):
                reason = redact(storage.describe(raw))
                raise TrialLoadError(name, f"cannot be read: {reason}") from raw
            data = check_record(parse_record(raw, name, shared=shared), name)
        except TrialLoadError as exc:
            yield exc
            continue
        trial = Trial(folder, data, storage_options=storage_options)
        trial.set_sidecar(sidecar)
        yield trial


def iter_trials(
    path: str | os.PathLike[str] | None = None,
    storage_options: Options = None,
    *,
    strict: bool = False,
    shared: bool = False,
) -> Iterator[Trial | TrialLoadError]:
    """Every trial at or below ``path`` (see :func:`find_trial_dirs`), or its load error."""
    folders, annotated = scan_trial_dirs(path, storage_options, strict=strict)
    return read_records(folders, storage_options, shared=shared, annotated=annotated)
