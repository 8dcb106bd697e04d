"""Resumable tasks: what one snapshot of a 10 MB state costs, and how long a resume takes.

Snapshot cost: a task snapshots after every loop (``snapshot_each = 1``) for K loops;
the same task with snapshots off is subtracted, leaving the cost per snapshot. The
floor is ``pickle.dumps`` + write + rename of the same state by hand. Resume time:
from ``votakvot.run`` on a trial that failed after a snapshot to its result, when
the first resumed loop finishes at once (reading and unpickling the 10 MB state,
checking params, restarting the trial record). The original votakvot==0.1rc1 does
the same in its own venv, in the same run.

    .venv/bin/python bench/bench_resumable.py [--mb 10] [--loops 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
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


class Crash(Exception):
    """Raised on purpose to leave a trial with a snapshot to resume."""


def make_state(mb: int) -> dict:
    """Half raw bytes, half a list of floats: the two shapes long tasks usually keep."""
    half = mb * 1024 * 1024 // 2
    return {"blob": os.urandom(half), "floats": [i * 0.5 for i in range(half // 9)]}


class heavy(votakvot.resumable_fn):
    """Carries a big state; loops ``loops`` times; may crash at a given loop."""

    snapshot_each: int | None = 1
    snapshot_period = None
    crash_at: int | None = None

    def init(self, mb: int, loops: int) -> None:
        self.state = make_state(mb)
        self.loops = loops
        self.i = 0

    def loop(self):
        self.i += 1
        if self.i == heavy.crash_at:
            raise Crash
        return self.i if self.i >= self.loops else None


class heavy_unsnapshotted(heavy):
    snapshot_each = None


def ours(mb: int, loops: int, root: str) -> tuple[float, float]:
    """Seconds per snapshot, and seconds to resume, on this votakvot."""
    votakvot.init(root, capture="none")
    heavy.crash_at = None
    t0 = time.perf_counter()
    votakvot.run("with", heavy, mb=mb, loops=loops)
    with_snapshots = time.perf_counter() - t0
    t0 = time.perf_counter()
    votakvot.run("without", heavy_unsnapshotted, mb=mb, loops=loops)
    without = time.perf_counter() - t0
    heavy.crash_at = 2
    try:
        votakvot.run("resume", heavy, mb=mb, loops=2)
    except Crash:
        pass
    heavy.crash_at = None
    t0 = time.perf_counter()
    trial = votakvot.run("resume", heavy, mb=mb, loops=2)
    resume = time.perf_counter() - t0
    assert trial.result == 2 and trial.data["resumable"]["resumes"]
    # Both runs snapshot after init; only the first one after loops 1 .. loops-1.
    return (with_snapshots - without) / (loops - 1), resume


def floor(mb: int, loops: int, root: str) -> float:
    """Seconds per snapshot when pickling and writing by hand (atomic rename included)."""
    state = make_state(mb)
    path = os.path.join(root, "floor.pkl")
    t0 = 0.0
    for i in range(loops + 1):  # the first write is a warm-up, as ours has its init snapshot
        if i == 1:
            t0 = time.perf_counter()
        data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    return (time.perf_counter() - t0) / loops


ORIG_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    import votakvot

    def make_state(mb):
        half = mb * 1024 * 1024 // 2
        return {"blob": os.urandom(half), "floats": [i * 0.5 for i in range(half // 9)]}

    class Crash(Exception):
        pass

    class heavy(votakvot.resumable_fn):
        snapshot_each = 1
        crash_at = None

        def init(self, mb, loops):
            self.state = make_state(mb)
            self.loops = loops
            self.i = 0

        def loop(self):
            self.i += 1
            if self.i == heavy.crash_at:
                raise Crash

        def is_done(self):
            return self.i >= self.loops

        def result(self):
            return self.i

    class heavy_unsnapshotted(heavy):
        snapshot_each = None

    mb, loops, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    votakvot.init(root)
    t0 = time.perf_counter()
    votakvot.run("with", heavy, mb=mb, loops=loops)
    with_snapshots = time.perf_counter() - t0
    t0 = time.perf_counter()
    votakvot.run("without", heavy_unsnapshotted, mb=mb, loops=loops)
    without = time.perf_counter() - t0
    heavy.crash_at = 2
    votakvot.run("resume", heavy, mb=mb, loops=2)  # the original records the crash, no raise
    heavy.crash_at = None
    t0 = time.perf_counter()
    votakvot.run("resume", heavy, mb=mb, loops=2)
    resume = time.perf_counter() - t0
    print(json.dumps([(with_snapshots - without) / (loops - 1), resume]))
    """
)


def original(mb: int, loops: int, root: str) -> tuple[float, float] | None:
    try:
        python = orig_python()
    except Exception as exc:
        print(f"(original votakvot unavailable: {exc})", file=sys.stderr)
        return None
    script = Path(root) / "orig_resumable.py"
    script.write_text(ORIG_SCRIPT)
    out = subprocess.run(
        [python, str(script), str(mb), str(loops), str(Path(root) / "trials")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    if out.returncode != 0:
        print(f"(original votakvot failed: {out.stderr[-2000:]})", file=sys.stderr)
        return None
    snap, resume = json.loads(out.stdout.strip().splitlines()[-1])
    return float(snap), float(resume)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=10, help="size of the task's state")
    parser.add_argument("--loops", type=int, default=20, help="snapshots per measurement")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-orig", action="store_true", help="skip the original votakvot")
    args = parser.parse_args()
    snaps, resumes, floors, orig_snaps, orig_resumes = [], [], [], [], []
    for _ in range(args.rounds):
        root = tempfile.mkdtemp(prefix="votakvot-bench-resumable-")
        try:
            # Alternate which goes first: writing 200 MB can slow the next writer down.
            if len(snaps) % 2:
                floors.append(floor(args.mb, args.loops, root))
            snap, resume = ours(args.mb, args.loops, os.path.join(root, "ours"))
            snaps.append(snap)
            resumes.append(resume)
            if len(snaps) % 2:
                floors.append(floor(args.mb, args.loops, root))
            if not args.no_orig:
                got = original(args.mb, args.loops, root)
                if got is not None:
                    orig_snaps.append(got[0])
                    orig_resumes.append(got[1])
        finally:
            shutil.rmtree(root, ignore_errors=True)
    s, r, f = (statistics.median(v) * 1e3 for v in (snaps, resumes, floors))
    size = len(pickle.dumps(make_state(args.mb), protocol=pickle.HIGHEST_PROTOCOL)) / 2**20
    print(f"state of {size:.1f} MB pickled, median of {args.rounds} rounds")
    print(f"  snapshot, votakvot          : {s:8.1f} ms")
    print(f"  snapshot, by hand (floor)   : {f:8.1f} ms   overhead {s - f:+.1f} ms")
    print(f"  resume to result, votakvot  : {r:8.1f} ms")
    if orig_snaps:
        os_, or_ = (statistics.median(v) * 1e3 for v in (orig_snaps, orig_resumes))
        print(f"  snapshot, original 0.1rc1   : {os_:8.1f} ms   ({os_ / s:.1f}x ours)")
        print(f"  resume, original 0.1rc1     : {or_:8.1f} ms   ({or_ / r:.1f}x ours)")


if __name__ == "__main__":
    main()
