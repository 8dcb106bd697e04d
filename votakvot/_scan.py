"""Finding trial folders under a path or glob, and reading their records in bulk.

Local folders are walked with ``os.scandir`` (no ``stat`` per entry, no fsspec),
which is what makes reports of 100,000 trials fast. Remote stores go through
fsspec: filesystems with an async implementation (``ssh://``, ``s3://``, ...)
fetch many files concurrently by themselves; blocking ones (``ftp://``) get a
few threads, each with its own connection, since one connection serves one
request at a time.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ._layout import MAX_RECORD, YAML_NAME
from ._storage import get_filesystem, is_local, redact, split_protocol

__all__ = ["SIDE_FILE_LIMIT", "find_trial_dirs", "read_records", "read_side_file", "split_glob"]

_GLOB_CHARS = re.compile(r"[*?\[]")
# Folders never holding trials that a walk from "." would otherwise crawl through.
_SKIP_DIRS = frozenset({"__pycache__", "node_modules"})
_REMOTE_THREADS = 8
_CHUNK = 1 << 16
SIDE_FILE_LIMIT = 512 * 1024 * 1024
"""Bytes of another file of a trial folder (output, logs, metrics) read at most:
long runs meter a lot, but a file past this would exhaust a reader's memory."""


def _too_big(file: str, limit: int = MAX_RECORD) -> Exception:
    from .exceptions import TrialLoadError

    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
    return TrialLoadError(file, f"larger than {size}: not a file votakvot wrote")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "of an unknown kind"


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


def find_trial_dirs(path: str | None = None, *, strict: bool = False) -> list[str]:
    """Trial folders (those holding ``votakvot.yaml``) at or below ``path``, sorted.

    Args:
        path: a folder, a glob (``*`` within a segment, ``**`` across), or
            either with an fsspec protocol; default: the root given to ``init``.
        strict: raise :class:`~votakvot.TrialLoadError` for a folder that cannot
            be listed or a record that is not a regular file, instead of warning
            (:class:`~votakvot.report.SkippedTrialWarning`) and going on.

    Returns:
        Absolute local paths, or full URLs (protocol, host and all) for remote
        stores; each can be given to :func:`votakvot.trial.read_trial`.

    Raises:
        MissingDependencyError: the protocol's package is not installed.
        TrialLoadError: with ``strict``, the first folder or record skipped.
    """
    if path is None:
        from ._config import get_config

        path = get_config().path
    path = str(path)
    if path.endswith("/" + YAML_NAME) or path == YAML_NAME:
        path = posixpath.dirname(path) or "."
    base, pattern = split_glob(path)
    if is_local(base):
        root = os.path.abspath(os.path.expanduser(split_protocol(base)[1]))
        found = _walk_local(root, strict)
        if pattern is not None:
            found = [d for d in found if _matches(pattern, root, d, os.sep)]
        return sorted(found)
    fs, root = get_filesystem(base)
    root = root.rstrip("/") or "/"
    base_url = base.rstrip("/")
    dirs = _find_remote(fs, root, strict)
    urls = []
    for d in dirs:
        if pattern is not None and not _matches(pattern, root, d, "/"):
            continue
        rel = d[len(root) :].lstrip("/")
        urls.append(f"{base_url}/{rel}" if rel else base_url)
    return sorted(urls)


def _matches(pattern: re.Pattern[str], root: str, folder: str, sep: str) -> bool:
    rel = folder[len(root) :].lstrip(sep)
    if sep != "/":
        rel = rel.replace(sep, "/")
    return bool(pattern.match(rel))


def _walk_local(root: str, strict: bool = False) -> list[str]:
    """Folders holding ``votakvot.yaml``, walking without following symlinks into loops.

    A folder whose link count is 2 has no subfolders (POSIX filesystems count
    each subfolder's ``..``; those that do not report 1): for such a leaf, one
    ``stat`` of its ``votakvot.yaml`` replaces listing it, which is most of the
    cost of a walk over many trials. GNU ``find`` relies on the same rule.
    Any ``OSError`` (EACCES, EIO, ENAMETOOLONG, ESTALE) skips the one folder it
    came from, with a warning naming it; the walk goes on.
    """
    found: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            _skip_warning(folder, _unlistable(exc), strict)
            continue
        try:
            with entries:
                for entry in entries:
                    _visit(entry, folder, found, stack, strict)
        except OSError as exc:  # the listing broke off half-way (EIO, ESTALE)
            _skip_warning(folder, _unlistable(exc), strict)
    return found


