"""Regenerate the dashboard's SVG screenshots from the demo data: ``make screenshots``.

Writes the demo trials of ``examples/demo.py`` (one of them running in a background
process, adding metrics) into a temporary folder, tags the best training (so the table
shows the ``tags`` and ``note`` columns), drives the app headless at 100x30 and saves
one SVG per main screen next to this script: the table, a failed trial, the metrics of
the trainings overlaid with their legend, a comparison, a query and the tags form.
The ab monitor is shot at 120x40 over the fixed, fake ``votakvot-ab`` trial the
dashboard's tests use
(``tests/tui/launch_helpers.py``), so it looks the same on every run.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZE = (100, 30)
AB_SIZE = (120, 40)


async def _until(pilot: Any, condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there")
        await pilot.pause(0.05)


async def _idle(pilot: Any) -> None:
    """Wait for the app's workers (reads, drawing) to finish, then for the repaint."""
    from textual.worker import WorkerState

    busy = (WorkerState.PENDING, WorkerState.RUNNING)
    await _until(pilot, lambda: not any(w.state in busy for w in pilot.app.workers))
    await pilot.pause(0.3)


def tag_best(root: str) -> None:
    """Tag the training with the best result, as a user would after looking."""
    import votakvot

    report = votakvot.load_report(root)
    trains = report[report["tid"].str.contains("/train/")].sort_values("result.accuracy")
    if len(trains):
        best = trains.iloc[-1]["tid"]
        votakvot.annotate(best, tags=["best"], note="highest accuracy", root=root)


async def shoot(root: str) -> list[str]:
    from votakvot_tui import make_app
    from votakvot_tui.screens import CompareScreen, DetailScreen, PlotScreen
    from votakvot_tui.screens.annotate import AnnotateScreen
    from votakvot_tui.widgets import TrialTable

    app = make_app([root])
    saved = []

    def save(name: str) -> None:
        app.save_screenshot(f"{name}.svg", str(HERE))
        saved.append(f"{name}.svg")

    async with app.run_test(size=SIZE) as pilot:
        await _until(pilot, lambda: not app.scanning and len(app.store) >= 10)
        table = app.screen.query_one(TrialTable)
        await pilot.press("down", "up")  # the footer is drawn after the first key
        await pilot.pause(0.5)
        save("trials")

        def index(function: str, state: str | None = None) -> int:
            return next(
                i
                for i, r in enumerate(table.view.rows)
                if r.values.get("function", "").endswith(function)
                and (state is None or r.state == state)
            )

        table.cursor = index("divide", "failed")
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen.details)
        await pilot.pause(0.3)
        save("detail")
        await pilot.press("escape")

        # The trainings overlaid: one series per trial, named by the params that differ.
        table.selected = {r.path for r in table.view.rows if r.values["function"].endswith("train")}
        await pilot.press("p")
        await _until(pilot, lambda: isinstance(app.screen, PlotScreen) and app.screen.frames)
        await _idle(pilot)
        save("plot")
        await pilot.press("escape")

        await pilot.press("c")  # the same trainings side by side, on their differences
        await _until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.fields)
        await _idle(pilot)
        save("compare")
        await pilot.press("escape")
        table.clear_selection()

        table.cursor = index("train")
        await pilot.press("T")
        await _until(pilot, lambda: isinstance(app.screen, AnnotateScreen) and app.screen.current)
        await _idle(pilot)
        save("annotate")
        await pilot.press("escape")

        app.screen.query_one("#filter").value = "optimizer == 'adam' or result > 0.8"
        await _until(pilot, lambda: len(table.view.rows) == 4)
        table.focus()
        await pilot.pause(0.3)
        save("query")
    return saved


async def shoot_ab(root: str) -> list[str]:
    """The ab monitor of a finished fake ab trial."""
    sys.path.insert(0, str(ROOT / "tests" / "tui"))
    from launch_helpers import write_ab_trial

    from votakvot_tui import make_app
    from votakvot_tui.screens.ab_monitor import AbMonitorScreen

    folder = write_ab_trial(Path(root))
    app = make_app([root], watch=False)
    async with app.run_test(size=AB_SIZE) as pilot:
        await _until(pilot, lambda: not app.scanning and len(app.store) >= 1)
        app.open_ab_monitor(str(folder))
        await _until(pilot, lambda: isinstance(app.screen, AbMonitorScreen) and app.screen.frames)
        await pilot.pause(0.5)
        app.save_screenshot("ab-monitor.svg", str(HERE))
    return ["ab-monitor.svg"]


def main() -> None:
    sys.path.insert(0, str(ROOT))
    demo = runpy.run_path(str(ROOT / "examples" / "demo.py"), run_name="demo")
    base = tempfile.mkdtemp(prefix="votakvot-screenshots-")
    root = os.path.join(base, "my-results")  # shown in the header as typed
    live = None
    try:
        demo["write_demo"](root)
        tag_best(root)
        live = demo["start_live"](root, 30.0)
        time.sleep(4)  # a few metric points and a heartbeat
        here = os.getcwd()
        os.chdir(base)  # the header shows the path as typed: not a temp folder's name
        try:
            saved = asyncio.run(shoot("my-results"))
        finally:
            os.chdir(here)
        ab_root = os.path.join(root, "ab")
        os.environ.setdefault("VOTAKVOT_JOBS_DIR", os.path.join(root, "jobs"))
        saved += asyncio.run(shoot_ab(ab_root))
        print("wrote", ", ".join(str(HERE / name) for name in saved))
    finally:
        if live is not None and live.poll() is None:
            live.terminate()
            live.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
