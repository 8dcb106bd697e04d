"""Runs of ``votakvot-ab`` in this process (threads): what is measured and what the
trial records. Gevent, processes and Ctrl-C run in subprocesses (test_ab_subprocess.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import votakvot
from votakvot.ab.cli import main
from votakvot.ab.histogram import Histogram
from votakvot.trial import read_trial


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run the command with --json under ./res; return the exit status and the summary."""
    code = main(["-p", "res", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def trial_of(summary: dict[str, Any]) -> votakvot.Trial:
    trial = read_trial(summary["trial"])
    assert trial is not None
    return trial


def test_function_calls_counted_and_recorded(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """-n calls of a function with KEY=VALUE arguments: counts, results, percentiles,
    and a trial with kind ab, params (callable, arguments, options) and the summary."""
    code, s = run(capsys, "-n", "300", "-c", "3", "mods.add", "a=2", "b=40")
    assert code == 0
    assert s["count"] == 300 and s["ok"] == 300 and s["errors"] == 0
    assert s["results"] == [{"value": 42, "count": 300}]
    lat = s["latency"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["p99.99"] <= lat["max"]
    assert s["overhead"] > 0
    trial = trial_of(s)
    assert trial.state == "done"
    assert trial.data["kind"] == "ab"
    assert trial.data["function"] == "mods.add"
    assert trial.tid.startswith("ab/mods.add/")
    assert trial.params["callable"] == "mods.add"
    assert trial.params["args"] == {"a": 2, "b": 40}
    assert trial.params["number"] == 300 and trial.params["concurrency"] == 3
    assert trial.result["count"] == 300
    assert trial.meta.process.pid > 0


def test_trial_reads_back_with_load_report(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """The recorded run is a row of load_report, its histogram an attachment."""
    code, s = run(capsys, "-n", "50", "-t", "mine/run1", "mods.noop")
    assert code == 0
    df = votakvot.load_report("res")
    row = df[df["tid"] == "mine/run1"].iloc[0]
    assert row["state"] == "done"
    trial = trial_of(s)
    assert "ab.histogram.csv" in trial.attached
    with trial.attach("ab.histogram.csv", "r") as f:
        hist = Histogram.from_csv(f.read())
    assert hist.count == 50


def test_class_built_per_worker_and_closed(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """A class is constructed once per worker, called, and closed at the end."""
    log = workdir / "closed.txt"
    code, s = run(capsys, "-n", "40", "-c", "4", "mods.Counter", "start=100", f"log={log}")
    assert code == 0
    assert s["results"] == [{"value": "tick", "count": 40}]
    lines = log.read_text().splitlines()
    assert len(lines) == 4
    assert sum(int(line.split()[1]) - 100 for line in lines) == 40


def test_errors_counted_by_kind_with_first_traceback(
    workdir: Path, capsys: pytest.CaptureFixture[str]
):
    """A raising callable does not stop the run: errors are counted by type and message
    and the first traceback of each kind is kept."""
    code, s = run(capsys, "-n", "30", "mods.sometimes")
    assert code == 0
    assert s["count"] == 30 and s["errors"] == 10 and s["ok"] == 20
    (kind,) = s["error_kinds"]
    assert kind["type"] == "KeyError" and kind["message"] == "'third'" and kind["count"] == 10
    assert "raise KeyError" in kind["traceback"]
    assert {r["value"] for r in s["results"]} == {0, 1}


def test_strict_stops_at_first_error(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """--strict stops at the first error, exits 1 and records a failed trial with it."""
    code = main(["-p", "res", "-n", "1000", "-s", "mods.sometimes"])
    captured = capsys.readouterr()
    assert code == 1
    assert "first error" in captured.err and "KeyError: 'third'" in captured.err
    (folder,) = (workdir / "res" / "ab").glob("*/*/*/*")
    trial = read_trial(str(folder))
    assert trial is not None and trial.state == "failed"
    assert trial.data["error"]["type"] == "KeyError"
    assert trial.data["result"]["errors"] == 1
    assert trial.data["result"]["count"] < 1000


def test_max_errors(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """--max-errors N stops once N calls failed; the trial says why."""
    code, s = run(capsys, "-n", "1000", "--max-errors", "5", "mods.boom")
    assert code == 1
    assert s["errors"] == 5 and s["stopped"] == "max-errors"
    assert trial_of(s).data["error"]["message"] == "stopped after 5 errors (--max-errors 5)"


def test_duration_mode_and_per_second_metrics(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """-d runs for a duration; a metric row per second holds calls, errors, p50, p99, max;
    the status file ends in state done with the totals."""
    code, s = run(capsys, "-d", "1.3", "-c", "2", "mods.slow", "ms=2")
    assert code == 0
    assert s["wall"] >= 1.3 and s["count"] > 10
    trial = trial_of(s)
    metrics = votakvot.load_metrics(trial)
    assert list(metrics.columns[:6]) == ["at", "second", "calls", "errors", "p50", "p99"]
    assert "max" in metrics.columns
    assert metrics["calls"].sum() == s["count"]
    assert len(metrics) == 2
    status = json.loads((Path(trial.path) / "ab.status.json").read_text())
    assert status["state"] == "done" and status["done"] == s["count"]
    assert status["duration"] == 1.3 and status["total"] is None
    assert sum(row[2] for row in status["histogram"]) == s["ok"]


def test_rate_mode_reaches_the_rate(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """-q R starts R calls per second on schedule (within a few percent) and reports
    latency from the scheduled start next to the actual one."""
    code, s = run(capsys, "-d", "1", "-q", "200", "-c", "4", "mods.slow", "ms=1")
    assert code == 0
    assert 190 <= s["count"] <= 202
    assert s["target_rate"] == 200
    sched, actual = s["scheduled_latency"], s["latency"]
    assert sched["p50"] >= actual["min"]
    assert sched["max"] >= actual["max"] * 0.99
    assert s["dropped"] == 0
    assert "ab.histogram.scheduled.csv" in trial_of(s).attached


def test_rate_mode_counts_dropped_starts(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """When one worker cannot keep up with the rate, calls start late and the ones never
    started before the end are counted as dropped."""
    code, s = run(capsys, "-d", "0.5", "-q", "400", "-c", "1", "mods.slow", "ms=10")
    assert code == 0
    assert s["late"] > 0 and s["dropped"] > 100
    assert s["count"] + s["dropped"] >= 195


def test_warmup_is_not_counted(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """-w N makes N calls first that are not in the counts."""
    log = workdir / "closed.txt"
    code, s = run(capsys, "-n", "10", "-w", "25", "mods.Counter", f"log={log}")
    assert code == 0
    assert s["count"] == 10
    assert log.read_text().split() == ["closed", "35"]
    assert trial_of(s).params["warmup_calls"] == 25


def test_text_report(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """Without --json the report shows the summary, percentiles, histogram and trial."""
    assert main(["-p", "res", "-n", "100", "mods.noop"]) == 0
    out = capsys.readouterr().out
    for text in ("Summary:", "Calls:        100", "p99.99", "Latency histogram:", "Trial: "):
        assert text in out


def test_class_that_cannot_be_built(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """A constructor that raises stops the run: exit 1, the failed trial carries the
    constructor's traceback, the command prints it."""
    code = main(["-p", "res", "-n", "10", "-c", "2", "mods.BadInit"])
    captured = capsys.readouterr()
    assert code == 1
    assert "RuntimeError: cannot connect" in captured.err
    (folder,) = (workdir / "res" / "ab").glob("*/*/*/*")
    trial = read_trial(str(folder))
    assert trial is not None and trial.state == "failed"
    assert "cannot connect" in trial.data["error"]["message"]
    assert trial.data["result"]["stopped"] == "setup"


def test_output_of_the_callable_is_not_captured_into_the_trial(
    workdir: Path, capsys: pytest.CaptureFixture[str]
):
    """What the callable prints goes to the terminal as usual, not into the trial."""
    code, s = run(capsys, "-n", "2", "mods.hello")
    assert code == 0
    assert not (Path(s["trial"]) / "output.log").exists()


def test_rerun_under_the_same_tid_starts_fresh(workdir: Path, capsys: pytest.CaptureFixture[str]):
    """A second run with the same -t replaces the record and starts a new metric series."""
    for _ in range(2):
        code, s = run(capsys, "-d", "1.1", "-t", "same", "mods.slow", "ms=5")
        assert code == 0
    metrics = votakvot.load_metrics(trial_of(s))
    assert metrics["calls"].sum() == s["count"]
