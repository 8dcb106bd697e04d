"""Output capture: what printing through it costs, and what it adds to a tracked call.

Part 1 prints ``--lines`` lines (default 100,000) in a fresh process whose stdout is
/dev/null, a regular file, a pipe or a pseudo-terminal, with Python's stdout
block-buffered (the default off a terminal) and unbuffered (``PYTHONUNBUFFERED``),
in two styles (``print(f"line {i}")``: 2 writes a line; ``print("line", i)``: 4).
Each process times, interleaved and best of ``--reps``:

* ``plain``: the loop with the original ``sys.stdout`` (no votakvot at all);
* ``none``: the loop inside a tracked call with ``capture="none"`` (the proxy in
  place but passing through, as it does from a flusher tick after the last
  capturing trial ended);
* ``all``: the loop inside a tracked call with ``capture="all"``: terminal *and*
  ``output.log``;
* ``orig``: the loop inside a tracked call of the original ``votakvot==0.1rc1``,
  which keeps no output (the peer).

Figures are CPU milliseconds of the printing process (``time.process_time``: every
thread, including the capture's flusher), best of ``--reps``: on a shared machine
wall time mostly measures the neighbours. The wall-clock ratio is printed too.

Part 2 times ``--calls`` tracked calls that print nothing (and that print one line)
with ``capture="all"`` and ``capture="none"``, and the original's tracked call, and
the capture's own start and end of a trial alone.

Part 3 times 10,000 ``logging`` records (to a handler writing to /dev/null) inside
a tracked call with ``capture="all"`` and ``capture="none"``.

Part 4 times tqdm progress bars redrawn with ``mininterval=0`` (stdout to /dev/null):
one bar of 20,000 steps, and an outer bar of 40 steps with an inner bar of 250 at
``position=1`` (cursor-up redraws), and reports the size of ``output.log`` they leave
(redraws are collapsed: issue 17). ``--only-bars`` runs this part alone.

    .venv/bin/python bench/bench_capture.py [--lines 100000] [--reps 5] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench._orig import orig_python  # noqa: E402

PRINTING = textwrap.dedent(
    """
    import json, sys, time
    import votakvot

    root, lines, reps, style, report = sys.argv[1:6]
    lines, reps = int(lines), int(reps)
    votakvot.init(path=root)
    ours = hasattr(votakvot, "configured")

    if style == "fstring":
        def loop(n):
            for i in range(n):
                print(f"line {i}")
    else:
        def loop(n):
            for i in range(n):
                print("line", i)

    def plain(n):
        loop(n)

    if ours:
        with_all = votakvot.track(capture="all")(loop)
        with_none = votakvot.track(capture="none")(loop)
        variants = {"plain": plain, "none": with_none, "all": with_all}
    else:
        variants = {"plain": plain, "orig": votakvot.track()(loop)}

    real = sys.stdout
    for fn in variants.values():
        fn(100)  # warm up: metadata, the proxy put in place
    times = {name: [] for name in variants}
    order = list(variants)
    for rep in range(reps):
        for name in order[rep % len(order):] + order[:rep % len(order)]:
            fn = variants[name]
            if ours:
                # What the flusher does a tick after a capturing trial ended: measure the
                # steady state, not the second after an "all" run.
                from votakvot.capture._streams import switch_off_if_idle

                switch_off_if_idle()
            if name == "plain":
                proxy, sys.stdout = sys.stdout, real
            t, c = time.perf_counter(), time.process_time()
            fn(lines)
            sys.stdout.flush()
            times[name].append((time.process_time() - c, time.perf_counter() - t))
            if name == "plain":
                sys.stdout = proxy
    if ours:
        import glob, os
        logs = sorted(glob.glob(os.path.join(root, "**", "output.log"), recursive=True))
        kept = max(open(p).read().count("\\n") for p in logs)
        assert kept == lines, f"output.log kept {kept} of {lines} lines"
    with open(report, "w") as f:
        json.dump({name: [min(v)[0], min(w for _, w in v)] for name, v in times.items()}, f)
    """
)

PER_CALL = textwrap.dedent(
    """
    import json, statistics, sys, time
    import votakvot

    root, calls, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    votakvot.init(path=root)
    ours = hasattr(votakvot, "configured")

    def quiet():
        return 1

    def one_line():
        print("one line")
        return 1

    if ours:
        variants = {
            "all, prints nothing": votakvot.track(capture="all")(quiet),
            "none, prints nothing": votakvot.track(capture="none")(quiet),
            "all, prints one line": votakvot.track(capture="all")(one_line),
            "none, prints one line": votakvot.track(capture="none")(one_line),
        }
    else:
        variants = {
            "orig, prints nothing": votakvot.track()(quiet),
            "orig, prints one line": votakvot.track()(one_line),
        }
    for fn in variants.values():
        fn()
    times = {name: [] for name in variants}
    batch = 100
    for _ in range(max(1, calls // batch)):
        for name, fn in variants.items():
            for _ in range(batch):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    result = {name: statistics.median(v) * 1e6 for name, v in times.items()}
    if ours:
        # The capture's own share of a trial that prints nothing, without the trial's I/O.
        from votakvot import _active
        from votakvot.capture import _hook

        trial = _active.ActiveTrial("hook/only", {}, capture="all")
        none = _active.ActiveTrial("hook/none", {}, capture="none")
        for name, t in (("hook, capture=all", trial), ("hook, capture=none", none)):
            best = float("inf")
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(calls):
                    _hook.on_start(t)
                    _hook.on_end(t)
                best = min(best, (time.perf_counter() - t0) / calls)
            result[name] = best * 1e6
    with open(report, "w") as f:
        json.dump(result, f)
    """
)


LOGGING = textwrap.dedent(
    """
    import json, logging, sys, time
    import votakvot

    root, records, reps, report = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    votakvot.init(path=root)
    log = logging.getLogger("bench")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(logging.FileHandler("/dev/null"))

    def loop():
        for i in range(records):
            log.info("record %d of %s", i, "bench")

    variants = {
        "plain": loop,
        "none": votakvot.track(capture="none")(loop),
        "all": votakvot.track(capture="all")(loop),
    }
    times = {name: [] for name in variants}
    for _ in range(reps):
        for name, fn in variants.items():
            c = time.process_time()
            fn()
            times[name].append(time.process_time() - c)
    with open(report, "w") as f:
        json.dump({name: min(v) for name, v in times.items()}, f)
    """
)


BARS = textwrap.dedent(
    """
    import glob, json, os, sys, time
    import votakvot
    from tqdm import tqdm

    root, reps, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    votakvot.init(path=root)

    def single():
        for _ in tqdm(range(20_000), mininterval=0, file=sys.stdout):
            pass

    def nested():
        for _ in tqdm(range(40), position=0, mininterval=0, file=sys.stdout):
            for _ in tqdm(range(250), position=1, mininterval=0, leave=False, file=sys.stdout):
                pass

    out = {}
    for name, loop in (("single", single), ("nested", nested)):
        variants = {
            "plain": loop,
            "none": votakvot.track(capture="none", name=f"{name}_none")(loop),
            "all": votakvot.track(capture="all", name=f"{name}_all")(loop),
        }
        times = {v: [] for v in variants}
        for _ in range(reps):
            for v, fn in variants.items():
                c = time.process_time()
                fn()
                times[v].append(time.process_time() - c)
        sizes = [os.path.getsize(f) for f in glob.glob(f"{root}/**/output.log", recursive=True)
                 if f"{name}_all" in f]
        out[name] = {**{v: min(t) for v, t in times.items()}, "size": max(sizes)}
    with open(report, "w") as f:
        json.dump(out, f)
    """
)


def _drain(fd: int) -> threading.Thread:
    def run() -> None:
        try:
            while os.read(fd, 1 << 16):
                pass
        except OSError:
            pass  # the pty closes with EIO when the child exits

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _child(python: str, code: str, args: list[str], target: str, buffered: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO) if python == sys.executable else "")
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    with tempfile.TemporaryDirectory(prefix="votakvot-bench-capture-") as tmp:
        report = os.path.join(tmp, "report.json")
        argv = [python, "-c", code, os.path.join(tmp, "root"), *args, report]
        if target == "devnull":
            subprocess.run(argv, stdout=subprocess.DEVNULL, env=env, check=True, cwd=tmp)
        elif target == "file":
            with open(os.path.join(tmp, "stdout.txt"), "wb") as out:
                subprocess.run(argv, stdout=out, env=env, check=True, cwd=tmp)
        elif target == "pipe":
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, cwd=tmp)
            assert proc.stdout is not None
            reader = _drain(proc.stdout.fileno())
            if proc.wait() != 0:
                raise RuntimeError(f"{argv[:1]} failed")
            reader.join()
        else:  # a pseudo-terminal: line-buffered, like a real one
            master, slave = pty.openpty()
            proc = subprocess.Popen(argv, stdout=slave, env=env, cwd=tmp)
            os.close(slave)
            reader = _drain(master)
            code_ = proc.wait()
            reader.join(timeout=5)
            os.close(master)
            if code_ != 0:
                raise RuntimeError(f"{argv[:1]} failed")
        with open(report) as f:
            return json.load(f)


def printing(lines: int, reps: int, orig: str) -> list[str]:
    rows = [
        "| stdout | buffering | style | plain | orig | capture=none | capture=all "
        "| all / plain (CPU) | none / plain (CPU) | all / plain (wall) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in ("devnull", "file", "pipe", "pty"):
        for buffered in (True, False):
            if target == "pty" and not buffered:
                continue  # a terminal is line-buffered either way
            for style in ("fstring", "args"):
                args = [str(lines), str(reps), style]
                ours = _child(sys.executable, PRINTING, args, target, buffered)
                peer = _child(orig, PRINTING, args, target, buffered)
                (plain, plain_wall), (none, _), (all_, all_wall) = (
                    ours["plain"],
                    ours["none"],
                    ours["all"],
                )
                label = 'print(f"line {i}")' if style == "fstring" else 'print("line", i)'
                row = (
                    f"| {target} | {'block' if buffered else 'none'} | `{label}` "
                    f"| {plain * 1e3:.1f} | {peer['orig'][0] * 1e3:.1f} "
                    f"| {none * 1e3:.1f} | {all_ * 1e3:.1f} "
                    f"| {all_ / plain:.2f}x | {none / plain:.2f}x | {all_wall / plain_wall:.2f}x |"
                )
                print(row, flush=True)
                rows.append(row)
    return rows


def per_call(calls: int, orig: str) -> list[str]:
    ours = _child(sys.executable, PER_CALL, [str(calls)], "devnull", True)
    # The original's call takes tens of milliseconds: fewer of them say as much.
    peer = _child(orig, PER_CALL, [str(max(100, calls // 10))], "devnull", True)
    rows = ["| tracked call | µs (median; hook: best mean) |", "|---|---:|"]
    for name, us in [*ours.items(), *peer.items()]:
        rows.append(f"| {name} | {us:.1f} |")
    quiet = ours["all, prints nothing"] - ours["none, prints nothing"]
    rows.append(f"| capture=all minus none, prints nothing | {quiet:+.1f} |")
    for row in rows:
        print(row, flush=True)
    return rows


def logging_records(records: int, reps: int) -> list[str]:
    ours = _child(sys.executable, LOGGING, [str(records), str(reps)], "devnull", True)
    rows = [
        "| logging records (CPU ms) | plain | capture=none | capture=all | all / plain |",
        "|---|---:|---:|---:|---:|",
        f"| {records} x `log.info(...)` | {ours['plain'] * 1e3:.1f} | {ours['none'] * 1e3:.1f} "
        f"| {ours['all'] * 1e3:.1f} | {ours['all'] / ours['plain']:.2f}x |",
    ]
    for row in rows:
        print(row, flush=True)
    return rows


def progress_bars(reps: int) -> list[str]:
    ours = _child(sys.executable, BARS, [str(reps)], "devnull", True)
    rows = [
        "| tqdm, `mininterval=0` (CPU ms) | plain | capture=none | capture=all | all / plain "
        "| output.log |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    labels = {"single": "one bar, 20,000 steps", "nested": "40 x 250 steps, `position=1`"}
    for name, label in labels.items():
        r = ours[name]
        rows.append(
            f"| {label} | {r['plain'] * 1e3:.1f} | {r['none'] * 1e3:.1f} | {r['all'] * 1e3:.1f} "
            f"| {r['all'] / r['plain']:.2f}x | {r['size']:,} bytes |"
        )
    for row in rows:
        print(row, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--only-bars", action="store_true", help="only part 4: progress bars")
    args = parser.parse_args()
    if args.only_bars:
        progress_bars(args.reps)
        return
    orig = orig_python()
    print(f"printing {args.lines} lines, CPU ms, best of {args.reps}:")
    printing(args.lines, args.reps, orig)
    print(f"\nper tracked call, median of {args.calls}:")
    per_call(args.calls, orig)
    print("\nlogging, best of", args.reps)
    logging_records(10_000, args.reps)
    print("\nprogress bars, best of", args.reps)
    progress_bars(args.reps)


if __name__ == "__main__":
    main()
