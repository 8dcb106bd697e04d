"""Read side: ``load_report`` of many trials, cold, against the original votakvot.

Each figure is one fresh process that imports votakvot and builds the report
(the time includes ``import votakvot`` and pandas: what a user waits for when a
script or notebook starts). Trials have 3 params, 1 info field and a result,
on local disk, page cache warm (one untimed read first). Memory is the peak RSS
of that process minus its RSS right after the imports and minus the frame's
own size (``memory_usage(deep=True)``), per trial.

The peer is ``votakvot==0.1rc1`` reading trials written by itself. Writing with
it costs ~40 ms a trial, so 200 trials are written by it and copied with fresh
ids to the size measured (``--orig-seed``); its files are byte for byte its own
format. Trial sets are kept under ``bench/.work/report`` between runs::

    .venv/bin/python bench/bench_report.py [--sizes 10000,100000] [--orig-sizes 10000]
        [--repeat 3] [--remote 1000] [--out bench/results/report.md]
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
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench._orig import orig_python  # noqa: E402 - needs the path above

WORK = HERE / ".work" / "report"

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

ORIG_WRITE = textwrap.dedent(
    """
    import sys, votakvot
    votakvot.init(path=sys.argv[1])
    n = int(sys.argv[2])

    @votakvot.track()
    def experiment(one, two, three):
        votakvot.inform(note="hello")
        return one * two

    for i in range(n):
        experiment(i, 0.5, f"s{i % 7}")
    """
)

# The timed child: t0 is taken before votakvot (and pandas) are imported.
LOAD = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import json, resource, sys
    import pandas, votakvot
    assert "site-packages" in votakvot.__file__ or "bench" not in sys.executable, votakvot.__file__
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    t1 = time.perf_counter()
    base = rss()
    frame = votakvot.load_report(sys.argv[1])
    t2 = time.perf_counter()
    me = resource.getrusage(resource.RUSAGE_SELF)
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = me.ru_maxrss * 1024
    print(json.dumps({
        "rows": 0 if frame is None else len(frame),
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "total_s": t2 - t0,
        "frame_bytes": 0 if frame is None else int(frame.memory_usage(deep=True).sum()),
        "extra_bytes": peak - base,
        "cpu_s": me.ru_utime + me.ru_stime + helpers.ru_utime + helpers.ru_stime,
        "helper_peak_bytes": helpers.ru_maxrss * 1024,
    }))
    """
)


# Every child runs in WORK: with ``-c`` the current folder comes first on sys.path, and
# from the repository root the peer's python would import *this* votakvot instead.


def ours_python() -> str:
    return str(HERE.parent / ".venv" / "bin" / "python")


NOTES = """
How: each figure is a fresh process (`import votakvot` and pandas included) reading trials
with 3 params, 1 info field and a result from local disk, page cache warm. "extra memory"
is the process's peak RSS beyond its RSS after the imports, minus the frame's own size; the
helper process (forked for half of a big report) is listed by its peak RSS. The peer
(votakvot 0.1rc1) reads trials in its own format: 200 written by it, copied with fresh ids
(writing 10,000 with it takes ~7 minutes). It cannot read ftp:// or ssh:// URLs (it makes
the filesystem from the protocol alone, without host or credentials), so remote figures are
ours only; the SSH server there is asyncssh in the benchmark's own process, much slower than
a real sshd. Targets: 10,000 trials <= 1.5 s, 100,000 <= 15 s, <= 2 KB per trial beyond the
frame, >= 10x faster than 0.1rc1.
"""


def ensure_ours(n: int) -> Path:
    """A root with ``n`` trials written by this votakvot (made once, kept)."""
    root = WORK / f"ours-{n}"
    stamp = root / ".complete"
    if not stamp.exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"writing {n} trials with this votakvot ...", file=sys.stderr)
        subprocess.run([ours_python(), "-c", WRITE, str(root), str(n)], check=True, cwd=WORK)
        stamp.touch()
    return root


def ensure_orig(n: int, seed: int) -> Path:
    """A root with ``n`` trials in votakvot 0.1rc1's format, ``seed`` of them written by it."""
    root = WORK / f"orig-{n}"
    stamp = root / ".complete"
    if stamp.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    seed_root = WORK / f"orig-seed-{seed}"
    if not (seed_root / ".complete").exists():
        shutil.rmtree(seed_root, ignore_errors=True)
        print(f"writing {seed} trials with votakvot 0.1rc1 ...", file=sys.stderr)
        subprocess.run(
            [orig_python(), "-c", ORIG_WRITE, str(seed_root), str(seed)], check=True, cwd=WORK
        )
        (seed_root / ".complete").touch()
    seeds = sorted(p.parent for p in seed_root.rglob("votakvot.yaml"))
    print(f"copying them to {n} trials with fresh ids ...", file=sys.stderr)
    for i in range(n):
        src = seeds[i % len(seeds)]
        old = src.name
        new = uuid.uuid1().hex
        rel = src.relative_to(seed_root).parent
        dst = root / rel / new
        shutil.copytree(src, dst)
        text = (dst / "votakvot.yaml").read_text()
        (dst / "votakvot.yaml").write_text(text.replace(old, new))
    stamp.touch()
    return root


