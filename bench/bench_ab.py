"""votakvot-ab against the original votakvot==0.1rc1 ``votakvot-ab``, same arguments,
same run, no-op callable.

Run: ``.venv/bin/python bench/bench_ab.py [--calls N] [--big N] [--repeat R]``

For each case both tools run as subprocesses with the same ``-n/-c/-g``; the table
shows each tool's own in-run calls/s (ours: ``rate`` of the summary; the original:
``real_rps`` of its trial), the ratio, end-to-end wall time, and our harness
overhead. Then one big run checks that memory stays flat (peak RSS of the process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench._orig import orig_python  # noqa: E402

MODULE = "def noop():\n    return None\n"

CASES = [
    ("-c1 threads", ["-c", "1"]),
    ("-c100 threads", ["-c", "100"]),
    ("-g -c1000", ["-g", "-c", "1000"]),
]


def peak_rss(work: Path, calls: int) -> tuple[float, dict]:
    """Run ours once from a fresh interpreter; its peak RSS in MB (Linux reports KiB)."""
    code = (
        "import json, resource, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from bench.bench_ab import run_ours\n"
        "from pathlib import Path\n"
        "r = run_ours(Path(sys.argv[2]), int(sys.argv[3]), ['-c', '1'])\n"
        "r['peak'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(json.dumps(r))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(work), str(calls)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    result = json.loads(out.stdout)
    return result["peak"], result


def run_ours(work: Path, calls: int, args: list[str]) -> dict:
    cmd = [sys.executable, "-m", "votakvot.ab", "-n", str(calls), *args,
           "-p", str(work / "ours"), "--json", "bench_noop.noop"]  # fmt: skip
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    wall = time.perf_counter() - t0
    summary = json.loads(out.stdout)
    return {"rate": summary["rate"], "wall": wall, "overhead": summary.get("overhead"),
            "count": summary["count"]}  # fmt: skip


def orig_with_gevent() -> str:
    """The original's Python, with gevent added (its ``-g`` imports it; 0.1rc1 does not
    depend on it)."""
    python = orig_python()
    if subprocess.run([python, "-c", "import gevent"], capture_output=True).returncode:
        print("installing gevent into the original's venv ...", file=sys.stderr)
        subprocess.run([python, "-m", "pip", "install", "-q", "gevent"], check=True,
                       env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))  # fmt: skip
    return python


def run_orig(work: Path, calls: int, args: list[str]) -> dict:
    script = Path(orig_with_gevent()).with_name("votakvot-ab")
    tid = f"orig-{time.monotonic_ns()}"
    cmd = [str(script), "-q", "-n", str(calls), *args, "-p", str(work / "orig"), "-t", tid,
           "bench_noop.noop"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    text = (work / "orig" / tid / "votakvot.yaml").read_text()
    m = re.search(r"real_rps: ([0-9.e+-]+)", text)
    assert m, "the original's trial has no real_rps"
    return {"rate": float(m.group(1)), "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500_000, help="calls per case, both tools")
    parser.add_argument(
        "--case",
        action="append",
        choices=[name for name, _ in CASES],
        help="run only this case (repeatable)",
    )
    parser.add_argument("--big", type=int, default=10_000_000, help="calls of the memory run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (best is kept)")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        work = Path(tmp)
        (work / "bench_noop.py").write_text(MODULE)
        print(f"no-op callable, {opts.calls:,} calls per run, best of {opts.repeat}; "
              f"{os.cpu_count()} cores\n")  # fmt: skip
        print("| case | votakvot-ab calls/s | 0.1rc1 calls/s | ratio | wall ours / orig (s) "
              "| harness overhead |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|")
        for name, args in CASES:
            if opts.case and name not in opts.case:
                continue
            ours = max((run_ours(work, opts.calls, args) for _ in range(opts.repeat)),
                       key=lambda r: r["rate"])  # fmt: skip
            orig = max((run_orig(work, opts.calls, args) for _ in range(opts.repeat)),
                       key=lambda r: r["rate"])  # fmt: skip
            overhead = f"{ours['overhead'] * 1e9:.0f} ns" if ours.get("overhead") else "-"
            print(f"| {name} | {ours['rate']:,.0f} | {orig['rate']:,.0f} | "
                  f"{ours['rate'] / orig['rate']:.1f}x | {ours['wall']:.2f} / {orig['wall']:.2f} "
                  f"| {overhead} |", flush=True)  # fmt: skip

        peak, big = peak_rss(work, opts.big)
        print(f"\nmemory: {big['count']:,} calls (-c1) at {big['rate']:,.0f} calls/s, "
              f"peak RSS {peak:.0f} MB, wall {big['wall']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
