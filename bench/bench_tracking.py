"""Write side: the overhead of a tracked call, and the throughput of ``meter``.

Runs each workload in a fresh process, with this votakvot, with the original
``votakvot==0.1rc1`` (a peer; installed into ``bench/.venv-orig`` on first use, or
``--orig PYTHON``) and, with ``--against DIR``, with the votakvot of another checkout
(e.g. a ``git worktree`` of main: the same-run "before"); ``--reps`` rounds, the
peers interleaved within each round; prints every figure, the medians, and the load
average before and after::

    .venv/bin/python bench/bench_tracking.py --dir /work/tmp --against /work/before [--reps 3]

``--dir`` is where trials go: a folder on the disk (not tmpfs) for the headline
figures. ``--git-files N`` runs the tracked calls with the cwd in a git repository of N
tracked files (the git state is then checked for every trial, see
docs/provenance.md); ``--only-calls`` skips the ``meter`` workloads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    if len(sys.argv) > 3:
        import os
        os.chdir(sys.argv[3])  # a git work tree: its state is recorded with every trial

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
    t = time.perf_counter()
    for i in range(calls):
        tracked(1, 2, i)
    mean_us = (time.perf_counter() - t) / calls * 1e6
    watch = getattr(getattr(votakvot, "meta", None), "_watch", None)
    print(json.dumps({
        "bare_us": bare_us, "tracked_us": tracked_us, "tracked_mean_us": mean_us,
        "git": getattr(watch, "refreshes", None), "scans": getattr(watch, "scans", None),
    }))
    """
)

FLOOR = textwrap.dedent(
    """
    import json, os, statistics, sys, time

    root = sys.argv[1]
    os.makedirs(root)
    calls = int(sys.argv[2])
    data = b"x" * 800  # about a short trial's record
    times = []
    for i in range(calls):
        t = time.perf_counter()
        folder = os.path.join(root, str(i))
        os.mkdir(folder)
        tmp = os.path.join(folder, "votakvot.yaml.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.write(fd, data)
        os.close(fd)
        os.replace(tmp, os.path.join(folder, "votakvot.yaml"))
        times.append(time.perf_counter() - t)
    print(json.dumps({"floor_us": statistics.median(times) * 1e6}))
    """
)
"""The file system's part of a short call: one mkdir and one atomic write of ~800 bytes."""

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

    t, cpu = time.perf_counter(), time.process_time()
    train()  # the trial's end flushes every row to disk
    print(json.dumps({"seconds": time.perf_counter() - t, "cpu": time.process_time() - cpu}))
    """
)

METER_PEERS = METER.replace(
    "meter(step=i, loss=0.5, accuracy=0.25)", "meter(loss=1.0 / (i + 1), step=i)"
)
"""The peer benchmark's W2 row (../shared/peers): full-precision floats, dearer to write."""


TMP_DIR: str | None = None
"""Where the trials go (``--dir``): the default temp folder, or e.g. /dev/shm."""

GIT_FILES = 0
"""``--git-files``: run the tracked calls in a git work tree of that many tracked files."""


