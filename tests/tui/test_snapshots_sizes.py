"""SVG snapshots of every screen of the dashboard at 80x24 and at 160x45.

Each screen is reached as a user would (a key on the trials table) over the fixed
sample trials, with local time in UTC; what would differ between runs is fixed
first: the header names the results folder without its temporary parent, forms
that offer a file or folder name are opened with a relative one,
fake jobs have fixed times, and the function of the rerun and sweep forms is a
module written next to the test's working folder, so its import check passes
without naming any path. Every worker is waited for before the picture is taken.

Review every changed SVG before accepting it with ``pytest --snapshot-update``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from launch_helpers import write_ab_trial
from textual.pilot import Pilot
from textual.worker import WorkerState
from tui_helpers import T0, loaded, make_sample, wait_for

import votakvot
from votakvot_tui import make_app
from votakvot_tui.screens import (
    CompareScreen,
    ConfirmDeleteScreen,
    DetailScreen,
    ExportScreen,
    HelpScreen,
    PlotScreen,
)
from votakvot_tui.screens.ab_compare import AbCompareScreen
from votakvot_tui.screens.ab_monitor import AbMonitorScreen
from votakvot_tui.screens.annotate import AnnotateScreen
from votakvot_tui.screens.jobs import JobsScreen
from votakvot_tui.screens.launch_ab import LaunchAbScreen
from votakvot_tui.screens.rerun import RerunScreen
from votakvot_tui.screens.resumable import ResumableScreen
from votakvot_tui.screens.sweep import SweepScreen
from votakvot_tui.widgets import TrialTable

pytestmark = [pytest.mark.usefixtures("utc_timezone"), pytest.mark.timeout(120)]

SIZES = {"80x24": (80, 24), "160x45": (160, 45)}

DEMO_MODULE = '''
"""The sample trials' functions, so the rerun and sweep forms can import them."""


def train(lr, epochs, seed):
    return {"loss": (1 - lr) ** epochs}


def divide(a, b):
    return a / b
