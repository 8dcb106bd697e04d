"""A process that the kill test SIGKILLs at random moments.

``track`` mode runs tracked calls in a loop until killed, flushing metrics and
heartbeats far more often than by default, so kills land in the middle of writes.
``resume`` mode runs one resumable trial to its end (or until killed).

Usage: ``python _killee.py ROOT WORKER JOURNAL track|resume [N]``
"""

from __future__ import annotations

import sys

from _workload import Counter, journal, work

import votakvot


def main() -> None:
    root, worker, journal_path, mode = sys.argv[1:5]
    votakvot.init(path=root, flush_interval=0.01, heartbeat_interval=0.1)
    if mode == "track":
        i = 0
        while True:
            i += 1
            result = work(worker=worker, i=i, rows=40, pause=0.0005, _journal=journal_path)
            journal(journal_path, f"done {result['key']}")
    else:
        n = int(sys.argv[5])
        trial = votakvot.run(f"resume/{worker}", Counter, n=n, pause=0.002)
        journal(journal_path, f"finished {trial.tid} {trial.result}")


if __name__ == "__main__":
    main()
