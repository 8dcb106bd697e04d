"""Telling "the store cannot be reached" apart from a bug, for one readable line.

A report of ``s3://...`` on an endpoint that is down raises whatever the store's
client raises (``botocore``'s ``EndpointConnectionError``, ``aiohttp``'s connector
errors, ``paramiko``'s, an ``OSError``), wrapped a few times by fsspec. The command
line shows those as one line with exit 3 ("cannot read"); anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["store_error"]

_STORE_CLIENTS = (
    "botocore",
    "aiobotocore",
    "aiohttp",
    "s3fs",
    "gcsfs",
    "google",
    "adlfs",
    "azure",
    "paramiko",
    "fsspec",
    "requests",
    "urllib3",
)
"""Top-level packages whose exceptions mean the store said no, or could not be reached."""


def store_error(exc: BaseException) -> BaseException | None:
    """The exception in ``exc``'s chain that comes from reaching a store, or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):
            return current
        module = type(current).__module__.partition(".")[0]
        if module in _STORE_CLIENTS:
            return current
        current = current.__cause__ or current.__context__
    return None
