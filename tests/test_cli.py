"""The `votakvot` command: report, show and metrics, their output and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas
import pytest

import votakvot
from votakvot import cli
from votakvot.testing import isolated


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Three trials of one function (one metering) and a failed one."""
    with isolated(str(tmp_path / "results")) as path:

        @votakvot.track("mod/exp")
        def exp(one, opt):
            votakvot.meter(loss=one / 10)
            return {"x": one * 2}

        @votakvot.track("mod/boom")
        def boom():
            raise RuntimeError("bad")

        for i in range(3):
            exp(i, {"lr": 0.1})
        with pytest.raises(RuntimeError):
            boom()
    return Path(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_table(root: Path, capsys) -> None:
    """report prints a table of every trial and exits 0."""
    code, out, _ = run(capsys, "report", str(root))
    assert code == 0
    assert "mod/exp/" in out and "mod/boom/" in out
    assert "opt.lr" in out.splitlines()[0]


def test_report_csv_and_json_round_trip(root: Path, capsys) -> None:
    """--format csv and json give all rows in machine-readable form."""
    code, out, _ = run(capsys, "report", str(root), "--format", "csv")
    assert code == 0
    frame = pandas.read_csv(io.StringIO(out))
    assert len(frame) == 4
    code, out, _ = run(capsys, "report", str(root), "-f", "json", "--full")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 4
    assert all("meta.python.version" in r for r in rows)


def test_report_query_and_columns(root: Path, capsys) -> None:
    """--query filters with pandas syntax (dotted names as they are), --columns picks."""
    code, out, _ = run(
        capsys, "report", str(root), "-q", "result.x > 1 and state == 'done'",
        "-c", "tid,one", "result.x", "-f", "csv",
    )
    assert code == 0
    frame = pandas.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["tid", "one", "result.x"]
    assert list(frame["one"]) == [1, 2]


def test_report_exit_codes(root: Path, tmp_path: Path, capsys) -> None:
    """No trials: 1; a bad query or column: 2 with a message saying what is wrong."""
    code, _, err = run(capsys, "report", str(tmp_path / "nothing"))
    assert code == 1 and "no trials" in err
    code, _, err = run(capsys, "report", str(root), "-q", "one > 5")
    assert code == 1 and "matching the query" in err
    code, _, err = run(capsys, "report", str(root), "-q", "nope >")
    assert code == 2 and "bad --query" in err
    code, _, err = run(capsys, "report", str(root), "-c", "tid", "nope")
    assert code == 2 and "no column 'nope'" in err and "columns: tid" in err
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--format", "xml"])
    assert info.value.code == 2


def test_report_skips_bad_trials_with_a_warning_on_stderr(root: Path, capsys) -> None:
    """A broken trial is named on stderr; --strict makes it an error (exit 3)."""
    bad = root / "broken"
    bad.mkdir()
    (bad / "votakvot.yaml").write_text("tid: [\n")
    code, _, err = run(capsys, "report", str(root))
    assert code == 0
    assert f"warning: skipped trial: {bad / 'votakvot.yaml'}" in err
    code, _, err = run(capsys, "report", str(root), "--strict")
    assert code == 3 and "not valid YAML" in err


def test_show_by_path_and_by_tid(root: Path, capsys) -> None:
    """show prints the record, given a folder or a tid under --root."""
    trial = next(t for t in votakvot.load_trials(str(root)).values() if t.tid.startswith("mod/exp"))
    code, out, _ = run(capsys, "show", trial.path)
    assert code == 0
    assert out == Path(trial.path, "votakvot.yaml").read_text()
    code, out2, _ = run(capsys, "show", trial.tid, "--root", str(root))
    assert code == 0 and out2 == out
    code, _, err = run(capsys, "show", "no/such/tid", "--root", str(root))
    assert code == 3 and "no trial 'no/such/tid'" in err


def test_show_marks_stale_trials(tmp_path: Path, capsys) -> None:
    """A running trial that stopped beating is shown with a `state now: stale` comment."""
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "votakvot.yaml").write_text("tid: t\nstate: running\n")
    (folder / "votakvot.heartbeat").write_text(f"{time.time() - 600} 5\n")
    code, out, _ = run(capsys, "show", str(folder))
    assert code == 0
    assert out.startswith("# state now: stale (last heartbeat ")
    assert "state: running" in out


def test_show_output_when_capture_cannot_read(root: Path, capsys, monkeypatch) -> None:
    """show --output/--logs print captured output, or say why there is none (exit 1)."""
    from votakvot import capture

    trial = next(iter(votakvot.load_trials(str(root)).values()))

    def unavailable(t):
        raise NotImplementedError("not yet")

    monkeypatch.setattr(capture, "read_output", unavailable)
    code, _, err = run(capsys, "show", trial.path, "--output")
    assert code == 1 and "not yet" in err
    monkeypatch.setattr(capture, "read_output", lambda t: "printed text")
    code, out, _ = run(capsys, "show", trial.path, "--output")
    assert code == 0 and out == "printed text\n"
    monkeypatch.setattr(capture, "read_logs", lambda t: pandas.DataFrame({"message": ["hi"]}))
    code, out, _ = run(capsys, "show", trial.path, "--logs")
    assert code == 0 and "hi" in out


def test_metrics(root: Path, capsys) -> None:
    """metrics prints a trial's rows; a trial without metrics exits 1."""
    trials = votakvot.load_trials(str(root)).values()
    exp = next(t for t in trials if t.tid.startswith("mod/exp"))
    boom = next(t for t in trials if t.tid.startswith("mod/boom"))
    code, out, _ = run(capsys, "metrics", exp.tid, "--root", str(root), "-f", "csv")
    assert code == 0
    assert list(pandas.read_csv(io.StringIO(out)).columns) == ["at", "loss"]
    code, _, err = run(capsys, "metrics", boom.path)
    assert code == 1 and "has no metrics" in err


def test_console_script_runs(root: Path) -> None:
    """The installed `votakvot` command works from a shell, with its exit code."""
    exe = Path(sys.executable).with_name("votakvot")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "votakvot.cli"]
    done = subprocess.run(
        [*command, "report", str(root), "-c", "state", "-f", "csv"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["done", "done", "done", "failed", "state"]


def test_odd_values_print_in_every_format(tmp_path: Path, capsys) -> None:
    """Deeply nested lists, huge numbers, Decimals and odd file names never crash the output."""
    folder = tmp_path / "odd\udcff"
    folder.mkdir()
    (folder / "votakvot.yaml").write_text(
        "tid: odd\nstate: done\nparams:\n  deep: " + "[" * 40 + "]" * 40 + "\n"
        "  big: " + "9" * 4000 + "\n"
        "result: !!python/object/apply:decimal.Decimal ['1e999999999']\n",
        errors="surrogateescape",
    )
    for fmt in ("table", "csv", "json"):
        code, out, err = run(capsys, "report", str(tmp_path), "--full", "-f", fmt)
        assert code == 0, err
        assert "odd" in out
        out.encode("utf-8")
    code, out, _ = run(capsys, "report", str(tmp_path), "-f", "json")
    row = json.loads(out)
    assert row["result"] == "1E+999999999"
    assert isinstance(row["deep"], list)
    assert row["big"].startswith("9999")
