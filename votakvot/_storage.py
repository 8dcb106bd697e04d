"""Where trial files go: a local folder (plain ``os`` calls, the fast path) or any
fsspec URL. Both expose the few operations the writer needs, and every whole-file
write is atomic (temp file + rename) so no reader ever sees half a file.
"""

from __future__ import annotations

import io
import itertools
import os
import posixpath
import re
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from .exceptions import MissingDependencyError

__all__ = [
    "FsspecStorage",
    "LocalStorage",
    "Storage",
    "list_folder",
    "open_storage",
    "redact",
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


def is_local(url: str) -> bool:
    protocol, _ = split_protocol(url)
    return protocol in (None, "file", "local")


def get_filesystem(url: str) -> tuple[Any, str]:
    """fsspec's ``url_to_fs`` with an error that names the package to install."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as exc:
        protocol = split_protocol(url)[0] or "file"
        package = _PROTOCOL_PACKAGES.get(protocol, f"the fsspec backend for {protocol!r}")
        raise MissingDependencyError(
            f"reading or writing {url!r} needs {package}: pip install {package} ({exc})"
        ) from exc
    except ValueError as exc:
        unknown = split_protocol(url)[0]
        raise MissingDependencyError(
            f"fsspec knows no protocol {unknown!r} in {url!r}: check the URL, or install "
            "the package that provides it"
        ) from exc


class Storage:
    """The operations the trial writer needs, on paths below one root."""

    url: str
    """The root as given, a path or a URL."""
    root: str
    """The root as this storage's own path (no protocol)."""

    def join(self, *parts: str) -> str:
        raise NotImplementedError

    def makedirs(self, path: str) -> None:
        raise NotImplementedError

    def write_atomic(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    def append(self, path: str, data: bytes) -> None:
        """Add to the end of a file; remote stores without append write a new file instead."""
        raise NotImplementedError

    def open(self, path: str, mode: str) -> IO[Any]:
        raise NotImplementedError

    @property
    def can_append(self) -> bool:
        return True


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_temp_counter = itertools.count()
_temp_token = ""


def temp_name(path: str) -> str:
    """A name next to ``path`` for an atomic write, unique across threads and processes.

    A random token per process (new after a fork) and a counter: cheaper than a
    uuid per write, and two writers of the same file never share a temp file.
    """
    global _temp_token
    pid = os.getpid()
    if not _temp_token.startswith(f"{pid}-"):
        _temp_token = f"{pid}-{os.urandom(3).hex()}"
    return f"{path}.{_temp_token}-{next(_temp_counter)}.tmp"


class LocalStorage(Storage):
    def __init__(self, url: str) -> None:
        _, path = split_protocol(url)
        self.root = os.path.abspath(os.path.expanduser(path))
        self.url = self.root

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

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


_T = TypeVar("_T")

# Blocking filesystems whose instances may be shared between threads; the others
# (FTP, paramiko's SFTP) talk over one connection that serves one request at a time.
_SHAREABLE = frozenset({"memory"})


class FsspecStorage(Storage):
    """Files on an fsspec store.

    The writer uses a storage from several threads at once: the trial's own, the
    background flusher and heartbeat, runner threads. A blocking filesystem such
    as FTP has one connection per instance, and two threads talking over it mix
    their replies up (``error_reply: 200 Type set to: Binary``) and lose writes,
    so each thread gets its own instance (its own connection) of such a store.
    Async filesystems (``ssh://``, ``s3://``) and ``memory://`` are shared.
    """

    def __init__(self, url: str) -> None:
        fs, self.root = get_filesystem(url)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.protocol = protocol
        self.url = url.rstrip("/")
        self._shared = fs
        self._per_thread = not getattr(fs, "async_impl", False) and protocol not in _SHAREABLE
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_local"]  # connections stay with the process that made them
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    @property
    def fs(self) -> Any:
        """The filesystem for the calling thread (its own one for blocking stores)."""
        if not self._per_thread:
            return self._shared
        fs = getattr(self._local, "fs", None)
        if fs is None:
            shared = self._shared
            options = dict(shared.storage_options, skip_instance_cache=True)
            # closed with its thread: fsspec's FTP closes its connection on __del__
            fs = type(shared)(*shared.storage_args, **options)
            self._local.fs = fs
        return fs

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
        self._local.fs = None
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
        if self.protocol in ("memory", "s3", "s3a", "gs", "gcs", "abfs", "az"):
            # Object stores publish an object only once it is fully uploaded.
            fs.pipe_file(path, data)
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

    def to_url(self, path: str) -> str:
        """A URL for ``path`` that keeps the root's host and credentials (ssh://user@host/...)."""
        rel = posixpath.relpath(path, self.root)
        if rel.startswith(".."):
            return str(self.fs.unstrip_protocol(path))
        return self.url if rel == "." else f"{self.url}/{rel}"


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


def open_storage(url: str) -> Storage:
    """A :class:`Storage` rooted at ``url`` (a local path or any fsspec URL)."""
    return LocalStorage(url) if is_local(url) else FsspecStorage(url)


def list_folder(storage: Any, folder: str) -> list[str]:
    """Names of the files in a trial folder; empty if it does not exist yet."""
    fs = getattr(storage, "fs", None)
    try:
        if fs is None:
            return os.listdir(folder)
        return [posixpath.basename(p.rstrip("/")) for p in fs.ls(folder, detail=False)]
    except FileNotFoundError:
        return []
