"""The dashboard over odd trial folders: odd fields, FIFOs, devices, loops, huge files."""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import fsspec
import pandas
import pytest
from textual.widgets import DataTable, OptionList, TextArea
from tui_helpers import loaded, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.core._files import read_start
from votakvot_tui.core.model import Source, _scalar, display, iter_trial_dirs, read_records
from votakvot_tui.screens import DetailScreen, ViewerScreen
from votakvot_tui.screens.detail import TEXT_LIMIT, load_details
from votakvot_tui.screens.plot import _seconds
from votakvot_tui.screens.viewer import read_text

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def _set_field(folder: Path, old: str, new: str) -> None:
    record = folder / "votakvot.yaml"
    text = record.read_text()
    assert old in text
    record.write_text(text.replace(old, new, 1))


def test_record_whose_at_is_not_a_mapping(tmp_path: Path):
    """``at: true`` (a hand-edited record) is a row without times, not a dead scan."""
    folder = write_trial(tmp_path)
    text = (folder / "votakvot.yaml").read_text()
    start = text.index("at:")
    end = text.index("params:")
    (folder / "votakvot.yaml").write_text(text[:start] + "at: true\n" + text[end:])
    [record] = read_records([str(folder)])
    assert record.state == "done"
    assert record.values["started"] is None


def test_one_bad_record_is_one_unreadable_row(tmp_path: Path, monkeypatch, caplog):
    """A record that breaks the row builder becomes an ``unreadable`` row with the reason
    (and a warning naming it); the other folders of the batch are still read."""
    good = write_trial(tmp_path, uid="00000000-0000-4000-8000-00000000000a")
    bad = write_trial(tmp_path, uid="00000000-0000-4000-8000-00000000000b")
    import votakvot_tui.core.model as model

    real = model._library_row()

    def row(trial):
        if trial.path == str(bad):
            raise TypeError("odd field")
        return real(trial)

    monkeypatch.setattr(model, "_library_row", lambda: row)
    with caplog.at_level(logging.WARNING):
        records = {r.path: r for r in read_records([str(bad), str(good)])}
    assert records[str(good)].state == "done"
    assert records[str(bad)].state == "unreadable"
    assert "TypeError: odd field" in records[str(bad)].values["error"]
    assert str(bad) in caplog.text


def test_deeply_nested_value_is_a_row(tmp_path: Path):
    """A param nested deeper than ``repr`` goes is shown short, not an unreadable row."""
    folder = write_trial(tmp_path)
    deep = "[" * 990 + "]" * 990
    _set_field(folder, "params: {}", f"params: {{x: {deep}}}")
    [record] = read_records([str(folder)])
    assert record.state == "done"
    assert record.values["x"].startswith("[[[")
    nested: list = []
    for _ in range(5000):  # deeper than repr can go
        nested = [nested]
    assert _scalar(nested) == "[[[[[[[...]]]]]]]"


def test_display_of_non_finite_and_out_of_range_times():
    """NaN, infinities and years out of range show as numbers, never raise."""
    assert display(math.nan, "started") == "nan"
    assert display(math.inf, "finished") == "inf"
    assert display(1e300, "created") == "1e+300"
    assert display(math.nan, "duration") == "nan"
    assert display(-math.inf, "duration") == "-inf"
    assert display(10**400, "duration") == str(10**400)


def test_scan_skips_records_that_are_not_files(tmp_path: Path, caplog):
    """A ``votakvot.yaml`` that is a FIFO, a folder or a symlink loop is skipped with a
    warning naming it (reading a FIFO would block the scan for ever)."""
    good = write_trial(tmp_path, uid="00000000-0000-4000-8000-00000000000a")
    fifo = tmp_path / "odd" / "fifo"
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / "votakvot.yaml")
    folder = tmp_path / "odd" / "folder"
    (folder / "votakvot.yaml").mkdir(parents=True)
    loop = tmp_path / "odd" / "loop"
    loop.mkdir()
    (loop / "votakvot.yaml").symlink_to(loop / "votakvot.yaml")
    with caplog.at_level(logging.WARNING):
        found = list(iter_trial_dirs(Source(str(tmp_path))))
    assert found == [str(good)]
    for odd in (fifo, folder, loop):
        assert str(odd / "votakvot.yaml") in caplog.text


@pytest.mark.filterwarnings("ignore::votakvot.exceptions.SkippedTrialWarning")  # the FIFO's
async def test_app_scan_finishes_beside_a_fifo_record(tmp_path: Path):
    """The dashboard lists the good trial and finishes its scan beside a FIFO record."""
    write_trial(tmp_path)
    (tmp_path / "odd").mkdir()
    os.mkfifo(tmp_path / "odd" / "votakvot.yaml")
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        await wait_for(pilot, lambda: not app.scanning)
        assert len(app.store) == 1


@pytest.mark.parametrize("kind", ["fifo", "folder", "loop", "dev_zero"])
def test_details_of_a_record_that_is_not_a_file(tmp_path: Path, kind: str):
    """The detail of a folder whose ``votakvot.yaml`` is a FIFO, a folder, a symlink loop
    or ``/dev/zero`` opens at once and says why the record was not read."""
    record = tmp_path / "votakvot.yaml"
    if kind == "fifo":
        os.mkfifo(record)
    elif kind == "folder":
        record.mkdir()
    elif kind == "loop":
        record.symlink_to(record)
    else:
        record.symlink_to("/dev/zero")
    details = load_details(str(tmp_path))
    expected = {
        "fifo": "named pipe",
        "folder": "a folder",
        "loop": "symbolic links",
        "dev_zero": "a device",
    }[kind]
    assert expected in details.error
    assert details.data == {} and details.yaml == ""


