"""The trials table and its status bar as issue 14 asked: frozen columns, tids cut in the
middle, the cursor's position, counts that follow the filter, hidden columns, stale
trials that stop their clock, ab runs in readable units, the root in the header."""

from __future__ import annotations

import datetime
import time
from pathlib import Path

import pytest
from tui_helpers import T0, loaded, rows, uid, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.core.model import display, query_error
from votakvot_tui.widgets import StatusBar, TrialTable

pytestmark = pytest.mark.timeout(120)


def _line(table: TrialTable, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


def _status(app) -> str:
    return str(app.screen.query_one(StatusBar).render())


def _ab_trial(root: Path, n: int, rate: float, p50: float, p99: float) -> Path:
    """A finished votakvot-ab run as its recorder writes it (latencies in seconds)."""
    latency = {"min": p50 / 2, "mean": p50, "max": p99 * 2, "p50": p50, "p90": p99, "p99": p99}
    folder = write_trial(
        root,
        "ab.fakeml_get",
        uid(n),
        when=T0 + datetime.timedelta(minutes=n),
        params={"spec": "fakeml.get", "number": 1000},
        result={"count": 1000, "errors": 0, "rate": rate, "wall": 1.0, "latency": latency},
    )
    record = folder / "votakvot.yaml"
    record.write_text("kind: ab\n" + record.read_text())
    return folder


async def test_function_and_state_stay_when_scrolling_sideways(tmp_path: Path):
    """Scrolled right, each row still starts with its function and state; the tid shows
    its start and its uuid end, cut in the middle; the status bar says how many columns
    are out of view on each side."""
    for i in range(3):
        params = {f"param_number_{k}": k for k in range(10)}
        write_trial(
            tmp_path,
            "demo.wide",
            uid(i + 1),
            when=T0 + datetime.timedelta(minutes=i),
            params=params,
        )
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot, 3)
        table = app.screen.query_one(TrialTable)
        await wait_for(pilot, lambda: "columns" in _status(app) and "→" in _status(app))
        assert "←" not in _status(app)
        table.scroll_to(x=table.max_scroll_x, animate=False, immediate=True)
        await pilot.pause()
        assert table.scroll_x > 0
        await wait_for(pilot, lambda: "←" in _status(app) and "→" not in _status(app))
        header, first = _line(table, 0), _line(table, 1)
        assert header.split()[:2] == ["function", "state"]
        assert first.split()[:2] == ["demo.wide", "done"]
        tid = rows(app)[0].tid
        assert tid.endswith("000000000003") and len(tid) > table.view.widths["tid"]
        assert "…" in first and first.rstrip().endswith("8000-000000000003")
        # A header click at the right edge sorts by the column drawn there (the tid).
        await pilot.click(TrialTable, offset=(78, 0))
        await wait_for(pilot, lambda: app.screen.spec.sort == "tid")


async def test_status_bar_position_filtered_counts_and_hidden_columns(tmp_path: Path):
    """The status bar says which row the cursor is on, counts the states of the shown
    rows (not of all), and says how many same-value columns are hidden."""
    for i in range(5):
        write_trial(
            tmp_path,
            "demo.run",
            uid(i + 1),
            when=T0 + datetime.timedelta(minutes=i),
            state="failed" if i < 2 else "done",
            error=("ValueError", "bad") if i < 2 else None,
            params={"seed": i, "epochs": 3},
        )
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(120, 24)) as pilot:
        await loaded(pilot, 5)
        await wait_for(pilot, lambda: "row 1/5" in _status(app))
        assert "2 failed" in _status(app)
        await pilot.press("G")
        await wait_for(pilot, lambda: "row 5/5" in _status(app))
        app.screen.query_one("#filter").value = "seed >= 2"
        await wait_for(pilot, lambda: len(rows(app)) == 3)
        await wait_for(pilot, lambda: "3/5 shown" in _status(app))
        assert "0 failed" in _status(app)
        assert "hidden" not in _status(app)
        await pilot.press("h")
        await wait_for(pilot, lambda: "hidden (h)" in _status(app))
        hidden = app.screen.view.hidden
        assert "epochs" in hidden and "seed" not in hidden
        assert f"{len(hidden)} same-value column" in _status(app)


