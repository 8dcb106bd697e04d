"""How fast the dashboard shows trials, and what it costs: ``python bench/bench_tui.py``.

Measured on trial folders written by this script (3 params, 1 info field, a dict
result, a realistic ``meta`` section), each figure in a fresh process, the app
running headless at 120x40 through Textual's pilot:

* first rows and full table with 10,000 trials (targets <= 1 s and <= 3 s);
* with 100,000 trials: a key press answered (handled, then the whole screen
  redrawn; target <= 100 ms), a sort of all rows, typing a filter, and the
  process's memory (target < 500 MB);
* a new trial's row on screen after its YAML is written (target <= 0.5 s), and a
  burst of 1,000 new trials within a second while keys are pressed;
* CPU used by an idle app over 10 s (target < 2 %);
* with all 10,000 trials marked (each with a 200-row metrics file): ``p`` and ``c``
  until the plot / the compare table is on screen, and keys pressed meanwhile
  (target <= 100 ms each): ``--marked`` runs only this part.

votakvot 0.1rc1 has no dashboard, so the peer in the same run is the obvious
Textual way: the same rows put in a ``DataTable`` (time until its rows are
added, and memory). Options: ``--sizes 10000 100000``, ``--quick`` (1,000 and 10,000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TEMPLATE = """votakvot: 0.2.0
id: {uid}
tid: {tid}
state: {state}
function: bench.train
at:
  created: 2026-01-01 {hh:02d}:{mm:02d}:{ss:02d}.{us:06d}+00:00
  started: 2026-01-01 {hh:02d}:{mm:02d}:{ss:02d}.{us:06d}+00:00
  finished: 2026-01-01 {hh:02d}:{mm:02d}:{ss:02d}.{us:06d}+00:00
  duration: {duration}
params:
  lr: {lr}
  layers: {layers}
  optimizer: {optimizer}
info:
  final_loss: {loss}
meta:
  git:
    branch: main
    commit: 0123456789abcdef0123456789abcdef01234567
    dirty: false
  system:
    node: benchbox
    machine: x86_64
    platform: Linux-6.1-x86_64-with-glibc2.36
    user: bench
    cwd: /home/bench/project
  python:
    version: 3.11.7
    implementation: CPython
    executable: /usr/bin/python3
  process:
    pid: {pid}
{ending}"""

DONE = """result:
  loss: {loss}
  accuracy: {accuracy}
"""
FAILED = """error:
  type: ValueError
  message: diverged
traceback: |
  Traceback (most recent call last):
    File "train.py", line 7, in train
  ValueError: diverged
