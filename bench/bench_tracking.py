"""Write side: the overhead of a tracked call, and the throughput of ``meter``.

Runs each workload in a fresh process, once with this votakvot and once with the
original ``votakvot==0.1rc1`` (installed into ``bench/.venv-orig`` on first use), and
prints both figures and their ratio::

    .venv/bin/python bench/bench_tracking.py [--calls 3000] [--points 100000]

``--git-files N`` runs the tracked calls with the cwd in a git repository of N tracked
files (the git state is then checked for every trial, see docs/provenance.md);
``--against DIR`` compares with the votakvot of another checkout (e.g. a ``git worktree``
of main) instead of 0.1rc1; ``--only-calls`` skips the ``meter`` workload.
"""

from __future__ import annotations

import argparse
import json
import os
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
        help="folder for the trials (default: the temp folder; try /dev/shm to "
        "see the cost without the disk's)",
    )
    parser.add_argument("--git-files", type=int, default=0, help="tracked calls in a git repo")
    parser.add_argument("--against", help="compare with the votakvot of this checkout")
    parser.add_argument("--only-calls", action="store_true", help="skip the meter workload")
    args = parser.parse_args()
    global TMP_DIR, GIT_FILES
    TMP_DIR, GIT_FILES = args.dir, args.git_files
    this_env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    peers: dict[str, tuple[str, dict[str, str] | None]] = {
        "votakvot (this)": (sys.executable, this_env)
    }
    if args.against:
        peers["votakvot (against)"] = (sys.executable, dict(os.environ, PYTHONPATH=args.against))
    else:
        peers["votakvot 0.1rc1"] = (orig_python(), None)
    ours_name, peer_name = list(peers)

    where = f", cwd in a git repo of {GIT_FILES} tracked files" if GIT_FILES else ""
    print(f"tracked call, 3 params + inform + float result, median of {args.calls} calls{where}")
    overhead = {}
    for name, (python, env) in peers.items():
        r = run(python, CALL_OVERHEAD, str(args.calls), env=env)
        overhead[name] = r["tracked_us"] - r["bare_us"]
        mean = r.get("tracked_mean_us", 0) - r["bare_us"]
        print(
            f"  {name:18} overhead {overhead[name]:8.1f} us/call (mean {mean:.1f});"
            f" git runs {r.get('git')}, work-tree scans {r.get('scans')}"
        )
    ours, orig = overhead[ours_name], overhead[peer_name]
    print(f"  ratio: {orig / ours:.2f}x less overhead (target: <= 300 us)")
    if args.only_calls:
        return

    print(f"meter of {args.points:,} points in one trial, flush included")
    rate = {}
    for name, (python, env) in peers.items():
        r = run(python, METER, str(args.points), env=env)
        rate[name] = args.points / r["seconds"]
        print(f"  {name:18} {rate[name]:12,.0f} points/s")
    print(f"  ratio: {rate[ours_name] / rate[peer_name]:.1f}x faster (target: >= 500,000 points/s)")


if __name__ == "__main__":
    main()
