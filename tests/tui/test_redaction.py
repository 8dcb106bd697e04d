"""URLs named by the dashboard's toasts and error dialogs leave out their password."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import wait_for

from votakvot_tui import make_app
from votakvot_tui.screens.error import ErrorScreen

pytestmark = pytest.mark.timeout(60)

URL = "ftp://alice:hunter2@127.0.0.1:2121/results/t"


async def test_error_dialog_and_toasts_leave_out_passwords(tmp_path: Path) -> None:
    """An error naming a URL with a password shows it as ``ftp://alice@...``, in the
    headline, the traceback and any toast; the user name and host stay."""
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(140, 40)) as pilot:
        try:
            raise FileNotFoundError(f"{URL}/votakvot.yaml")
        except FileNotFoundError as exc:
            error = exc
        app.push_screen(ErrorScreen(f"reading {URL} failed", error))
        screen = await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen) and app.screen)

        def shown_text() -> str:
            return " ".join(str(w.render()) for w in screen.query(Static))

        shown = await wait_for(pilot, lambda: "FileNotFoundError" in shown_text() and shown_text())
        assert "hunter2" not in shown
        assert "ftp://alice@127.0.0.1:2121/results/t" in shown
        app.notify(f"cannot resume {URL}", title=f"from {URL}")
        await pilot.pause()
        notes = [(n.message, n.title) for n in app._notifications]
        assert notes and all("hunter2" not in m + t for m, t in notes)
        assert any("ftp://alice@127.0.0.1" in m for m, _ in notes)
