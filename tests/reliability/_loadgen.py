"""One process of the concurrency test: THREADS threads each making CALLS tracked calls
onto the same root as every other process.

Usage: ``python _loadgen.py ROOT PROCESS THREADS CALLS``
"""

from __future__ import annotations

import sys
import threading

from _workload import work

import votakvot


def main() -> None:
    root, proc, threads, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    votakvot.init(path=root, flush_interval=0.05)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(thread: int) -> None:
        barrier.wait()  # all threads start writing at the same moment
        try:
            for i in range(calls):
                result = work(worker=f"p{proc}t{thread}", i=i, rows=5)
                assert result["key"] == f"p{proc}t{thread}:{i}", result
        except BaseException as exc:
            errors.append(exc)
            raise

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise SystemExit(f"{len(errors)} threads failed: {errors[0]!r}")


if __name__ == "__main__":
    main()
