"""Issue 18's reading rows: load_report cold and warm, and the dashboard's second open.

Every figure is taken in the same run for this checkout and for a checkout of
main before issue 18 (``--before``, default ``/work/before``, its own venv), on
trials written by that ``before`` checkout (so both read the same bytes), on the
disk of ``--data`` (not tmpfs):

* ``load_report`` of 1,000 trials in the process that just wrote them (the peer
  benchmark's W3: modules imported, page cache warm, index cold: the rows of
  records younger than two seconds are never cached);
* ``load_report`` in a fresh process (``import votakvot`` + pandas included) at
  10,000 and 100,000 trials: ``before``; this one with ``cache=False``; this one
  with an empty index (the first report, which also writes it); and the second
  report (index warm);
* the dashboard (``bench/bench_tui.py``'s own worker: headless at 120x40, time
  until the whole table is shown and the scan is over) on 100,000 trials: first
  open and second open, against ``before`` (which has no index: every open is
  a first one).

The cache folder is a fresh one under ``--data`` (``VOTAKVOT_CACHE_DIR``); the
load average is printed before and after. Usage::

    .venv/bin/python bench/bench_index.py [--before /work/before] [--data DIR]
        [--sizes 10000,100000] [--tui 100000] [--repeat 3] [--out bench/results/index.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WRITE = textwrap.dedent(
    """
    import sys, votakvot
    votakvot.init(path=sys.argv[1])
    n = int(sys.argv[2])

    @votakvot.track("bench/experiment")
    def experiment(one, two, three):
        votakvot.inform(note="hello")
        return one * two

    for i in range(n):
        experiment(i, 0.5, f"s{i % 7}")
    """
)

# W3 of the peer benchmark: write 1,000 trials, then time load_report in the same process.
JUST_WRITTEN = textwrap.dedent(
    """
    import json, sys, time, pandas, votakvot
    votakvot.init(path=sys.argv[1])

    @votakvot.track()
    def f(a, b, c):
        votakvot.inform(extra=c.upper())
        return a * b + len(c)

    for i in range(int(sys.argv[2])):
        f(i, 0.5, "x" * (i % 5))
    t, c = time.perf_counter(), time.process_time()
    frame = votakvot.load_report(sys.argv[1])
    print(json.dumps({"load_s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
                      "rows": len(frame)}))
    """
)

# A fresh process: t0 before votakvot and pandas are imported.
LOAD = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import json, sys
    import pandas, votakvot
    t1, c1 = time.perf_counter(), time.process_time()
    kwargs = {} if sys.argv[2] == "default" else {"cache": sys.argv[2] == "cache"}
    frame = votakvot.load_report(sys.argv[1], **kwargs)
    t2, c2 = time.perf_counter(), time.process_time()
    import resource
    child = resource.getrusage(resource.RUSAGE_CHILDREN)  # the forked helper of big reports
    print(json.dumps({"rows": len(frame), "import_s": t1 - t0, "load_s": t2 - t1,
                      "total_s": t2 - t0, "cpu_s": c2 - c1 + child.ru_utime + child.ru_stime}))
    """
)


def python_of(checkout: Path) -> str:
    return str(checkout / ".venv" / "bin" / "python")


def run_json(command: list[str], env: dict[str, str], cwd: Path) -> dict:
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def ensure_trials(before: Path, data: Path, n: int) -> Path:
    """``n`` trials written by the ``before`` checkout (made once, kept)."""
    root = data / f"trials-{n}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"writing {n:,} trials with {before} ...", file=sys.stderr)
        subprocess.run([python_of(before), "-c", WRITE, str(root), str(n)], check=True, cwd=data)
        (root / ".complete").touch()
    return root


