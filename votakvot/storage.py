"""Where trial files live: one protocol over a local folder or any fsspec URL.

:func:`open_storage` gives a :class:`Storage` rooted at a path or URL; everything
votakvot writes or reads goes through it, so nothing else tells local folders
from remote stores. Local folders use plain ``os`` calls (the fast path: no
fsspec, no ``stat`` per entry when walking); remote stores use fsspec, with
``storage_options`` (credentials, endpoints) passed to the filesystem::

    storage = open_storage("s3://bucket/results", {"anon": True})
    storage.read(storage.join(storage.root, "votakvot.yaml"), limit=1 << 20)

Guarantees: whole-file writes are atomic (no reader sees half a file); reads are
bounded and take regular files only (a FIFO, device or huge file is refused with
a :class:`~votakvot.TrialLoadError` naming it, never hangs or exhausts memory);
messages name URLs without their password (:func:`redact`).
"""

from __future__ import annotations

import functools
import io
import itertools
import os
import posixpath
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, TypeVar

from .exceptions import MissingDependencyError, TrialLoadError
from .layout import SIDE_FILE_LIMIT

__all__ = [
    "FsspecStorage",
    "LocalStorage",
    "OnSkip",
    "Storage",
    "file_kind",
    "is_local",
    "list_folder",
    "open_storage",
    "parse_option",
    "read_side_file",
    "redact",
    "shown_name",
    "split_protocol",
]

# Packages that provide fsspec protocols, for an error that says what to install.
_PROTOCOL_PACKAGES = {
    "s3": "s3fs",
    "s3a": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "adl": "adlfs",
    "sftp": "paramiko",
    "ssh": "paramiko",
    "hdfs": "pyarrow",
    "webdav": "webdav4",
    "dropbox": "dropboxdrivefs",
    "oci": "ocifs",
    "http": "aiohttp",
    "https": "aiohttp",
}
_OBJECT_STORES = frozenset({"memory", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})
"""Stores that publish an object only once it is whole, and list a prefix in one request."""
_SHAREABLE = frozenset({"memory"})
"""Blocking filesystems whose instances may be shared between threads; the others
(FTP, paramiko's SFTP) talk over one connection that serves one request at a time."""
_REMOTE_THREADS = 8
_SKIP_DIRS = frozenset({"__pycache__", "node_modules"})
"""Folders never holding trials that a walk from "." would otherwise crawl through."""
_CHUNK = 1 << 16

OnSkip = Callable[[str, str, str], None]
"""``on_skip(path, reason, lead)``: what a walk does with a folder or record it skips."""


def split_protocol(url: str) -> tuple[str | None, str]:
    """``"s3://bucket/x"`` -> ``("s3", "bucket/x")``; a plain path -> ``(None, path)``."""
    if "://" in url:
        protocol, _, rest = url.partition("://")
        return protocol, rest
    return None, url