"""


def make_trials(root: Path, n: int) -> None:
    """Write ``n`` trial folders under ``root`` (kept between runs: writing is slow)."""
    stamp = root / f".complete-{n}-v2"
    if stamp.exists():
        return
    for i in range(n):
        hh, rest = divmod(i, 3600)
        mm, ss = divmod(rest, 60)
        write_one(root, i, hh % 24, mm, ss)
    stamp.touch()


def write_one(root: Path, i: int, hh: int, mm: int, ss: int, state: str = "done") -> Path:
    uid = str(uuid.UUID(int=i + 1, version=4))
    tid = f"bench/train/26-01-01/{hh:02d}:{mm:02d}:{ss:02d}/{uid}"
    folder = root / tid
    folder.mkdir(parents=True, exist_ok=True)
    if i % 50 == 0:
        state = "failed"
    loss = round(1 / (1 + i % 97), 5)
    ending = (FAILED if state == "failed" else DONE).format(
        loss=loss, accuracy=round(1 - loss / 2, 5)
    )
    text = TEMPLATE.format(
        uid=uid,
        tid=tid,
        state=state,
        ending=ending,
        hh=hh,
        mm=mm,
        ss=ss,
        us=i % 1_000_000,
        duration=round(0.5 + (i % 13) / 7, 3),
        lr=[0.001, 0.01, 0.1][i % 3],
        layers=2 + i % 5,
        optimizer=["sgd", "adam"][i % 2],
        loss=loss,
        pid=1000 + i // 100,  # about a hundred trials per process
    )
    tmp = folder / "votakvot.yaml.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / "votakvot.yaml")
    return folder


def make_metrics(root: Path, n: int, rows: int = 200) -> None:
    """Give each of the ``n`` trials under ``root`` a metrics file of ``rows`` rows."""
    stamp = root / f".metrics-{n}-{rows}"
    if stamp.exists():
        return
    for i, folder in enumerate(sorted(p.parent for p in root.rglob("votakvot.yaml"))):
        lines = ["at,step,loss,accuracy"]
        for k in range(rows):
            loss = 1 / (1 + k * (1 + i % 7) / 50)
            lines.append(f"{1767225600 + i + k * 0.5},{k},{loss:.5f},{1 - loss / 2:.5f}")
        (folder / "votakvot.metrics.00000.csv").write_text("\n".join(lines) + "\n")
    stamp.touch()


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# ---------------------------------------------------------------------- workers


async def _wait(pilot: Any, condition: Any, timeout: float = 900.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        await pilot.pause(0.005)


def _rows(app: Any) -> int:
    from votakvot_tui.screens.trials import TrialsScreen

    for screen in app.screen_stack:
        if isinstance(screen, TrialsScreen) and screen.view is not None:
            return len(screen.view.rows)
    return 0


KEYS = ["down"] * 20 + ["pagedown"] * 10 + ["end", "home"] * 5


async def key_latencies(
    app: Any, position: Any, rename: dict[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """Seconds from a key event to the cursor having moved, and to the screen redrawn.

    Pilot's ``press`` waits until the whole process looks idle (20 ms steps), which
    says more about the pilot than about the app; this posts the key itself and
    yields to the event loop until the cursor moved, then times a full redraw of
    the screen (an upper bound of what the terminal update costs).
    """
    from textual import events

    handled, drawn = [], []
    for key in KEYS:
        key = (rename or {}).get(key, key)
        before = position()
        t = time.perf_counter()
        event = events.Key(key, None)
        event.set_sender(app)
        app._driver.send_message(event)  # as a terminal's key would arrive
        while (position() == before and key not in ("home",)) or (
            key == "home" and position() != 0
        ):
            await asyncio.sleep(0)
            if time.perf_counter() - t > 10:
                raise TimeoutError(f"{key} was not handled")
        handled.append(time.perf_counter() - t)
        app.screen.refresh()
        app.export_screenshot()  # renders every line of the screen
        drawn.append(time.perf_counter() - t)
        await asyncio.sleep(0.01)
    return handled, drawn


async def burst(app: Any, pilot: Any, folder: Path, count: int = 1000) -> dict[str, Any]:
    """``count`` new trials written within a second while keys are pressed."""
    import threading

    from textual import events

    before = _rows(app)
    finished = threading.Event()

    def writer() -> None:
        start = time.perf_counter()
        for k in range(count):
            write_one(folder, 20_000_000 + k, 22, (k // 60) % 60, k % 60)
            # Spread over one second (faster if writing itself is slow).
            time.sleep(max(0.0, start + (k + 1) / count - time.perf_counter()))
        finished.set()

    table = app.screen.query_one("TrialTable")
    thread = threading.Thread(target=writer)
    t = time.perf_counter()
    thread.start()
    handled = []
    while not finished.is_set():
        position = table.cursor
        k = time.perf_counter()
        event = events.Key("down" if position < 5 else "up", None)
        event.set_sender(app)
        app._driver.send_message(event)
        while table.cursor == position:
            await asyncio.sleep(0)
        handled.append(time.perf_counter() - k)
        await asyncio.sleep(0.02)
    written = time.perf_counter() - t
    await _wait(pilot, lambda: _rows(app) == before + count, timeout=60)
    thread.join()
    return {
        "burst_written_s": written,
        "burst_all_shown_s": time.perf_counter() - t,
        "burst_key_median_ms": statistics.median(handled) * 1000,
        "burst_key_max_ms": max(handled) * 1000,
    }


async def measure_load(root: str, n: int, keys: bool, live: bool, idle: bool) -> dict[str, Any]:
    import shutil

    from votakvot_tui import make_app

    shutil.rmtree(Path(root) / "live", ignore_errors=True)  # left by an interrupted run
    out: dict[str, Any] = {"trials": n}
    start = time.perf_counter()
    app = make_app([root], watch=live)
    async with app.run_test(size=(120, 40)) as pilot:
        await _wait(pilot, lambda: _rows(app) > 0)
        out["first_rows_s"] = time.perf_counter() - start
        await _wait(pilot, lambda: _rows(app) == n and not app.scanning)
        out["full_table_s"] = time.perf_counter() - start
        await pilot.pause(0.5)
        out["rss_mb"] = rss_mb()
        if keys:
            table = app.screen.query_one("TrialTable")
            handled, drawn = await key_latencies(app, lambda: table.cursor)
            out["key_median_ms"] = statistics.median(handled) * 1000
            out["key_max_ms"] = max(handled) * 1000
            out["key_drawn_median_ms"] = statistics.median(drawn) * 1000
            screen = app.screen
            t = time.perf_counter()
            await pilot.press("s")  # sort all rows by "function", off the event loop
            key_done = time.perf_counter() - t
            await _wait(pilot, lambda: screen.spec.sort == "function" and screen.view.columns)
            await _wait(pilot, lambda: table.sort_column == "function")
            out["sort_key_ms"] = key_done * 1000
            out["sort_done_s"] = time.perf_counter() - t
            t = time.perf_counter()
            await pilot.press("slash", *"adam")
            await _wait(pilot, lambda: screen.spec.text == "adam" and _rows(app) == n // 2)
            out["filter_typed_s"] = time.perf_counter() - t
        if live:
            latencies = []
            for k in range(10):
                before = _rows(app)
                t = time.perf_counter()
                write_one(Path(root) / "live", 10_000_000 + k, 23, 59, 59 - k)
                await _wait(pilot, lambda before=before: _rows(app) == before + 1, timeout=10)
                latencies.append(time.perf_counter() - t)
                await pilot.pause(0.2)
            out["new_trial_median_s"] = statistics.median(latencies)
            out["new_trial_max_s"] = max(latencies)
            out.update(await burst(app, pilot, Path(root) / "live"))
            shutil.rmtree(Path(root) / "live")
        if idle:
            import psutil

            process = psutil.Process()
            await pilot.pause(1.0)
            cpu = process.cpu_times()
            t = time.perf_counter()
            await asyncio.sleep(10)
            used = sum(process.cpu_times()[:2]) - sum(cpu[:2])
            out["idle_cpu_percent"] = 100 * used / (time.perf_counter() - t)
    return out


async def _key(app: Any, key: str, flag: Any) -> float:
    """Seconds from sending ``key`` as the terminal would until ``flag()`` changed."""
    from textual import events

    before = flag()
    t = time.perf_counter()
    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)
    while flag() == before:
        await asyncio.sleep(0)
        if time.perf_counter() - t > 60:
            raise TimeoutError(f"{key} was not handled")
    return time.perf_counter() - t


async def _keys_while(app: Any, busy: Any, key: str, flag: Any) -> list[float]:
    """Seconds to handle ``key`` (``flag()`` changes), again and again while ``busy()``."""
    handled = []
    while busy():
        handled.append(await _key(app, key, flag))
        await asyncio.sleep(0.02)
    return handled


async def measure_marked(root: str, n: int) -> dict[str, Any]:
    """All ``n`` trials marked, then ``p`` and ``c``: time to the screen, keys meanwhile."""
    from textual import events

    from votakvot_tui import make_app
    from votakvot_tui.screens import CompareScreen, PlotScreen
    from votakvot_tui.widgets.plot_canvas import PlotCanvas

    out: dict[str, Any] = {"trials": n}
    app = make_app([root], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _wait(pilot, lambda: _rows(app) == n and not app.scanning)
        # The same run's yardstick: keys on the table while nothing else is going on.
        table = app.screen.query_one("TrialTable")
        idle = []
        for k in range(20):
            idle.append(await _key(app, "down" if k < 10 else "up", lambda: table.cursor))
            await asyncio.sleep(0.02)
        out["idle_key_median_ms"] = statistics.median(idle) * 1000
        out["idle_key_max_ms"] = max(idle) * 1000
        app.screen.action_select_all()
        await pilot.pause(0.2)

        async def press(key: str) -> None:
            event = events.Key(key, None)
            event.set_sender(app)
            app._driver.send_message(event)
            await asyncio.sleep(0)

        t = time.perf_counter()
        await press("p")
        await _wait(pilot, lambda: isinstance(app.screen, PlotScreen))
        plot = app.screen
        canvas = plot.query_one(PlotCanvas)

        def plot_busy() -> bool:
            return plot.reading or not canvas.drawn

        # While the metrics are read: "l" (log y) is answered, the plot waits for data.
        keys = await _keys_while(app, lambda: plot.reading, "l", lambda: plot.log_y)
        await _wait(pilot, lambda: not plot_busy())
        out["plot_drawn_s"] = time.perf_counter() - t
        out["plot_series"] = len(plot.figure.series) if plot.figure else 0
        # Then "l" again: the plot is built anew in a worker thread; Tab (focus moves
        # between the controls) is pressed while it builds.
        for _ in range(10):
            keys.append(await _key(app, "l", lambda: plot.log_y))
            keys += await _keys_while(app, plot_busy, "tab", lambda: app.focused)
            await _wait(pilot, lambda: not plot_busy())
        out["plot_key_median_ms"] = statistics.median(keys) * 1000
        out["plot_key_max_ms"] = max(keys) * 1000
        out["plot_keys"] = len(keys)
        await _wait(pilot, lambda: not plot_busy())
        await press("escape")
        await _wait(pilot, lambda: not isinstance(app.screen, PlotScreen))

        t = time.perf_counter()
        await press("c")
        await _wait(pilot, lambda: isinstance(app.screen, CompareScreen))
        compare = app.screen
        keys = await _keys_while(app, lambda: compare.reading, "m", lambda: compare.show_meta)
        await _wait(pilot, lambda: not compare.reading and compare.fields)
        out["compare_shown_s"] = time.perf_counter() - t
        out["compare_columns"] = len(compare.labels)
        for _ in range(20):
            keys.append(await _key(app, "m", lambda: compare.show_meta))
            await asyncio.sleep(0.02)
        out["compare_key_median_ms"] = statistics.median(keys) * 1000
        out["compare_key_max_ms"] = max(keys) * 1000
    return out


async def measure_datatable(root: str, n: int) -> dict[str, Any]:
    """The peer: the same rows in Textual's DataTable, added in one go."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from votakvot_tui.core.model import TrialStore, ViewSpec, display, find_trial_dirs, read_record

    start = time.perf_counter()
    store = TrialStore()
    store.put([r for d in find_trial_dirs(root) if (r := read_record(d)) is not None])
    view = store.build_view(ViewSpec())
    assert view is not None
    read = time.perf_counter() - start

    class Peer(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

    app = Peer()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DataTable)
        t = time.perf_counter()
        table.add_columns(*view.columns)
        table.add_rows([[display(r.values.get(c), c) for c in view.columns] for r in view.rows])
        await pilot.pause()
        shown = time.perf_counter() - t
        table.focus()
        await pilot.pause()
        # DataTable's home/end scroll without moving the cursor; ctrl+home/end move it.
        handled, drawn = await key_latencies(
            app, lambda: table.cursor_row, {"home": "ctrl+home", "end": "ctrl+end"}
        )
        return {
            "trials": n,
            "read_s": read,
            "datatable_rows_s": shown,
            "total_s": read + shown,
            "key_ms": statistics.median(handled) * 1000,
            "key_drawn_ms": statistics.median(drawn) * 1000,
            "rss_mb": rss_mb(),
        }