def make_repo(folder: str, files: int) -> str:
    """A committed git repository of ``files`` small tracked files in 20 folders."""
    repo = os.path.join(folder, "repo")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b", "-C", repo]
    os.makedirs(repo)
    subprocess.run([*git, "init", "-q"], check=True)
    for i in range(files):
        sub = os.path.join(repo, f"pkg{i % 20}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"m{i}.py"), "w") as f:
            f.write(f"X = {i}\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "bench"], check=True)
    return repo


def run(python: str, code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    # The previous run's files (and their removal) are written back first: on a disk,
    # their write-back would otherwise stall the file system calls of this run.
    if hasattr(os, "sync"):
        os.sync()
    with tempfile.TemporaryDirectory(prefix="votakvot-bench-", dir=TMP_DIR) as root:
        trials = os.path.join(root, "trials")
        extra = [make_repo(root, GIT_FILES)] if GIT_FILES and code is CALL_OVERHEAD else []
        # cwd outside the repo: `python -c` puts the cwd first on sys.path, and the
        # peer must import its own votakvot, not this checkout.
        out = subprocess.run(
            [python, "-c", code, trials, *args, *extra],
            capture_output=True,
            text=True,
            check=False,
            cwd=root,
            env=env,
        )
    if out.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument(
        "--dir",
        help="folder for the trials (default: the temp folder); a folder on the disk "
        "for the headline figures, /dev/shm to see the cost without the disk's",
    )
    parser.add_argument("--git-files", type=int, default=0, help="tracked calls in a git repo")
    parser.add_argument("--against", help="also run the votakvot of this checkout (before)")
    parser.add_argument("--orig", help="a Python that imports votakvot 0.1rc1")
    parser.add_argument("--reps", type=int, default=3, help="rounds of every workload")
    parser.add_argument("--only-calls", action="store_true", help="skip the meter workloads")
    parser.add_argument("--only-meter", action="store_true", help="skip the tracked calls")
    args = parser.parse_args()
    global TMP_DIR, GIT_FILES
    TMP_DIR, GIT_FILES = args.dir, args.git_files
    this_env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    peers: dict[str, tuple[str, dict[str, str] | None]] = {
        "votakvot (this)": (sys.executable, this_env)
    }
    if args.against:
        peers["votakvot (before)"] = (sys.executable, dict(os.environ, PYTHONPATH=args.against))
    peers["votakvot 0.1rc1"] = (args.orig or orig_python(), None)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"trials in {args.dir or tempfile.gettempdir()}")

    if not args.only_meter:
        tracked_calls(args, peers)
    if args.only_calls:
        _load_after()
        return

    for title, code in (
        ("meter(step=i, loss=0.5, accuracy=0.25)", METER),
        ("meter(loss=1.0 / (i + 1), step=i) (the peers' W2)", METER_PEERS),
    ):
        print(f"{title}, {args.points:,} points in one trial, flush included")
        rate: dict[str, list[float]] = {name: [] for name in peers}
        cpu_rate: dict[str, list[float]] = {name: [] for name in peers}
        for _ in range(args.reps):
            for name, (python, env) in peers.items():
                r = run(python, code, str(args.points), env=env)
                rate[name].append(args.points / r["seconds"])
                cpu_rate[name].append(args.points / r["cpu"])
        for name, values in rate.items():
            print(f"  {name:18} {_figures(values, '{:,.0f}')} points/s")
            # CPU time of the process (all threads): what the load of others does not inflate
            print(f"  {'':18} {_figures(cpu_rate[name], '{:,.0f}')} points per CPU second")
        print("  target: >= 1,000,000 points/s")
    _load_after()


Peers = dict[str, tuple[str, dict[str, str] | None]]
"""Name -> (python, environment) of each votakvot measured in the run."""


def tracked_calls(args: argparse.Namespace, peers: Peers) -> None:
    where = f", cwd in a git repo of {GIT_FILES} tracked files" if GIT_FILES else ""
    print(f"tracked call, 3 params + inform + float result, median of {args.calls} calls{where}")
    overhead: dict[str, list[float]] = {name: [] for name in peers}
    floor: list[float] = []
    for _ in range(args.reps):
        for name, (python, env) in peers.items():
            r = run(python, CALL_OVERHEAD, str(args.calls), env=env)
            overhead[name].append(r["tracked_us"] - r["bare_us"])
        floor.append(run(sys.executable, FLOOR, str(args.calls))["floor_us"])
    for name, values in overhead.items():
        print(f"  {name:18} overhead {_figures(values, '{:.1f}')} us/call")
    print(f"  the disk's floor: mkdir + one atomic write, {_figures(floor, '{:.1f}')} us")
    print("  target: <= 100 us")


def _figures(values: list[float], fmt: str) -> str:
    """``median (each run)``."""
    each = " / ".join(fmt.format(v) for v in values)
    return f"{fmt.format(statistics.median(values))} (runs: {each})"


def _load_after() -> None:
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