def median_runs(make: object, repeat: int) -> dict:
    runs = [make() for _ in range(repeat)]  # type: ignore[operator]
    best = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "rows"}
    best["rows"] = runs[0]["rows"]
    best["runs"] = [round(r.get("total_s", r.get("load_s", 0)), 3) for r in runs]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="/work/before")
    parser.add_argument("--data", default=str(HERE / ".work" / "index"))
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--tui", type=int, default=100000, help="trials for the dashboard; 0: skip")
    parser.add_argument("--just-written", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=str(HERE / "results" / "index.md"))
    args = parser.parse_args()
    before, ours = Path(args.before), HERE.parent
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True)
    cache = data / "cache"
    env = dict(os.environ, VOTAKVOT_CACHE_DIR=str(cache))
    lines = [
        "# Issue 18: the warm index and the cold load",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores; data on "
        f"{data}; load average (1 min) at start {os.getloadavg()[0]:.2f}. `before` is "
        f"{before} (main before issue 18), reading the same trials in the same run.",
        "",
    ]
    load_start = os.getloadavg()[0]

    # 1. just written, in-process (W3)
    rows = [
        "| reader | trials | load_report s (median) | CPU s | runs |",
        "|---|---:|---:|---:|---|",
    ]
    for name, checkout in (("this", ours), ("before", before)):

        def once(checkout: Path = checkout) -> dict:
            root = data / f"w3-{os.getpid()}-{time.monotonic_ns()}"
            try:
                return run_json(
                    [python_of(checkout), "-c", JUST_WRITTEN, str(root), str(args.just_written)],
                    env,
                    data,
                )
            finally:
                shutil.rmtree(root, ignore_errors=True)

        res = median_runs(once, args.repeat)
        assert res["rows"] == args.just_written, res
        rows.append(
            f"| {name} | {args.just_written:,} | {res['load_s']:.3f} | {res['cpu_s']:.3f} | "
            f"{res['runs']} |"
        )
        print(rows[-1])
    lines += ["## load_report of trials just written (same process, like the peers' W3)", ""]
    lines += [*rows, ""]

    # 2. fresh processes
    rows = [
        "| reader | trials | total s | import s | load s | load CPU s | runs (total s) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for n in [int(s) for s in args.sizes.split(",") if s]:
        root = ensure_trials(before, data, n)
        repeat = args.repeat if n < 50000 else min(args.repeat, 3)
        shutil.rmtree(cache, ignore_errors=True)
        cases = [
            ("before", before, "default", False),
            ("this, cache=False", ours, "nocache", False),
            ("this, first report (index empty, then written)", ours, "cache", True),
            ("this, second report (index warm)", ours, "cache", False),
        ]
        run_json([python_of(before), "-c", LOAD, str(root), "default"], env, data)  # page cache
        for name, checkout, mode, clear in cases:

            def once(
                checkout: Path = checkout, mode: str = mode, clear: bool = clear, root: Path = root
            ) -> dict:
                if clear:
                    shutil.rmtree(cache, ignore_errors=True)
                return run_json([python_of(checkout), "-c", LOAD, str(root), mode], env, data)

            res = median_runs(once, repeat)
            assert res["rows"] == n, res
            rows.append(
                f"| {name} | {n:,} | {res['total_s']:.2f} | {res['import_s']:.2f} | "
                f"{res['load_s']:.2f} | {res['cpu_s']:.2f} | {res['runs']} |"
            )
            print(rows[-1])
    lines += ["## load_report in a fresh process (imports included)", "", *rows, ""]

    # 3. the dashboard
    if args.tui:
        root = ensure_trials(before, data, args.tui)
        shutil.rmtree(cache, ignore_errors=True)
        rows = [
            "| dashboard | trials | open | full table s (median) | first rows s | runs |",
            "|---|---:|---|---:|---:|---|",
        ]
        for name, checkout in (("this", ours), ("before", before)):
            for attempt in ("first", "second"):

                def open_once(checkout: Path = checkout, attempt: str = attempt) -> dict:
                    if attempt == "first":
                        shutil.rmtree(cache, ignore_errors=True)
                    res = run_json(
                        [
                            python_of(checkout),
                            str(checkout / "bench" / "bench_tui.py"),
                            "--worker",
                            "load",
                            "--root",
                            str(root),
                            "--n",
                            str(args.tui),
                        ],
                        env,
                        data,
                    )
                    res["total_s"], res["rows"] = res["full_table_s"], res.get("trials")
                    return res

                # the first open is repeated with the index removed before each
                res = median_runs(open_once, min(args.repeat, 3))
                rows.append(
                    f"| {name} | {args.tui:,} | {attempt} | {res['full_table_s']:.2f} | "
                    f"{res['first_rows_s']:.2f} | {res['runs']} |"
                )
                print(rows[-1])
        lines += ["## Dashboard: whole table on screen (headless, 120x40)", "", *rows, ""]

    lines.append(
        f"Load average (1 min) before / after: {load_start:.2f} / {os.getloadavg()[0]:.2f}."
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