def worker(args: argparse.Namespace) -> None:
    if args.worker == "marked":
        result = asyncio.run(measure_marked(args.root, args.n))
    elif args.worker == "load":
        result = asyncio.run(
            measure_load(args.root, args.n, keys=args.keys, live=args.live, idle=args.idle)
        )
    else:
        result = asyncio.run(measure_datatable(args.root, args.n))
    print(json.dumps(result))


def run_worker(kind: str, root: Path, n: int, *flags: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--root", str(root), "--n", str(n)]
    done = subprocess.run([*command, *flags], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "votakvot-bench-tui"))
    parser.add_argument(
        "--marked", action="store_true", help="only: 10,000 marked trials, then p and c"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keys", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--live", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sizes = [1_000, 10_000] if args.quick else args.sizes
    if args.marked:
        sizes = []
    print(
        f"votakvot-tui benchmark, {os.cpu_count()} cores, python {sys.version.split()[0]}, "
        f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows every figure)"
    )
    for n in sizes:
        root = Path(args.data) / str(n)
        root.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        make_trials(root, n)
        print(f"\n{n:,} trials in {root} (ready in {time.perf_counter() - t:.1f}s)")
        big = n >= 100_000
        ours = run_worker("load", root, n, *(["--keys"] if big else ["--live", "--idle"]))
        peer = run_worker("datatable", root, n)
        print(f"  first rows on screen      {ours['first_rows_s']:8.2f} s")
        print(
            f"  full table                {ours['full_table_s']:8.2f} s   "
            f"DataTable peer {peer['total_s']:.2f} s "
            f"(x{peer['total_s'] / ours['full_table_s']:.1f})"
        )
        print(
            f"  memory (RSS)              {ours['rss_mb']:8.0f} MB  "
            f"DataTable peer {peer['rss_mb']:.0f} MB"
        )
        if "key_median_ms" in ours:
            print(
                f"  key press handled         {ours['key_median_ms']:8.1f} ms median, "
                f"{ours['key_max_ms']:.1f} ms max   DataTable peer {peer['key_ms']:.1f} ms"
            )
            print(
                f"  ... and screen redrawn    {ours['key_drawn_median_ms']:8.1f} ms median"
                f"            DataTable peer {peer['key_drawn_ms']:.1f} ms"
            )
            print(f"  sort all rows, on screen  {ours['sort_done_s']:8.2f} s")
            print(f"  filter typed ('adam')     {ours['filter_typed_s']:8.2f} s")
        if "new_trial_median_s" in ours:
            print(
                f"  new trial on screen       {ours['new_trial_median_s']:8.3f} s median, "
                f"{ours['new_trial_max_s']:.3f} s max"
            )
        if "burst_written_s" in ours:
            print(
                f"  1,000 new trials in {ours['burst_written_s']:.2f} s: all on screen after "
                f"{ours['burst_all_shown_s']:.2f} s; keys meanwhile "
                f"{ours['burst_key_median_ms']:.1f} ms median, "
                f"{ours['burst_key_max_ms']:.1f} ms max"
            )
        if "idle_cpu_percent" in ours:
            print(f"  idle CPU                  {ours['idle_cpu_percent']:8.2f} %")
        print(f"  load average now {os.getloadavg()[0]:.1f}")
        print("  raw:", json.dumps({"ours": ours, "datatable": peer}))
    if args.marked or not args.quick:
        n = 10_000
        root = Path(args.data) / f"{n}-metrics"
        root.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        make_trials(root, n)
        make_metrics(root, n)
        print(f"\n{n:,} trials with metrics, all marked (ready in {time.perf_counter() - t:.1f}s)")
        marked = run_worker("marked", root, n)
        print(
            f"  keys on the table, nothing drawing: {marked['idle_key_median_ms']:.1f} ms "
            f"median, {marked['idle_key_max_ms']:.1f} ms max (the same run's yardstick)"
        )
        print(
            f"  p: plot on screen        {marked['plot_drawn_s']:8.2f} s "
            f"({marked['plot_series']} series); keys meanwhile and after "
            f"{marked['plot_key_median_ms']:.1f} ms median, {marked['plot_key_max_ms']:.1f} ms max"
        )
        print(
            f"  c: compare on screen     {marked['compare_shown_s']:8.2f} s "
            f"({marked['compare_columns']} columns); keys meanwhile and after "
            f"{marked['compare_key_median_ms']:.1f} ms median, "
            f"{marked['compare_key_max_ms']:.1f} ms max"
        )
        print(f"  load average now {os.getloadavg()[0]:.1f}")
        print("  raw:", json.dumps(marked))


if __name__ == "__main__":
    main()