'''

Before = Callable[[Pilot[Any], dict[str, Path]], Awaitable[None]]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The sample trials, two ab runs beside them, a jobs folder, and ``demo.py`` in the cwd."""
    root = tmp_path / "results"
    root.mkdir()
    trials = make_sample(root)
    ab_root = tmp_path / "ab"
    trials["ab_a"] = write_ab_trial(ab_root)
    trials["ab_b"] = write_ab_trial(
        ab_root,
        "ab/bench.get/26-03-14/09:40:00/00000000-0000-4000-8000-0000000000bb",
        seconds=4,
        slower=1.3,
    )
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    work = tmp_path / "work"
    work.mkdir()
    (work / "demo.py").write_text(DEMO_MODULE)
    monkeypatch.chdir(work)
    trials["root"] = root
    trials["ab_root"] = ab_root
    trials["jobs"] = tmp_path / "jobs"
    return trials


async def settle(pilot: Pilot[Any]) -> None:
    """Wait until no worker of the app or its screens runs, then for the repaint."""
    app = pilot.app
    busy = (WorkerState.PENDING, WorkerState.RUNNING)
    await wait_for(pilot, lambda: not any(w.state in busy for w in app.workers), timeout=60)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await pilot.pause()


def pin_header(pilot: Pilot[Any]) -> None:
    """The trials screen's header names the results folder: here a temporary one,
    different on every run, so the picture shows the folder's name instead."""
    from rich.text import Text
    from textual.widgets import Label

    from votakvot_tui.screens.trials import TrialsScreen

    for screen in pilot.app.screen_stack:
        if isinstance(screen, TrialsScreen):
            for label in screen.query("#trials-header").results(Label):
                name = Path(screen.host.sources[0].base).name
                label.update(Text.assemble(("votakvot", "bold"), f"  {name}"))


def steady_cursors(pilot: Pilot[Any]) -> None:
    """Text cursors that do not blink: a blinking one is on or off by timing."""
    from textual.widgets import Input, TextArea

    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False


async def cursor_on(pilot: Pilot[Any], folder: Path) -> None:
    """Put the table's cursor on the trial in ``folder``, and wait for the status bar to
    say so (it follows the cursor a message later; a modal's snapshot shows it)."""
    screen = pilot.app.screen
    table = screen.query_one(TrialTable)
    row = next(i for i, r in enumerate(table.view.rows) if r.path == str(folder))
    table.cursor = row
    table.focus()
    status = screen.query_one("#status")
    await wait_for(pilot, lambda: f"row {row + 1}/" in str(status.render()))


async def press_for(pilot: Pilot[Any], key: str, screen: type) -> Any:
    """Press ``key`` and wait for a screen of that type."""
    await pilot.press(key)
    return await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, screen) and pilot.app.screen, timeout=60
    )


async def trials_screen(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The table: newest first, state colours, status bar, footer keys."""


async def query(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """A pandas query in the filter box, sorted by a column, constant columns hidden."""
    screen = pilot.app.screen
    screen.query_one("#filter").value = "lr >= 0.1"
    await wait_for(pilot, lambda: len(screen.view.rows) == 2)
    screen.sort_by("lr")
    screen.action_hide_constant()
    await wait_for(pilot, lambda: screen.spec.sort == "lr" and "seed" not in screen.view.columns)
    pilot.app.clear_notifications()
    screen.query_one(TrialTable).focus()


async def detail(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """A finished trial opens on its highlighted YAML (a failed one switches to its
    traceback as it is read, and the tab underline then lands by timing)."""
    await cursor_on(pilot, w["train0"])
    screen = await press_for(pilot, "enter", DetailScreen)
    await wait_for(pilot, lambda: screen.details)
    await settle(pilot)
    # Its title fits the tid to the screen's width when the read comes back, which
    # may be before the first layout: shown once more, it is always the laid-out one.
    screen.show(screen.details)


async def plot(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The metrics of three trials overlaid, with a legend."""
    pilot.app.screen.query_one(TrialTable).selected = {str(w[f"train{i}"]) for i in range(3)}
    await press_for(pilot, "p", PlotScreen)
    await wait_for(pilot, lambda: pilot.app.screen.drawn)  # the plot is built in a thread


async def compare(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """Three trainings side by side."""
    pilot.app.screen.query_one(TrialTable).selected = {str(w[f"train{i}"]) for i in range(3)}
    await press_for(pilot, "c", CompareScreen)
    await wait_for(pilot, lambda: pilot.app.screen.fields)


async def help_screen(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """``?`` over the trials screen."""
    await press_for(pilot, "question_mark", HelpScreen)


async def launch_form(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The ab launch form, as ``b`` opens it (with a relative results folder)."""
    pilot.app.push_screen(LaunchAbScreen("./results"))
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LaunchAbScreen))


async def ab_monitor(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """A finished ab run in the monitor."""
    pilot.app.open_ab_monitor(str(w["ab_a"]))
    await wait_for(
        pilot, lambda: isinstance(pilot.app.screen, AbMonitorScreen) and pilot.app.screen.frames
    )


async def ab_compare(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """Two ab runs compared."""
    pilot.app.push_screen(AbCompareScreen(str(w["ab_a"]), str(w["ab_b"])))
    await wait_for(
        pilot,
        lambda: isinstance(pilot.app.screen, AbCompareScreen) and pilot.app.screen.snapshots,
    )


def _fake_job(jobs: Path, job_id: str, kind: str, title: str, code: int, out: str) -> None:
    """A job folder as the supervisor leaves it, with fixed times."""
    folder = jobs / job_id
    folder.mkdir(parents=True)
    start = T0.timestamp()
    spec = {"argv": ["python", "-m", kind], "cwd": ".", "kind": kind, "title": title}
    (folder / "job.json").write_text(json.dumps({**spec, "created": start}))
    (folder / "started.json").write_text(json.dumps({"pid": 1, "started": start}))
    (folder / "exit.json").write_text(json.dumps({"code": code, "ended": start + 75}))
    (folder / "stdout.log").write_text(out)


async def jobs(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The jobs panel with a finished sweep and a failed rerun."""
    _fake_job(
        w["jobs"],
        "260314-092653000-sweep-aaaaaa",
        "sweep",
        "sweep demo.train lr=[0.05, 0.1] seed=range(2) epochs=8 (4 trials)",
        0,
        "sweeping demo.train: 4 trials on inplace\n4 done, 0 failed\n",
    )
    _fake_job(
        w["jobs"],
        "260314-093000000-rerun-bbbbbb",
        "rerun",
        "rerun demo.divide a=1 b=0",
        1,
        "ZeroDivisionError: division by zero\n",
    )
    await press_for(pilot, "J", JobsScreen)
    await wait_for(pilot, lambda: len(pilot.app.screen.jobs) == 2)


async def resumable(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The resumable tasks (none among the sample trials)."""
    await press_for(pilot, "R", ResumableScreen)


async def rerun(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """A trial's params in the rerun form, its function importable."""
    await cursor_on(pilot, w["train1"])
    screen = await press_for(pilot, "E", RerunScreen)
    await wait_for(pilot, lambda: screen.checked, timeout=60)


async def export(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The CSV export form (with a relative file name)."""
    pilot.app.push_screen(ExportScreen("./votakvot-trials.csv"))
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ExportScreen))


async def delete(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """Asking before two trial folders are deleted (named relative to the root)."""
    names = [str(w[n].relative_to(w["root"].parent)) for n in ("train0", "failed")]
    pilot.app.push_screen(ConfirmDeleteScreen(names))
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmDeleteScreen))


async def annotate(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The tags and note of a tagged trial, in the form ``T`` opens."""
    from votakvot_tui.core.model import read_records

    folder = str(w["train2"])
    votakvot.annotate(folder, tags=["best", "lr-sweep"], note="lowest loss\nkeep")
    pilot.app.apply(read_records([folder]), [folder], ())  # as the watcher would have it
    await wait_for(pilot, lambda: "tags" in pilot.app.screen.view.columns)
    await settle(pilot)
    await cursor_on(pilot, w["train2"])
    screen = await press_for(pilot, "T", AnnotateScreen)
    await wait_for(pilot, lambda: screen.current is not None)


async def sweep(pilot: Pilot[Any], w: dict[str, Path]) -> None:
    """The sweep form over a trial's params: two lists, the count of trials."""
    await cursor_on(pilot, w["train1"])
    screen = await press_for(pilot, "S", SweepScreen)
    await wait_for(pilot, lambda: screen.checked, timeout=60)
    fields = {f.name: f for f in screen.query("#sweep-grid Input")}
    fields["lr"].value = "[0.05, 0.1, 0.2]"
    fields["seed"].value = "range(3)"
    # What the screenshot shows, not only what the form would start: the count label
    # and the Run button follow the fields through Input.Changed, a message later.
    count = screen.query_one("#sweep-count")
    run = screen.query_one("#run")
    await wait_for(pilot, lambda: str(count.render()).startswith("9 trials") and not run.disabled)
    run.focus()  # no text cursor in a field: where it stands depends on timing
    await pilot.pause()


SCREENS: dict[str, Before] = {
    "trials": trials_screen,
    "query": query,
    "detail": detail,
    "plot": plot,
    "compare": compare,
    "help": help_screen,
    "launch_form": launch_form,
    "ab_monitor": ab_monitor,
    "ab_compare": ab_compare,
    "jobs": jobs,
    "resumable": resumable,
    "rerun": rerun,
    "export": export,
    "delete": delete,
    "annotate": annotate,
    "sweep": sweep,
}
AB_SCREENS = {"ab_monitor", "ab_compare"}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(snap_compare, world: dict[str, Path], name: str, size: str) -> None:
    """Each screen at each size, as the sample data and the steps above leave it."""
    ab = name in AB_SCREENS
    root = world["ab_root"] if ab else world["root"]
    app = make_app([str(root)], watch=False)

    async def run_before(pilot: Pilot[Any]) -> None:
        pilot.app.animation_level = "none"  # a tab's underline slides by timing otherwise
        await loaded(pilot, 2 if ab else 6)
        await settle(pilot)
        pin_header(pilot)
        await SCREENS[name](pilot, world)
        await settle(pilot)
        steady_cursors(pilot)
        pilot.app.clear_notifications()
        await pilot.pause()

    assert os.path.isfile("demo.py")
    assert snap_compare(app, run_before=run_before, terminal_size=SIZES[size])
