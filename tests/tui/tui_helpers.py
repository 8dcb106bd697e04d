"""Fixed trial folders for the dashboard's tests, and helpers to wait on the app.

Trials are written by hand (not by running tracked code) so ids, timestamps,
params and metrics are the same on every run: snapshot tests depend on it.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from votakvot import _yaml

UTC = datetime.UTC
T0 = datetime.datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
"""When the first sample trial was created."""


def write_trial(
    root: Path,
    function: str = "demo.train",
    uid: str = "00000000-0000-4000-8000-000000000000",
    *,
    when: datetime.datetime = T0,
    state: str = "done",
    params: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    result: Any = None,
    duration: float | None = 1.5,
    error: tuple[str, str] | None = None,
    metrics: list[dict[str, float]] | None = None,
    files: dict[str, str] | None = None,
    heartbeat: float | None = None,
) -> Path:
    """Write one trial folder the way votakvot lays it out; returns the folder."""
    module, _, name = function.rpartition(".")
    tid = f"{module}/{name}/{when:%y-%m-%d}/{when:%H:%M:%S}/{uid}"
    folder = root / tid
    folder.mkdir(parents=True, exist_ok=True)
    at: dict[str, Any] = {"created": when, "started": when + datetime.timedelta(seconds=0.01)}
    if state != "running":
        at["finished"] = when + datetime.timedelta(seconds=duration or 0)
        at["duration"] = duration
    data: dict[str, Any] = {
        "votakvot": "0.2.0",
        "id": uid,
        "tid": tid,
        "state": state,
        "function": function,
        "at": at,
        "params": params or {},
        "info": info or {},
        "meta": {"system": {"node": "testbox", "user": "tester"}, "process": {"pid": 4242}},
    }
    if state == "done":
        data["result"] = result
    if error is not None:
        data["error"] = {"type": error[0], "message": error[1]}
        data["traceback"] = (
            "Traceback (most recent call last):\n"
            f'  File "demo.py", line 7, in {name}\n'
            f"{error[0]}: {error[1]}\n"
        )
        (folder / "traceback.txt").write_text(data["traceback"])
    text = _yaml.dump(data)
    tmp = folder / "votakvot.yaml.tmp"
    tmp.write_text(text)
    os.replace(tmp, folder / "votakvot.yaml")
    if metrics:
        columns = ["at", *[c for c in metrics[0] if c != "at"]]
        lines = [",".join(columns)]
        for i, row in enumerate(metrics):
            row = {"at": when.timestamp() + i, **row}
            lines.append(",".join(str(row.get(c, "")) for c in columns))
        (folder / "votakvot.metrics.00000.csv").write_text("\n".join(lines) + "\n")
    for name_, content in (files or {}).items():
        target = folder / name_
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    if heartbeat is not None:
        (folder / "votakvot.heartbeat").write_text(f"{heartbeat} 5.0")
    return folder


def uid(n: int) -> str:
    """A fixed, readable uuid-shaped id."""
    return f"{n:08d}-0000-4000-8000-{n:012d}"


def make_sample(root: Path) -> dict[str, Path]:
    """Six trials: three trainings with metrics, a failure, an interrupt, an unreadable one."""
    out = {}
    for i, lr in enumerate((0.05, 0.1, 0.2)):
        loss = [round((1 - lr) ** e, 4) for e in range(8)]
        out[f"train{i}"] = write_trial(
            root,
            "demo.train",
            uid(i + 1),
            when=T0 + datetime.timedelta(minutes=i),
            params={"lr": lr, "epochs": 8, "seed": 1},
            info={"final_loss": loss[-1]},
            result={"loss": loss[-1], "accuracy": round(1 - loss[-1] / 2, 4)},
            duration=2.0 + i,
            metrics=[{"epoch": e, "loss": v} for e, v in enumerate(loss)],
            files={"notes.txt": f"learning rate {lr}\nall good\n"} if i == 0 else None,
        )
    out["failed"] = write_trial(
        root,
        "demo.divide",
        uid(4),
        when=T0 + datetime.timedelta(minutes=5),
        state="failed",
        params={"a": 1, "b": 0},
        error=("ZeroDivisionError", "division by zero"),
        duration=0.01,
    )
    out["interrupted"] = write_trial(
        root,
        "demo.divide",
        uid(5),
        when=T0 + datetime.timedelta(minutes=4),
        state="interrupted",
        params={"a": 2, "b": 1},
        error=("KeyboardInterrupt", ""),
        duration=0.5,
    )
    bad = root / "demo" / "broken" / "26-03-14" / "09:20:00" / uid(6)
    bad.mkdir(parents=True)
    (bad / "votakvot.yaml").write_text("state: [unclosed\n")
    out["unreadable"] = bad
    return out


async def wait_for(pilot: Pilot[Any], condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Let the app run until ``condition()`` is true; fail with a clear message if never."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the app never got there within {timeout}s")
        await pilot.pause(0.05)


def rows(app: Any) -> list[Any]:
    """The rows the trials screen shows now."""
    from votakvot_tui.screens.trials import TrialsScreen

    screen = app.get_screen("trials") if app.is_screen_installed("trials") else None
    for s in app.screen_stack:
        if isinstance(s, TrialsScreen):
            screen = s
    view = getattr(screen, "view", None)
    return list(view.rows) if view is not None else []


async def loaded(pilot: Pilot[Any], count: int) -> list[Any]:
    """Wait until the table shows ``count`` rows and the scan is over."""
    await wait_for(pilot, lambda: len(rows(pilot.app)) == count and not pilot.app.scanning)
    return rows(pilot.app)
