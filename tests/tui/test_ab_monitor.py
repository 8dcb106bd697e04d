"""The ab monitor and compare screens over fake ab trial folders, and their file reader."""

from __future__ import annotations

import json

import pytest
from launch_helpers import write_ab_trial, write_status_only
from textual.widgets import Static
from tui_helpers import loaded, wait_for, write_trial

from votakvot_tui import make_app
from votakvot_tui.core.ab_data import AbReader, display_bins, fmt_latency, percentile_of
from votakvot_tui.screens.ab_compare import AbCompareScreen
from votakvot_tui.screens.ab_monitor import AbMonitorScreen, histogram_text
from votakvot_tui.widgets import TrialTable

pytestmark = pytest.mark.timeout(60)


# --- reading the files ----------------------------------------------------------------


def test_reader_finished_run(tmp_path):
    """A finished run: summary figures, final histogram, per-second series, error kinds."""
    folder = write_ab_trial(tmp_path)
    snap = AbReader(str(folder)).read()
    assert snap.state == "done"
    assert snap.is_ab and not snap.running
    assert snap.callable == "bench.get"
    assert snap.buckets_final
    assert len(snap.series) == 8
    assert snap.series[0]["calls"] == 1100.0
    assert snap.progress()[2] == "8.0s / 8s"
    assert snap.results() == [(200, snap.summary["ok"] - 60), (404, 60)]
    kinds = snap.error_kinds()
    assert kinds[0]["type"] == "ConnectionError"
    assert dict(snap.percentiles())["p99.9"] == 0.0071
    assert snap.latency("max") == 0.009


def test_reader_live_status_before_the_record(tmp_path):
    """A run that just started: figures come from the status file and its coarse histogram."""
    folder = tmp_path / "t"
    write_status_only(folder)
    reader = AbReader(str(folder))
    snap = reader.read()
    assert snap.record is None
    assert snap.running
    assert snap.progress() == (40.0, 100.0, "40 / 100 (40%)")
    assert snap.rate() == 40.0
    assert not snap.buckets_final
    assert [b[2] for b in snap.buckets] == [30, 9]
    assert dict(snap.percentiles())["p50"] == 0.001
    assert dict(snap.percentiles())["p90"] == pytest.approx(0.00205, rel=0.01)
    write_status_only(folder, done=80, rate_now=55.0)
    snap = reader.read()
    assert snap.done == 80 and snap.rate() == 55.0


def test_reader_skips_a_torn_metric_line_and_merges_files(tmp_path):
    """A killed run may leave half a CSV row; several metric files are merged by time."""
    folder = write_ab_trial(tmp_path)
    (folder / "votakvot.metrics.00001.csv").write_text(
        "at,second,calls\n1773480500.0,99.0,7\n1773480501.0,100.0,"
    )
    snap = AbReader(str(folder)).read()
    assert [r.get("second") for r in snap.series][-2:] == [8.0, 99.0]
    assert snap.error is None


def test_reader_reports_a_damaged_record(tmp_path):
    """An unreadable votakvot.yaml is reported, not raised."""
    folder = write_ab_trial(tmp_path)
    (folder / "votakvot.yaml").write_text("state: [unclosed\n")
    snap = AbReader(str(folder)).read()
    assert snap.error is not None


def test_reader_rereads_only_what_changed(tmp_path):
    """An unchanged folder is not parsed again; a new status file is."""
    folder = tmp_path / "t"
    write_status_only(folder)
    reader = AbReader(str(folder))
    first = reader.read()
    second = reader.read()
    assert second.status is first.status
    status = json.loads((folder / "ab.status.json").read_text())
    status["done"] = 99
    status["elapsed"] = 2.0
    (folder / "ab.status.json").write_text(json.dumps(status) + " ")
    assert reader.read().done == 99


def test_display_helpers():
    """Latency text, percentiles from buckets, oha-like equal-width bins."""
    assert fmt_latency(None) == "-"
    assert fmt_latency(812e-9) == "812 ns"
    assert fmt_latency(3.4e-6) == "3.4 µs"
    assert fmt_latency(0.0121) == "12.10 ms"
    assert fmt_latency(1.2041) == "1.204 s"
    buckets = [(0, 10, 50), (10, 20, 40), (90, 100, 10)]
    assert percentile_of(buckets, 50) == pytest.approx(4.5e-9)
    assert percentile_of(buckets, 95) == pytest.approx(94.5e-9)
    assert percentile_of([], 50) is None
    bins = display_bins(buckets, 10)
    assert len(bins) == 10
    assert [c for _, c in bins] == [50, 40, 0, 0, 0, 0, 0, 0, 0, 10]
    assert display_bins([], 5) == []


def test_histogram_text_scales_bars(tmp_path):
    """The longest bar is the fullest range; each line shows the range's upper edge."""
    snap = AbReader(str(write_ab_trial(tmp_path))).read()
    lines = histogram_text(snap, bins=4, width=20).plain.splitlines()
    assert len(lines) == 4
    assert lines[0].count("■") == 20
    assert lines[0].split()[0:2] == ["2.62", "ms"]


# --- the screens ----------------------------------------------------------------------


def _cursor_to(app, fragment: str) -> None:
    table = app.screen.query_one(TrialTable)
    table.cursor = next(i for i, r in enumerate(table.view.rows) if fragment in r.path)


