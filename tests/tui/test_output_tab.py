"""The detail screen's Output tab (issue 17): redraws collapsed, never half a character,
and the capture-limit marker of a trial past its cap shown between head and tail."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static, TabbedContent
from tui_helpers import loaded, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.screens import DetailScreen
from votakvot_tui.screens.detail import OUTPUT_LIMIT, _output_text, read_output_end

REDRAWS = "\r".join(f"epoch 7: {p:3d}%|{'#' * (p // 10):<10}|" for p in range(101)) + "\n"
MARKER = (
    "[votakvot: output.log reached capture_limit=3000 bytes: 123456 bytes (2000 lines) "
    "left out here; the last 1400 bytes follow]"
)


def _long_start(size: int) -> bytes:
    """A file start whose last ``OUTPUT_LIMIT`` bytes begin inside a two-byte character,
    with no line end near: the tail must start at the next whole character."""
    end = (REDRAWS + "FINAL test_acc=0.93\n").encode()
    filler = size - len(end) - 1
    body = b"A" + "é".encode() * (filler // 2) + b"\n"
    data = body + end
    start = len(data) - OUTPUT_LIMIT
    if data[start] & 0xC0 != 0x80:  # land on the second byte of an "é"
        data = b"A" + data
    assert data[len(data) - OUTPUT_LIMIT] & 0xC0 == 0x80
    return data


async def _output_tab(root: Path) -> tuple[DetailScreen, str]:
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        screen.query_one(TabbedContent).active = "tab-output"
        await pilot.pause()
        shown = str(screen.query_one("#output", Static).render())
        return screen, shown


async def test_output_tab_collapses_redraws_and_never_cuts_a_character(tmp_path: Path):
    root = tmp_path / "results"
    folder = write_trial(root)
    (folder / "output.log").write_bytes(_long_start(OUTPUT_LIMIT + 50_000))
    _, shown = await _output_tab(root)
    lines = shown.split("\n")
    assert lines[0].startswith("… (only the last ")
    assert lines[1].startswith("éé")  # a whole character first, no U+FFFD
    assert "\ufffd" not in shown
    assert "epoch 7: 100%|##########|" in lines
    assert shown.count("epoch 7") == 1
    assert lines[-2:] == ["FINAL test_acc=0.93", ""]


async def test_output_tab_shows_the_marker_of_a_running_trial_past_its_cap(tmp_path: Path):
    """While the trial runs, the kept tail waits in its own file: the tab joins them."""
    root = tmp_path / "results"
    folder = write_trial(root, state="running")
    (folder / "output.log").write_text("epoch 0\nepoch 1\n")
    tail = f"{MARKER}\n{REDRAWS}epoch 1999\n"
    (folder / "votakvot.output.log.tail").write_text(tail)
    screen, shown = await _output_tab(root)
    assert shown.split("\n") == [
        "epoch 0",
        "epoch 1",
        MARKER,
        "epoch 7: 100%|##########|",
        "epoch 1999",
        "",
    ]
    assert screen.details is not None
    text = _output_text(screen.details.output)
    styled = [text.plain[span.start : span.end] for span in text.spans]
    assert MARKER in styled


def test_the_end_of_a_small_file_is_shown_whole(tmp_path: Path):
    folder = write_trial(tmp_path)
    assert read_output_end(str(folder)) == ""
    (folder / "output.log").write_bytes("ü\r".encode() * 3 + b"done\n")
    assert read_output_end(str(folder)) == "done\n"
