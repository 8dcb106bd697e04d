"""Runs the dashboard (``votakvot_tui``) headless over the hostile corpus and reports
what it showed as JSON: every row of the trials table with its state, and, for each
row, whether its detail screen opened (or which error screen came up instead).

Started by the tests as a bounded subprocess, like ``_probe.py``. ``list`` mode runs
the app over the PATHs and records its rows; ``details`` mode runs it over an empty
folder and opens the detail screen of each PATH in turn, writing its findings after
each, so a crash still says which folder it was.

Usage: ``python _dashboard_probe.py OUT.json list|details EMPTY_DIR PATH...``
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from typing import Any

PAUSES = 100
"""How many 50 ms pauses to wait for a detail screen at most: far more than the
fraction of a second one takes; only a hung or dead reader runs into it."""


def _settled(app: Any, screen: Any) -> bool:
    """The detail screen loaded (or was replaced) and none of its workers still runs."""
    if screen.details is None and app.screen is screen:
        return False
    return all(w.is_finished for w in app.workers if w.node is screen)


async def _until(pilot: Any, ready: Any) -> bool:
    for _ in range(PAUSES):
        if ready():
            return True
        await pilot.pause(0.05)
    return False


def _save(path: str, out: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(out, f, default=repr)


async def probe(out_path: str, details: bool, paths: list[str], out: dict[str, Any]) -> None:
    from votakvot_tui.app import make_app
    from votakvot_tui.screens.detail import DetailScreen

    roots, folders = (paths[:1], paths[1:]) if details else (paths[1:], [])
    app = make_app(roots, watch=False)
    async with app.run_test(size=(160, 50)) as pilot:
        def scan_over() -> bool:
            scans = [w for w in app.workers if w.group == "scan"]
            return not app.scanning or (bool(scans) and all(w.is_finished for w in scans))

        await _until(pilot, scan_over)
        out["scanned"] = not app.scanning
        if not out["scanned"]:
            _save(out_path, out)
            os._exit(0)  # the scan worker is stuck or dead: leaving run_test would wait on it
        await pilot.pause(0.2)
        for record in app.store:
            out["rows"][record.path] = {
                "state": record.state,
                "tid": record.tid,
                "error": str(record.values.get("error", ""))[:300],
            }
        out["screenshot_chars"] = len(app.export_screenshot())
        _save(out_path, out)
        for folder in folders:
            out["details"][folder] = {"opening": True}
            _save(out_path, out)
            screen = DetailScreen(folder)
            await app.push_screen(screen)
            loaded = await _until(pilot, lambda s=screen: _settled(app, s))
            for _ in range(4):  # let a failed worker's error modal come up, if any
                await pilot.pause(0.05)
            shown = type(app.screen).__name__
            out["details"][folder] = {"loaded": loaded, "screen": shown}
            _save(out_path, out)
            if not loaded:
                os._exit(0)  # its reader is stuck: leaving run_test would wait on it
            app.export_screenshot()  # renders the detail: markup in values must not break it
            while app.screen is not app.screen_stack[1]:
                app.pop_screen()
                await pilot.pause(0.02)
        out["final_screen"] = type(app.screen).__name__


def main() -> None:
    out_path, mode, roots = sys.argv[1], sys.argv[2], sys.argv[3:]
    out: dict[str, Any] = {"rows": {}, "details": {}}
    try:
        asyncio.run(probe(out_path, mode == "details", roots, out))
    except BaseException:
        out["crash"] = traceback.format_exc()[-6000:]
    _save(out_path, out)
    os._exit(0)


if __name__ == "__main__":
    main()