@pytest.mark.skipif(ROOT_USER, reason="root reads files without read permission")
def test_details_of_files_without_permission(tmp_path: Path):
    """A record and a folder without read permission show the reason, not an error modal."""
    folder = write_trial(tmp_path, files={"notes.txt": "hi"})
    (folder / "votakvot.yaml").chmod(0)
    try:
        details = load_details(str(folder))
        assert "Permission denied" in details.error
    finally:
        (folder / "votakvot.yaml").chmod(0o644)
    folder.chmod(0)
    try:
        details = load_details(str(folder))
        assert details.error
    finally:
        folder.chmod(0o755)


def test_details_of_huge_files_are_cut(tmp_path: Path, monkeypatch):
    """A record over the reader's limit is refused without being read whole; a long
    traceback shows its start and says how big the file is."""
    folder = write_trial(tmp_path)
    monkeypatch.setattr("votakvot.reading.MAX_RECORD", 100)
    details = load_details(str(folder))
    assert "larger than" in details.error
    monkeypatch.undo()
    size = TEXT_LIMIT * 3
    (folder / "traceback.txt").write_bytes(b"x" * size)
    (folder / "output.log").write_bytes(b"a" * size + b"THE END")
    details = load_details(str(folder))
    assert not details.error
    assert len(details.traceback) < TEXT_LIMIT + 200
    assert f"of {size:,} bytes" in details.traceback
    assert details.output.endswith("THE END")
    assert f"of {size + 7:,} bytes" in details.output


def test_details_of_metrics_without_at(tmp_path: Path):
    """Metrics written by hand without an ``at`` column show; the plot's ``at`` axis
    falls back to the row number."""
    folder = write_trial(tmp_path)
    (folder / "votakvot.metrics.00000.csv").write_text("loss,step\n1.0,1\n0.5,2\n")
    details = load_details(str(folder))
    assert details.metrics is not None and len(details.metrics) == 2
    frame = details.metrics
    assert _seconds(frame, frame) == [0, 1]
    timed = pandas.DataFrame({"at": [10.0, 11.5], "loss": [1.0, 0.5]})
    assert _seconds(timed, timed) == [0.0, 1.5]


@pytest.mark.filterwarnings("ignore::votakvot.exceptions.SkippedMetricsWarning")  # "soon"
async def test_detail_screen_of_metrics_with_nan_at(tmp_path: Path):
    """A metrics row whose ``at`` is not a number shows as ``nan`` in the metrics tab."""
    root = tmp_path / "r"
    folder = write_trial(root, metrics=[{"loss": 1.0}])
    with open(folder / "votakvot.metrics.00000.csv", "a") as f:
        f.write("soon,0.5\n")
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        table = screen.query_one("#metrics", DataTable)
        assert table.row_count == 2
        assert "nan" in [str(c) for c in table.get_row_at(1)]


def test_viewer_reads_only_regular_files_and_at_most_the_limit(tmp_path: Path):
    """An attached FIFO or folder is not opened; a big file shows its start and its size;
    a binary file is named, not shown."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "sub").mkdir()
    (tmp_path / "big.txt").write_bytes(b"y" * 5000)
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01" * 10)
    assert "named pipe" in read_text(str(tmp_path), "pipe")
    assert "a folder" in read_text(str(tmp_path), "sub")
    text = read_text(str(tmp_path), "big.txt", limit=1000)
    assert text.startswith("y" * 1000) and "of 5,000 bytes" in text
    assert "binary file (20 bytes)" in read_text(str(tmp_path), "blob.bin")
    assert "deleted" in read_text(str(tmp_path), "gone.txt")
    assert "outside the trial folder" in read_text(str(tmp_path), "../x")


def test_read_start_on_an_fsspec_store():
    """Remote folders are checked with ``fs.info``: a folder is refused, a file cut."""
    fs = fsspec.filesystem("memory")
    fs.pipe("/tuihostile/t/big.txt", b"z" * 3000)
    fs.mkdir("/tuihostile/t/sub")
    fs.pipe("/tuihostile/t/sub/x", b"1")
    try:
        start = read_start("memory://tuihostile/t", "big.txt", 1000)
        assert start.cut and start.size == 3000 and start.data == b"z" * 1000
        assert "not a file" in read_start("memory://tuihostile/t", "sub", 1000).error
        assert read_start("memory://tuihostile/t", "none", 1000).missing
        tail = read_start("memory://tuihostile/t", "big.txt", 1000, tail=True)
        assert tail.cut and len(tail.data) == 1000
    finally:
        fs.rm("/tuihostile", recursive=True)


async def test_ab_files_open_as_text(tmp_path: Path):
    """``ab.status.json`` and ``ab.histogram*.csv`` are listed among the files and open
    as text in the viewer."""
    root = tmp_path / "r"
    status = json.dumps({"state": "running", "done": 10})
    histogram = "latency_ms,count\n1.0,4\n2.0,6\n"
    folder = write_trial(root, files={"ab.status.json": status, "ab.histogram.0001.csv": histogram})
    assert read_text(str(folder), "ab.status.json") == status
    assert read_text(str(folder), "ab.histogram.0001.csv") == histogram
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, 1)
        await pilot.press("enter")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await wait_for(pilot, lambda: screen.details is not None)
        assert screen.details.attached == ["ab.histogram.0001.csv", "ab.status.json"]
        screen.query_one("TabbedContent").active = "tab-files"
        files = screen.query_one("#files", OptionList)
        files.focus()
        await pilot.pause()
        files.highlighted = 1
        await pilot.press("enter")
        viewer = await wait_for(pilot, lambda: isinstance(app.screen, ViewerScreen) and app.screen)
        await wait_for(pilot, lambda: '"done": 10' in viewer.query_one(TextArea).text)
