"""Names of the files votakvot itself keeps in a trial folder."""

from __future__ import annotations

__all__ = [
    "HEARTBEAT_NAME",
    "LOG_NAME",
    "METRICS_PREFIX",
    "OUTPUT_NAME",
    "OWN_FILES",
    "OWN_PREFIXES",
    "SNAPSHOT_NAME",
    "TRACEBACK_NAME",
    "YAML_NAME",
    "is_own_file",
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

OWN_FILES = frozenset(
    {"votakvot.yaml", "votakvot.heartbeat", "traceback.txt", "output.log", "log.jsonl"}
)
OWN_PREFIXES = ("votakvot.",)


def is_own_file(relpath: str) -> bool:
    """Whether a path inside a trial folder is votakvot's own rather than an attachment."""
    if "/" in relpath:
        return False
    return relpath in OWN_FILES or relpath.startswith(OWN_PREFIXES) or relpath.endswith(".tmp")
