"""Names of the files votakvot itself keeps in a trial folder, and how trial folders are named."""

from __future__ import annotations

import datetime
import os
import posixpath
import uuid

__all__ = [
    "HEARTBEAT_NAME",
    "LOG_NAME",
    "MAX_RECORD",
    "METRICS_PREFIX",
    "OUTPUT_NAME",
    "OWN_FILES",
    "OWN_PREFIXES",
    "SNAPSHOT_NAME",
    "TRACEBACK_NAME",
    "YAML_NAME",
    "check_tid",
    "is_own_file",
    "new_tid",
    "safe_relative",
]

YAML_NAME = "votakvot.yaml"
"""The trial's record, always replaced atomically."""
TRACEBACK_NAME = "traceback.txt"
"""The traceback of a failed trial, also in the YAML."""
HEARTBEAT_NAME = "votakvot.heartbeat"
"""``"<unix time> <interval seconds>"``, refreshed while the trial runs."""
METRICS_PREFIX = "votakvot.metrics."
"""Metric files are ``votakvot.metrics.NNNNN.csv``: each has a header row and an ``at`` column."""
OUTPUT_NAME = "output.log"
"""What a trial printed (stdout and stderr), when output is captured."""
LOG_NAME = "log.jsonl"
"""The logging records a trial emitted, one JSON object a line."""
SNAPSHOT_NAME = "votakvot.snapshot.pkl"
"""The pickled state of a resumable task."""

MAX_RECORD = 32 * 1024 * 1024
"""Readers refuse a ``votakvot.yaml`` bigger than this (no record of ours comes near it:
the writer summarises values that would); the writer keeps every record below it."""

OWN_FILES = frozenset(
    {"votakvot.yaml", "votakvot.heartbeat", "traceback.txt", "output.log", "log.jsonl"}
)
OWN_PREFIXES = ("votakvot.",)


def is_own_file(relpath: str) -> bool:
    """Whether a path inside a trial folder is votakvot's own rather than an attachment."""
    if "/" in relpath:
        return False
    return relpath in OWN_FILES or relpath.startswith(OWN_PREFIXES) or relpath.endswith(".tmp")


def new_tid(prefix: str, trial_uuid: str | None = None) -> tuple[str, str]:
    """A fresh ``prefix/yy-mm-dd/HH:MM:SS/uuid`` and its uuid."""
    trial_uuid = trial_uuid or str(uuid.uuid4())
    now = datetime.datetime.now()
    return f"{prefix}/{now:%y-%m-%d}/{now:%H:%M:%S}/{trial_uuid}", trial_uuid


def check_tid(tid: str) -> str:
    """``tid`` as a normalized folder below the root, or a ValueError saying why it is not."""
    if not isinstance(tid, str) or not tid.strip("/"):
        raise ValueError(
            f"a trial id must be a non-empty relative path like 'sweep/n=10' (got {tid!r})"
        )
    norm = posixpath.normpath(tid.strip("/"))
    if norm.startswith("..") or "://" in tid:
        raise ValueError(f"trial id {tid!r} must stay below the root given to votakvot.init()")
    return norm


def safe_relative(name: str) -> str:
    """A file name inside the trial folder, or a ValueError saying why it is not."""
    if not name or name.startswith(("/", "\\")) or "://" in name or os.path.isabs(name):
        raise ValueError(
            f"attach({name!r}): the name must be relative to the trial folder, "
            "e.g. 'plots/loss.png'"
        )
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise ValueError(
            f"attach({name!r}) would write outside the trial folder; use a name below it"
        )
    return norm
