"""The signed snapshot file of a resumable task.

Unpickling runs code, so nothing in a snapshot is unpickled before the whole file
is shown to come from its owner::

    votakvot-snapshot {"format": 3, "tid": ..., "key": ..., ...}\\n   <- JSON header
    hmac-sha256 <64 hex digits>\\n                                  <- over header + payload
    <pickle of the params><pickle of the task>                      <- payload

The header is plain JSON (read without running anything), and the HMAC-SHA256 made
with the user's key (:mod:`votakvot._userkey`) covers the header line and the payload;
it is checked with :func:`hmac.compare_digest` before the first byte is unpickled.
Snapshots of the older format (a pickled header) carry no signature: they are
only read when the caller trusts the file explicitly.
"""

from __future__ import annotations

import io
import json
import pickle
from typing import Any

from ._userkey import key_id

__all__ = ["FORMAT", "MAGIC", "OLD_MAGIC", "SnapshotRefused", "pack", "unpack"]

FORMAT = 3
"""Version of the snapshot layout; another version is not resumed."""
MAGIC = b"votakvot-snapshot "
"""First bytes of every snapshot: the JSON header follows on the same line."""
OLD_MAGIC = b"votakvot-snapshot\n"
"""First bytes of the unsigned snapshots of votakvot before format 3."""
_MAC = b"hmac-sha256 "
_MAX_HEADER = 64 * 1024
"""Bytes of the header line read at most: a longer one is not a snapshot votakvot wrote."""


class SnapshotRefused(ValueError):
    """A snapshot is not resumed; the message says why (the caller adds the file's name).

    Args:
        reason: why, in words a user can act on.
        unsigned: the file is an old, unsigned snapshot (it may be trusted explicitly).
    """

    def __init__(self, reason: str, *, unsigned: bool = False) -> None:
        super().__init__(reason)
        self.unsigned = unsigned


def pack(header: dict[str, Any], payload: bytes, key: bytes) -> bytes:
    """The snapshot file: ``header`` (JSON-able) and ``payload``, signed with ``key``."""
    import hashlib
    import hmac  # here, not at the top: `import votakvot` stays light

    header = {**header, "format": FORMAT, "key": key_id(key)}
    line = MAGIC + json.dumps(header, sort_keys=True, ensure_ascii=True).encode("ascii") + b"\n"
    signer = hmac.new(key, line, hashlib.sha256)
    signer.update(payload)  # no copy of a state that may be large
    return b"".join((line, _MAC, signer.hexdigest().encode("ascii"), b"\n", payload))


def unpack(raw: bytes, key: bytes | None) -> tuple[dict[str, Any], io.BytesIO]:
    """The header of a snapshot (with its ``params``) and a stream at the pickled task.

    With a ``key``, the signature is checked before anything is unpickled; ``None``
    (the caller trusts the file explicitly) skips that check and also reads the
    unsigned snapshots of older votakvot versions.

    Raises:
        SnapshotRefused: the file is not a snapshot, or does not verify with ``key``.
    """
    if raw.startswith(OLD_MAGIC):
        if key is not None:
            raise SnapshotRefused(
                "is an unsigned snapshot of an older votakvot: where it came from cannot be "
                "checked",
                unsigned=True,
            )
        stream = io.BytesIO(raw)
        stream.seek(len(OLD_MAGIC))
        header = pickle.load(stream)
        if not isinstance(header, dict):
            raise SnapshotRefused("has a header that is not a mapping")
        return header, stream
    if not raw.startswith(MAGIC):
        raise SnapshotRefused("is not a snapshot written by votakvot (no votakvot header)")
    end = raw.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        raise SnapshotRefused("has no complete header line: not a snapshot written by votakvot")
    line = raw[: end + 1]
    try:
        header = json.loads(line[len(MAGIC) :])
    except (ValueError, RecursionError) as exc:
        raise SnapshotRefused(f"has a header that is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else "?"
        raise SnapshotRefused(
            f"is not a snapshot this votakvot can resume (format {got!r}, expected {FORMAT})"
        )
    mac_end = raw.find(b"\n", end + 1, end + 1 + len(_MAC) + 65)
    given = raw[end + 1 + len(_MAC) : mac_end] if mac_end > 0 else b""
    if not raw.startswith(_MAC, end + 1) or len(given) != 64:
        raise SnapshotRefused("has no signature line: not a snapshot written by votakvot")
    payload = memoryview(raw)[mac_end + 1 :]
    if key is not None:
        import hashlib
        import hmac

        expected = hmac.new(key, line, hashlib.sha256)
        expected.update(payload)
        if not hmac.compare_digest(expected.hexdigest().encode("ascii"), bytes(given)):
            mine = key_id(key)
            if header.get("key") != mine:
                raise SnapshotRefused(
                    f"was signed with another key (key id {header.get('key')!r}, yours is "
                    f"{mine!r}): it was written by another user, on a machine with another "
                    "key, or forged"
                )
            raise SnapshotRefused(
                "does not match its signature: it was changed after votakvot wrote it"
            )
    stream = io.BytesIO(payload)
    header["params"] = pickle.load(stream)  # signed by this user, or trusted explicitly
    return header, stream
