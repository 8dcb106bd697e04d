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
import resource
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


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the pool's workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bare(n: int) -> tuple[float, float]:
    """Wall seconds of the timed map, and CPU seconds of the whole pool's life."""
    c0 = cpu_seconds()
    with concurrent.futures.ProcessPoolExecutor(WORKERS) as pool:
        list(pool.map(trivial, range(2)))  # start the workers outside the timing
        t0 = time.perf_counter()
        results = list(pool.map(trivial, range(n)))
        elapsed = time.perf_counter() - t0
    assert results[-1] == trivial(n - 1) if n else True
    return elapsed, cpu_seconds() - c0


def ours(n: int, root: str, capture: str) -> tuple[float, float]:
    """The same through ``votakvot.map`` on the process runner (one trial per call)."""
    from votakvot import runners

    c0 = cpu_seconds()
    votakvot.init(root, runner="process", workers=WORKERS, capture=capture)
    votakvot.map(trivial, [{"x": i} for i in range(2)])  # start the workers outside the timing
    t0 = time.perf_counter()
    results = votakvot.map(trivial, [{"x": i} for i in range(n)])
    elapsed = time.perf_counter() - t0
    runners.shutdown()
    cpu = cpu_seconds() - c0
    assert results[-1] == trivial(n - 1) if n else True
    found = sum(1 for _ in Path(root).rglob("votakvot.yaml"))
    assert found == n + 2, f"expected {n + 2} trials, found {found}"
    return elapsed, cpu


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
    parser.add_argument(
        "--capture", default="all", help="votakvot.init(capture=...): all (default) or none"
    )
    parser.add_argument("--no-orig", action="store_true", help="skip the original votakvot")
    args = parser.parse_args()
    n = args.n
    walls: dict[str, list[float]] = {"bare": [], "ours": [], "orig": []}
    cpus: dict[str, list[float]] = {"bare": [], "ours": []}
    for _ in range(args.rounds):
        # CPU per call: a run of n calls minus a run of none (pool start-up and warm-up).
        wall, cpu = bare(n)
        walls["bare"].append(wall)
        cpus["bare"].append(cpu - bare(0)[1])
        for count in (n, 0):
            root = tempfile.mkdtemp(prefix="votakvot-bench-runners-")
            try:
                wall, cpu = ours(count, root, args.capture)
            finally:
                shutil.rmtree(root, ignore_errors=True)
            if count:
                walls["ours"].append(wall)
                cpus["ours"].append(cpu)
            else:
                cpus["ours"][-1] -= cpu
        if not args.no_orig:
            root = tempfile.mkdtemp(prefix="votakvot-bench-orig-")
            try:
                t = original(n, root)
                if t is not None:
                    walls["orig"].append(t)
            finally:
                shutil.rmtree(root, ignore_errors=True)
    b, o = statistics.median(walls["bare"]), statistics.median(walls["ours"])
    cb, co = statistics.median(cpus["bare"]), statistics.median(cpus["ours"])
    print(
        f"{n} trivial calls on {WORKERS} worker processes ({os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.1f}), capture={args.capture!r}, median of {args.rounds} rounds"
    )
    print(f"  bare ProcessPoolExecutor.map : {b:7.3f} s  {n / b:9.0f} calls/s")
    print(f"  votakvot.map (process)       : {o:7.3f} s  {n / o:9.0f} trials/s")
    print(f"  overhead per trial, wall     : {(o - b) / n * 1e3:7.3f} ms  (target <= 1 ms)")
    print(f"  ratio votakvot/bare, wall    : {o / b:7.2f}x")
    print(
        f"  CPU per call (client+workers): bare {cb / n * 1e3:.3f} ms, votakvot "
        f"{co / n * 1e3:.3f} ms; overhead {(co - cb) / n * 1e3:.3f} ms CPU, i.e. "
        f"{(co - cb) / n / WORKERS * 1e3:.3f} ms wall on {WORKERS} idle cores"
    )
    if walls["orig"]:
        g = statistics.median(walls["orig"])
        print(
            f"  original 0.1rc1 runner=process (2 threads): {g:7.3f} s  {n / g:7.0f} trials/s"
            f"  ({g / o:.1f}x slower than ours)"
        )


if __name__ == "__main__":
    main()