async def test_monitor_opens_for_an_ab_trial(tmp_path, monkeypatch):
    """`w` on an ab trial opens its monitor with the recorded figures; on another trial it
    says it is not an ab run."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    root = tmp_path / "results"
    write_ab_trial(root)
    write_trial(root, "demo.train", params={"lr": 0.1}, result=1.0)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await loaded(pilot, 2)
        _cursor_to(app, "demo/train")
        await pilot.press("w")
        await wait_for(
            pilot,
            lambda: any("not a votakvot-ab run" in str(n.message) for n in app._notifications),
        )
        assert not isinstance(app.screen, AbMonitorScreen)
        _cursor_to(app, "bench.get")
        await pilot.press("w")
        monitor = await wait_for(
            pilot,
            lambda: isinstance(app.screen, AbMonitorScreen) and app.screen.frames and app.screen,
        )
        snap = monitor.snapshot
        assert snap.state == "done"
        errors = str(monitor.query_one("#abm-errors", Static).render())
        assert "ConnectionError: connection refused" in errors
        assert "first traceback" in errors
        results = str(monitor.query_one("#abm-results", Static).render())
        assert "404" in results
        await pilot.press("s")
        await pilot.pause()
        assert any("already ended" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AbMonitorScreen))


async def test_monitor_follows_a_live_status_file(tmp_path, monkeypatch):
    """While a run goes on, new status files show up on screen within a few frames."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    folder = tmp_path / "results" / "ab" / "live"
    write_status_only(folder)
    app = make_app([str(tmp_path / "results")], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        app.open_ab_monitor(str(folder))
        monitor = await wait_for(
            pilot,
            lambda: isinstance(app.screen, AbMonitorScreen) and app.screen.frames and app.screen,
        )
        text = monitor.query_one("#abm-progress-text")
        assert "40 / 100 (40%)" in str(text.render())
        write_status_only(folder, done=90, elapsed=2.5)
        await wait_for(pilot, lambda: "90 / 100 (90%)" in str(text.render()))
        assert monitor.has_class("-running")


async def test_compare_two_ab_runs(tmp_path, monkeypatch):
    """`C` with two marked ab trials shows the per-metric changes and a verdict."""
    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    root = tmp_path / "results"
    a = write_ab_trial(root)
    b = write_ab_trial(
        root,
        "ab/bench.get/26-03-14/09:40:00/00000000-0000-4000-8000-0000000000bb",
        seconds=4,
    )
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await loaded(pilot, 2)
        await pilot.press("C")
        await pilot.pause()
        assert any("mark exactly two" in str(n.message) for n in app._notifications)
        app.screen.query_one(TrialTable).selected = {str(a), str(b)}
        await pilot.press("C")
        screen = await wait_for(
            pilot,
            lambda: isinstance(app.screen, AbCompareScreen) and app.screen.snapshots and app.screen,
        )
        table = screen.query_one("#abc-table", Static)
        verdict = str(screen.query_one("#abc-verdict", Static).render())
        assert "verdict:" in verdict
        assert table.render() is not None
        assert {screen.a, screen.b} == {str(a), str(b)}
        first = screen.a
        await pilot.press("x")
        await wait_for(pilot, lambda: screen.snapshots[0].path == screen.a != first)


async def test_run_again_fills_the_launch_form(tmp_path, monkeypatch):
    """`r` in the monitor (and `E` on an ab trial) opens the launch form with the run's
    callable, arguments and options, results going to the same root."""
    from textual.widgets import Input, Select

    from votakvot_tui.screens.launch_ab import LaunchAbScreen

    monkeypatch.setenv("VOTAKVOT_JOBS_DIR", str(tmp_path / "jobs"))
    root = tmp_path / "results"
    folder = write_ab_trial(root)
    app = make_app([str(root)], watch=False)
    async with app.run_test(size=(140, 45)) as pilot:
        await loaded(pilot, 1)
        app.open_ab_monitor(str(folder))
        await wait_for(pilot, lambda: isinstance(app.screen, AbMonitorScreen) and app.screen.frames)
        await pilot.press("r")
        form = await wait_for(pilot, lambda: isinstance(app.screen, LaunchAbScreen) and app.screen)
        values = {i.id: i.value for i in form.query(Input)}
        assert values["callable"] == "bench.get"
        assert values["args"] == "url=http://127.0.0.1:8000/"
        assert (values["number"], values["duration"], values["concurrency"]) == ("", "8", "10")
        assert values["path"] == str(root)
        assert form.query_one("#engine", Select).value == "threads"
        await pilot.press("escape")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, (LaunchAbScreen, AbMonitorScreen)))
        await pilot.press("E")
        form = await wait_for(pilot, lambda: isinstance(app.screen, LaunchAbScreen) and app.screen)
        assert form.query_one("#callable", Input).value == "bench.get"


def test_request_from_recorded_params_round_trips():
    """Recorded arguments become form text that parses back to the same values."""
    from votakvot.ab.target import parse_kwargs
    from votakvot_tui.core.runs import AbRequest

    args = {"url": "http://x y", "n": 3, "s": "3", "u": "http://z", "l": [1, "a"], "q": 'a"b'}
    params = {
        "callable": "m.f",
        "args": args,
        "number": 500,
        "engine": "gevent",
        "warmup_seconds": 0.5,
        "processes": 1,
        "rate": 20.0,
    }
    request = AbRequest.from_params(params, "/r")
    assert parse_kwargs(request.arguments()) == args
    assert request.args.startswith('"url=http://x y" n=3 "s=\'3\'" u=http://z')
    assert (request.number, request.engine, request.warmup, request.rate) == (
        "500",
        "gevent",
        "0.5s",
        "20",
    )
    assert AbRequest.from_params({"callable": "m.f", "processes": 2}).engine == "processes"


def test_reader_keeps_live_rate_samples(tmp_path):
    """Each new status file adds an (elapsed, calls/s) sample for the live line."""
    folder = tmp_path / "t"
    reader = AbReader(str(folder))
    for i in range(3):
        write_status_only(folder, elapsed=1.0 + i, rate_now=10.0 * (i + 1), done=i)
        reader.read()
    snap = reader.read()
    assert snap.live_rate == [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]