# "scheme://user:password@": the password runs to the last "@" before the path.
_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]*):[^/\s]*@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it left out (``ftp://user@host/...``).

    Every path or URL a warning or error shows goes through this: messages end up
    in logs, terminals and bug reports, credentials must not.
    """
    if "@" not in text:
        return text
    return _PASSWORD.sub(r"\1@", text)


def parse_option(text: str) -> tuple[str, Any]:
    """``"key=value"`` (a ``--storage-option``) -> ``(key, value)``, the value a Python
    literal when it is one (``True``, ``3``, ``{...}``), else the text; ValueError if
    there is no ``=`` or no key. The CLI and the dashboard parse options the same way."""
    import ast

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed: Any = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        parsed = value
    return key.strip(), parsed


def is_local(url: str) -> bool:
    """Whether ``url`` is a local path (no protocol, ``file://`` or ``local://``)."""
    protocol, _ = split_protocol(url)
    return protocol in (None, "file", "local")


def shown_name(folder: str, name: str) -> str:
    """How messages name ``folder/name``: a local path, or the URL without its password.

    Pure text, no filesystem opened: for messages about files that may not exist.
    """
    if is_local(folder):
        return os.path.join(split_protocol(folder)[1], *name.split("/"))
    return redact(f"{folder.rstrip('/')}/{name}")


def get_filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """fsspec's ``url_to_fs`` with an error that names the package to install."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        protocol = split_protocol(url)[0] or "file"
        package = _PROTOCOL_PACKAGES.get(protocol, f"the fsspec backend for {protocol!r}")
        raise MissingDependencyError(
            f"reading or writing {redact(url)!r} needs {package}: pip install {package} ({exc})"
        ) from exc
    except ValueError as exc:
        unknown = split_protocol(url)[0]
        raise MissingDependencyError(
            f"fsspec knows no protocol {unknown!r} in {redact(url)!r}: check the URL, or "
            "install the package that provides it"
        ) from exc


def _too_big(file: str, limit: int) -> TrialLoadError:
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
    return TrialLoadError(file, f"larger than {size}: not a file votakvot wrote")


def file_kind(mode: int) -> str:
    """What a non-regular file is, for a message that says why it was not read."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "of an unknown kind"


class Storage:
    """The operations on trial files, on paths below one root.

    Paths are this storage's own (``storage.join(storage.root, tid, name)``);
    :meth:`to_url` turns one into what ``read_trial`` and ``open_storage`` accept.
    """

    url: str
    """The root as given, a path or a URL."""
    root: str
    """The root as this storage's own path (no protocol)."""
    storage_options: dict[str, Any]
    """The filesystem options (credentials, endpoints) this storage was opened with."""
    forkable = False
    """Whether a forked process may read through this storage (no connections to share)."""
    sep = "/"
    """What separates folders in this storage's paths."""

    # --- writing -------------------------------------------------------------------

    def join(self, *parts: str) -> str:
        raise NotImplementedError

    def makedirs(self, path: str) -> None:
        raise NotImplementedError

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data`` in one step: readers see the old or the new file."""
        raise NotImplementedError

    def append(self, path: str, data: bytes) -> None:
        """Add to the end of a file; remote stores without append raise ``UnsupportedOperation``."""
        raise NotImplementedError

    @property
    def can_append(self) -> bool:
        return True

    def open(self, path: str, mode: str) -> IO[Any]:
        raise NotImplementedError

    def remove(self, path: str) -> None:
        """Delete a file; one that is not there is fine."""
        raise NotImplementedError

    # --- reading -------------------------------------------------------------------

    def to_url(self, path: str) -> str:
        """``path`` as a full URL (a plain path for local storage), credentials kept."""
        raise NotImplementedError

    def shown(self, path: str) -> str:
        """How messages name ``path``: a local path, or the URL without its password."""
        return redact(self.to_url(path))

    def read(self, path: str, limit: int | None = None) -> bytes | None:
        """The bytes of the regular file ``path``, at most ``limit`` (``None``: no cap).

        Returns ``None`` when the file is not there. Raises
        :class:`~votakvot.TrialLoadError` naming the file when it is no regular
        file, is larger than ``limit``, or cannot be read.
        """
        raise NotImplementedError

    def read_many(self, paths: list[str], limit: int | None = None) -> list[bytes | Exception]:
        """:meth:`read` of each path, many at once where the store allows; errors returned.

        A missing file comes back as ``FileNotFoundError``, an unreadable one as
        the exception (``TrialLoadError`` for one refused by the bounds).
        """
        raise NotImplementedError

    def listdir(self, path: str) -> list[tuple[str, bool]]:
        """``(name, is_folder)`` of each entry of a folder; ``FileNotFoundError`` if none."""
        raise NotImplementedError

    def find_files(self, path: str) -> list[str]:
        """Paths of all files below ``path``, relative to it, ``/``-separated."""
        raise NotImplementedError

    def isdir(self, path: str) -> bool:
        raise NotImplementedError

    def stamp(self, path: str) -> tuple[Any, Any] | None:
        """``(size, modified)`` of one file, ``None`` if it is not there: equal stamps
        mean a reader may keep what it read last time."""
        raise NotImplementedError

    def remove_tree(self, path: str) -> None:
        """Delete a folder and everything in it (the dashboard's delete of a trial)."""
        raise NotImplementedError

    def path_of(self, url: str) -> str:
        """This storage's own path for ``url`` (a path or URL on the same store)."""
        raise NotImplementedError

    def gone(self, path: str) -> bool:
        """Whether the folder ``path`` surely no longer exists (deleted since a walk).

        Remote stores say no: "not found" may mean "refused" there (FTP's 550).
        """
        return False

    def describe(self, exc: BaseException) -> str:
        """Why reading failed, in words a user can act on."""
        return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)

    def find_folders(self, path: str, name: str, on_skip: OnSkip) -> list[str]:
        """Folders at or below ``path`` holding a file ``name`` (unsorted).

        Hidden folders, ``__pycache__`` and ``node_modules`` are not entered;
        symlinks are not followed. A folder that cannot be listed, or a ``name``
        that is no regular file, is passed to ``on_skip`` and the walk goes on.
        """
        return list(self.iter_folders(path, name, on_skip))

    def iter_folders(self, path: str, name: str, on_skip: OnSkip) -> Iterator[str]:
        """:meth:`find_folders`, newest first (names in reverse order, a folder before
        the ones inside it): trial folders are named by date and time.

        Local folders are yielded as the walk finds them, so a reader starts on
        the newest trials at once; remote stores are listed whole first (an
        object store lists a prefix in one request).
        """
        raise NotImplementedError

    def stamp_folders(
        self, path: str, name: str, side: tuple[str, ...], on_skip: OnSkip
    ) -> Iterator[tuple[str, tuple[Any, ...]]]:
        """:meth:`iter_folders` with a stamp of each folder's record: what the warm
        index (:mod:`votakvot.index`) keys a cached row by.

        Locally the stamp is ``(folder mtime_ns, record size, record mtime_ns)``,
        from the ``stat`` calls the walk makes anyway; the folder's time changes
        whenever a file is renamed into it (every atomic write) or added or
        removed. On object stores it is the record's size and ETag (or time) and
        those of the ``side`` files, from the one listing. Raises
        ``NotImplementedError`` for stores that give no cheap stamp (FTP, SFTP):
        readers then read every record.
        """
        raise NotImplementedError

    def stat_files(self, path: str, keep: Callable[[str], bool]) -> dict[str, tuple[Any, str]]:
        """``path -> (size, modified)`` of the files below ``path`` whose name ``keep``
        accepts: what a poller compares between rounds to see which files changed.

        Folders are entered as :meth:`find_folders` enters them; ``modified`` is
        whatever the store gives, as text (compare it only for equality).
        """
        raise NotImplementedError


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_temp_counter = itertools.count()
_temp_token = ""


def temp_name(path: str) -> str:
    """A name next to ``path`` for an atomic write, unique across threads and processes.

    A random token per process (new after a fork) and a counter: cheaper than a
    uuid per write, and two writers of the same file never share a temp file.
    """
    global _temp_token
    if not _temp_token:
        _temp_token = f"{os.getpid()}-{os.urandom(3).hex()}"
    return f"{path}.{_temp_token}-{next(_temp_counter)}.tmp"


def _new_temp_token() -> None:
    """A forked child draws its own token at its first write (no ``getpid`` per write)."""
    global _temp_token
    _temp_token = ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_temp_token)


def read_local(file: str, limit: int | None = None) -> bytes | TrialLoadError:
    """The file's bytes with plain ``os`` calls: no buffered-IO objects per file.

    Only a regular file is read, and at most ``limit`` bytes of it: anything else
    comes back as a :class:`~votakvot.TrialLoadError` naming the file. Opening
    with ``O_NONBLOCK`` makes a FIFO return at once instead of waiting for a
    writer (the ``fstat`` then refuses it); regular files ignore the flag.
    Raises ``OSError`` when the file cannot be opened at all.
    """
    cap = sys.maxsize if limit is None else limit
    fd = os.open(file, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            return TrialLoadError(file, f"not a regular file ({file_kind(mode)}): not read")
        chunk = os.read(fd, _CHUNK)
        if len(chunk) < _CHUNK and len(chunk) <= cap:
            return chunk
        parts = [chunk]
        size = len(chunk)
        while chunk:
            if size > cap:
                return _too_big(file, cap)
            chunk = os.read(fd, _CHUNK)
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


class LocalStorage(Storage):
    """A local folder, by plain ``os`` calls."""

    forkable = True
    sep = os.sep

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        _, path = split_protocol(url)
        self.root = os.path.abspath(os.path.expanduser(path))
        self.url = self.root
        self.storage_options = dict(storage_options or {})

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def makedirs(self, path: str) -> None:
        try:
            os.mkdir(path)  # the usual case, a new trial's folder: one system call
        except FileNotFoundError:
            os.makedirs(path, exist_ok=True)
        except FileExistsError:
            if not os.path.isdir(path):
                raise

    def write_atomic(self, path: str, data: bytes) -> None:
        # Raw os calls: open() would also probe for a terminal and set up buffering,
        # which is a third of a small write's cost.
        tmp = temp_name(path)
        try:
            fd = os.open(tmp, _NEW_FILE, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def append(self, path: str, data: bytes) -> None:
        """Append all of ``data`` or nothing: a failed write (disk full) is cut off again,
        so a later append never lands after half a row."""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            except BaseException:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass  # the write's own error says more; readers drop a torn last line
                raise
        finally:
            os.close(fd)

    def open(self, path: str, mode: str) -> IO[Any]:
        parent = os.path.dirname(path)
        if any(c in mode for c in "wax"):
            os.makedirs(parent, exist_ok=True)
        return open(path, mode)

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def to_url(self, path: str) -> str:
        return path

    def shown(self, path: str) -> str:
        return path

    def read(self, path: str, limit: int | None = None) -> bytes | None:
        try:
            content = read_local(path, limit)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise TrialLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
        if isinstance(content, Exception):
            raise content
        return content

    def read_many(self, paths: list[str], limit: int | None = None) -> list[bytes | Exception]:
        out: list[bytes | Exception] = []
        for path in paths:
            try:
                out.append(read_local(path, limit))
            except OSError as exc:
                out.append(exc)
        return out

    def listdir(self, path: str) -> list[tuple[str, bool]]:
        try:
            with os.scandir(path) as entries:
                return [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        except NotADirectoryError:
            raise FileNotFoundError(path) from None

    def find_files(self, path: str) -> list[str]:
        out = []
        for folder, _, files in os.walk(path):
            rel = os.path.relpath(folder, path)
            for name in files:
                out.append(name if rel == "." else posixpath.join(rel.replace(os.sep, "/"), name))
        return out

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def remove_tree(self, path: str) -> None:
        import shutil

        shutil.rmtree(path)

    def stamp(self, path: str) -> tuple[Any, Any] | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return (st.st_size, st.st_mtime_ns)

    def path_of(self, url: str) -> str:
        path = split_protocol(url)[1]
        if os.path.isabs(path):
            return path  # what walks give: normalizing 100,000 of them would show in reports
        return os.path.abspath(os.path.expanduser(path))

    def gone(self, path: str) -> bool:
        return not os.path.isdir(path)

    def iter_folders(self, path: str, name: str, on_skip: OnSkip) -> Iterator[str]:
        return _iter_local(path, name, on_skip)

    def stamp_folders(
        self, path: str, name: str, side: tuple[str, ...], on_skip: OnSkip
    ) -> Iterator[tuple[str, tuple[Any, ...]]]:
        if os.stat not in os.supports_dir_fd or os.scandir not in os.supports_fd:
            raise NotImplementedError("stat relative to a folder is not supported here")
        return _stamp_local(path, name, on_skip)

    def stat_files(self, path: str, keep: Callable[[str], bool]) -> dict[str, tuple[Any, str]]:
        out: dict[str, tuple[Any, str]] = {}
        stack = [path]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        try:
                            if entry.is_dir(follow_symlinks=False):
                                if entry.name[0] != "." and entry.name not in _SKIP_DIRS:
                                    stack.append(entry.path)
                            elif keep(entry.name):
                                st = entry.stat()
                                out[entry.path] = (st.st_size, str(st.st_mtime_ns))
                        except OSError:
                            continue  # gone since listed, or a dangling link: no file to watch
            except (FileNotFoundError, NotADirectoryError):
                if folder == path:
                    raise FileNotFoundError(path) from None
            except OSError:
                continue  # unlistable: the walker names it; its files stay unknown
        return out


class _Connections:
    """One filesystem instance (one connection) per thread, for stores that need it.

    A blocking filesystem such as FTP has one connection per instance, and two
    threads talking over it mix their replies up, so each thread gets its own.
    A connection that timed out is not tried again for each later file: against
    a server that stopped answering, every try would wait out the whole timeout.
    """

    def __init__(self, fs: Any, closing: bool = True) -> None:
        self.fs = fs
        self.local = threading.local()
        self.closing = closing
        """Keep what was made for :meth:`close`; else a connection goes with its thread."""
        self.made: list[Any] = []
        self.lock = threading.Lock()
        self.timed_out: str | None = None

    def get(self) -> Any:
        """This thread's connection; made on first use, and raising if it cannot be."""
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
            if self.closing:
                with self.lock:
                    self.made.append(fs)
        return fs

    def drop(self) -> None:
        """Forget this thread's connection (the server closed it); the next get() reconnects."""
        fs = getattr(self.local, "fs", None)
        self.local.fs = None
        if fs is not None:
            with self.lock:
                if fs in self.made:
                    self.made.remove(fs)

    def close(self) -> None:
        with self.lock:
            made, self.made = self.made, []
        for fs in made:
            for name in ("ftp", "client"):
                conn = getattr(fs, name, None)
                if conn is not None and hasattr(conn, "close"):
                    try:
                        conn.close()
                    except (OSError, EOFError):
                        pass  # the connection is gone already; nothing left to release


_T = TypeVar("_T")


def _protocol(fs: Any) -> str:
    protocol = fs.protocol
    return protocol if isinstance(protocol, str) else protocol[0]


def _is_async(fs: Any) -> bool:
    return bool(getattr(fs, "async_impl", False))


class FsspecStorage(Storage):
    """Files on an fsspec store.

    The writer uses a storage from several threads at once: the trial's own, the
    background flusher and heartbeat, runner threads. A blocking filesystem such
    as FTP has one connection per instance, and two threads talking over it mix
    their replies up (``error_reply: 200 Type set to: Binary``) and lose writes,
    so each thread gets its own instance (its own connection) of such a store.
    Async filesystems (``ssh://``, ``s3://``) and ``memory://`` are shared.
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.storage_options = dict(storage_options or {})
        fs, root = get_filesystem(url, self.storage_options)
        self.root = root.rstrip("/") or "/"
        self.protocol = _protocol(fs)
        self.url = url.rstrip("/")
        self._shared = fs
        self._per_thread = not _is_async(fs) and self.protocol not in _SHAREABLE
        self._connections = _Connections(fs, closing=False)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_connections"]  # connections stay with the process that made them
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._connections = _Connections(self._shared, closing=False)

    @property
    def fs(self) -> Any:
        """The filesystem for the calling thread (its own one for blocking stores)."""
        if not self._per_thread:
            return self._shared
        return self._connections.get()

    def join(self, *parts: str) -> str:
        return posixpath.join(*parts)

    def _reconnecting(self, op: Callable[[Any], _T]) -> _T:
        """``op(fs)``; once more on a new connection if the server dropped this thread's.

        FTP servers close idle connections (after 5 minutes, typically), and a
        thread of a runner's pool may sit idle longer than that between trials.
        """
        fs = self.fs
        try:
            return op(fs)
        except Exception as exc:
            if not self._per_thread or not _lost_connection(exc):
                raise
        self._connections.drop()
        return op(self.fs)

    def makedirs(self, path: str) -> None:
        """Make ``path`` and its parents; a folder another worker made meanwhile is fine.

        FTP's ``makedirs`` decides what exists from a cached listing; when another
        process made the folder since, ``MKD`` fails with ``550 File exists``.
        """
        self._reconnecting(lambda fs: _makedirs(fs, path))

    def write_atomic(self, path: str, data: bytes) -> None:
        self._reconnecting(lambda fs: self._write_atomic(fs, path, data))

    def _write_atomic(self, fs: Any, path: str, data: bytes) -> None:
        if self.protocol in _OBJECT_STORES:
            fs.pipe_file(path, data)  # published only once fully uploaded
            return
        tmp = temp_name(path)
        fs.pipe_file(tmp, data)
        try:
            # Most servers (FTP, local, SFTP with posix-rename) replace in one step;
            # only then is there never a moment without the file.
            fs.mv(tmp, path)
            return
        except OSError:
            pass
        try:
            if fs.exists(path):
                fs.rm_file(path)
        except OSError:
            pass
        fs.mv(tmp, path)

    @property
    def can_append(self) -> bool:
        return False

    def append(self, path: str, data: bytes) -> None:
        raise io.UnsupportedOperation(f"{self.protocol}:// does not append")

    def open(self, path: str, mode: str) -> IO[Any]:
        if any(c in mode for c in "wax"):
            self.makedirs(posixpath.dirname(path))
        return self._reconnecting(lambda fs: fs.open(path, mode))

    def remove(self, path: str) -> None:
        try:
            self._reconnecting(lambda fs: fs.rm_file(path))
        except FileNotFoundError:
            pass

    def to_url(self, path: str) -> str:
        """A URL for ``path`` that keeps the root's host and credentials (ssh://user@host/...)."""
        rel = posixpath.relpath(path, self.root)
        if not rel.startswith(".."):
            return self.url if rel == "." else f"{self.url}/{rel}"
        # Another folder of the same store: the root's URL with its path swapped.
        # Text only: naming a file must never open a connection (the server may be gone).
        if self.root == "/":
            return self.url + path
        if self.url.endswith(self.root):
            return self.url[: len(self.url) - len(self.root)] + path
        return str(self._shared.unstrip_protocol(path))

    def describe(self, exc: BaseException) -> str:
        reason = super().describe(exc)
        if isinstance(exc, FileNotFoundError):
            # FTP answers 550 for "not found", "permission denied" and "unavailable"
            # alike, and fsspec makes each a FileNotFoundError
            return f"not found or refused by the server ({reason})"
        return reason

    def read(self, path: str, limit: int | None = None) -> bytes | None:
        shown = self.shown(path)
        try:
            end = None if limit is None else limit + 1
            raw = bytes(self._reconnecting(lambda fs: fs.cat_file(path, start=0, end=end)))
        except FileNotFoundError:
            return None
        except Exception as exc:  # remote stores raise all sorts; named, never dropped
            reason = redact(str(exc)) or type(exc).__name__
            raise TrialLoadError(shown, f"cannot be read ({reason})") from None
        if limit is not None and len(raw) > limit:
            raise _too_big(shown, limit)
        return raw

    def read_many(self, paths: list[str], limit: int | None = None) -> list[bytes | Exception]:
        fs = self._shared
        if _is_async(fs):
            contents = fs.cat(paths, on_error="return")
            out = [contents.get(p, FileNotFoundError(p)) for p in paths]
            return [self._bounded(p, v, limit) for p, v in zip(paths, out)]

        def cat(connect: Callable[[], Any], path: str) -> bytes | Exception:
            try:
                end = None if limit is None else limit + 1
                return self._bounded(path, bytes(connect().cat_file(path, 0, end)), limit)
            except Exception as exc:  # reported per file by the caller, never dropped
                return exc

        if self.protocol in _SHAREABLE:
            return [cat(lambda: fs, p) for p in paths]
        return _pool_map(fs, cat, paths)

    def _bounded(self, path: str, value: Any, limit: int | None) -> bytes | Exception:
        if isinstance(value, Exception):
            return value
        if limit is not None and len(value) > limit:
            return _too_big(self.shown(path), limit)
        return bytes(value)

    def listdir(self, path: str) -> list[tuple[str, bool]]:
        fs = self.fs
        fs.invalidate_cache(path)  # listings are cached per instance; files may be new
        # detail=True: some backends (FTP) give bare names for detail=False
        entries = self._reconnecting(lambda fs: fs.ls(path, detail=True))
        return [
            (posixpath.basename(e["name"].rstrip("/")), e.get("type") == "directory")
            for e in entries
        ]

    def find_files(self, path: str) -> list[str]:
        fs = self.fs
        fs.invalidate_cache(path)
        return [posixpath.relpath(p, path) for p in fs.find(path)]

    def isdir(self, path: str) -> bool:
        return bool(self.fs.isdir(path))

    def remove_tree(self, path: str) -> None:
        self.fs.rm(path, recursive=True)

    def stamp(self, path: str) -> tuple[Any, Any] | None:
        try:
            info = self.fs.info(path)
        except FileNotFoundError:
            return None
        for key in ("mtime", "LastModified", "last_modified", "updated", "created", "ETag"):
            if info.get(key) is not None:
                return (info.get("size"), str(info[key]))
        return (info.get("size"), None)  # a store that gives no time: its size only

    def path_of(self, url: str) -> str:
        return str(self._shared._strip_protocol(url))

    def iter_folders(self, path: str, name: str, on_skip: OnSkip) -> Iterator[str]:
        return iter(sorted(self.find_folders(path, name, on_skip), reverse=True))

    def stamp_folders(
        self, path: str, name: str, side: tuple[str, ...], on_skip: OnSkip
    ) -> Iterator[tuple[str, tuple[Any, ...]]]:
        if self.protocol not in _OBJECT_STORES or self.protocol == "memory":
            # memory:// lives as long as its process: nothing to keep for the next one
            raise NotImplementedError(f"{self.protocol}:// lists no lasting stamps")
        fs = self._shared
        fs.invalidate_cache()  # listings are cached per instance; new trials must show up
        found: dict[str, dict[str, Any]] = {}
        sides: dict[tuple[str, str], tuple[Any, Any]] = {}
        for file, info in fs.find(path, withdirs=False, detail=True).items():
            folder, base = posixpath.split(file)
            if base == name:
                if not _skipped_below(path, file):
                    found[folder] = info
            elif base in side:
                sides[(folder, base)] = (info.get("size"), _version(info))
        out = [
            (
                folder,
                (info.get("size"), _version(info), *(sides.get((folder, s)) for s in side)),
            )
            for folder, info in found.items()
        ]
        out.sort(reverse=True)
        return iter(out)

    def stat_files(self, path: str, keep: Callable[[str], bool]) -> dict[str, tuple[Any, str]]:
        def find(fs: Any) -> dict[str, dict[str, Any]]:
            fs.invalidate_cache()  # listings are cached per instance; files may be new
            return dict(fs.find(path, detail=True))

        out: dict[str, tuple[Any, str]] = {}
        for file, info in self._reconnecting(find).items():
            if keep(posixpath.basename(file)) and not _skipped_below(path, file):
                stamp = (
                    info.get("mtime")
                    or info.get("LastModified")
                    or info.get("modified")
                    or info.get("created")
                )
                out[file] = (info.get("size"), str(stamp))
        return out

    def find_folders(self, path: str, name: str, on_skip: OnSkip) -> list[str]:
        fs = self._shared
        fs.invalidate_cache()  # listings are cached per instance; new trials must show up
        if self.protocol in _OBJECT_STORES:
            files = fs.find(path, withdirs=False)
            return [
                posixpath.dirname(f)
                for f in files
                if posixpath.basename(f) == name and not _skipped_below(path, f)
            ]
        if _is_async(fs):
            from fsspec.asyn import sync

            return list(sync(fs.loop, _walk_async, fs, path, name, on_skip))
        return _walk_threaded(fs, path, name, on_skip)


def _version(info: Mapping[str, Any]) -> str | None:
    """What changes when an object is replaced: its ETag or checksum first (object
    stores keep times to the second), else its time."""
    for key in ("ETag", "etag", "md5Hash", "crc32c", "content_md5", "mtime", "LastModified"):
        value = info.get(key)
        if value is not None:
            return f"{key}={value}"
    for key in ("updated", "last_modified", "created"):
        value = info.get(key)
        if value is not None:
            return f"{key}={value}"
    return None


def _skipped_below(root: str, file: str) -> bool:
    """Whether a walk from ``root`` would not enter a folder on the way to ``file``."""
    folders = posixpath.relpath(file, root).split("/")[:-1]
    return any(f[:1] == "." or f in _SKIP_DIRS for f in folders)


def _makedirs(fs: Any, path: str) -> None:
    # Each clash means another worker made one of the folders: retry with fresh
    # listings, at most once per level of the path.
    for attempt in range(path.count("/") + 1, -1, -1):
        try:
            fs.makedirs(path, exist_ok=True)
            return
        except Exception as exc:  # ftplib's error_perm is no OSError
            if _lost_connection(exc):
                raise
            fs.invalidate_cache()
            if fs.isdir(path):
                return
            if not attempt:
                raise


def _lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` says the server closed the connection (idle timeout, restart)."""
    if isinstance(exc, (EOFError, ConnectionError, TimeoutError)):
        return True
    import ftplib

    return isinstance(exc, ftplib.error_temp) and str(exc).startswith("421")


def open_storage(url: str, storage_options: Mapping[str, Any] | None = None) -> Storage:
    """A :class:`Storage` rooted at ``url`` (a local path or any fsspec URL).

    Args:
        url: a local folder, or a URL such as ``s3://bucket/prefix``.
        storage_options: passed to the fsspec filesystem (``key``, ``secret``,
            ``endpoint_url``, ``client_kwargs``, ...); ignored for local folders.

    Raises:
        MissingDependencyError: the protocol's package is not installed.
    """
    if is_local(url):
        return LocalStorage(url, storage_options)
    return FsspecStorage(url, storage_options)


# --- walking ------------------------------------------------------------------------


def _iter_local(root: str, name: str, on_skip: OnSkip) -> Iterator[str]:
    """Folders holding ``name``, newest first, yielded as they are found.

    Trial folders are named by date and time, so walking each folder's entries
    in reverse name order (depth first, a folder before the trials inside it)
    finds recent trials first: the dashboard shows the first rows of 100,000
    trials before the walk is a fraction done. Symlinks are not followed.

    A folder whose link count is 2 has no subfolders (POSIX filesystems count
    each subfolder's ``..``; those that do not report 1): for such a leaf, one
    ``stat`` of its record replaces listing it, which is most of the cost of a
    walk over many trials. GNU ``find`` relies on the same rule. Any ``OSError``
    (EACCES, EIO, ENAMETOOLONG, ESTALE) skips the one folder it came from.
    """
    stack: list[os.DirEntry[str] | str] = [root]
    while stack:
        item = stack.pop()
        if not isinstance(item, str):
            if _is_leaf(item):
                path = os.path.join(item.path, name)
                if _regular(path, functools.partial(_is_file, path), on_skip):
                    yield item.path
                continue
            item = item.path
        # Listed whole before anything is yielded: no folder stays open while the
        # consumer works, and its entries can be sorted.
        record, folders = _list_local(item, name, on_skip)
        if record:
            yield item  # and walk on: a trial may hold others (``run("a/b")`` in ``a``)
        folders.sort(key=_entry_name)  # pushed oldest first: the newest is popped next
        stack.extend(folders)


def _stamp_local(
    root: str, name: str, on_skip: OnSkip
) -> Iterator[tuple[str, tuple[int, int, int]]]:
    """Folders holding ``name`` with ``(folder mtime_ns, record size, record mtime_ns)``.

    The walk of :func:`_iter_local` (newest first, leaves by their link count,
    symlinks not followed, the same folders skipped), with each ``stat`` made
    relative to an open folder (``dir_fd``): the kernel then looks up one or two
    names instead of every folder of a long path, which makes the walk of
    100,000 trials about 2.5 times faster on ext4.
    """
    stack = [root]
    while stack:
        below: list[str] = []
        yield from _stamp_folder(stack.pop(), name, on_skip, below)
        below.reverse()  # pushed oldest first: the newest is popped next
        stack.extend(below)


def _stamp_folder(
    folder: str, name: str, on_skip: OnSkip, below: list[str]
) -> Iterator[tuple[str, tuple[int, int, int]]]:
    """The trials of one folder (itself, and its subfolders that are leaves), newest
    first; its other subfolders are added to ``below``, newest first."""
    try:
        fd = os.open(folder, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return  # gone since its parent was listed
    except OSError as exc:
        on_skip(folder, _unlistable(exc), "")
        return
    try:
        try:
            with os.scandir(fd) as entries:
                names = sorted(e.name for e in entries)
        except OSError as exc:
            on_skip(folder, _unlistable(exc), "")
            return
        prefix = folder if folder.endswith(os.sep) else folder + os.sep
        if name in names:
            record = _record_stat(name, on_skip, fd, prefix)
            if record is not None:
                yield folder, (os.fstat(fd).st_mtime_ns, record.st_size, record.st_mtime_ns)
        for entry in reversed(names):
            if entry[0] == "." or entry in _SKIP_DIRS or entry == name:
                continue
            try:
                st = os.stat(entry, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            except OSError as exc:
                on_skip(prefix + entry, _unlistable(exc), "")
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            if st.st_nlink != 2:
                below.append(prefix + entry)
                continue
            record = _record_stat(f"{entry}{os.sep}{name}", on_skip, fd, prefix)
            if record is not None:
                yield prefix + entry, (st.st_mtime_ns, record.st_size, record.st_mtime_ns)
    finally:
        os.close(fd)


_SHARED_WALK = 8
"""Folders of one level from which a walk is shared with a forked helper process."""


def stamp_local_shared(
    root: str, name: str, on_skip: OnSkip
) -> list[tuple[str, tuple[int, int, int]]]:
    """:func:`_stamp_local`, half of it in a forked helper process where that is safe.

    Two ``stat`` calls per trial are most of a warm report of a big root, and most
    of their time is the kernel's: the levels above the trials are listed here
    until one has a few folders, then every other folder of it is walked by the
    helper. Its skips are told here, after it. Order: not newest first.
    """
    from ._fork import ForkedCall, can_fork

    if not can_fork():
        return list(_stamp_local(root, name, on_skip))
    found: list[tuple[str, tuple[int, int, int]]] = []
    level = [root]
    while level and len(level) < _SHARED_WALK:
        deeper: list[str] = []
        for folder in level:
            found.extend(_stamp_folder(folder, name, on_skip, deeper))
        level = deeper
    if not level:
        return found
    child = ForkedCall(_stamp_quietly, level[1::2], name)
    for folder in level[0::2]:
        found.extend(_stamp_local(folder, name, on_skip))
    theirs, skipped = child.result()
    for path, reason, lead in skipped:
        on_skip(path, reason, lead)
    found.extend(theirs)
    return found


def _stamp_quietly(
    folders: list[str], name: str
) -> tuple[list[tuple[str, tuple[int, int, int]]], list[tuple[str, str, str]]]:
    """The stamped walk of ``folders``, its skips kept to be told by the caller."""
    skipped: list[tuple[str, str, str]] = []

    def skip(path: str, reason: str, lead: str) -> None:
        skipped.append((path, reason, lead))

    found = [item for folder in folders for item in _stamp_local(folder, name, skip)]
    return found, skipped


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _record_stat(
    path: str, on_skip: OnSkip, dir_fd: int | None = None, prefix: str = ""
) -> os.stat_result | None:
    """The ``stat`` of a regular record; ``None`` (and ``on_skip`` told) for anything else.

    ``path`` is relative to ``dir_fd`` when given; ``prefix + path`` names it in messages.
    """
    try:
        st = os.stat(path, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.lexists(prefix + path):  # a dangling link, as _regular says
            on_skip(prefix + path, "it is not a regular file", "skipped trial: ")
        return None  # a leaf folder without a record: not a trial
    except OSError as exc:
        on_skip(prefix + path, f"it cannot be opened ({exc.strerror or exc})", "skipped trial: ")
        return None
    if stat.S_ISREG(st.st_mode):
        return st
    on_skip(prefix + path, "it is not a regular file", "skipped trial: ")
    return None


def _entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _is_leaf(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.stat(follow_symlinks=False).st_nlink == 2
    except OSError:
        return False  # listing it will tell what is wrong


def _list_local(folder: str, record: str, on_skip: OnSkip) -> tuple[bool, list[os.DirEntry[str]]]:
    """Whether ``folder`` holds a regular ``record``, and the subfolders to walk."""
    found = False
    folders: list[os.DirEntry[str]] = []
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return False, folders
    except OSError as exc:
        on_skip(folder, _unlistable(exc), "")
        return False, folders
    try:
        with entries:
            for entry in entries:
                name = entry.name
                if name == record:
                    found = _regular(entry.path, entry.is_file, on_skip)
                elif name[0] != "." and name not in _SKIP_DIRS:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry)
                    except OSError as exc:
                        on_skip(entry.path, _unlistable(exc), "")
    except OSError as exc:  # the listing broke off half-way (EIO, ESTALE): keep what came
        on_skip(folder, _unlistable(exc), "")
    return found, folders


def _unlistable(exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"cannot list this folder ({reason}); trials below it skipped"


def _is_file(path: str) -> bool:
    """Like ``DirEntry.is_file``: False for a missing file, an OSError for other trouble."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False


def _regular(path: str, is_file: Callable[[], bool], on_skip: OnSkip) -> bool:
    """Whether a record is a file; a FIFO or device would block or never end."""
    try:
        if is_file():
            return True
        if not os.path.lexists(path):
            return False  # a leaf folder without a record: not a trial
        reason = "it is not a regular file"
    except OSError as exc:
        reason = f"it cannot be opened ({exc.strerror or exc})"
    on_skip(path, reason, "skipped trial: ")
    return False


async def _walk_async(fs: Any, root: str, name: str, on_skip: OnSkip) -> list[str]:
    """Breadth-first listing with every folder of a level listed at once (``ssh://``)."""
    import asyncio

    async def listing(folder: str) -> list[dict[str, Any]] | Exception:
        try:
            return list(await fs._ls(folder, detail=True))
        except FileNotFoundError:
            return []
        except Exception as exc:  # passed to on_skip by _sort_entries, naming the folder
            return exc

    found: list[str] = []
    level = [root]
    while level:
        nxt: list[str] = []
        results = await asyncio.gather(*(listing(folder) for folder in level))
        for folder, entries in zip(level, results):
            _sort_entries(folder, entries, name, found, nxt, on_skip)
        level = nxt
    return found


def _sort_entries(
    folder: str,
    entries: list[dict[str, Any]] | Exception,
    record: str,
    found: list[str],
    nxt: list[str],
    on_skip: OnSkip,
) -> None:
    """Note ``folder`` as a trial if it holds a record; queue its subfolders."""
    if isinstance(entries, Exception):
        on_skip(folder, _unlistable(entries), "")
        return
    for entry in entries:
        name = posixpath.basename(entry["name"].rstrip("/"))
        if entry.get("type") == "directory":
            if name[:1] != "." and name not in _SKIP_DIRS:
                nxt.append(entry["name"].rstrip("/"))
        elif name == record:
            found.append(folder)


def _pool_map(
    fs: Any, fn: Callable[[Callable[[], Any], str], Any], items: Iterable[str]
) -> list[Any]:
    """``fn(connect, item)`` for each item, over a few threads with a connection each.

    ``fn`` calls ``connect()`` inside its own error handling: connecting is part of
    reading each item, so a server that dies or refuses logins fails only the
    items it was asked for (a later item tries to connect again).
    """
    items = list(items)
    if len(items) <= 1:
        return [fn(lambda: fs, item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    connections = _Connections(fs)
    try:
        with ThreadPoolExecutor(min(_REMOTE_THREADS, len(items))) as pool:
            return list(pool.map(lambda item: fn(connections.get, item), items))
    finally:
        connections.close()


def _walk_threaded(
    fs: Any, root: str, name: str = "votakvot.yaml", on_skip: OnSkip | None = None
) -> list[str]:
    """Breadth-first listing, one level at a time, folders of a level listed in parallel."""
    skip = on_skip or _warn_skip

    def listing(connect: Callable[[], Any], folder: str) -> list[dict[str, Any]] | Exception:
        try:
            return list(connect().ls(folder, detail=True))
        except FileNotFoundError:
            return []
        except Exception as exc:  # passed to on_skip by _sort_entries, naming the folder
            return exc

    found: list[str] = []
    level = [root]
    while level:
        nxt: list[str] = []
        for folder, entries in zip(level, _pool_map(fs, listing, level)):
            _sort_entries(folder, entries, name, found, nxt, skip)
        level = nxt
    return found


def _warn_skip(path: str, reason: str, lead: str) -> None:
    import warnings

    from .exceptions import SkippedTrialWarning

    warnings.warn(redact(f"{lead}{path}: {reason}"), SkippedTrialWarning, stacklevel=4)


def list_folder(storage: Storage, folder: str) -> list[str]:
    """Names in a trial folder (files and folders); empty if it does not exist yet."""
    try:
        return [name for name, _ in storage.listdir(folder)]
    except FileNotFoundError:
        return []


def read_side_file(
    folder: str,
    name: str,
    limit: int | None = SIDE_FILE_LIMIT,
    storage_options: Mapping[str, Any] | None = None,
) -> bytes | None:
    """The bytes of ``folder/name`` (a heartbeat, output, log, metrics or ab file).

    The one reader of single files of a trial folder: it opens regular files only
    (never blocks on a FIFO, never reads ``/dev/zero`` to the end) and refuses
    more than ``limit`` bytes (``None``: no cap, for snapshots whose size is the
    user's state).

    Returns:
        The content, or ``None`` if the file is not there.

    Raises:
        TrialLoadError: the file is there but is no regular file, is too big, or
            cannot be read; the message names the file (without a URL's password).
    """
    storage = open_storage(folder, storage_options)
    return storage.read(storage.join(storage.root, *name.split("/")), limit)