def _unlistable(exc: OSError) -> str:
    return f"cannot list this folder ({exc.strerror or exc}); trials below it skipped"


def _visit(
    entry: os.DirEntry[str], folder: str, found: list[str], stack: list[str], strict: bool
) -> None:
    name = entry.name
    if name == YAML_NAME:
        if _regular(entry.path, entry.is_file, strict):
            found.append(folder)
        return
    if name[0] == "." or name in _SKIP_DIRS:
        return
    try:
        if not entry.is_dir(follow_symlinks=False):
            return
    except OSError as exc:
        _skip_warning(entry.path, _unlistable(exc), strict)
        return
    try:
        leaf = entry.stat(follow_symlinks=False).st_nlink == 2
    except OSError:
        leaf = False
    if not leaf:
        stack.append(entry.path)
        return
    record = os.path.join(entry.path, YAML_NAME)
    if _regular(record, functools.partial(_is_file, record), strict):
        found.append(entry.path)


def _is_file(path: str) -> bool:
    """Like ``DirEntry.is_file``: False for a missing file, an OSError for other trouble."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _regular(path: str, is_file: Callable[[], bool], strict: bool = False) -> bool:
    """Whether a ``votakvot.yaml`` is a file; a FIFO or device would block or never end."""
    try:
        if is_file():
            return True
        if not os.path.lexists(path):
            return False  # a leaf folder without a record: not a trial
        reason = "it is not a regular file"
    except OSError as exc:
        reason = f"it cannot be opened ({exc.strerror or exc})"
    _skip_warning(path, reason, strict, "skipped trial: ")
    return False


def _skip_warning(path: str, reason: str, strict: bool = False, lead: str = "") -> None:
    """Warn that ``path`` was skipped (``reason`` says why), or raise with ``strict``.

    Strict readers (``load_report(safe=False)``, ``votakvot report --strict``)
    must not return a report with trials silently missing.
    """
    if strict:
        from .exceptions import TrialLoadError

        raise TrialLoadError(redact(path), redact(reason))
    import warnings

    from .report import SkippedTrialWarning

    warnings.warn(redact(f"{lead}{path}: {reason}"), SkippedTrialWarning, stacklevel=5)


def _is_async(fs: Any) -> bool:
    return bool(getattr(fs, "async_impl", False))


def _protocol(fs: Any) -> str:
    protocol = fs.protocol
    return protocol if isinstance(protocol, str) else protocol[0]


# Stores that list a whole prefix in one request: their own ``find`` beats a walk.
_FLAT_LISTING = frozenset({"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})


def _find_remote(fs: Any, root: str, strict: bool = False) -> list[str]:
    fs.invalidate_cache()  # listings are cached per instance; new trials must show up
    if _protocol(fs) in _FLAT_LISTING:
        files = fs.find(root, withdirs=False)
        return [posixpath.dirname(f) for f in files if posixpath.basename(f) == YAML_NAME]
    if _is_async(fs):
        from fsspec.asyn import sync

        return list(sync(fs.loop, _walk_async, fs, root, strict))
    return _walk_threaded(fs, root, strict)


async def _walk_async(fs: Any, root: str, strict: bool = False) -> list[str]:
    """Breadth-first listing with every folder of a level listed at once (``ssh://``)."""
    import asyncio

    async def listing(folder: str) -> list[dict[str, Any]] | Exception:
        try:
            return list(await fs._ls(folder, detail=True))
        except FileNotFoundError:
            return []
        except Exception as exc:  # warned about by _sort_entries, naming the folder
            return exc

    found: list[str] = []
    level = [root]
    while level:
        nxt: list[str] = []
        results = await asyncio.gather(*(listing(folder) for folder in level))
        for folder, entries in zip(level, results):
            _sort_entries(folder, entries, found, nxt, strict)
        level = nxt
    return found


def _sort_entries(
    folder: str,
    entries: list[dict[str, Any]] | Exception,
    found: list[str],
    nxt: list[str],
    strict: bool = False,
) -> None:
    """Note ``folder`` as a trial if it holds a record; queue its subfolders.

    A folder the store would not list (a refused or lost connection) is skipped
    with a warning naming it, so the trials elsewhere are still read.
    """
    if isinstance(entries, Exception):
        reason = str(entries) or type(entries).__name__
        why = f"cannot list this folder ({reason}); trials below it skipped"
        _skip_warning(folder, why, strict)
        return
    for entry in entries:
        name = posixpath.basename(entry["name"].rstrip("/"))
        if entry.get("type") == "directory":
            if name[:1] != "." and name not in _SKIP_DIRS:
                nxt.append(entry["name"].rstrip("/"))
        elif name == YAML_NAME:
            found.append(folder)


class _Clones:
    """One connection per worker thread, for filesystems whose connection is not shareable."""

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.local = threading.local()
        self.made: list[Any] = []
        self.lock = threading.Lock()
        self.timed_out: str | None = None

    def get(self) -> Any:
        """This thread's connection; made on first use, and raising if it cannot be.

        A connection that timed out is not tried again for each later file:
        against a server that stopped answering, every try would wait out the
        whole timeout. Refused connections fail at once, so they are retried.
        """
        fs = getattr(self.local, "fs", None)
        if fs is None:
            if self.timed_out is not None:
                raise TimeoutError(f"connecting timed out before ({self.timed_out})")
            options = dict(self.fs.storage_options, skip_instance_cache=True)
            try:
                fs = type(self.fs)(*self.fs.storage_args, **options)
            except TimeoutError as exc:
                self.timed_out = str(exc) or "no answer"
                raise
            self.local.fs = fs
            with self.lock:
                self.made.append(fs)
        return fs

    def close(self) -> None:
        for fs in self.made:
            for name in ("ftp", "client"):
                conn = getattr(fs, name, None)
                if conn is not None and hasattr(conn, "close"):
                    try:
                        conn.close()
                    except (OSError, EOFError):
                        pass  # the connection is gone already; nothing left to release
        self.made.clear()


def _pool_map(
    fs: Any, fn: Callable[[Callable[[], Any], str], Any], items: list[str]
) -> list[Any]:
    """``fn(connect, item)`` for each item, over a few threads with a connection each.

    ``fn`` calls ``connect()`` inside its own error handling: connecting is part of
    reading each item, so a server that dies or refuses logins fails only the
    items it was asked for (a later item tries to connect again).
    """
    if len(items) <= 1:
        return [fn(lambda: fs, item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    clones = _Clones(fs)
    try:
        with ThreadPoolExecutor(min(_REMOTE_THREADS, len(items))) as pool:
            return list(pool.map(lambda item: fn(clones.get, item), items))
    finally:
        clones.close()


def _walk_threaded(fs: Any, root: str, strict: bool = False) -> list[str]:
    """Breadth-first listing, one level at a time, folders of a level listed in parallel."""

    def listing(connect: Callable[[], Any], folder: str) -> list[dict[str, Any]] | Exception:
        try:
            return list(connect().ls(folder, detail=True))
        except FileNotFoundError:
            return []
        except Exception as exc:  # warned about by _sort_entries, naming the folder
            return exc

    found: list[str] = []
    level = [root]
    while level:
        nxt: list[str] = []
        for folder, entries in zip(level, _pool_map(fs, listing, level)):
            _sort_entries(folder, entries, found, nxt, strict)
        level = nxt
    return found


def read_records(folders: list[str]) -> Iterator[tuple[str, bytes | Exception]]:
    """``(folder, content of its votakvot.yaml or the error reading it)`` for each folder.

    Folders are what :func:`find_trial_dirs` returns; all remote ones must share
    one filesystem (they do when they come from one call).
    """
    local = [f for f in folders if is_local(f)]
    remote = [f for f in folders if not is_local(f)]
    for folder in local:
        file = os.path.join(split_protocol(folder)[1], YAML_NAME)
        try:
            yield folder, _read_local(file)
        except OSError as exc:
            yield folder, exc
    if remote:
        yield from _read_remote(remote)


def _read_local(file: str, limit: int = MAX_RECORD) -> bytes | Exception:
    """The file's bytes with plain ``os`` calls: no buffered-IO objects per file.

    Only a regular file is read, and at most ``limit`` bytes of it: anything else
    comes back as a :class:`~votakvot.TrialLoadError` naming the file. Opening
    with ``O_NONBLOCK`` makes a FIFO return at once instead of waiting for a
    writer (the ``fstat`` then refuses it); regular files ignore the flag.
    Raises ``OSError`` when the file cannot be opened at all.
    """
    fd = os.open(file, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            from .exceptions import TrialLoadError

            return TrialLoadError(file, f"not a regular file ({_kind(mode)}): not read")
        chunk = os.read(fd, _CHUNK)
        if len(chunk) < _CHUNK and len(chunk) <= limit:
            return chunk
        parts = [chunk]
        size = len(chunk)
        while chunk:
            if size > limit:
                return _too_big(file, limit)
            chunk = os.read(fd, _CHUNK)
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def side_file_name(folder: str, name: str) -> str:
    """How messages name ``folder/name``: a local path, or the URL without its password."""
    if is_local(folder):
        return os.path.join(split_protocol(folder)[1], *name.split("/"))
    return redact(f"{folder.rstrip('/')}/{name}")


def read_side_file(folder: str, name: str, limit: int | None = SIDE_FILE_LIMIT) -> bytes | None:
    """The bytes of ``folder/name`` (a heartbeat, output, log, metrics or ab file).

    The one reader of single files of a trial folder (bulk scans of records use
    :func:`read_records`, which shares :func:`_read_local` with it): it opens
    regular files only (never blocks on a FIFO, never reads ``/dev/zero`` to the
    end) and refuses more than ``limit`` bytes, like the record reader (``None``:
    no cap, for snapshots whose size is the user's state).

    Returns:
        The content, or ``None`` if the file is not there.

    Raises:
        TrialLoadError: the file is there but is no regular file, is too big, or
            an ``OSError`` (EACCES, ELOOP, EIO, ENAMETOOLONG, ...) stopped the
            read; the message names the file (without a URL's password).
    """
    from .exceptions import TrialLoadError

    if is_local(folder):
        file = side_file_name(folder, name)
        try:
            content = _read_local(file, sys.maxsize if limit is None else limit)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise TrialLoadError(file, f"cannot be read ({exc.strerror or exc})") from None
        if isinstance(content, Exception):
            raise content
        return content
    shown = side_file_name(folder, name)
    try:
        fs, root = get_filesystem(folder)
        path = posixpath.join(root, name)
        end = None if limit is None else limit + 1
        raw = bytes(fs.cat_file(path, start=0, end=end))
    except FileNotFoundError:
        return None
    except Exception as exc:  # remote stores raise all sorts; named, never dropped
        reason = redact(str(exc)) or type(exc).__name__
        raise TrialLoadError(shown, f"cannot be read ({reason})") from None
    if limit is not None and len(raw) > limit:
        raise _too_big(shown, limit)
    return raw


def _read_remote(folders: list[str]) -> Iterator[tuple[str, bytes | Exception]]:
    fs, _ = get_filesystem(folders[0])
    paths = [posixpath.join(_strip(fs, f), YAML_NAME) for f in folders]
    if _is_async(fs):
        contents = fs.cat(paths, on_error="return")
        for folder, path in zip(folders, paths):
            value = contents.get(path, FileNotFoundError(path))
            yield folder, value
        return

    def cat(connect: Callable[[], Any], path: str) -> bytes | Exception:
        try:
            return bytes(connect().cat_file(path))
        except Exception as exc:  # reported per trial by the caller, never dropped
            return exc

    if _protocol(fs) == "memory":
        results = [cat(lambda: fs, p) for p in paths]
    else:
        results = _pool_map(fs, cat, paths)
    yield from zip(folders, results)


def _strip(fs: Any, url: str) -> str:
    return str(fs._strip_protocol(url))
