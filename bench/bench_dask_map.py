"""``votakvot.map`` on the Dask runner against a bare ``client.map`` on the same cluster.

Both run the same trivial function N times (default 1,000) on one local Dask cluster
of 2 worker processes (1 thread each), in the same run, alternating rounds. The bare
map is one Dask task per call and records nothing; votakvot's writes one trial folder
per call and sends short calls in batches (one task per ~50 ms of calls), which is
what keeps it near the bare map. Target: within 1.5x of the bare map.

    .venv/bin/python bench/bench_dask_map.py [-n 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import votakvot

WORKERS = 2


def trivial(x: int) -> int:
    """The cheapest call whose result can still be checked."""
    return x * 2


def bare(client, n: int) -> float:
    t0 = time.perf_counter()
    results = client.gather(client.map(trivial, range(n), pure=False))
    elapsed = time.perf_counter() - t0
    assert results == [trivial(i) for i in range(n)]
    return elapsed


def ours(client, n: int, root: str, capture: str) -> float:
    from votakvot import runners

    votakvot.init(root, runner="dask", client=client, capture=capture)
    votakvot.map(trivial, [{"x": i} for i in range(2)])  # the probe and first use, untimed
    t0 = time.perf_counter()
    results = votakvot.map(trivial, [{"x": i} for i in range(n)])
    elapsed = time.perf_counter() - t0
    runners.shutdown()
    assert results == [trivial(i) for i in range(n)]
    found = sum(1 for _ in Path(root).rglob("votakvot.yaml"))
    assert found == n + 2, f"expected {n + 2} trials, found {found}"
    return elapsed


def one_task_each(client, n: int, root: str, capture: str) -> float:
    """``submit`` per call: one Dask task per trial, as ``map`` did before it batched."""
    from votakvot import runners

    votakvot.init(root, runner="dask", client=client, capture=capture)
    votakvot.submit(trivial, x=0).result()
    t0 = time.perf_counter()
    results = [f.result() for f in [votakvot.submit(trivial, x=i) for i in range(n)]]
    elapsed = time.perf_counter() - t0
    runners.shutdown()
    assert results == [trivial(i) for i in range(n)]
    return elapsed


def main() -> None:
    import distributed

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--capture", default="all", help="votakvot.init(capture=...)")
    args = parser.parse_args()
    n = args.n
    load0 = os.getloadavg()[0]
    with (
        distributed.LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        bare(client, 10)  # warm up: workers import the function
        walls: dict[str, list[float]] = {"bare": [], "ours": [], "single": []}
        for _ in range(args.rounds):
            walls["bare"].append(bare(client, n))
            for key, run in (("ours", ours), ("single", one_task_each)):
                root = tempfile.mkdtemp(prefix="votakvot-bench-dask-")
                try:
                    walls[key].append(run(client, n, root, args.capture))
                finally:
                    shutil.rmtree(root, ignore_errors=True)
    b, o = statistics.median(walls["bare"]), statistics.median(walls["ours"])
    one = statistics.median(walls["single"])
    rounds = {k: [round(v, 3) for v in vs] for k, vs in walls.items()}
    print(
        f"{n} trivial calls on a local Dask cluster of {WORKERS} worker processes "
        f"({os.cpu_count()} CPUs, load {load0:.1f} before, {os.getloadavg()[0]:.1f} after), "
        f"capture={args.capture!r}, median of {args.rounds} rounds"
    )
    print(f"  bare client.map          : {b:7.3f} s  {n / b:6.0f} calls/s   {rounds['bare']}")
    print(f"  votakvot.map (batched)   : {o:7.3f} s  {n / o:6.0f} trials/s  {rounds['ours']}")
    print(f"  votakvot.submit per call : {one:7.3f} s  {n / one:6.0f} trials/s  {rounds['single']}")
    print(f"  ratio map/bare           : {o / b:7.2f}x  (target <= 1.5x)")
    print(f"  ratio one task each/bare : {one / b:7.2f}x")


if __name__ == "__main__":
    main()
