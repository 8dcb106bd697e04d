"""What the fault and load tests run: a tracked call whose params, info, metrics,
result and attachment all carry the same key, so any mix-up between trials shows,
and a resumable counter whose result proves no loop was lost or repeated.

Importable by worker processes (subprocesses and Dask workers get this folder on
``PYTHONPATH``).
"""

from __future__ import annotations

import os
import time
from typing import Any

import votakvot

WORK_NAME = "reliability/work"


def journal(path: str | None, line: str) -> None:
    """Append one line with a single ``write``: a SIGKILL leaves it whole or absent."""
    if not path:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def payload(key: str) -> str:
    """The attachment text of the trial with ``key``."""
    return f"{key}\n" * 200


@votakvot.track(WORK_NAME)
def work(worker: str, i: int, rows: int = 20, pause: float = 0.0, _journal: str = "") -> dict:
    """One trial: records its key everywhere a mix-up could put another trial's data."""
    key = f"{worker}:{i}"
    journal(_journal, f"started {votakvot.tid()} {key}")
    votakvot.inform(key=key, worker=worker, i=i)
    for step in range(rows):
        votakvot.meter(key=key, step=step, value=i * 100_000 + step)
        if pause:
            time.sleep(pause)
    with votakvot.attach("payload.txt") as f:
        f.write(payload(key))
    return {"key": key, "rows": rows}


def expected_total(n: int) -> int:
    return n * (n + 1) // 2


class Counter(votakvot.resumable_fn):
    """Sums 1..n one loop at a time, snapshotting after every loop."""

    snapshot_period = None
    snapshot_each = 1

    def init(self, n: int, pause: float = 0.002) -> None:
        self.n = n
        self.pause = pause
        self.i = 0
        self.total = 0

    def loop(self) -> Any:
        self.i += 1
        self.total += self.i
        votakvot.meter(i=self.i, total=self.total)
        time.sleep(self.pause)
        return self.total if self.i >= self.n else None
