"""Reading the start (or end) of one file in a trial folder, safely.

A results folder may hold anything under a file's name: a FIFO (reading blocks
forever), ``/dev/zero`` behind a symlink (never ends), a folder, a symlink loop,
a file without read permission or one of 100 MB. The dashboard opens only
regular files, reads at most a few MB of them and turns every ``OSError`` into a
reason it shows in place of the text, so a bad file never hangs or kills a screen.
"""

from __future__ import annotations

import os
import posixpath
import stat
from dataclasses import dataclass
from typing import Any

from votakvot.storage import file_kind, get_filesystem, is_local, split_protocol

__all__ = ["LIMIT", "FileStart", "read_start", "tail_start"]

LIMIT = 2 * 1024 * 1024
"""Bytes read of a file at most; a bigger file shows its start (or end) and says so."""

_BLOCK = 1 << 20


@dataclass
class FileStart:
    """What was read of one file."""

    name: str
    """The file's name inside the trial folder."""
    data: bytes = b""
    """At most the limit's bytes: the start of the file, or its end when asked for."""
    size: int | None = None
    """The whole file's size in bytes, when known."""
    error: str = ""
    """Why the file was not read (names the file), or ""."""
    missing: bool = False
    """The file is not there."""
    cut: bool = False
    """Only part of the file is in ``data``."""

    def text(self, *, tail: bool = False) -> str:
        """The bytes as text (undecodable bytes replaced), with a line saying it was cut."""
        if not self.cut:
            return self.data.decode("utf-8", errors="replace")
        text = (tail_start(self.data) if tail else self.data).decode("utf-8", errors="replace")
        size = f"{self.size:,}" if self.size is not None else "more"
        if tail:
            return f"… (only the last {len(self.data):,} of {size} bytes are shown)\n" + text
        return text + f"\n… (cut: only the first {len(self.data):,} of {size} bytes are shown)"

    @property
    def binary(self) -> bool:
        """A NUL byte near the start: not text."""
        return b"\x00" in self.data[:8192]


def tail_start(data: bytes, line: int = 4096) -> bytes:
    """The end of a file read from its middle, from a whole character on (from the next
    line when one starts within ``line`` bytes): never half a character or a line."""
    newline = data.find(b"\n", 0, line)
    if newline >= 0:
        return data[newline + 1 :]
    start = 0
    while start < min(len(data), 4) and (data[start] & 0xC0) == 0x80:
        start += 1  # UTF-8 continuation bytes of a character that began before
    return data[start:]


def read_start(folder: str, name: str, limit: int = LIMIT, *, tail: bool = False) -> FileStart:
    """Up to ``limit`` bytes of ``folder/name`` (the last ones with ``tail``).

    Never raises for trouble with the file itself: a missing file sets ``missing``,
    anything else (not a regular file, no permission, a symlink loop, a remote
    store failing) sets ``error``.
    """
    if is_local(folder):
        file = os.path.join(split_protocol(folder)[1], *name.split("/"))
        return _read_local(file, FileStart(name), limit, tail)
    try:
        fs, root = get_filesystem(folder)
    except Exception as exc:  # shown in place of the text, never dropped
        return FileStart(name, error=f"{name} cannot be read: {type(exc).__name__}: {exc}")
    return _read_remote(fs, posixpath.join(root, name), FileStart(name), limit, tail)


def _read_local(file: str, out: FileStart, limit: int, tail: bool) -> FileStart:
    # O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a
    # writer; the fstat below then refuses it. Regular files ignore the flag.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file, flags)
    except (FileNotFoundError, NotADirectoryError):
        out.missing = True
        return out
    except OSError as exc:
        out.error = f"{out.name} cannot be read: {exc.strerror or exc}"
        return out
    try:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            out.error = f"{out.name} is {file_kind(mode.st_mode)}, not a file: not read"
            return out
        out.size = mode.st_size
        if tail and mode.st_size > limit:
            os.lseek(fd, mode.st_size - limit, os.SEEK_SET)
        parts, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(_BLOCK, limit + 1 - got))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        _keep(out, b"".join(parts), limit, tail)
    except OSError as exc:
        out.error = f"{out.name} cannot be read: {exc.strerror or exc}"
    finally:
        os.close(fd)
    return out


def _read_remote(fs: Any, path: str, out: FileStart, limit: int, tail: bool) -> FileStart:
    try:
        info = fs.info(path)
        if info.get("type") != "file":
            out.error = f"{out.name} is {info.get('type') or 'not a file'}, not a file: not read"
            return out
        size = info.get("size")
        out.size = size if isinstance(size, int) else None
        with fs.open(path, "rb") as f:
            if tail and out.size is not None and out.size > limit:
                f.seek(out.size - limit)
            raw = f.read(limit + 1)
    except FileNotFoundError:
        out.missing = True
        return out
    except Exception as exc:  # remote stores raise all sorts; shown in place of the text
        out.error = f"{out.name} cannot be read: {type(exc).__name__}: {exc}"
        return out
    _keep(out, bytes(raw), limit, tail)
    return out


def _keep(out: FileStart, raw: bytes, limit: int, tail: bool) -> None:
    out.data = raw[-limit:] if tail else raw[:limit]
    out.cut = len(raw) > limit or (tail and out.size is not None and out.size > limit)
