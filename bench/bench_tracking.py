"""Write side: the overhead of a tracked call, and the throughput of ``meter``.

Runs each workload in a fresh process, once with this votakvot and once with the
original ``votakvot==0.1rc1`` (installed into ``bench/.venv-orig`` on first use), and
prints both figures and their ratio::

    .venv/bin/python bench/bench_tracking.py [--calls 3000] [--points 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._orig import orig_python

CALL_OVERHEAD = textwrap.dedent(
    """
    import json, statistics, sys, time
    import votakvot

    votakvot.init(path=sys.argv[1])
    calls = int(sys.argv[2])
    print("votakvot", votakvot.__file__, file=sys.stderr)

    def bare(one, two, three):
        return float(one + two + three)

    @votakvot.track()
    def tracked(one, two, three):
        votakvot.inform(note="x")
        return float(one + two + three)

    tracked(0, 0, 0)  # the first call computes the per-process metadata

    def median_us(fn):
        times = []
        for i in range(calls):
            t = time.perf_counter()
            fn(1, 2, i)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    bare_us = min(median_us(bare) for _ in range(3))
    tracked_us = min(median_us(tracked) for _ in range(3))
    print(json.dumps({"bare_us": bare_us, "tracked_us": tracked_us}))
    """
)

METER = textwrap.dedent(
    """
    import json, sys, time
    import votakvot

    votakvot.init(path=sys.argv[1])
    points = int(sys.argv[2])

    @votakvot.track()
    def train():
        meter = votakvot.meter
        for i in range(points):
            meter(step=i, loss=0.5, accuracy=0.25)

    t = time.perf_counter()
    train()  # the trial's end flushes every row to disk
    print(json.dumps({"seconds": time.perf_counter() - t}))
    """
)


TMP_DIR: str | None = None
"""Where the trials go (``--dir``): the default temp folder, or e.g. /dev/shm."""


def run(python: str, code: str, *args: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="votakvot-bench-", dir=TMP_DIR) as root:
        # cwd outside the repo: `python -c` puts the cwd first on sys.path, and the
        # peer must import its own votakvot, not this checkout.
        out = subprocess.run(
            [python, "-c", code, root, *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=root,
        )
    if out.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument(
        "--dir", help="folder for the trials (default: the temp folder; try /dev/shm to "
        "see the cost without the disk's)"
    )
    args = parser.parse_args()
    global TMP_DIR
    TMP_DIR = args.dir
    peers = {"votakvot (this)": sys.executable, "votakvot 0.1rc1": orig_python()}

    print(f"tracked call, 3 params + inform + float result, median of {args.calls} calls")
    overhead = {}
    for name, python in peers.items():
        r = run(python, CALL_OVERHEAD, str(args.calls))
        overhead[name] = r["tracked_us"] - r["bare_us"]
        print(f"  {name:18} overhead {overhead[name]:8.1f} us/call")
    ours, orig = overhead["votakvot (this)"], overhead["votakvot 0.1rc1"]
    print(f"  ratio: {orig / ours:.1f}x less overhead (target: <= 300 us)")

    print(f"meter of {args.points:,} points in one trial, flush included")
    rate = {}
    for name, python in peers.items():
        r = run(python, METER, str(args.points))
        rate[name] = args.points / r["seconds"]
        print(f"  {name:18} {rate[name]:12,.0f} points/s")
    print(
        f"  ratio: {rate['votakvot (this)'] / rate['votakvot 0.1rc1']:.1f}x faster "
        "(target: >= 500,000 points/s)"
    )


if __name__ == "__main__":
    main()
