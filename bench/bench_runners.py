"""``votakvot.map`` on the process runner against a bare ``ProcessPoolExecutor.map``.

Both run the same trivial function N times (default 1,000) on 2 worker processes,
in the same run, alternating rounds; the difference per call is votakvot's overhead:
creating, recording and writing one trial folder per call. The original
votakvot==0.1rc1 is timed too, with its ``runner="process"`` (which runs
``votakvot.run`` calls one at a time, so it is called from 2 threads here).

    .venv/bin/python bench/bench_runners.py [-n 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import votakvot
from bench._orig import orig_python

WORKERS = 2


def trivial(x: int) -> int:
    """The cheapest call whose result can still be checked (workers import it from here)."""
    return x * 2


def bare(n: int) -> float:
    with concurrent.futures.ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(trivial, range(2)))  # start the workers outside the timing
        t0 = time.perf_counter()
        results = list(pool.map(trivial, range(n)))
        elapsed = time.perf_counter() - t0
    assert results[-1] == trivial(n - 1)
    return elapsed


def ours(n: int, root: str) -> float:
    votakvot.init(root, runner="process", workers=WORKERS, capture="none")
    from votakvot import runners

    votakvot.map(trivial, [{"x": i} for i in range(2)])  # start the workers outside the timing
    t0 = time.perf_counter()
    results = votakvot.map(trivial, [{"x": i} for i in range(n)])
    elapsed = time.perf_counter() - t0
    runners.shutdown()
    assert results[-1] == trivial(n - 1)
    found = sum(1 for _ in Path(root).rglob("votakvot.yaml"))
    assert found == n + 2, f"expected {n + 2} trials, found {found}"
    return elapsed


ORIG_SCRIPT = textwrap.dedent(
    """
    import concurrent.futures, json, sys, time
    import votakvot

    def trivial(x):
        return x * 2

    n, root = int(sys.argv[1]), sys.argv[2]
    votakvot.init(root, runner="process", processes=2)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda i: votakvot.run(f"t/{i}", trivial, x=i), range(-2, 0)))
        t0 = time.perf_counter()
        list(pool.map(lambda i: votakvot.run(f"t/{i}", trivial, x=i), range(n)))
        print(json.dumps(time.perf_counter() - t0))
    """
)


def original(n: int, root: str) -> float | None:
    try:
        python = orig_python()
    except Exception as exc:  # no network: the peer cannot be installed
        print(f"(original votakvot unavailable: {exc})", file=sys.stderr)
        return None
    script = Path(root) / "orig_runner.py"
    script.write_text(ORIG_SCRIPT)
    out = subprocess.run(
        [python, str(script), str(n), str(Path(root) / "trials")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    if out.returncode != 0:
        print(f"(original votakvot failed: {out.stderr[-2000:]})", file=sys.stderr)
        return None
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="trials per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-orig", action="store_true", help="skip the original votakvot")
    args = parser.parse_args()
    n = args.n
    bare_t: list[float] = []
    ours_t: list[float] = []
    orig_t: list[float] = []
    for _ in range(args.rounds):
        bare_t.append(bare(n))
        root = tempfile.mkdtemp(prefix="votakvot-bench-runners-")
        try:
            ours_t.append(ours(n, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        if not args.no_orig:
            root = tempfile.mkdtemp(prefix="votakvot-bench-orig-")
            try:
                t = original(n, root)
                if t is not None:
                    orig_t.append(t)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    b, o = statistics.median(bare_t), statistics.median(ours_t)
    print(
        f"{n} trivial calls on {WORKERS} worker processes ({os.cpu_count()} CPUs), "
        f"median of {args.rounds} rounds"
    )
    print(f"  bare ProcessPoolExecutor.map : {b:7.3f} s  {n / b:9.0f} calls/s")
    print(f"  votakvot.map (process)       : {o:7.3f} s  {n / o:9.0f} trials/s")
    print(f"  overhead per trial           : {(o - b) / n * 1e3:7.3f} ms  (target <= 1 ms)")
    print(f"  ratio votakvot/bare          : {o / b:7.2f}x")
    if orig_t:
        g = statistics.median(orig_t)
        print(
            f"  original 0.1rc1 runner=process (2 threads): {g:7.3f} s  {n / g:7.0f} trials/s"
            f"  ({g / o:.1f}x slower than ours)"
        )


if __name__ == "__main__":
    main()
