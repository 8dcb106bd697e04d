"""The dashboard keeps its rows in votakvot's warm index: a second start reads only changes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from tui_helpers import loaded, make_sample

from votakvot import index
from votakvot_tui import app as app_module
from votakvot_tui import make_app

PAST = time.time() - 3600


@pytest.fixture
def aged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, Path]]:
    """The six sample trials, written an hour ago; a cache folder of this test's own; the
    first batch (read before the walk, so never kept) cut to one trial."""
    monkeypatch.setenv(index.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(app_module, "FIRST_CHUNK", 1)
    root = tmp_path / "results"
    root.mkdir()
    trials = make_sample(root)
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(folder, name), (PAST, PAST))
        os.utime(folder, (PAST, PAST))
    return root, trials


async def _rows(root: Path, **options) -> dict[str, dict]:
    app = make_app([str(root)], watch=False, **options)
    async with app.run_test() as pilot:
        shown = await loaded(pilot, 6)
        return {r.path: dict(r.values) for r in shown}


def _edit_in_place(record: Path, old: str, new: str) -> None:
    """Change a record keeping its size and its and its folder's times."""
    st, folder = record.stat(), record.parent.stat()
    text = record.read_text()
    assert old in text and len(old) == len(new)
    with open(record, "r+") as f:
        f.write(text.replace(old, new))
    os.utime(record, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(record.parent, ns=(folder.st_atime_ns, folder.st_mtime_ns))


async def test_second_start_shows_the_same_rows_from_the_index(aged) -> None:
    """Rows from the index equal rows read from the records; the index holds the
    finished trials that were read after the walk."""
    root, _ = aged
    first = await _rows(root)
    cached = index.RowIndex(index.walk(str(root))[0], "tui")  # type: ignore[index]
    cached.load()
    assert len(cached) == 4  # 6 - the unreadable one - the first batch
    assert await _rows(root) == first
    assert await _rows(root, cache=False) == first


async def test_an_unchanged_stamp_is_trusted_a_changed_one_is_not(aged) -> None:
    """A change the stamps cannot see is not seen (the index is used); a record
    replaced with new content, and a trial added, are read."""
    root, trials = aged
    await _rows(root)
    record = trials["train0"] / "votakvot.yaml"
    _edit_in_place(record, "lr: 0.05", "lr: 0.07")
    rows = await _rows(root)
    assert rows[str(trials["train0"])]["lr"] == 0.05
    assert (await _rows(root, cache=False))[str(trials["train0"])]["lr"] == 0.07
    os.utime(record, (PAST + 10, PAST + 10))
    rows = await _rows(root)
    assert rows[str(trials["train0"])]["lr"] == 0.07


async def test_unwritable_cache_folder_still_shows_every_row(
    aged, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder that cannot be made: the table is whole all the same."""
    root, _ = aged
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(index.CACHE_ENV, str(blocker / "cache"))
    assert len(await _rows(root)) == 6
    assert len(await _rows(root)) == 6


def test_no_cache_option() -> None:
    """``votakvot-tui --no-cache`` asks for an app that reads every record."""
    from votakvot_tui.__main__ import parse_args

    assert parse_args(["results", "--no-cache"]).no_cache is True
    assert parse_args(["results"]).no_cache is False
