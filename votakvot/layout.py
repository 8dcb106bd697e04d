"""What a trial folder looks like: the names of votakvot's own files and the folder scheme.

A trial folder sits at ``<root>/<tid>``, where the trial id is
``<module>/<function>/<yy-mm-dd>/<HH:MM:SS>/<uuid>`` unless the caller chose one
(``votakvot.run(tid="sweep/n=10")``). Its record is :data:`YAML_NAME`; the other
files are listed below. Readers of trial folders (the dashboard, scripts) use these
names instead of spelling them out, so a rename happens in one place.
"""

from __future__ import annotations

import itertools
import os
import posixpath
import time

__all__ = [
    "ANNOTATIONS_NAME",
    "HEARTBEAT_NAME",
    "LOG_NAME",
    "MAX_RECORD",
    "METRICS_PREFIX",
    "METRICS_SUFFIX",
    "OUTPUT_NAME",
    "OWN_FILES",
    "OWN_PREFIXES",
    "SIDE_FILE_LIMIT",
    "SNAPSHOT_NAME",
    "TRACEBACK_NAME",
    "YAML_NAME",
    "attach_name",
    "check_tid",
    "is_metrics_file",
    "is_own_file",
    "link_outside",
    "new_tid",
    "safe_relative",
    "tail_name",
]

YAML_NAME = "votakvot.yaml"
"""The trial's record, always replaced atomically."""
ANNOTATIONS_NAME = "votakvot.annotations.yaml"
"""Tags and a note added after the fact (``votakvot.annotate``); the record is never
rewritten for them. Replaced atomically; absent until a trial is first annotated."""
TRACEBACK_NAME = "traceback.txt"
"""The traceback of a failed trial, also in the YAML."""
HEARTBEAT_NAME = "votakvot.heartbeat"
"""``"<unix time> <interval seconds>"``, refreshed while the trial runs."""
METRICS_PREFIX = "votakvot.metrics."
"""Metric files are ``votakvot.metrics.NNNNN.csv``: each has a header row and an ``at`` column."""
METRICS_SUFFIX = ".csv"
"""The ending of every metric file."""
OUTPUT_NAME = "output.log"
"""What a trial printed (stdout and stderr), when output is captured."""
LOG_NAME = "log.jsonl"
"""The logging records a trial emitted, one JSON object a line."""
SNAPSHOT_NAME = "votakvot.snapshot.pkl"
"""The pickled state of a resumable task."""
MAX_RECORD = 32 * 1024 * 1024
"""Bytes of a ``votakvot.yaml`` beyond which readers refuse it (and writers keep below)."""
SIDE_FILE_LIMIT = 512 * 1024 * 1024
"""Bytes of another file of a trial folder (output, logs, metrics) read at most:
long runs meter a lot, but a file past this would exhaust a reader's memory."""

OWN_FILES = frozenset({YAML_NAME, HEARTBEAT_NAME, TRACEBACK_NAME, OUTPUT_NAME, LOG_NAME})
"""Files votakvot writes itself (besides those starting with :data:`OWN_PREFIXES`)."""
OWN_PREFIXES = ("votakvot.",)
"""Names starting with these are votakvot's own: metrics, heartbeat, snapshot."""


def is_own_file(relpath: str) -> bool:
    """Whether a path inside a trial folder is votakvot's own rather than an attachment."""
    if "/" in relpath:
        return False
    return relpath in OWN_FILES or relpath.startswith(OWN_PREFIXES) or relpath.endswith(".tmp")


def is_metrics_file(name: str) -> bool:
    """Whether a file name (no folder) is one of a trial's metric files."""
    return name.startswith(METRICS_PREFIX) and name.endswith(METRICS_SUFFIX)


def tail_name(name: str) -> str:
    """Where the kept end of a captured file ``name`` waits while its trial runs past the cap."""
    return f"votakvot.{name}.tail"


class _Ids:
    """Fresh trial uuids and the date/time part of tids, made cheaply.

    A uuid4 per trial costs a ``getrandom`` call and a ``UUID`` object; instead each
    process draws 122 random bits once (again after a fork) and counts up in the last
    48 of them: still a valid version-4 uuid, unique in the process, and as unlikely
    as a uuid4 to meet one of another process. The ``yy-mm-dd/HH:MM:SS`` text is made
    once a second.
    """

    def __init__(self) -> None:
        self._reseed()
        self._second = -1
        self._second_text = ""
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        random = int.from_bytes(os.urandom(16), "big")
        # The top 80 bits, with uuid4's version (bits 76-79 = 4) and variant (62-63 = 10).
        head = (random >> 48) & ~(0xF << 28) & ~(0x3 << 14) | (0x4 << 28) | (0x2 << 14)
        text = f"{head:020x}"
        self._prefix = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-"
        self._counter = itertools.count(random & 0xFFFFFFFFFFFF)

    def next_uuid(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFF:012x}"

    def folder_time(self) -> str:
        """``yy-mm-dd/HH:MM:SS`` of now, local time (the tid's folders)."""
        second = int(time.time())
        if second != self._second:
            self._second_text = time.strftime("%y-%m-%d/%H:%M:%S", time.localtime(second))
            self._second = second
        return self._second_text


_ids = _Ids()


def new_tid(prefix: str, trial_uuid: str | None = None) -> tuple[str, str]:
    """A fresh ``prefix/yy-mm-dd/HH:MM:SS/uuid`` and its uuid."""
    trial_uuid = trial_uuid or _ids.next_uuid()
    return f"{prefix}/{_ids.folder_time()}/{trial_uuid}", trial_uuid


def check_tid(tid: str) -> str:
    """A trial id given by the caller, normalized; a ValueError if it leaves the root."""
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


def attach_name(name: str) -> str:
    """A name ``votakvot.attach`` may write, normalized; a ValueError naming the name and
    the fix for one that leaves the trial folder or is one of votakvot's own files
    (writing ``votakvot.yaml`` would replace the trial's record)."""
    norm = safe_relative(name)
    if "/" not in norm and (
        norm.casefold() in {own.casefold() for own in OWN_FILES}
        or norm.casefold().startswith(OWN_PREFIXES)
    ):
        raise ValueError(
            f"attach({name!r}): {norm!r} is a name votakvot keeps for its own files "
            f"({YAML_NAME}, {OUTPUT_NAME}, {LOG_NAME}, {TRACEBACK_NAME} and names starting "
            f"with {OWN_PREFIXES[0]!r}); choose another name, e.g. {'my-' + norm!r}"
        )
    return norm


def link_outside(folder: str, name: str) -> str | None:
    """Where ``folder/name`` really is, when a symbolic link on its way leads out of the
    local trial folder ``folder``; ``None`` when it stays inside (or the folder is remote).

    Whoever can write into a shared results folder could link an "attachment" to any
    file of the person who reads it (``~/.ssh/id_rsa``): readers refuse such links.
    """
    if "://" in folder:
        protocol, _, rest = folder.partition("://")
        if protocol not in ("file", "local"):
            return None
        folder = rest
    base = os.path.realpath(folder)
    target = os.path.realpath(os.path.join(folder, *name.split("/")))
    if target == base or target.startswith(base.rstrip(os.sep) + os.sep):
        return None
    return target
