"""The per-user key that signs snapshots, kept outside every results root.

Snapshots are pickles, and unpickling runs code. Whoever can write into a shared
results folder (NFS, a bucket, a colleague's tarball) could otherwise plant one
that runs as the person who resumes. Each snapshot therefore carries an
HMAC-SHA256 made with a key only its owner has: a secret file in the user's config
folder (``$XDG_CONFIG_HOME/votakvot/snapshot.key``, else
``~/.config/votakvot/snapshot.key``), mode 0600, created on first use. On a cluster
whose machines do not share a home folder, :data:`KEY_ENV` holds the same key.
"""

from __future__ import annotations

import os
import stat

from .exceptions import ResumeError

__all__ = ["KEY_ENV", "key_id", "key_path", "snapshot_key"]

KEY_ENV = "VOTAKVOT_SNAPSHOT_KEY"
"""Environment variable holding the key (its text, as in the key file); set, it wins
over the file. For cluster workers, CI and containers without the user's home."""
KEY_FILE = "snapshot.key"
"""The key file's name inside the user's votakvot config folder."""
MIN_KEY_CHARS = 32
"""Characters a key must have at least: a short one could be guessed."""


def key_path() -> str:
    """Where the key file is (whether it exists or not)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "votakvot", KEY_FILE)


def snapshot_key() -> bytes:
    """The key that signs and checks snapshots: :data:`KEY_ENV`, else the key file
    (created with a new random key on first use).

    Raises:
        ResumeError: the key is too short, or the key file is readable or writable by
            others, or not the user's own (anyone who can read it can forge snapshots).
    """
    text = os.environ.get(KEY_ENV)
    if text is not None:
        return _checked(text.strip(), f"the environment variable {KEY_ENV}")
    path = key_path()
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    _create_key_file(path)
    return _read_key_file(path)


def _create_key_file(path: str) -> None:
    """Write a new random key to a private temp file, then link it into place: a
    process that reads the key never sees it half written, and when several
    processes start at once (a pool's workers) the first link wins and all use it."""
    import secrets

    temp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, path)  # never replaces: another process's key stays
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not os.path.exists(path):
                os.replace(temp, path)
                return
    finally:
        os.unlink(temp)


def key_id(key: bytes) -> str:
    """A short fingerprint of ``key`` to name it in messages (it reveals nothing of it)."""
    import hashlib

    return hashlib.sha256(b"votakvot snapshot key id\0" + key).hexdigest()[:12]


def _read_key_file(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if os.name == "posix":
            if not stat.S_ISREG(info.st_mode):
                raise ResumeError(f"the snapshot key {path} is not a regular file; remove it")
            if info.st_uid != os.getuid():
                raise ResumeError(
                    f"the snapshot key {path} belongs to user id {info.st_uid}, not you "
                    f"({os.getuid()}): anyone who can write it can forge snapshots. Remove it "
                    f"(a new key is made on first use) or set {KEY_ENV}"
                )
            if info.st_mode & 0o077:
                raise ResumeError(
                    f"the snapshot key {path} can be read by others (mode "
                    f"{stat.S_IMODE(info.st_mode):03o}): anyone who reads it can forge "
                    f"snapshots. Run chmod 600 {path} (and make a new key if others may have "
                    "read it: remove the file)"
                )
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    return _checked(raw.decode("utf-8", errors="replace").strip(), f"the snapshot key {path}")


def _checked(text: str, where: str) -> bytes:
    if len(text) < MIN_KEY_CHARS:
        raise ResumeError(
            f"{where} holds {len(text)} characters, fewer than {MIN_KEY_CHARS}: too short to "
            "sign snapshots. Use a long random text, e.g. python -c "
            "'import secrets; print(secrets.token_hex(32))'"
        )
    return text.encode("utf-8")