async def test_stale_trial_stops_at_its_last_heartbeat(tmp_path: Path):
    """A running trial that stopped beating shows when it died, and its duration stops
    at the last heartbeat instead of growing."""
    now = time.time()
    started = datetime.datetime.fromtimestamp(now - 1200, datetime.UTC)
    write_trial(tmp_path, "demo.dead", uid(1), when=started, state="running", heartbeat=now - 300)
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(120, 24)) as pilot:
        (record,) = await loaded(pilot, 1)
        assert record.state == "stale"
        table = app.screen.query_one(TrialTable)
        line = _line(table, 1)
        assert "stale · died 5m ago" in line
        assert "14m59s" in line  # heartbeat - start (the start is 0.01 s after creation), not 20m


async def test_ab_runs_show_rate_and_latency_in_readable_units(tmp_path: Path):
    """An ab run shows calls/s, p50 and p99 (ms, µs) instead of its raw result.* columns,
    which queries can still use."""
    _ab_trial(tmp_path, 1, 2.0e4, 0.000_042, 0.0031)
    _ab_trial(tmp_path, 2, 350.0, 0.0021, 0.25)
    app = make_app([str(tmp_path)], watch=False)
    async with app.run_test(size=(160, 24)) as pilot:
        await loaded(pilot, 2)
        table = app.screen.query_one(TrialTable)
        columns = table.view.columns
        assert {"calls/s", "p50", "p99"} <= set(columns)
        assert not [c for c in columns if c.startswith("result.")]
        text = _line(table, 1) + _line(table, 2)
        for shown in ("20,000", "42.0 µs", "3.10 ms", "350", "2.10 ms", "250.00 ms"):
            assert shown in text
        app.screen.query_one("#filter").value = "`result.latency.p90` > 0.1"
        await wait_for(pilot, lambda: len(rows(app)) == 1)
        assert rows(app)[0].values["calls/s"] == 350.0


async def test_root_in_the_header(sample):
    """The folder the dashboard shows is in its header."""
    root, _ = sample
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await loaded(pilot, 6)
        assert str(root) in str(app.screen.query_one("#trials-header").render())


def test_query_errors_read_as_what_to_do():
    """A failed query names the missing column (and a close one), the syntax problem, or
    the text/number mix-up, never a bare pandas exception."""
    import pandas

    frame = pandas.DataFrame({"lr": [0.1], "function": ["demo.train"]})
    errors = []
    for expression in ("lrr > 0.1", "lr >", "function > 3", "`calls/s` > 3"):
        with pytest.raises(Exception) as info:
            frame.query(expression)
        errors.append(query_error(info.value, ["lr", "function", "state"]))
    assert "there is no column 'lrr': did you mean lr?" in errors[0]
    assert "not a complete query" in errors[1]
    assert "quote text ('done'), leave numbers bare" in errors[2]
    assert "no column 'calls/s'" in errors[3] and "the columns are lr, function" in errors[3]


def test_latency_and_rate_display():
    """Latencies show in their unit, rates with thousands separators."""
    assert display(0.000_000_5, "p50") == "500 ns"
    assert display(0.0123, "p99") == "12.30 ms"
    assert display(12345.6, "calls/s") == "12,346"
    assert display(0.5, "lr") == "0.5"


def test_header_hides_a_url_password():
    """A URL in the header shows its user and host, never its password."""
    from types import SimpleNamespace

    from votakvot_tui.core.model import Source
    from votakvot_tui.screens.trials import TrialsScreen

    host = SimpleNamespace(sources=[Source("ftp://me:s3cret@example.com/results")])
    text = TrialsScreen(host)._header_text().plain  # type: ignore[arg-type]
    assert "example.com/results" in text and "s3cret" not in text