def measure(python: str, root: Path, repeat: int) -> dict:
    """Median of ``repeat`` cold runs (after one untimed run that warms the page cache)."""
    runs = []
    for i in range(repeat + 1):
        out = subprocess.run(
            [python, "-c", LOAD, str(root)], capture_output=True, text=True, check=False, cwd=WORK
        )
        if out.returncode != 0:
            raise SystemExit(f"{python} failed reading {root}:\n{out.stderr[-3000:]}")
        if i:
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    best["runs"] = [round(r["total_s"], 3) for r in runs]
    return best


def measure_remote(n: int, repeat: int) -> list[str]:
    """load_report of ``n`` trials over loopback FTP and SFTP (0.1rc1 cannot read these URLs:
    it builds the filesystem from the protocol alone, without host or credentials)."""
    import tempfile

    sys.path.insert(0, str(HERE.parent / "tests"))
    from servers import run_ftp_server, run_sftp_server

    root = ensure_ours(n)
    lines = []
    with tempfile.TemporaryDirectory(prefix="votakvot-bench-home-") as home:
        served = WORK / f"served-{n}"
        if not served.exists():
            served.mkdir()
            shutil.copytree(root, served / "trials")
        ftp, stop_ftp = run_ftp_server(served)
        sftp, stop_sftp = run_sftp_server(served, Path(home))
        env = dict(os.environ, HOME=home)
        try:
            for server in (ftp, sftp):
                url = server.url("trials")
                runs = []
                for _ in range(repeat):
                    out = subprocess.run(
                        [ours_python(), "-c", LOAD, url],
                        capture_output=True, text=True, check=False, cwd=WORK, env=env,
                    )
                    if out.returncode != 0:
                        raise SystemExit(f"reading {url} failed:\n{out.stderr[-3000:]}")
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                best = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                assert best["rows"] == n, best
                line = (
                    f"| votakvot (this), {server.protocol}:// on 127.0.0.1 | {n:,} | "
                    f"{best['total_s']:.2f} | {best['load_s']:.2f} | {best['cpu_s']:.2f} |"
                )
                lines.append(line)
                print(line)
        finally:
            stop_ftp()
            stop_sftp()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--orig-sizes", default="10000")
    parser.add_argument("--orig-seed", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--remote", type=int, default=1000, help="trials read over FTP/SFTP")
    parser.add_argument("--out", default=str(HERE / "results" / "report.md"))
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    orig_sizes = [int(s) for s in args.orig_sizes.split(",") if s]

    lines = [
        "# load_report: cold process, local disk",
        "",
        f"Machine: {os.cpu_count()} cores; load average at start "
        f"{os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "Times are medians of "
        f"{args.repeat} fresh processes (import votakvot + pandas, then load_report); "
        "CPU s adds the forked helper's CPU time to the process's own. Wall times stretch "
        "when other work shares the 2 cores; compare CPU s then.",
        "",
        "| reader | trials | total s | import s | load s | CPU s | extra memory / trial "
        "| helper peak RSS | runs (total s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    results: dict[tuple[str, int], dict] = {}
    load_start = os.getloadavg()[0]
    for n in sizes:
        root = ensure_ours(n)
        res = measure(ours_python(), root, args.repeat if n < 50000 else 1)
        assert res["rows"] == n, res
        results[("ours", n)] = res
    for n in orig_sizes:
        root = ensure_orig(n, args.orig_seed)
        res = measure(orig_python(), root, 1 if n > 20000 else max(1, args.repeat // 2))
        assert res["rows"] == n, res
        results[("orig", n)] = res
    for (who, n), res in results.items():
        extra = (res["extra_bytes"] - res["frame_bytes"]) / n
        name = "votakvot (this)" if who == "ours" else "votakvot 0.1rc1"
        helper = res["helper_peak_bytes"] / 2**20
        row = (
            f"| {name} | {n:,} | {res['total_s']:.2f} | {res['import_s']:.2f} | "
            f"{res['load_s']:.2f} | {res['cpu_s']:.2f} | {extra / 1024:.2f} KB | "
            f"{f'{helper:.0f} MB' if helper else '-'} | {res['runs']} |"
        )
        lines.append(row)
        print(row)
    lines.append("")
    lines.append(
        f"Load average (1 min) before / after the runs: {load_start:.2f} / "
        f"{os.getloadavg()[0]:.2f}."
    )
    lines.append("")
    for n in orig_sizes:
        if ("ours", n) in results:
            ratio = results[("orig", n)]["total_s"] / results[("ours", n)]["total_s"]
            load_ratio = results[("orig", n)]["load_s"] / results[("ours", n)]["load_s"]
            cpu_ratio = results[("orig", n)]["cpu_s"] / results[("ours", n)]["cpu_s"]
            line = (
                f"At {n:,} trials this votakvot is {ratio:.1f}x faster than 0.1rc1 "
                f"(wall, cold, imports included); {load_ratio:.1f}x on load_report alone; "
                f"{cpu_ratio:.1f}x in CPU time."
            )
            lines.append(line)
            print(line)
    if args.remote:
        lines += [
            "",
            "Remote stores (servers in threads of the benchmark process, on loopback):",
            "",
            "| reader | trials | total s | load s | CPU s |",
            "|---|---:|---:|---:|---:|",
            *measure_remote(args.remote, args.repeat),
        ]
    lines.append(NOTES)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
